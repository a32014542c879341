"""Webhook ingest throughput under gunicorn, against a bare Django view doing one INSERT.

    .venv/bin/python -m bench.ingest_bench [--seconds 10] [--rounds 5] [--concurrency 12]

Both run under the same gunicorn flags (3 sync workers) and the same production settings
(DJANGO_DEBUG off, PostgreSQL, Redis, the same middleware); only the URLconf differs
(``bench/bare_settings.py``). The bare view inserts the raw body into one table; the webhook
verifies the signature, parses the JSON, stores the ``InboundEvent`` (INSERT … ON CONFLICT)
and enqueues its processing on Redis (no worker runs: the queue only grows). Every callback
is distinct and correctly signed.

The load is closed-loop: ``--concurrency`` connections in two client processes, one request
per connection (gunicorn's sync workers close the connection after each answer, as LINE
WORKS opens one per callback). Client and server share the machine's cores, identically for
both targets. Rounds alternate bare / webhook; the ratio is the median of the rounds'
webhook / bare pairs (the shared machine's load drifts). Goal: webhook ≥ 0.8
× bare. The last line of output is a JSON summary.

Its own database (``kdr_bench_ingest`` on DATABASE_URL's server) and redis-server; both go
away at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import stack

TABLE = "bench_bare_ingest"  # bench/bare_urls.py inserts into it
CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} "
    "(id bigserial PRIMARY KEY, body text NOT NULL, received_at timestamptz NOT NULL)"
)
BODY_TEXTS = ["箭田小学校 避難者数 {n}名", "停電 真備地区 約{n}世帯", "小田川 水位 {n}cm 上昇中"]


def _body(tag: str, n: int) -> bytes:
    event = {
        "type": "message",
        "source": {"userId": "bench-lw-1", "channelId": "bench-ch-1", "domainId": 40029600},
        "issuedTime": "2024-07-06T11:00:00.000Z",
        "content": {"type": "text", "text": BODY_TEXTS[n % 3].format(n=n) + f" #{tag}{n}"},
    }
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def _request(path: str, body: bytes, secret: str) -> bytes:
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        "Content-Type: application/json; charset=UTF-8\r\nX-Forwarded-Proto: https\r\n"
        f"X-WORKS-BotId: {stack.BOT_ID}\r\nX-WORKS-Signature: {signature.decode()}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _client(
    port: int, path: str, secret: str, tag: str, stop_at: float, out: list[tuple[int, float]]
) -> None:
    n = 0
    while time.monotonic() < stop_at:
        request = _request(path, _body(tag, n), secret)
        n += 1
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
            data = await reader.read()
            writer.close()
            status = int(data[9:12]) if data.startswith(b"HTTP/") else 0
        except (OSError, ValueError):
            status = 0
        out.append((status, (time.perf_counter() - started) * 1000))


def _load_process(args: tuple[int, str, str, str, int, float]) -> list[tuple[int, float]]:
    port, path, secret, tag, connections, seconds = args
    out: list[tuple[int, float]] = []

    async def main() -> None:
        stop_at = time.monotonic() + seconds
        await asyncio.gather(
            *(_client(port, path, secret, f"{tag}c{i}-", stop_at, out) for i in range(connections))
        )

    asyncio.run(main())
    return out


def load(
    port: int, path: str, secret: str, tag: str, concurrency: int, seconds: float
) -> dict[str, Any]:
    """Closed-loop load from two processes; returns rate and latency of the 200s."""
    processes = 2
    per = max(1, concurrency // processes)
    context = multiprocessing.get_context("fork")
    started = time.monotonic()
    with context.Pool(processes) as pool:
        parts = pool.map(
            _load_process, [(port, path, secret, f"{tag}p{p}", per, seconds) for p in range(2)]
        )
    elapsed = time.monotonic() - started
    results = [r for part in parts for r in part]
    ok = [ms for status, ms in results if status == 200]
    ordered = sorted(ok)
    return {
        "requests": len(results),
        "ok": len(ok),
        "errors": len(results) - len(ok),
        "rate": len(ok) / seconds,
        "elapsed": elapsed,
        "p50_ms": statistics.median(ordered) if ordered else None,
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))] if ordered else None,
    }


def run(seconds: float, rounds: int, concurrency: int, workdir: Path) -> dict[str, Any]:
    procs = stack.Processes(workdir)
    database = stack.database_url("kdr_bench_ingest")
    try:
        stack.recreate_database(database)
        redis_port = stack.start_redis(procs, workdir)
        env, secrets_ = stack.portal_env(database=database, redis_port=redis_port, workdir=workdir)
        stack.migrate(env)
        import psycopg

        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(CREATE_TABLE)
        targets = {
            "bare": ("bench.bare_settings", "/bench/ingest"),
            "webhook": ("kurashiki_dr.settings", "/lineworks/callback"),
        }
        measured: dict[str, list[dict[str, Any]]] = {"bare": [], "webhook": []}
        for round_ in range(rounds):
            for name, (settings_module, path) in targets.items():
                port = stack.free_port()
                server = procs.start(
                    f"gunicorn-{name}",
                    [
                        str(stack.BIN / "gunicorn"),
                        "kurashiki_dr.wsgi",
                        "--workers",
                        "3",
                        "--worker-class",
                        "sync",
                        "--bind",
                        f"127.0.0.1:{port}",
                        "--backlog",
                        "2048",
                    ],
                    {**env, "DJANGO_SETTINGS_MODULE": settings_module},
                )
                try:
                    stack.wait_for(name, lambda port=port: stack.http_get_ok(port, "/healthz"), 60)
                    secret = secrets_["bot_secret"]
                    load(port, path, secret, f"w{round_}{name}", concurrency, 2.0)  # warm-up
                    result = load(port, path, secret, f"r{round_}{name}", concurrency, seconds)
                finally:
                    procs.stop(server)
                    procs.started.remove(server)
                measured[name].append(result)
                print(
                    f"  round {round_ + 1} {name:8} {result['rate']:7.0f} req/s  "
                    f"p50 {result['p50_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms  "
                    f"errors {result['errors']}",
                    flush=True,
                )
        with psycopg.connect(database) as conn:
            bare_rows = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]  # noqa: S608
            events = conn.execute("SELECT count(*) FROM lineworks_inboundevent").fetchone()[0]
        summary: dict[str, Any] = {}
        for name, results in measured.items():
            summary[name] = sorted(results, key=lambda r: r["rate"])[len(results) // 2]
        # Each round's two targets ran back to back: compare them pairwise (the shared
        # machine's load drifts between rounds), and keep the median round.
        ratios = [
            w["rate"] / b["rate"]
            for b, w in zip(measured["bare"], measured["webhook"], strict=True)
        ]
        summary["ratio"] = statistics.median(ratios)
        summary["round_ratios"] = ratios
        summary["breakdown_ms"] = breakdown_in_child(env)
        summary["rows"] = {"bare": bare_rows, "webhook": events}
        summary["concurrency"] = concurrency
        summary["seconds"] = seconds
        summary["rounds"] = rounds
        return summary
    finally:
        procs.stop_all()
        stack.drop_database(database)


def breakdown_in_child(env: dict[str, str]) -> dict[str, float]:
    """Where a request's time goes, in-process (Django's test client, no HTTP server): see
    ``breakdown``. Runs in a child process with the portal's environment."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.ingest_bench", "--breakdown"],
        cwd=stack.ROOT,
        env={**env, "DJANGO_ALLOWED_HOSTS": "testserver"},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def breakdown(n: int = 1000) -> dict[str, float]:
    """Milliseconds per request of: the bare view; the webhook; the webhook without the
    enqueue; the webhook without storing and enqueueing (framework, signature, JSON)."""
    import django

    django.setup()
    from django.conf import settings
    from django.test import Client
    from django.urls import clear_url_caches

    from lineworks import services, webhook

    secret = settings.LINEWORKS_BOT_SECRET
    client = Client()

    def timed(path: str, tag: str) -> float:
        def post(i: int) -> None:
            body = _body(tag, i)
            signature = base64.b64encode(
                hmac.new(secret.encode(), body, hashlib.sha256).digest()
            ).decode()
            response = client.generic(
                "POST",
                path,
                body,
                content_type="application/json; charset=UTF-8",
                HTTP_X_WORKS_BOTID=stack.BOT_ID,
                HTTP_X_WORKS_SIGNATURE=signature,
                HTTP_X_FORWARDED_PROTO="https",
            )
            assert response.status_code == 200, response.status_code

        for i in range(100):
            post(-1 - i)  # warm-up
        started = time.perf_counter()
        for i in range(n):
            post(i)
        return (time.perf_counter() - started) / n * 1000

    out: dict[str, float] = {}
    settings.ROOT_URLCONF = "bench.bare_urls"
    clear_url_caches()
    out["bare_view"] = timed("/bench/ingest", "bd-bare")
    settings.ROOT_URLCONF = "kurashiki_dr.urls"
    clear_url_caches()
    out["webhook"] = timed("/lineworks/callback", "bd-full")
    enqueue = services.inbound_enqueue
    services.inbound_enqueue = lambda *args, **kwargs: None
    out["webhook_without_enqueue"] = timed("/lineworks/callback", "bd-noenq")
    services.inbound_enqueue = enqueue
    store = webhook.inbound_store
    webhook.inbound_store = lambda **kwargs: (None, True)
    out["webhook_checks_only"] = timed("/lineworks/callback", "bd-checks")
    webhook.inbound_store = store
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--breakdown", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.breakdown:
        print(json.dumps(breakdown()))
        return 0
    with tempfile.TemporaryDirectory(prefix="kdr-ingest-bench-") as tmp:
        print(
            f"webhook ingest vs bare INSERT view: gunicorn 3 sync workers, {args.concurrency} "
            f"connections, {args.rounds} × {args.seconds:.0f} s each",
            flush=True,
        )
        summary = run(args.seconds, args.rounds, args.concurrency, Path(tmp))
    bare, hook = summary["bare"], summary["webhook"]
    print(
        f"bare view: {bare['rate']:.0f} req/s (p50 {bare['p50_ms']:.1f} ms, p99 "
        f"{bare['p99_ms']:.1f} ms); webhook: {hook['rate']:.0f} req/s (p50 "
        f"{hook['p50_ms']:.1f} ms, p99 {hook['p99_ms']:.1f} ms); ratio {summary['ratio']:.2f} "
        "(goal ≥ 0.8)"
    )
    parts = summary["breakdown_ms"]
    print(
        f"in-process, per request: bare view {parts['bare_view']:.2f} ms; webhook "
        f"{parts['webhook']:.2f} ms = checks {parts['webhook_checks_only']:.2f} + InboundEvent "
        f"INSERT {parts['webhook_without_enqueue'] - parts['webhook_checks_only']:.2f} + "
        f"enqueue {parts['webhook'] - parts['webhook_without_enqueue']:.2f}"
    )
    print(json.dumps({"ingest": summary}))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(stack.ROOT))
    raise SystemExit(main())
