"""The Celery worker rides out a Redis outage by itself (no supervisor restarting it).

A real worker, started as docker-compose.yml starts it (the project's settings, no extra
options), loses its own redis-server (a) while idle in BRPOP and holding unacknowledged
messages (tasks waiting for a countdown, as LINE WORKS retries do), and (b) while a task runs,
so that its ack falls in the outage. With kombu's emulated acks, (a) makes the worker exit:
closing the broken connection twice restores the unacknowledged messages through a detached
transport (``AttributeError: 'NoneType' object has no attribute 'hostname'``). (b) guards the
usual workaround for (a), turning remote control and gossip off: then nothing notices the
loss while the failed ack holds the only prefetch slot, and the worker never consumes again.
Each outage here requires the same worker to be alive, reconnected and consuming afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).parent / "celery"
REDIS_SERVER = shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnRedis:
    """A redis-server of this test alone, on a free port (never the machine's Redis)."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER
        self.process = subprocess.Popen(  # noqa: S603 (the Debian binary)
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[OwnRedis]:
    if REDIS_SERVER is None:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("redis-server is not installed (required with REQUIRE_SERVICES=1)")
        pytest.skip("redis-server is not installed")
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def _log_after(log: Path, offset: int) -> str:
    with log.open("rb") as handle:
        handle.seek(offset)
        return handle.read().decode("utf-8", "replace")


def _wait_for(log: Path, offset: int, text: str, count: int, worker, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _log_after(log, offset).count(text) >= count:
            return
        if worker.poll() is not None:
            break
        time.sleep(0.1)
    tail = "\n".join(_log_after(log, 0).splitlines()[-25:])
    raise AssertionError(f"worker log has not {count}× {text!r} (exit {worker.poll()}):\n{tail}")


@pytest.fixture
def worker_env(redis_server, tmp_path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": "kurashiki_dr.settings",
        "DJANGO_DEBUG": "1",
        "DJANGO_SECRET_KEY": "worker-broker-loss-test-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": redis_server.url,
        "KDR_VAR_DIR": str(tmp_path / "var"),
    }


@pytest.fixture
def worker(worker_env, tmp_path) -> Iterator[tuple[subprocess.Popen, Path]]:
    """``celery -A kurashiki_dr worker`` as in docker-compose.yml (solo pool: one slot)."""
    log = tmp_path / "worker.log"
    with log.open("ab") as handle:
        process = subprocess.Popen(  # noqa: S603 (the venv's celery)
            [str(CELERY), "-A", "kurashiki_dr", "worker", "--pool=solo", "--loglevel=INFO"]
            + ["--hostname", "broker-loss@%h", "--include", "kurashiki_dr.tests.broker_loss_tasks"],
            cwd=ROOT,
            env=worker_env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for(log, 0, " ready.", 1, process, timeout=60)
        yield process, log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


@pytest.fixture
def client(redis_server) -> Iterator[Celery]:
    """A client of the test's own Redis only (no Django settings)."""
    app = Celery("broker-loss-test", broker=redis_server.url)
    app.conf.broker_transport_options = {"socket_connect_timeout": 2, "max_retries": 0}
    yield app
    app.close()


def _outage_then_consumes(redis_server, client, process, log, offset: int, seconds: float) -> None:
    redis_server.stop()
    time.sleep(seconds)
    assert process.poll() is None, f"the worker exited:\n{_log_after(log, offset)[-3000:]}"
    redis_server.start()
    # Reconnected by itself, and consuming again.
    client.send_task("celery.backend_cleanup")
    _wait_for(log, offset, "Task celery.backend_cleanup", 1, process, timeout=40)


def test_idle_worker_holding_unacked_messages_survives_redis_outages(redis_server, worker, client):
    process, log = worker
    for _outage in range(3):
        offset = log.stat().st_size
        for n in range(3):  # unacknowledged in the worker: tasks waiting for a countdown
            client.send_task("lineworks.process_inbound", args=[n], countdown=600)
        _wait_for(log, offset, "lineworks.process_inbound", 3, process, timeout=20)
        time.sleep(0.5)  # back in BRPOP
        _outage_then_consumes(redis_server, client, process, log, offset, seconds=3)
    assert "Unrecoverable error" not in _log_after(log, 0)


def test_busy_worker_whose_ack_falls_in_the_outage_consumes_again(redis_server, worker, client):
    process, log = worker
    for _outage in range(2):
        offset = log.stat().st_size
        client.send_task("tests.broker_loss.busy", args=[3])
        _wait_for(log, offset, "tests.broker_loss.busy", 1, process, timeout=20)
        _outage_then_consumes(redis_server, client, process, log, offset, seconds=5)
        assert "succeeded" in _log_after(log, offset)
    assert "Unrecoverable error" not in _log_after(log, 0)
