"""A notice to 200 LINE WORKS rooms through the fake LINE WORKS at its default rate limit.

    .venv/bin/python -m bench.notice_bench [--channels 200] [--rate-limit 240]

HQ sends one notice (a 避難指示 with the list of open shelters, long enough to go out as a
text plus a 了解 button: 2 calls per room, 400 in all) to 200 agencies, each with its talk
room. A real Celery worker (prefork, 2 processes) and beat deliver the outbox through the
fake LINE WORKS, which allows ``--rate-limit`` calls per minute per API (240: the Standard
plan) in fixed minute windows with ``rateLimit-*`` headers, and answers 429 beyond.

The notice is issued just after a minute window opens, so the first window is whole.
Reported: time until every room has the notice, calls accepted per window, the share of the
allowed rate achieved (accepted calls in the windows the demand could fill, over the limit
× those windows), 429 answers, and the notice's delivery status per agency. The last line of
output is a JSON summary.

Its own database (``kdr_bench_notice``), redis-server, worker, beat and fake; all go away at
the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import stack

SHELTERS = [
    "箭田小学校",
    "川辺小学校",
    "岡田小学校",
    "薗小学校",
    "二万小学校",
    "真備中学校",
    "呉妹小学校",
    "服部小学校",
    "玉島小学校",
    "水島小学校",
    "倉敷市真備支所",
    "まきび公園",
]


def notice_body() -> str:
    """A realistic, long 避難指示 notice (over the 900 characters sent inline)."""
    lines = [
        "倉敷市災害対策本部より各機関へ。本日18時30分、真備地区全域（箭田、川辺、岡田、服部、"
        "二万、妹、辻田、尾崎、市場、有井）に警戒レベル4「避難指示」を発令しました。"
        "小田川の水位が氾濫危険水位を超え、高梁川との合流点付近で今後さらに上昇する見込みです。",
        "各機関は次の対応をお願いします。",
        "1. 避難所運営班: 下記の避難所を直ちに開設し、30分ごとに避難者数をLINE WORKSで報告して"
        "ください（例: 箭田小学校 避難者数 35名）。要配慮者の人数も併せて報告してください。",
        "2. 消防・警察: 浸水想定区域内の住民への広報と避難誘導を継続し、通行止め箇所を報告して"
        "ください（例: 国道486号 川辺橋付近 冠水のため通行止め）。",
        "3. 医療機関: 受入可否と空床数を1時間ごとに報告してください。",
        "4. 電力: 停電地区と世帯数、復旧見込みを報告してください。",
        "5. 河川管理: 小田川・高梁川の観測所ごとの水位と傾向を30分ごとに報告してください。",
        "開設する避難所: " + "、".join(SHELTERS) + "。",
        "各避難所の収容状況は災害情報ポータルの状況画面で確認できます。満員に近い避難所が"
        "ある場合は、本部が近隣の避難所への誘導を指示します。夜間の移動は危険を伴うため、"
        "移動が困難な住民には自宅の2階以上への垂直避難を呼びかけてください。",
        "職員の安全確保を最優先とし、冠水した道路には立ち入らないでください。",
        "この通知を確認したら「了解」を押してください。未確認の機関には本部から電話で確認します。",
    ]
    body = "\n".join(lines)
    while len(body) < 950:
        body += "\n状況は刻々と変わります。最新の指示は災害対策本部の通知を確認してください。"
    return body[:1500]


def _fake(port: int, path: str) -> Any:
    with urllib.request.urlopen(  # noqa: S310 (our own fake on 127.0.0.1)
        f"http://127.0.0.1:{port}/_fake{path}", timeout=30
    ) as response:
        return json.loads(response.read())


def seed(channels: int) -> Any:
    from django.contrib.auth import get_user_model

    from agencies.services import directory_import

    kinds = ["shelter_operator", "medical", "power", "police", "fire", "waterway", "city_dept"]
    agencies = [{"code": "hq", "name": "倉敷市災害対策本部", "kind": "hq"}]
    for n in range(1, channels + 1):
        agencies.append(
            {
                "code": f"agency-{n:03d}",
                "name": f"倉敷市 第{n}班",
                "kind": kinds[n % len(kinds)],
                "lineworks_channel_id": f"bench-room-{n:03d}",
            }
        )
    members = [{"username": "bench-hq", "name": "本部 当直", "agency": "hq", "role": "hq_operator"}]
    directory_import({"agencies": agencies, "members": members}, source="notice_bench")
    return get_user_model().objects.get(username="bench-hq")


def run(channels: int, rate_limit: int, timeout: float, workdir: Path) -> dict[str, Any]:
    procs = stack.Processes(workdir)
    database = stack.database_url("kdr_bench_notice")
    try:
        stack.recreate_database(database)
        redis_port = stack.start_redis(procs, workdir)
        fake_port = stack.free_port()
        env, _secrets = stack.portal_env(
            database=database, redis_port=redis_port, workdir=workdir, fake_port=fake_port
        )
        stack.migrate(env)
        os.environ.update(env)
        sys.path.insert(0, str(stack.ROOT))
        import django

        django.setup()
        from django.db import connections

        hq = seed(channels)
        connections.close_all()
        python = str(stack.BIN / "python")
        celery = str(stack.BIN / "celery")
        procs.start(
            "fake",
            [
                python,
                "manage.py",
                "run_fake_lineworks",
                "--port",
                str(fake_port),
                "--rate-limit",
                str(rate_limit),
                "--callback-url",
                "http://127.0.0.1:9/lineworks/callback",
            ],
            env,
        )
        worker_log = workdir / "worker.log"
        procs.start(
            "worker",
            [celery, "-A", "kurashiki_dr", "worker", "--pool", "prefork", "--concurrency", "2"]
            + ["--loglevel", "INFO", "--without-mingle", "--without-gossip"],
            {**env, "KDR_LOG_LEVEL": "INFO"},
        )
        procs.start(
            "beat",
            [celery, "-A", "kurashiki_dr", "beat", "--schedule", str(workdir / "beat-schedule")],
            env,
        )
        stack.wait_for("fake LINE WORKS", lambda: _fake(fake_port, "/health")["ok"], 60)
        stack.wait_for("worker", lambda: b" ready." in worker_log.read_bytes(), 90)

        from agencies.models import Agency
        from lineworks.models import OutboundMessage
        from notices.models import NoticeRecipient
        from notices.services import notice_send

        targets = list(Agency.objects.exclude(code="hq"))
        # Start right after a minute window opens (the fake counts per clock minute).
        wait = 60 - time.time() % 60 + 0.5
        print(f"  waiting {wait:.0f} s for a fresh rate-limit window", flush=True)
        time.sleep(wait)
        issued = time.time()
        notice = notice_send(
            user=hq,
            kind="info",
            title="真備地区 避難指示（警戒レベル4）の発令と各機関の対応",
            body=notice_body(),
            agencies=targets,
        )
        parts = len(
            OutboundMessage.objects.filter(notice_recipient__notice=notice).first().contents
        )
        deadline = issued + timeout
        status: Counter[str] = Counter()
        while time.time() < deadline:
            status = Counter(
                OutboundMessage.objects.filter(notice_recipient__notice=notice).values_list(
                    "status", flat=True
                )
            )
            if not status.get("pending") and not status.get("sending"):
                break
            time.sleep(1)
        finished = time.time()
        delivery = Counter(
            NoticeRecipient.objects.filter(notice=notice).values_list("delivery_status", flat=True)
        )
        entries = [
            e for e in _fake(fake_port, "/record")["entries"] if e.get("op") == "channel_message"
        ]
        connections.close_all()
    finally:
        procs.stop_all()
        stack.drop_database(database)

    def at(entry: dict[str, Any]) -> float:
        return datetime.fromisoformat(entry["at"].replace("Z", "+00:00")).timestamp()

    accepted = [at(e) for e in entries if e["status"] == 201]
    windows = Counter(int(t // 60) for t in accepted)
    ordered = sorted(windows)
    calls = len(accepted)
    # Windows the demand could fill: all but the last (the remainder goes out in it).
    full = ordered[:-1]
    share = (sum(windows[w] for w in full) / (rate_limit * len(full))) if full else None
    last = max(accepted) if accepted else issued
    return {
        "channels": len(targets),
        "calls_per_room": parts,
        "calls": calls,
        "expected_calls": len(targets) * parts,
        "rate_limit": rate_limit,
        "per_window": [windows[w] for w in ordered],
        "share_of_allowed_rate": share,
        "status_429": sum(1 for e in entries if e["status"] == 429),
        "other_errors": sum(1 for e in entries if e["status"] not in (201, 429)),
        "seconds_to_all_delivered": last - issued,
        "seconds_to_settled": finished - issued,
        "outbox": dict(status),
        "delivery": dict(delivery),
        # The fastest any client could go: rate_limit calls per clock-minute window.
        "minimum_seconds": max(0.0, 60 * ((len(targets) * parts - 1) // rate_limit) - issued % 60),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--rate-limit", type=int, default=240, help="the fake's calls per minute")
    parser.add_argument("--timeout", type=float, default=420, help="seconds to wait for delivery")
    args = parser.parse_args(argv)
    print(
        f"notice to {args.channels} rooms through the fake LINE WORKS at "
        f"{args.rate_limit} calls/min",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="kdr-notice-bench-") as tmp:
        result = run(args.channels, args.rate_limit, args.timeout, Path(tmp))
    share = result["share_of_allowed_rate"]
    print(
        f"  {result['calls']}/{result['expected_calls']} calls accepted "
        f"({result['calls_per_room']} per room) in {result['seconds_to_all_delivered']:.0f} s "
        f"(the limit allows it in ≥ {result['minimum_seconds']:.0f} s); per window "
        f"{result['per_window']}; share of the allowed rate "
        + (f"{share:.0%}" if share is not None else "n/a (one window)")
        + f"; 429 answers {result['status_429']}; delivery {result['delivery']}"
    )
    print(json.dumps({"notice": result}, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
