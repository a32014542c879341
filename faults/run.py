"""Fault-injection suite of the LINE WORKS path (``make faults``).

    .venv/bin/python -m faults.run [--messages 1000] [--rate 20] [--timeout 360]

Starts, on 127.0.0.1 only: its own PostgreSQL database (``kdr_faults``: created, migrated,
dropped at the end), its own redis-server on a free port, gunicorn (3 sync workers,
production settings), a Celery worker (prefork, concurrency 2), Celery beat (the
``lineworks-sweep`` every 30 s) and the fake LINE WORKS. It seeds 50 members of 10 agencies,
then sends 1,000 signed callbacks (Japanese reports) at a steady rate while:

(a) Redis is stopped for 20 s and started again (empty: queued tasks are lost);
(b) the worker is killed with SIGKILL (its whole process group) while a send is in flight,
    and restarted;
(c) the fake LINE WORKS answers 500 for some seconds, takes 5 s per message for a while,
    and answers 429 for a few seconds;
(d) 10 % of the callbacks are delivered twice (the same bytes, some at the same moment).

Reports are also filed through the REST API meanwhile, so mirrors to HQ's room go out too.
It then waits (bounded) until everything is processed and delivered, and checks:

* every distinct message became exactly one report (InboundEvent ↔ revision ``source_ref``);
* the webhook answered 200 to every callback, also while Redis was down (never 5xx);
* every reply and mirror is ``sent`` and was received by the fake LINE WORKS;
* every duplicate send seen by the fake is counted and explained by the documented window
  (lineworks/README.md: a request in flight when its worker died, sent again after the
  sending lease); any other duplicate fails the suite.

Nothing restarts the worker or beat: they must ride out the Redis outage by themselves
(faults/README.md), so an exit nobody asked for fails the suite.

It prints a summary table, exits non-zero on any failure, stops by itself within
``--timeout`` seconds and always stops every process it started and drops its database.
Logs: ``test-artifacts/faults/``.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import http.client
import io
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ARTIFACTS = ROOT / "test-artifacts" / "faults"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/kdr_faults"
BOT_ID = "2000001"
HQ_CHANNEL = "faults-ch-hq"
CLIENT_ID = "faults-client"
SERVICE_ACCOUNT = "faults.serviceaccount@kurashiki-faults"
# The fake's per-minute limit for the suite: high enough that the real limit does not set the
# pace of 2,000 sends in a few minutes (bursts of 429 are injected instead). The benchmark
# measures sending at the default limit.
FAKE_RATE_LIMIT = 20_000
INJECTED_LATENCY_MS = 5000
LATENCY_SECONDS = 15
KILL_WAIT_SECONDS = 10

T0 = time.time()


def log(message: str) -> None:
    print(f"[faults {time.time() - T0:6.1f}s] {message}", flush=True)


# --- processes ------------------------------------------------------------------------------


class Processes:
    """Every child runs in its own process group, so a kill reaches its children too (the
    prefork pool, gunicorn's workers). ``stop_all`` is idempotent and runs at exit."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.current: dict[str, subprocess.Popen[bytes]] = {}
        self.started: list[subprocess.Popen[bytes]] = []
        self.lock = threading.Lock()
        self.closed = False

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with self.lock:  # held while spawning: nothing starts once stop_all has begun
            if self.closed:
                raise RuntimeError(f"not starting {name}: the suite is stopping")
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
            self.current[name] = process
            self.started.append(process)
        return process

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.current[name]
        _killpg(process.pid, sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def alive(self, name: str) -> bool:
        process = self.current.get(name)
        return process is not None and process.poll() is None

    def stop_all(self) -> None:
        with self.lock:
            self.closed = True
            processes = list(reversed(self.started))
        for process in processes:
            _killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 8
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in processes:  # survivors, and group members whose leader is gone
            _killpg(process.pid, signal.SIGKILL)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(start: int | None = None) -> int:
    if start is not None:
        for port in range(start, start + 200):
            if _port_free(port):
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


# --- the database ---------------------------------------------------------------------------


def admin_url(database_url: str) -> str:
    return urlunparse(urlparse(database_url)._replace(path="/postgres"))


def database_name(database_url: str) -> str:
    name = urlparse(database_url).path.lstrip("/")
    if not name.startswith("kdr_faults"):
        # It is dropped at the end: never point this at anything else.
        sys.exit(f"refusing to use database {name!r}: its name must start with kdr_faults")
    return name


def recreate_database(database_url: str) -> None:
    import psycopg

    name = database_name(database_url)
    with psycopg.connect(admin_url(database_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(database_url: str) -> None:
    import psycopg

    name = database_name(database_url)
    try:
        with psycopg.connect(admin_url(database_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error as exc:
        print(f"could not drop {name}: {exc}", file=sys.stderr)


# --- the cast: 50 members of 10 agencies -----------------------------------------------------

SHELTERS = [
    ("mabi-yata", "真備地区避難所運営班（箭田）", "yata-es", "箭田小学校", 34.6371, 133.6921),
    ("mabi-kawabe", "真備地区避難所運営班（川辺）", "kawabe-es", "川辺小学校", 34.6306, 133.7118),
    ("mabi-okada", "真備地区避難所運営班（岡田）", "okada-es", "岡田小学校", 34.6464, 133.6827),
    ("tamashima-shelter", "玉島地区避難所運営班", "tamashima-es", "玉島小学校", 34.5468, 133.6749),
    ("mizushima-shelter", "水島地区避難所運営班", "mizushima-es", "水島小学校", 34.5358, 133.7317),
]
OTHERS = [
    ("chuden-kurashiki", "中国電力ネットワーク 倉敷ネットワークセンター", "power"),
    ("kurashiki-police", "倉敷警察署", "police"),
    ("kurashiki-fire", "倉敷市消防局", "fire"),
    ("river-office", "岡山河川事務所 倉敷出張所", "waterway"),
    ("kch", "倉敷中央病院", "medical"),
]
AREAS = ["真備", "玉島", "水島", "児島", "船穂", "庄", "茶屋町", "連島"]


def directory() -> dict[str, Any]:
    agencies = [
        {
            "code": "hq",
            "name": "倉敷市災害対策本部",
            "kind": "hq",
            "lineworks_channel_id": HQ_CHANNEL,
        }
    ]
    facilities = []
    for code, name, facility_code, facility, lat, lng in SHELTERS:
        agencies.append(
            {
                "code": code,
                "name": name,
                "kind": "shelter_operator",
                "lineworks_channel_id": f"faults-ch-{code}",
            }
        )
        facilities.append(
            {
                "code": facility_code,
                "name": facility,
                "kind": "shelter",
                "agency": code,
                "lat": lat,
                "lng": lng,
                "capacity": 400,
            }
        )
    for code, name, kind in OTHERS:
        agencies.append(
            {"code": code, "name": name, "kind": kind, "lineworks_channel_id": f"faults-ch-{code}"}
        )
    facilities.append(
        {
            "code": "kch-hospital",
            "name": "倉敷中央病院",
            "kind": "hospital",
            "agency": "kch",
            "lat": 34.5925,
            "lng": 133.7690,
            "capacity": 1100,
        }
    )
    members = [
        {
            "username": "faults-hq",
            "name": "本部 当直",
            "agency": "hq",
            "role": "hq_operator",
            "lineworks_user_id": "faults-lw-hq",
        }
    ]
    family = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
    given = ["一郎", "花子", "健太", "美咲", "翔"]
    n = 0
    for agency in agencies[1:]:
        for k in range(5):
            n += 1
            members.append(
                {
                    "username": f"faults-m{n:02d}",
                    "name": f"{family[(n - 1) // 5]} {given[k]}",
                    "agency": agency["code"],
                    "role": "agency_reporter",
                    "lineworks_user_id": f"faults-lw-{n:02d}",
                }
            )
    return {"agencies": agencies, "facilities": facilities, "members": members}


def report_text(kind: str, facility: str, rng: random.Random, clock: str) -> str:
    """A realistic report of the agency's kind, as staff type them in LINE WORKS."""
    n = rng.randint(3, 420)
    k = rng.randint(1, 60)
    area = rng.choice(AREAS)
    if kind == "shelter_operator":
        return rng.choice(
            [
                f"{facility} 避難者数 {n}名",
                f"{clock}現在 {facility}の避難者 {n}人",
                f"{facility} 避難者{n}名（{k}世帯）",
                f"避難所 {facility} 避難者数{n}名 うち要配慮者{k % 20 + 1}名",
            ]
        )
    if kind == "power":
        return rng.choice(
            [
                f"停電 {area}地区 約{n * 10}世帯",
                f"停電情報 {area}地区：{n * 7}世帯 復旧見込みは未定",
                f"{clock}現在 停電 {area}地区 {n * 3}世帯、児島地区 {k}世帯",
            ]
        )
    if kind == "police":
        return rng.choice(
            [
                f"国道486号 真備町川辺{k}番地付近 冠水のため通行止め（{clock}）",
                f"県道{k}号 {area}{n % 9 + 1}丁目 土砂崩れ 通行止め",
            ]
        )
    if kind == "fire":
        return f"{area}{n % 9 + 1}丁目 住宅火災 {k}世帯に避難指示（{clock}）"
    if kind == "waterway":
        return rng.choice(
            [
                f"小田川 矢掛観測所 水位 {n / 70:.2f}m 上昇中（{clock}）",
                f"高梁川 酒津 水位{n / 70:.2f}m 横ばい（{clock}）",
            ]
        )
    return rng.choice(
        [
            f"倉敷中央病院 受入可 空床{n}（{clock}）",
            f"倉敷中央病院 受け入れ可能 空きベッド{n}床 負傷者{k}名受入",
        ]
    )


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Sent:
    index: int
    duplicate: bool
    at: float = 0.0
    latency_ms: float = 0.0
    status: int = 0
    error: str = ""


@dataclass
class Run:
    args: argparse.Namespace
    tmp: Path
    procs: Processes
    env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    bodies: list[bytes] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    api: list[tuple[float, int, float, str]] = field(default_factory=list)
    timeline: list[tuple[float, str]] = field(default_factory=list)
    redis_down: tuple[float, float] | None = None
    kills: list[float] = field(default_factory=list)
    # Exits nobody asked for: (time, process, the log's last CRITICAL/ERROR line).
    crashes: list[tuple[float, str, str]] = field(default_factory=list)
    # Held by a deliberate kill and restart (the worker SIGKILL), so the watch stays out of it.
    watch_lock: threading.Lock = field(default_factory=threading.Lock)
    send_start: float = 0.0
    send_end: float = 0.0
    drained_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def mark(self, what: str) -> float:
        now = time.time()
        with self.lock:
            self.timeline.append((now, what))
        log(what)
        return now

    # --- set-up ---

    def prepare_env(self) -> None:
        from lineworks.fake.keys import generate_bot_secret, generate_private_key_pem

        secrets_dir = self.tmp / "secrets"
        secrets_dir.mkdir(mode=0o700)
        files = {
            "private.pem": generate_private_key_pem(),
            "bot-secret": generate_bot_secret(),
            "client-secret": generate_bot_secret(),
        }
        for name, value in files.items():
            path = secrets_dir / name
            path.write_text(value, encoding="ascii")
            path.chmod(0o600)
        self.bot_secret = files["bot-secret"]
        self.ports = {
            "redis": free_port(6390),
            "web": free_port(),
            "fake": free_port(),
        }
        fake = f"http://127.0.0.1:{self.ports['fake']}"
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("LINEWORKS_", "DJANGO_", "KDR_", "CELERY_"))
            and k not in ("DATABASE_URL", "REDIS_URL")
        }
        self.env = {
            **inherited,
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "faults.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": self.args.database_url,
            "REDIS_URL": f"redis://127.0.0.1:{self.ports['redis']}/0",
            "KDR_VAR_DIR": str(self.tmp / "var"),
            "KDR_MEDIA_ROOT": str(self.tmp / "media"),
            "KDR_LOG_LEVEL": "INFO",
            "LINEWORKS_CLIENT_ID": CLIENT_ID,
            "LINEWORKS_CLIENT_SECRET_FILE": str(secrets_dir / "client-secret"),
            "LINEWORKS_SERVICE_ACCOUNT": SERVICE_ACCOUNT,
            "LINEWORKS_PRIVATE_KEY_FILE": str(secrets_dir / "private.pem"),
            "LINEWORKS_BOT_ID": BOT_ID,
            "LINEWORKS_BOT_SECRET_FILE": str(secrets_dir / "bot-secret"),
            "LINEWORKS_API_BASE_URL": f"{fake}/v1.0",
            "LINEWORKS_AUTH_URL": f"{fake}/oauth2/v2.0/token",
            "LINEWORKS_HQ_CHANNEL_ID": HQ_CHANNEL,
        }

    def start_redis(self) -> None:
        port = self.ports["redis"]
        self.procs.start(
            "redis",
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
                str(self.tmp),
            ],
            self.env,
        )
        wait_for("redis-server", lambda: _redis_ping(port), 20)

    def setup_django(self) -> None:
        os.environ.update(self.env)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command

        started = time.monotonic()
        call_command("migrate", verbosity=0, interactive=False)
        log(f"database migrated in {time.monotonic() - started:.0f} s")
        path = self.tmp / "directory.json"
        path.write_text(json.dumps(directory(), ensure_ascii=False), encoding="utf-8")
        call_command("import_directory", str(path), verbosity=0, stdout=io.StringIO())
        from django.contrib.auth import get_user_model
        from rest_framework.authtoken.models import Token

        users = get_user_model().objects.filter(username__startswith="faults-m")
        self.tokens = {
            u.username: Token.objects.get_or_create(user=u)[0].key
            for u in users.filter(member__agency__kind="shelter_operator")
        }
        from django.db import connections

        connections.close_all()

    def start_services(self) -> None:
        python = str(BIN / "python")
        fake_port, web_port = self.ports["fake"], self.ports["web"]
        self.procs.start(
            "fake",
            [
                python,
                "manage.py",
                "run_fake_lineworks",
                "--port",
                str(fake_port),
                "--callback-url",
                f"http://127.0.0.1:{web_port}/lineworks/callback",
                "--rate-limit",
                str(FAKE_RATE_LIMIT),
            ],
            self.env,
        )
        web_env = {**self.env, "KDR_LOG_LEVEL": "WARNING"}
        self.procs.start(
            "gunicorn",
            [
                str(BIN / "gunicorn"),
                "kurashiki_dr.wsgi",
                "--workers",
                "3",
                "--worker-class",
                "sync",
                "--bind",
                f"127.0.0.1:{web_port}",
                "--timeout",
                "30",
                "--access-logfile",
                str(self.procs.logdir / "access.log"),
                "--access-logformat",
                "%(t)s %(m)s %(U)s %(s)s %(D)s",
            ],
            web_env,
        )
        self.start_worker()
        self.start_beat()
        wait_for("fake LINE WORKS", lambda: self.fake("GET", "/health")["ok"], 60)
        wait_for(
            "gunicorn",
            lambda: http_request(web_port, "GET", "/healthz")[0] == 200,
            60,
        )
        self.wait_worker_ready()

    def start_beat(self) -> None:
        self.procs.start(
            "beat",
            [
                str(BIN / "celery"),
                "-A",
                "kurashiki_dr",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(self.tmp / "celerybeat-schedule"),
            ],
            self.env,
        )

    def start_worker(self) -> None:
        log_path = self.procs.logdir / "worker.log"
        self._worker_log_offset = log_path.stat().st_size if log_path.exists() else 0
        self.procs.start(
            "worker",
            [
                str(BIN / "celery"),
                "-A",
                "kurashiki_dr",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                "2",
                "--loglevel",
                "INFO",
                "--hostname",
                f"faults-{len(self.kills)}@%h",
                "--without-mingle",
                "--without-gossip",
            ],
            self.env,
        )

    def wait_worker_ready(self, timeout: float = 90) -> None:
        log_path = self.procs.logdir / "worker.log"

        def ready() -> bool:
            with log_path.open("rb") as handle:
                handle.seek(self._worker_log_offset)
                return b" ready." in handle.read()

        wait_for("the Celery worker", ready, timeout, interval=0.3)

    def fake(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(  # noqa: S310 (our own fake on 127.0.0.1)
            f"http://127.0.0.1:{self.ports['fake']}/_fake{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read() or b"null")

    # --- the load ---

    def build_messages(self) -> tuple[list[tuple[float, int, bool]], list[dict[str, str]]]:
        rng = random.Random(self.args.seed)  # noqa: S311 (test data)
        cast = directory()
        agencies = {a["code"]: a for a in cast["agencies"]}
        facility_of = {f["agency"]: f["name"] for f in cast["facilities"]}
        senders = [m for m in cast["members"] if m["role"] == "agency_reporter"]
        n, rate = self.args.messages, self.args.rate
        base = datetime.now(tz=UTC) + timedelta(seconds=30)
        seen: set[str] = set()
        for i in range(n):
            member = senders[rng.randrange(len(senders))]
            agency = agencies[member["agency"]]
            jst = base + timedelta(hours=9, seconds=i / rate) - timedelta(minutes=rng.randint(0, 9))
            clock = f"{jst.hour}:{jst.minute:02d}"
            text = report_text(agency["kind"], facility_of.get(agency["code"], ""), rng, clock)
            while text in seen:
                text = report_text(agency["kind"], facility_of.get(agency["code"], ""), rng, clock)
            seen.add(text)
            issued = (base + timedelta(seconds=i / rate)).isoformat(timespec="milliseconds")
            event = {
                "type": "message",
                "source": {
                    "userId": member["lineworks_user_id"],
                    "channelId": agency["lineworks_channel_id"],
                    "domainId": 40029600,
                },
                "issuedTime": issued.replace("+00:00", "Z"),
                "content": {"type": "text", "text": text},
            }
            body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
            self.bodies.append(body)
            self.texts.append(text)
        schedule = [(i / rate, i, False) for i in range(n)]
        duplicates = rng.sample(range(n), round(n * self.args.duplicate_share))
        for j, i in enumerate(duplicates):
            # A third at the same moment as the original (a race on the same digest), the
            # rest up to 3 s later.
            delay = 0.0 if j % 3 == 0 else rng.uniform(0.05, 3.0)
            schedule.append((i / rate + delay, i, True))
        schedule.sort()
        api_reports = []
        reporters = [m for m in senders if agencies[m["agency"]]["kind"] == "shelter_operator"]
        for j in range(int(n / rate / self.args.api_interval)):
            member = reporters[j % len(reporters)]
            facility = facility_of[member["agency"]]
            count = rng.randint(5, 400)
            api_reports.append(
                {
                    "username": member["username"],
                    "payload": json.dumps(
                        {
                            "category": "evacuees",
                            "fields": {"facility": facility, "count": count},
                            "text": f"{facility} 避難者数 {count}名（Web報告）",
                        },
                        ensure_ascii=False,
                    ),
                }
            )
        return schedule, api_reports

    def post_callback(self, record: Sent) -> None:
        body = self.bodies[record.index]
        from lineworks.signature import sign

        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "X-WORKS-BotId": BOT_ID,
            "X-WORKS-Signature": sign(self.bot_secret, body),
        }
        record.at = time.time()
        try:
            record.status, _ = http_request(
                self.ports["web"], "POST", "/lineworks/callback", body, headers, timeout=60
            )
        except (OSError, http.client.HTTPException) as exc:
            record.error = f"{type(exc).__name__}: {exc}"
        record.latency_ms = (time.time() - record.at) * 1000

    def post_api_report(self, item: dict[str, str]) -> None:
        started = time.time()
        try:
            status, body = http_request(
                self.ports["web"],
                "POST",
                "/api/v1/reports/",
                item["payload"].encode(),
                {
                    "Content-Type": "application/json",
                    "Authorization": f"Token {self.tokens[item['username']]}",
                },
                timeout=60,
            )
        except (OSError, http.client.HTTPException) as exc:
            status, body = 0, f"{type(exc).__name__}: {exc}".encode()
        detail = "" if status == 201 else body[:300].decode("utf-8", "replace")
        with self.lock:
            self.api.append((started, status, (time.time() - started) * 1000, detail))

    def faults_plan(self) -> list[tuple[float, str, Any]]:
        """(seconds after the first callback, what, action). 1,000 callbacks at 20/s take
        50 s; every fault lands while callbacks keep arriving."""

        def burst_429() -> None:
            self.fake("POST", "/faults", {"status": 429, "seconds": 4, "match": "/messages"})

        def redis_stop() -> None:
            self.procs.kill("redis", signal.SIGTERM)
            self.redis_down = (time.time(), 0.0)

        def redis_start() -> None:
            self.start_redis()
            assert self.redis_down is not None
            self.redis_down = (self.redis_down[0], time.time())

        def burst_500() -> None:
            self.fake("POST", "/faults", {"status": 500, "seconds": 6, "match": "/messages"})

        def latency() -> None:
            self.fake(
                "POST",
                "/faults",
                {
                    "status": 0,
                    "seconds": LATENCY_SECONDS,
                    "latency_ms": INJECTED_LATENCY_MS,
                    "match": "/messages",
                },
            )

        def kill_worker() -> None:
            # As soon as a send is in flight (a row `sending`, its request held by the
            # latency): the kill then lands where a duplicate send is possible. After a
            # broker loss the worker may take a few seconds to reconnect, hence the wait.
            from django.db import connection

            from lineworks.models import OutboundMessage, OutboundStatus

            deadline = time.time() + KILL_WAIT_SECONDS
            try:
                while time.time() < deadline and not self.stopping.is_set():
                    sending = OutboundMessage.objects.filter(status=OutboundStatus.SENDING)
                    if sending.exists():
                        break
                    time.sleep(0.1)
            finally:
                connection.close()
            with self.watch_lock:  # a deliberate kill and restart: the watch stays out of it
                self.procs.kill("worker", signal.SIGKILL)
                self.kills.append(self.mark("worker killed with SIGKILL (main process and pool)"))
                if not self.stopping.wait(timeout=3):
                    self.start_worker()
                    self.mark("worker started again")

        # The 429 comes last: the client then holds every send until the rate-limit window
        # resets (up to a minute), which would otherwise leave nothing in flight to kill.
        return [
            (3.0, "fake: message calls answer 500 for 6 s", burst_500),
            (
                8.0,
                "redis-server stopped (SIGTERM; no persistence: queued tasks are lost)",
                redis_stop,
            ),
            (28.0, "redis-server started again (empty)", redis_start),
            (
                31.0,
                f"fake: message calls take {INJECTED_LATENCY_MS} ms for {LATENCY_SECONDS} s",
                latency,
            ),
            (33.0, "waiting for a send in flight to kill the worker", kill_worker),
            (48.0, "fake: message calls answer 429 for 4 s", burst_429),
        ]

    def send_all(self) -> None:
        schedule, api_reports = self.build_messages()
        plan = self.faults_plan()
        self.sent = [Sent(index=i, duplicate=dup) for _t, i, dup in schedule]
        offsets = [t for t, _i, _d in schedule]
        api_every = self.args.api_interval
        errors: list[str] = []

        def run_plan() -> None:
            for offset, what, action in plan:
                delay = self.send_start + offset - time.time()
                if self.stopping.wait(timeout=max(0.0, delay)):
                    return  # interrupted: no fault (and no restart) after the cleanup
                self.mark(what)
                try:
                    action()
                except Exception as exc:
                    errors.append(f"{what}: {type(exc).__name__}: {exc}")
                    log(f"fault action failed: {what}: {exc}")

        with ThreadPoolExecutor(max_workers=48) as pool:
            self.send_start = self.mark(
                f"sending {self.args.messages} callbacks at {self.args.rate:.0f}/s "
                f"(+{len(schedule) - self.args.messages} duplicates), "
                f"{len(api_reports)} API reports"
            )
            planner = threading.Thread(target=run_plan, name="faults-plan", daemon=True)
            planner.start()
            api_times = [0.5 + j * api_every for j in range(len(api_reports))]
            jobs = sorted(
                [(t, "cb", k) for k, t in enumerate(offsets)]
                + [(t, "api", j) for j, t in enumerate(api_times)]
            )
            for offset, kind, k in jobs:
                delay = self.send_start + offset - time.time()
                if delay > 0:
                    time.sleep(delay)
                if kind == "cb":
                    pool.submit(self.post_callback, self.sent[k])
                else:
                    pool.submit(self.post_api_report, api_reports[k])
            planner.join()
        self.send_end = self.mark("all callbacks answered")
        if errors:
            raise RuntimeError("; ".join(errors))
        self.wait_worker_ready(timeout=60)

    def watch(self) -> None:
        """Record an exit of the worker or beat that nobody asked for. Nothing restarts them
        (no supervisor, no ``restart:`` policy doing the work): the worker must survive the
        Redis outage by itself, so any such exit fails the suite."""
        while not self.stopping.wait(timeout=0.5):
            with self.watch_lock:
                for name in ("worker", "beat"):
                    if self.stopping.is_set() or self.procs.alive(name):
                        continue
                    if any(crashed == name for _at, crashed, _r in self.crashes):
                        continue
                    reason = last_error_line(self.procs.logdir / f"{name}.log")
                    self.crashes.append((time.time(), name, reason))
                    self.mark(f"{name} exited on its own ({reason}); not restarted")

    # --- waiting for the end ---

    def state(self) -> dict[str, Any]:
        from django.db.models import Count

        from lineworks.models import InboundEvent, OutboundMessage

        inbound = dict(
            InboundEvent.objects.values_list("status").annotate(n=Count("id")).order_by()
        )
        outbound = dict(
            OutboundMessage.objects.values_list("status").annotate(n=Count("id")).order_by()
        )
        return {"inbound": inbound, "outbound": outbound}

    def drain(self, deadline: float) -> dict[str, Any]:
        expected_in = self.args.messages
        expected_api = sum(1 for _t, status, _l, _d in self.api if status == 201)
        last_print = 0.0
        state: dict[str, Any] = {}
        while time.time() < deadline:
            state = self.state()
            inbound, outbound = state["inbound"], state["outbound"]
            settled_in = sum(inbound.values()) >= expected_in and not inbound.get("received")
            settled_out = (
                sum(outbound.values()) >= expected_in + expected_api
                and not outbound.get("pending")
                and not outbound.get("sending")
            )
            if time.time() - last_print > 10:
                log(f"waiting: inbound {inbound} outbound {outbound}")
                last_print = time.time()
            for name in ("gunicorn", "fake", "redis"):
                if not self.procs.alive(name):
                    raise RuntimeError(f"{name} exited unexpectedly (see its log)")
            for _at, name, reason in self.crashes:
                raise RuntimeError(f"{name} exited on its own ({reason}) and is not restarted")
            if settled_in and settled_out:
                self.drained_at = time.time()
                log(f"settled: inbound {inbound} outbound {outbound}")
                return state
            time.sleep(2)
        log(
            f"not settled before the deadline: inbound {state.get('inbound')} "
            f"outbound {state.get('outbound')}"
        )
        return state


def last_error_line(path: Path) -> str:
    """The last CRITICAL (else ERROR) line of a Celery log, shortened: why it exited."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    for level in ("CRITICAL/", "ERROR/"):
        for line in reversed(lines):
            if level in line:
                return line.split("] ", 1)[-1][:160]
    return "no error logged"


def _redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")


def http_request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, bytes]:
    """One request on a fresh connection (as LINE WORKS does), through the TLS-terminating
    proxy's header: production settings redirect plain http to https."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(
            method, path, body=body, headers={"X-Forwarded-Proto": "https", **(headers or {})}
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# --- checks ----------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    expected: str
    observed: str
    ok: bool
    note: str = ""


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _parse_at(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def verify(run: Run) -> tuple[list[Check], list[str], dict[str, Any]]:
    from lineworks.models import InboundEvent, InboundStatus, OutboundKind, OutboundMessage
    from reports.models import ReportRevision, RevisionKind

    checks: list[Check] = []
    details: list[str] = []
    n = run.args.messages
    duplicates = [s for s in run.sent if s.duplicate]

    # 1. The webhook.
    statuses = Counter(s.status for s in run.sent)
    not_200 = [s for s in run.sent if s.status != 200]
    checks.append(
        Check(
            "webhook: callbacks answered 200",
            f"{len(run.sent)}",
            f"{statuses.get(200, 0)}",
            not not_200,
            ", ".join(f"{k or 'no answer'}×{v}" for k, v in sorted(statuses.items()) if k != 200),
        )
    )
    for s in not_200[:10]:
        details.append(f"callback #{s.index} dup={s.duplicate}: status {s.status} {s.error}")
    down_start, down_end = run.redis_down or (0.0, 0.0)
    during = [s for s in run.sent if down_start <= s.at <= down_end]
    during_ok = sum(1 for s in during if s.status == 200)
    checks.append(
        Check(
            "webhook: 200 while Redis was down",
            f"{len(during)}",
            f"{during_ok}",
            bool(during) and during_ok == len(during),
            f"{down_end - down_start:.0f} s outage; p99 "
            f"{_pct([s.latency_ms for s in during], 0.99):.0f} ms",
        )
    )
    five = sum(1 for s in run.sent if s.status >= 500)
    checks.append(Check("webhook: 5xx answers", "0", str(five), five == 0))

    # 2. Exactly one report per distinct message.
    events = list(InboundEvent.objects.values("id", "digest", "status", "report_id", "attempts"))
    digests = {hashlib.sha256(body).hexdigest(): i for i, body in enumerate(run.bodies)}
    stored = Counter(e["digest"] for e in events)
    unknown = [e for e in events if e["digest"] not in digests]
    missing = [i for d, i in digests.items() if d not in stored]
    checks.append(
        Check(
            "inbound events stored (one per distinct body)",
            f"{n}",
            f"{len(events)}",
            len(events) == n and not unknown and not missing,
            f"{len(duplicates)} duplicate deliveries absorbed"
            + (f"; {len(missing)} missing" if missing else ""),
        )
    )
    by_status = Counter(e["status"] for e in events)
    checks.append(
        Check(
            "inbound events processed (done, with a report)",
            f"{n}",
            str(sum(1 for e in events if e["status"] == InboundStatus.DONE and e["report_id"])),
            by_status.get(InboundStatus.DONE, 0) == n and all(e["report_id"] for e in events),
            ", ".join(f"{k}×{v}" for k, v in sorted(by_status.items()) if k != "done"),
        )
    )
    revisions = list(
        ReportRevision.objects.filter(source_ref__startswith="lineworks:inbound:").values(
            "source_ref", "kind", "text", "report_id"
        )
    )
    refs = Counter(r["source_ref"] for r in revisions)
    repeated_refs = [ref for ref, c in refs.items() if c > 1]
    expected_refs = {f"lineworks:inbound:{e['id']}" for e in events}
    texts = Counter(r["text"] for r in revisions)
    sent_texts = Counter(run.texts)
    checks.append(
        Check(
            "reports filed from LINE WORKS (distinct source_ref)",
            f"{n}",
            f"{len(refs)}",
            len(revisions) == n
            and not repeated_refs
            and set(refs) == expected_refs
            and all(r["kind"] == RevisionKind.ORIGINAL for r in revisions)
            and texts == sent_texts,
            f"{len(repeated_refs)} source_ref with >1 revision; "
            f"{sum((texts - sent_texts).values())} unexpected texts",
        )
    )
    reports_per_event = Counter(r["report_id"] for r in revisions)
    checks.append(
        Check(
            "one report per message (no report from two events)",
            "0",
            str(sum(1 for c in reports_per_event.values() if c > 1)),
            all(c == 1 for c in reports_per_event.values()),
        )
    )

    # 3. Replies and mirrors.
    outbound = list(
        OutboundMessage.objects.values(
            "id",
            "kind",
            "status",
            "attempts",
            "to_channel_id",
            "to_user_id",
            "contents",
            "inbound_event_id",
            "last_error",
        )
    )
    replies = [m for m in outbound if m["kind"] == OutboundKind.REPLY]
    mirrors = [m for m in outbound if m["kind"] == OutboundKind.MIRROR]
    per_event = Counter(m["inbound_event_id"] for m in replies)
    api_ok = sum(1 for _t, status, _l, _d in run.api if status == 201)
    api_bad = [(status, detail) for _t, status, _l, detail in run.api if status != 201]
    checks.append(
        Check(
            "API reports answered 201 (for the mirrors)",
            f"{len(run.api)}",
            f"{api_ok}",
            not api_bad and api_ok > 0,
            "; ".join(f"{s}: {d[:80]}" for s, d in api_bad[:3]),
        )
    )
    sent_replies = sum(1 for m in replies if m["status"] == "sent")
    checks.append(
        Check(
            "replies sent (one per message)",
            f"{n}",
            f"{sent_replies}",
            sent_replies == n == len(replies) and all(c == 1 for c in per_event.values()),
            ", ".join(
                f"{k}×{v}" for k, v in Counter(m["status"] for m in replies).items() if k != "sent"
            ),
        )
    )
    sent_mirrors = sum(1 for m in mirrors if m["status"] == "sent")
    checks.append(
        Check(
            "mirrors to HQ's room sent (one per API report)",
            f"{api_ok}",
            f"{sent_mirrors}",
            sent_mirrors == api_ok == len(mirrors),
        )
    )
    others = [m for m in outbound if m["kind"] not in (OutboundKind.REPLY, OutboundKind.MIRROR)]
    not_sent = [m for m in outbound if m["status"] != "sent"]
    checks.append(
        Check(
            "outbox rows not sent (failed, pending, sending)",
            "0",
            str(len(not_sent)),
            not not_sent,
            f"{len(others)} other rows" if others else "",
        )
    )
    for m in not_sent[:10]:
        details.append(f"outbound #{m['id']} {m['kind']} {m['status']}: {m['last_error'][:200]}")

    # 4. What the fake LINE WORKS received.
    record = run.fake("GET", "/record")["entries"]
    accepted = run.fake("GET", "/messages")["messages"]
    calls = [r for r in record if r.get("op") in ("channel_message", "user_message")]
    call_status = Counter(r["status"] for r in calls)
    copies: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for message in accepted:
        dest = (
            f"channel:{message['channelId']}"
            if message.get("channelId")
            else (f"user:{message.get('userId')}")
        )
        copies[(dest, _canonical(message["content"]))].append(message)
    rows_by_key: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for m in outbound:
        dest = f"channel:{m['to_channel_id']}" if m["to_channel_id"] else f"user:{m['to_user_id']}"
        for content in m["contents"]:
            rows_by_key[(dest, _canonical(content))].append(m)
    undelivered = [k for k, rows in rows_by_key.items() if len(copies.get(k, [])) < len(rows)]
    strays = [k for k in copies if k not in rows_by_key]
    checks.append(
        Check(
            "fake received every outbox content",
            f"{sum(len(r) for r in rows_by_key.values())}",
            f"{sum(min(len(copies.get(k, [])), len(r)) for k, r in rows_by_key.items())}",
            not undelivered and not strays,
            f"{len(strays)} messages matching no outbox row" if strays else "",
        )
    )
    duplicates_seen: list[tuple[tuple[str, str], list[dict[str, Any]], list[dict[str, Any]]]] = []
    for key, got in copies.items():
        rows = rows_by_key.get(key, [])
        if rows and len(got) > len(rows):
            duplicates_seen.append((key, sorted(got, key=lambda g: g["seq"]), rows))
    explained, unexplained = 0, 0
    window = INJECTED_LATENCY_MS / 1000 + 2.0
    for _key, got, rows in duplicates_seen:
        first, later = got[0], got[len(rows) :]
        first_at = _parse_at(first["at"])
        kill = next(
            (k for k in run.kills if k - window <= first_at <= k + 0.05),
            None,
        )
        reclaimed = all(r["attempts"] >= 2 for r in rows)
        ok = kill is not None and reclaimed and all(_parse_at(g["at"]) > kill for g in later)
        explained += len(later) if ok else 0
        unexplained += 0 if ok else len(later)
        ids = ",".join(str(r["id"]) for r in rows)
        details.append(
            f"duplicate send: outbox #{ids} ({rows[0]['kind']}, attempts "
            f"{rows[0]['attempts']}) accepted {len(got)}× by the fake; first request "
            f"{first['at']}"
            + (
                f", {kill - first_at:.2f} s before the worker was killed, sent again after "
                "the sending lease → the documented window"
                if ok
                else " → NOT explained by the documented window"
            )
        )
    checks.append(
        Check(
            "duplicate sends at the fake, explained by the window",
            "all explained",
            f"{explained + unexplained} ({explained} explained)",
            unexplained == 0,
            "request in flight when its worker was SIGKILLed" if explained else "",
        )
    )
    # 5. Nothing had to be restarted: the worker rode out the Redis outage by itself.
    checks.append(
        Check(
            "worker and beat never exited on their own",
            "0",
            f"{len(run.crashes)}",
            not run.crashes,
            "; ".join(f"{name}: {reason}" for _at, name, reason in run.crashes) or "no restart",
        )
    )
    return checks, details, {"calls": call_status, "accepted": len(accepted)}


def _canonical(content: Any) -> str:
    return json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def sweep_totals(worker_log: Path) -> dict[str, int]:
    """What the beat sweeps did, from the worker's log (``lineworks.sweep`` results)."""
    totals = {"runs": 0, "inbound": 0, "outbound": 0, "recovered": 0}
    pattern = re.compile(
        r"lineworks\.sweep\[.*?succeeded in .*?: \{'inbound': (\d+), 'outbound': (\d+), "
        r"'recovered': (\d+)"
    )
    try:
        text = worker_log.read_text(errors="replace")
    except OSError:
        return totals
    for match in pattern.finditer(text):
        totals["runs"] += 1
        totals["inbound"] += int(match[1])
        totals["outbound"] += int(match[2])
        totals["recovered"] += int(match[3])
    return totals


def print_summary(run: Run, checks: list[Check], details: list[str], extra: dict[str, Any]) -> None:
    print()
    print("=" * 100)
    print("LINE WORKS fault-injection suite — timeline (seconds after the first callback)")
    for at, what in run.timeline:
        print(f"  {at - run.send_start:7.1f}  {what}")
    if run.drained_at:
        print(f"  {run.drained_at - run.send_start:7.1f}  everything processed and delivered")
    latencies = [s.latency_ms for s in run.sent if s.status]
    print()
    print(
        f"webhook: {len(run.sent)} callbacks, latency p50 {_pct(latencies, 0.5):.0f} ms, "
        f"p99 {_pct(latencies, 0.99):.0f} ms, max {max(latencies or [0]):.0f} ms"
    )
    sweeps = sweep_totals(ARTIFACTS / "worker.log")
    print(
        f"beat sweeps: {sweeps['runs']} runs; re-enqueued {sweeps['inbound']} inbound events and "
        f"{sweeps['outbound']} outbox rows; took back {sweeps['recovered']} rows left "
        "`sending` by the killed worker"
    )
    for at, name, reason in run.crashes:
        print(f"{name} exited on its own at {at - run.send_start:.1f} s ({reason})")
    calls = extra["calls"]
    print(
        "fake LINE WORKS message calls: "
        + ", ".join(f"{status}×{count}" for status, count in sorted(calls.items()))
        + f"; {extra['accepted']} accepted"
    )
    print()
    width = max(len(c.name) for c in checks)
    print(f"{'check':{width}}  {'expected':>14}  {'observed':>22}  result")
    print("-" * (width + 50))
    for c in checks:
        print(
            f"{c.name:{width}}  {c.expected:>14}  {c.observed:>22}  "
            f"{'PASS' if c.ok else 'FAIL'}{('  ' + c.note) if c.note else ''}"
        )
    if details:
        print()
        for line in details[:40]:
            print(f"  {line}")
    print("=" * 100)


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("FAULTS_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="PostgreSQL database to create and drop (name must start with kdr_faults)",
    )
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="callbacks per second")
    parser.add_argument("--duplicate-share", type=float, default=0.10)
    parser.add_argument(
        "--api-interval", type=float, default=1.0, help="seconds between API reports"
    )
    parser.add_argument("--timeout", type=float, default=360, help="whole run, seconds")
    parser.add_argument("--seed", type=int, default=20180706)
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    args = parser.parse_args(argv)
    database_name(args.database_url)
    if not shutil.which("redis-server"):
        print("redis-server is not installed", file=sys.stderr)
        return 2

    started = time.time()
    hard_deadline = started + args.timeout
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    tmp = Path(tempfile.mkdtemp(prefix="kdr-faults-"))
    procs = Processes(ARTIFACTS)
    run = Run(args=args, tmp=tmp, procs=procs)
    cleaned = threading.Event()

    def cleanup() -> None:
        if cleaned.is_set():
            return
        cleaned.set()
        run.stopping.set()
        log("stopping every process the suite started")
        procs.stop_all()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: S110 (Django may not be set up yet)
            pass
        if not args.keep_db:
            drop_database(args.database_url)
        shutil.rmtree(tmp, ignore_errors=True)
        log("cleaned up")

    def on_signal(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    atexit.register(cleanup)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    # Last resort: if anything hangs, interrupt the main thread (cleanup still runs).
    watchdog = threading.Timer(args.timeout + 30, lambda: os.kill(os.getpid(), signal.SIGTERM))
    watchdog.daemon = True
    watchdog.start()

    ok = False
    try:
        log(f"database {database_name(args.database_url)}: create, migrate, seed 50 members")
        recreate_database(args.database_url)
        run.prepare_env()
        run.start_redis()
        run.setup_django()
        log(
            f"starting gunicorn :{run.ports['web']}, worker, beat, fake LINE WORKS "
            f":{run.ports['fake']}, redis :{run.ports['redis']}"
        )
        run.start_services()
        threading.Thread(target=run.watch, name="faults-watch", daemon=True).start()
        run.send_all()
        # Leave time to stop everything and drop the database.
        state = run.drain(hard_deadline - 25)
        checks, details, extra = verify(run)
        if run.drained_at is None:
            checks.insert(
                0,
                Check(
                    "everything settled before the deadline",
                    "yes",
                    "no",
                    False,
                    f"inbound {state.get('inbound')} outbound {state.get('outbound')}",
                ),
            )
        print_summary(run, checks, details, extra)
        ok = all(c.ok for c in checks)
    except Exception as exc:
        log(f"ERROR: {type(exc).__name__}: {exc}")
        for name in ("worker", "gunicorn", "beat", "fake"):
            path = ARTIFACTS / f"{name}.log"
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-15:]
                print(f"--- {name}.log (last lines)\n" + "\n".join(tail))
    finally:
        cleanup()
        watchdog.cancel()
    total = time.time() - started
    print(f"fault suite {'PASSED' if ok else 'FAILED'} in {total:.0f} s (logs: {ARTIFACTS})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
