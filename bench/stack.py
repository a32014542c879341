"""What the process-level benchmarks share: a throw-away PostgreSQL database, a redis-server
of their own, child processes in their own process groups (always stopped), the portal's
production environment with generated LINE WORKS credentials, and the machine's description.
"""

from __future__ import annotations

import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
BOT_ID = "2000001"


def server_url() -> str:
    """DATABASE_URL's PostgreSQL server (the benchmarks make databases of their own on it)."""
    url = os.environ.get("DATABASE_URL", DEFAULT_SERVER_URL)
    if not urlparse(url).scheme.startswith("postgres"):
        url = DEFAULT_SERVER_URL
    return url


def database_url(name: str) -> str:
    if not name.startswith("kdr_bench_"):
        raise ValueError("benchmark databases are named kdr_bench_* (they are dropped)")
    return urlunparse(urlparse(server_url())._replace(path=f"/{name}"))


def _admin(url: str, sql: str) -> None:
    import psycopg

    admin = urlunparse(urlparse(url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql)


def recreate_database(url: str) -> None:
    name = urlparse(url).path.lstrip("/")
    _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(url, f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    name = urlparse(url).path.lstrip("/")
    try:
        _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as exc:
        print(f"could not drop {name}: {exc}", file=sys.stderr)


def free_port(start: int | None = None) -> int:
    def free(port: int) -> bool:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
            return True

    if start is not None:
        for port in range(start, start + 200):
            if free(port):
                return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check: Any, timeout: float, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: S110 (not up yet)
            pass
        time.sleep(interval)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


def http_get_ok(port: int, path: str) -> bool:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers={"X-Forwarded-Proto": "https"})
        return connection.getresponse().status == 200
    finally:
        connection.close()


class Processes:
    """Children in their own process groups; ``stop_all`` (idempotent) ends them all."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.logdir / f"{name}.log").open("ab") as handle:
            process = subprocess.Popen(  # noqa: S603 (our own executables)
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(process)
        return process

    @staticmethod
    def stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                process.wait(timeout=timeout)
                if sig == signal.SIGTERM:
                    # The leader is gone; make sure nothing of its group is left.
                    os.killpg(process.pid, signal.SIGKILL)
                return
            except subprocess.TimeoutExpired:
                continue
            except (ProcessLookupError, PermissionError):
                return

    def stop_all(self) -> None:
        for process in reversed(self.started):
            self.stop(process)
        self.started.clear()


def start_redis(procs: Processes, workdir: Path) -> int:
    port = free_port(6400)
    procs.start(
        f"redis-{port}",
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        dict(os.environ),
    )

    def ping() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    wait_for("redis-server", ping, 20)
    return port


def portal_env(
    *, database: str, redis_port: int, workdir: Path, fake_port: int | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """The production environment (DJANGO_DEBUG off) with LINE WORKS credentials generated for
    the run. Returns (environment, secrets: bot_secret, private_key)."""
    from lineworks.fake.keys import generate_bot_secret, generate_private_key_pem

    private_key = generate_private_key_pem()
    bot_secret = generate_bot_secret()
    client_secret = generate_bot_secret()
    fake = f"http://127.0.0.1:{fake_port or 9}"
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LINEWORKS_", "DJANGO_", "KDR_", "CELERY_"))
        and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env = {
        **inherited,
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "kurashiki_dr.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "KDR_VAR_DIR": str(workdir / "var"),
        "KDR_MEDIA_ROOT": str(workdir / "media"),
        "KDR_LOG_LEVEL": "WARNING",
        "LINEWORKS_CLIENT_ID": "bench-client",
        "LINEWORKS_CLIENT_SECRET": client_secret,
        "LINEWORKS_SERVICE_ACCOUNT": "bench.serviceaccount@kurashiki-bench",
        "LINEWORKS_PRIVATE_KEY": private_key,
        "LINEWORKS_BOT_ID": BOT_ID,
        "LINEWORKS_BOT_SECRET": bot_secret,
        "LINEWORKS_API_BASE_URL": f"{fake}/v1.0",
        "LINEWORKS_AUTH_URL": f"{fake}/oauth2/v2.0/token",
        "LINEWORKS_HQ_CHANNEL_ID": "",
    }
    return env, {"bot_secret": bot_secret, "private_key": private_key}


def migrate(env: dict[str, str]) -> None:
    subprocess.run(  # noqa: S603
        [str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory (from /proc), load average, versions."""
    model = platform.machine()
    cores = os.cpu_count() or 0
    memory_kib = 0
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        lines = cpuinfo.splitlines()
        cores = sum(1 for line in lines if line.startswith("processor")) or cores
        names = [line.split(":", 1)[1].strip() for line in lines if "model name" in line]
        model = names[0] if names else model
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    except OSError:
        pass
    postgres = ""
    try:
        import psycopg

        with psycopg.connect(urlunparse(urlparse(server_url())._replace(path="/postgres"))) as conn:
            postgres = conn.execute("SHOW server_version").fetchone()[0]
    except Exception:  # noqa: S110 (informative only)
        pass
    return {
        "cores": cores,
        "cpu": model,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "load": os.getloadavg(),
        "python": platform.python_version(),
        "postgresql": postgres,
        "kernel": platform.release(),
    }
