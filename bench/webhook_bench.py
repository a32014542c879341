"""LINE WORKS ingest benchmark (not a test).

1. Webhook: gunicorn (3 sync workers) + PostgreSQL, signed callbacks sent open-loop at
   ``--rate`` per second for ``--seconds``; handling time measured by the client (request
   sent → response) and by gunicorn (%(D)s in its access log), median and p99.
2. Pipeline: the same plus a real Celery worker (solo pool) and the fake LINE WORKS; each
   callback's time until its report is listed in ``/api/v1/reports/`` (polled every 100 ms),
   median / p95 / max.

Usage (a database of its own; it is flushed):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kdr_lw_bench \\
    REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python -m bench.webhook_bench
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kurashiki_dr.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} cores ({model or platform.machine()}), load {load:.2f} at start"


def setup_database() -> tuple[str, str]:
    """Migrate and flush the bench database; create a shelter agency with one reporter (its
    LINE WORKS ids) and an HQ user with an API token. Returns (user id, HQ token)."""
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from agencies.models import Agency, Facility, Member

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    agency = Agency.objects.create(
        code="mabi-shelter",
        name="真備地区避難所運営班",
        kind="shelter_operator",
        lineworks_channel_id="bench-ch-mabi",
    )
    Facility.objects.create(
        code="yata-es",
        name="箭田小学校",
        kind="shelter",
        agency=agency,
        lat=34.6371,
        lng=133.6921,
        capacity=400,
    )
    reporter = User.objects.create_user("bench-reporter", password=secrets.token_urlsafe(16))
    reporter.groups.add(Group.objects.get_or_create(name="agency_reporter")[0])
    Member.objects.create(user=reporter, agency=agency, lineworks_user_id="bench-lw-1")
    hq = User.objects.create_user("bench-hq", password=secrets.token_urlsafe(16))
    hq.groups.add(Group.objects.get_or_create(name="hq_operator")[0])
    return "bench-lw-1", Token.objects.create(user=hq).key


class Stack:
    def __init__(self, workers: int) -> None:
        from lineworks.fake.keys import (
            generate_bot_secret,
            generate_private_key_pem,
            public_key_pem,
        )
        from lineworks.fake.server import FakeConfig, FakeLineWorks

        self.private_key = generate_private_key_pem()
        self.bot_secret = generate_bot_secret()
        self.client_secret = generate_bot_secret()
        self.tmp = Path(tempfile.mkdtemp(prefix="kdr-webhook-bench-"))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.fake = FakeLineWorks(
            FakeConfig(
                client_id="bench-client",
                client_secret=self.client_secret,
                service_account="bench.serviceaccount@bench",
                public_key=public_key_pem(self.private_key),
                bot_id="2000001",
                bot_secret=self.bot_secret,
                callback_url=f"{self.url}/lineworks/callback",
                rate_limit=100_000,
            )
        ).start()
        self.env = {
            **os.environ,
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "KDR_LOG_LEVEL": "WARNING",
            "LINEWORKS_CLIENT_ID": "bench-client",
            "LINEWORKS_CLIENT_SECRET": self.client_secret,
            "LINEWORKS_SERVICE_ACCOUNT": "bench.serviceaccount@bench",
            "LINEWORKS_PRIVATE_KEY": self.private_key,
            "LINEWORKS_BOT_ID": "2000001",
            "LINEWORKS_BOT_SECRET": self.bot_secret,
            "LINEWORKS_API_BASE_URL": self.fake.api_base_url,
            "LINEWORKS_AUTH_URL": self.fake.auth_url,
            "LINEWORKS_HQ_CHANNEL_ID": "",
        }
        self.access_log = self.tmp / "access.log"
        self.access_log.unlink(missing_ok=True)
        self.gunicorn = subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "gunicorn"),
                "kurashiki_dr.wsgi",
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{self.port}",
                "--access-logfile",
                str(self.access_log),
                "--access-logformat",
                "%(U)s %(s)s %(D)s",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.worker: subprocess.Popen | None = None
        self._wait_http(f"{self.url}/healthz")

    @staticmethod
    def _wait_http(url: str, timeout: float = 30) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(url, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{url} did not come up")

    def start_worker(self, pool: str) -> None:
        log = self.tmp / "worker.log"
        handle = log.open("wb")
        self.worker = subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "celery"),
                "-A",
                "kurashiki_dr",
                "worker",
                *pool.split(),
                "-Q",
                "celery",
                "--loglevel=WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        handle.close()
        time.sleep(4)  # start-up; the warm-up callbacks below wait for real readiness

    def server_times_ms(self) -> list[float]:
        times = []
        for line in self.access_log.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "/lineworks/callback":
                times.append(int(parts[2]) / 1000)
        return times

    def stop(self) -> None:
        for process in (self.worker, self.gunicorn):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
        self.fake.stop()


def _event(fake: Any, user_id: str, text: str) -> tuple[bytes, dict[str, str]]:
    event = fake.member_event(
        user_id=user_id, channel_id="bench-ch-mabi", content={"type": "text", "text": text}
    )
    return fake.signed(event)


def open_loop(
    stack: Stack, user_id: str, rate: float, seconds: float, tag: str
) -> list[tuple[int, float, float, int]]:
    """Send rate×seconds callbacks at fixed times (open loop: a slow answer does not delay
    the next send). Returns (n, sent_at, latency_ms, status) per callback."""
    import http.client

    total = int(rate * seconds)
    payloads = [_event(stack.fake, user_id, f"避難者数 {n}名 #{tag}{n}") for n in range(total)]
    results: list[tuple[int, float, float, int]] = []
    lock = threading.Lock()

    def send(n: int) -> None:
        # http.client, not requests: the load generator shares the 2 cores with the server.
        body, headers = payloads[n]
        started = time.time()
        connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
        connection.request("POST", "/lineworks/callback", body=body, headers=headers)
        status = connection.getresponse().status
        connection.close()
        elapsed = (time.time() - started) * 1000
        with lock:
            results.append((n, started, elapsed, status))

    with ThreadPoolExecutor(max_workers=16) as pool:
        t0 = time.monotonic() + 0.2
        for n in range(total):
            delay = t0 + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, n)
    return sorted(results)


def watch_reports(url: str, token: str, stop: threading.Event, seen: dict[str, float]) -> None:
    """Poll the report API; note when each tagged report is first listed."""
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    while not stop.is_set():
        response = session.get(
            f"{url}/api/v1/reports/", params={"channel": "lineworks", "page_size": 30}, timeout=10
        )
        now = time.time()
        for item in response.json().get("results", []):
            marker = (item.get("text") or "").rsplit("#", 1)[-1]
            seen.setdefault(marker, now)
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--e2e-rate", type=float, default=10.0)
    parser.add_argument("--e2e-seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers")
    parser.add_argument(
        "--worker-pool", default="--pool=solo", help='Celery pool options, e.g. "-c 2"'
    )
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("set DATABASE_URL to a PostgreSQL database of its own (it is flushed)")
    if not os.environ.get("REDIS_URL"):
        sys.exit("set REDIS_URL (the worker's broker)")

    import redis

    print(f"machine: {_machine()}")
    user_id, token = setup_database()
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    stack = Stack(args.workers)
    try:
        # 1. The webhook alone (tasks queue up in Redis; no worker competes for the CPU).
        results = open_loop(stack, user_id, args.rate, args.seconds, "w")
        latencies = [r[2] for r in results]
        ok = sum(1 for r in results if r[3] == 200)
        server = stack.server_times_ms()
        from lineworks.models import InboundEvent

        stored = InboundEvent.objects.count()
        print(
            f"webhook @ {args.rate:.0f}/s × {args.seconds:.0f}s, gunicorn -w {args.workers} sync:"
            f" {ok}/{len(results)} answered 200, {stored} stored"
        )
        print(
            f"  client-measured: median {statistics.median(latencies):.1f} ms, "
            f"p99 {_percentile(latencies, 0.99):.1f} ms, max {max(latencies):.1f} ms"
        )
        print(
            f"  server (gunicorn %(D)s): median {statistics.median(server):.1f} ms, "
            f"p99 {_percentile(server, 0.99):.1f} ms"
        )
        # The queued callbacks are not part of the next measurement.
        redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
        InboundEvent.objects.update(status="ignored")

        # 2. Callback → report listed in the API, with a real worker.
        stack.start_worker(args.worker_pool)
        seen: dict[str, float] = {}
        stop = threading.Event()
        watcher = threading.Thread(target=watch_reports, args=(stack.url, token, stop, seen))
        watcher.start()
        warm = open_loop(stack, user_id, 2, 2, "warm")
        deadline = time.time() + 30
        while time.time() < deadline and not all(f"warm{r[0]}" in seen for r in warm):
            time.sleep(0.1)
        results = open_loop(stack, user_id, args.e2e_rate, args.e2e_seconds, "e")
        deadline = time.time() + 60
        while time.time() < deadline and not all(f"e{r[0]}" in seen for r in results):
            time.sleep(0.1)
        stop.set()
        watcher.join()
        visible = [(seen[f"e{n}"] - sent) * 1000 for n, sent, _l, _s in results if f"e{n}" in seen]
        print(
            f"callback → report listed in /api/v1/reports/ @ {args.e2e_rate:.0f}/s × "
            f"{args.e2e_seconds:.0f}s, worker {args.worker_pool}: "
            f"{len(visible)}/{len(results)} seen"
        )
        if visible:
            print(
                f"  median {statistics.median(visible):.0f} ms, p95 "
                f"{_percentile(visible, 0.95):.0f} ms, max {max(visible):.0f} ms "
                "(includes up to ~100 ms polling)"
            )
        replies = len(stack.fake.messages(channel_id="bench-ch-mabi"))
        print(f"  bot replies delivered to the fake LINE WORKS: {replies}")
        print(
            json.dumps(
                {
                    "webhook_ms": {
                        "median": statistics.median(latencies),
                        "p99": _percentile(latencies, 0.99),
                    },
                    "visible_ms": {"p95": _percentile(visible, 0.95) if visible else None},
                }
            )
        )
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
