"""Integration: a real Celery worker (subprocess) on Redis and the test PostgreSQL database,
the portal served by live_server, the fake LINE WORKS posting signed callbacks over HTTP.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings as django_settings
from django.db import connection

from conftest import login
from lineworks.fake.server import FakeLineWorks
from lineworks.models import InboundEvent, InboundStatus
from lineworks.tests.conftest import fake_config, lineworks_env
from reports.models import Report

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (
            getattr(django_settings, "SERVICES", {}).get("postgresql")
            and getattr(django_settings, "SERVICES", {}).get("redis")
        ),
        reason="needs PostgreSQL and Redis",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
CELERY = ROOT / ".venv" / "bin" / "celery"
A_USER, A_ROOM = "lw-a-1", "ch-mabi-shelter"


class Worker:
    """`celery -A kurashiki_dr worker --pool=solo` against the test database."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [
                str(CELERY),
                "-A",
                "kurashiki_dr",
                "worker",
                "--pool=solo",
                "-Q",
                "celery",
                "--loglevel=INFO",
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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.log.open("rb") as f:
                f.seek(offset)
                if b" ready." in f.read():
                    return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the Celery worker did not start; see {self.log}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.fixture(scope="module")
def lw_stack(
    django_db_setup: Any, django_db_blocker: Any, lw_private_key: str, tmp_path_factory: Any
) -> Iterator[tuple[FakeLineWorks, Worker]]:
    import redis

    server = FakeLineWorks(fake_config(lw_private_key)).start()
    db = connection.settings_dict
    database_url = (
        f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    redis.Redis.from_url(django_settings.REDIS_URL).flushdb()  # this suite's own Redis db
    env = {
        **os.environ,
        **lineworks_env(server, lw_private_key),
        "DJANGO_SETTINGS_MODULE": "kurashiki_dr.settings",
        "DJANGO_DEBUG": "1",
        "DATABASE_URL": database_url,
        "REDIS_URL": django_settings.REDIS_URL,
        "KDR_MEDIA_ROOT": str(django_settings.MEDIA_ROOT),
    }
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    worker = Worker(env, tmp_path_factory.mktemp("celery") / "worker.log")
    worker.start()
    try:
        yield server, worker
    finally:
        worker.stop()
        server.stop()


@pytest.fixture
def stack(lw_stack, live_server, settings, lw_private_key, transactional_db):
    """The portal (live_server) enqueueing to Redis, the worker consuming."""
    from django.core.cache import cache

    from kurashiki_dr.celery import app

    server, worker = lw_stack
    for name, value in lineworks_env(server, lw_private_key).items():
        setattr(settings, name, value)
    server.config.callback_url = f"{live_server.url}/lineworks/callback"
    server.reset()
    cache.clear()
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    if worker.process is None or worker.process.poll() is not None:
        worker.start()
    yield server, worker
    app.conf.task_always_eager = eager


def _play(server: FakeLineWorks, text: str, user: str = A_USER, room: str = A_ROOM) -> int:
    response = requests.post(
        f"{server.url}/_fake/play",
        json={"userId": user, "channelId": room, "content": {"type": "text", "text": text}},
        timeout=30,
    )
    return response.json()["status"]


def _wait(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the worker")


def test_callbacks_become_reports_visible_in_the_api(stack, hq_user, reporter_a):
    server, _worker = stack
    api = login(hq_user)

    def listed() -> int:
        return api.get("/api/v1/reports/?channel=lineworks").json()["count"]

    for n in range(1, 6):
        assert _play(server, f"{n + 10}時現在の避難者数 {30 + n}名") == 200
    _wait(lambda: listed() == 5)

    results = api.get("/api/v1/reports/?channel=lineworks").json()["results"]
    assert sorted(r["fields"]["count"] for r in results) == [31, 32, 33, 34, 35]
    assert {r["agency"] for r in results} == {"mabi-shelter"}
    assert {r["channel"] for r in results} == {"lineworks"}
    # The worker also delivered each confirmation to the fake LINE WORKS.
    _wait(lambda: len(server.messages(channel_id=A_ROOM)) == 5)
    numbers = {r["number"] for r in results}
    assert {
        m["content"]["text"].split("受付番号 ")[1].split("\n")[0] for m in server.messages()
    } == (numbers)


def test_callbacks_while_the_worker_is_stopped_are_all_processed_after_it_starts(stack, reporter_a):
    server, worker = stack
    worker.stop()

    for n in range(6):
        assert _play(server, f"避難者数 {100 + n}名") == 200
    assert InboundEvent.objects.filter(status=InboundStatus.RECEIVED).count() == 6
    assert Report.objects.count() == 0

    worker.start()
    _wait(lambda: Report.objects.count() == 6)
    _wait(lambda: not InboundEvent.objects.exclude(status=InboundStatus.DONE).exists())
    counts = sorted(r.current_revision.fields["count"] for r in Report.objects.all())
    assert counts == [100, 101, 102, 103, 104, 105]
    _wait(lambda: len(server.messages(channel_id=A_ROOM)) == 6)


def test_duplicate_callback_over_http_files_one_report(stack, reporter_a):
    server, _worker = stack
    event = server.member_event(
        user_id=A_USER, channel_id=A_ROOM, content={"type": "text", "text": "避難者数 77名"}
    )
    assert server.send_callback(event) == 200
    assert server.send_callback(event) == 200
    _wait(lambda: len(server.messages(channel_id=A_ROOM)) == 1)
    assert Report.objects.count() == 1
    assert InboundEvent.objects.count() == 1


def test_demo_page_conversation_through_the_fake(stack, settings, hq_user, reporter_a):
    """What `make run` shows: HQ types as a member on the demo page, the fake LINE WORKS
    posts the signed callback, the worker files the report and the reply comes back."""
    import re

    from conftest import PASSWORD

    server, _worker = stack
    settings.DEMO_MODE = True
    base = server.config.callback_url.removesuffix("/lineworks/callback")
    session = requests.Session()
    page = session.get(f"{base}/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    session.post(
        f"{base}/accounts/login/",
        data={"username": hq_user.username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=10,
    )
    assert session.get(f"{base}/lineworks/demo/", timeout=10).status_code == 200
    response = session.post(
        f"{base}/lineworks/demo/send",
        json={
            "agency": "mabi-shelter",
            "member": reporter_a.member.pk,
            "kind": "text",
            "text": "15時現在の避難者数 35名",
        },
        headers={"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{base}/lineworks/demo/"},
        timeout=30,
    )
    assert response.json() == {"status": 200}

    def items() -> list:
        feed = session.get(f"{base}/lineworks/demo/feed", params={"channel": A_ROOM}, timeout=10)
        return feed.json()["items"]

    _wait(lambda: any(i["from"] == "bot" for i in items()))
    conversation = items()
    assert conversation[0]["from"] == "member"
    assert conversation[0]["content"]["text"] == "15時現在の避難者数 35名"
    assert "受付番号" in conversation[-1]["content"]["text"]
