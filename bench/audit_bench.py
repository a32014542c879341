"""Benchmark: CSV export of 1,000,000 revisions and ``verify_audit_chain`` over 1,000,000 events.

    .venv/bin/python -m bench.audit_bench [--revisions 1000000] [--reuse]

Builds a separate PostgreSQL database (``kdr_audit_bench`` next to DATABASE_URL's server),
fills it with COPY: reports over all categories, their revisions (originals and
corrections), and one hash-chained audit event per revision whose payload holds the
revision's snapshot, exactly as the portal writes them, so that verification has real work.
Then it runs the real commands in child processes and reports wall time, rows/s and the
child's peak RSS:

- ``export_reports --format csv`` over everything and over a tenth (flat memory: the peak
  RSS should not grow with the row count);
- ``verify_audit_chain --no-record`` over the whole chain (and every audited revision and
  report state).

Goals: CSV >= 50,000 rows/s with flat memory; verification <= 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
# Another name lets two checkouts benchmark side by side on one server.
BENCH_DB = os.environ.get("KDR_AUDIT_BENCH_DB", "kdr_audit_bench")


def _bench_url() -> str:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kurashiki")
    parsed = urlparse(base)
    if not parsed.scheme.startswith("postgres"):
        sys.exit("the benchmark needs PostgreSQL (DATABASE_URL=postgres://...)")
    return urlunparse(parsed._replace(path=f"/{BENCH_DB}"))


def _env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": url,
            "DJANGO_DEBUG": "1",
            "DJANGO_SETTINGS_MODULE": "kurashiki_dr.settings",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.pop("REDIS_URL", None)
    return env


def _admin(url: str, sql: str) -> None:
    import psycopg

    parsed = urlparse(url)
    admin = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql)


CPU: dict[str, float] = {}


def _peak_rss_of(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a child; wait4 gives this child's own peak RSS. Returns (s, MiB, output tail).
    The child's CPU seconds (with its own children) and the load average before it started
    go to CPU["last"] and CPU["load"]: the machine is shared, so wall time alone misleads."""
    CPU["load"] = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.Popen(
        args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    out = (proc.stdout.read() if proc.stdout else "") + (proc.stderr.read() if proc.stderr else "")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(args)} failed:\n{out[-3000:]}")
    CPU["last"] = usage.ru_utime + usage.ru_stime
    return seconds, usage.ru_maxrss / 1024, out.strip()[-300:]


# --- Data ---------------------------------------------------------------------------------

CATEGORIES = (
    "evacuees",
    "outage",
    "road_closure",
    "water_level",
    "medical_capacity",
    "fire",
    "dispatch",
    "general",
)
AREAS = ("真備", "玉島", "水島", "児島", "倉敷", "船穂", "庄", "茶屋町", "連島", "福田")


def _fields(category: str, rnd: random.Random, i: int) -> tuple[dict, str]:
    area = AREAS[i % len(AREAS)]
    if category == "evacuees":
        n = rnd.randint(0, 400)
        return {"facility": f"避難所{i % 300:03d}", "count": n, "households": n // 3}, (
            f"{rnd.randint(8, 20)}時現在の避難者数 {n}名"
        )
    if category == "outage":
        hh = rnd.randint(0, 3000)
        return {
            "areas": [{"area": area, "households": hh}],
            "total_households": hh,
            "restoration": "未定",
        }, f"停電情報 {area}地区：{hh:,}世帯 復旧見込みは未定"
    if category == "road_closure":
        return {
            "road": f"国道{400 + i % 90}号線",
            "place": f"{area}付近",
            "cause": "landslide",
            "passable": False,
        }, f"国道{400 + i % 90}号線付近にて土砂災害発生、通行不可"
    if category == "water_level":
        return {
            "area": f"小田川{area}",
            "trend": "rising",
            "level_m": round(rnd.uniform(1, 9), 2),
            "flooding": False,
        }, f"小田川{area}エリア：一部で水位上昇"
    if category == "medical_capacity":
        beds = rnd.randint(0, 40)
        return {
            "facility": f"病院{i % 60:02d}",
            "accepting": beds > 0,
            "beds_available": beds,
            "injured": None,
        }, f"状況報告 病院{i % 60:02d}：受け入れ可能、病床数{beds}"
    if category == "fire":
        return {
            "area": area,
            "households": 20,
            "people": 50,
            "evacuation_order": True,
        }, f"{area}地区にて火災発生。20世帯50名に退去を命令。"
    if category == "dispatch":
        return {"role": "保健師", "count": 2, "destination": f"{area}小学校", "reason": None}, (
            f"{area}小学校避難所からの要請により保健師2名を派遣"
        )
    return {}, "その他の連絡"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def generate(url: str, revisions: int) -> None:
    """Fill the bench database. Runs inside this process with Django set up on ``url``."""
    os.environ.update(_env(url))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from audit import chain

    call_command("migrate", verbosity=0)
    rnd = random.Random(2018_07_06)  # noqa: S311 - benchmark data
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO agencies_district (code, name, lat, lng) VALUES "
            + ",".join(f"('d{i}', %s, {34.5 + i / 100}, {133.7 + i / 100})" for i in range(10)),
            list(AREAS),
        )
        for i in range(40):
            cursor.execute(
                "INSERT INTO agencies_agency (code, name, kind, lineworks_channel_id, "
                "report_interval, active, created_at, updated_at) VALUES "
                "(%s, %s, 'shelter_operator', %s, interval '3 hours', true, now(), now())",
                [f"agency-{i:02d}", f"機関{i:02d}", f"ch-{i:02d}"],
            )
            cursor.execute(
                "INSERT INTO auth_user (username, password, is_superuser, first_name, "
                "last_name, email, is_staff, is_active, date_joined) VALUES "
                "(%s, '!', false, '', '', '', false, true, now())",
                [f"reporter-{i:02d}"],
            )
        cursor.execute("SELECT id FROM agencies_agency ORDER BY id")
        agency_ids = [r[0] for r in cursor.fetchall()]
        cursor.execute("SELECT id, username FROM auth_user ORDER BY id")
        users = cursor.fetchall()
        cursor.execute("SELECT id FROM agencies_district ORDER BY id")
        district_ids = [r[0] for r in cursor.fetchall()]

    reports = revisions * 2 // 5  # 40% of the rows are originals: ~2.5 revisions per report
    start = datetime(2018, 7, 6, 0, 0, tzinfo=UTC)
    raw = connection.connection  # psycopg connection for COPY
    prev = chain.GENESIS
    event_id = 0
    rev_id = 0
    started = time.perf_counter()
    with raw.cursor() as cur:
        with cur.copy(
            "COPY reports_report (id, agency_id, author_id, channel, category, status, "
            "recorded_at, observed_at) FROM STDIN"
        ) as copy:
            for r in range(1, reports + 1):
                category = CATEGORIES[r % len(CATEGORIES)]
                moment = start + timedelta(seconds=r)
                copy.write_row(
                    (
                        r,
                        agency_ids[r % len(agency_ids)],
                        users[r % len(users)][0],
                        "lineworks" if r % 3 else "web",
                        category,
                        "new",
                        moment,
                        moment,
                    )
                )
        print(f"  reports: {reports:,} in {time.perf_counter() - started:.0f}s", flush=True)

        started = time.perf_counter()
        with cur.copy(
            "COPY reports_reportrevision (id, report_id, number, kind, category, fields, "
            "text, lat, lng, district_id, observed_at, recorded_at, author_id, channel, "
            "reason, source_ref) FROM STDIN"
        ) as rev_copy:
            # Events go to a file first (a second COPY cannot run while this one is open).
            events_path = Path(tempfile.gettempdir()) / f"{BENCH_DB}-{os.getpid()}-events.tsv"
            with events_path.open("w", encoding="utf-8") as events_file:
                counts = [1] * reports
                extra = revisions - reports
                for k in range(extra):
                    counts[(k * 7919) % reports] += 1
                for r in range(1, reports + 1):
                    category = CATEGORIES[r % len(CATEGORIES)]
                    user_id, username = users[r % len(users)]
                    base = start + timedelta(seconds=r)
                    lat = round(34.5 + rnd.random() / 5, 6)
                    lng = round(133.6 + rnd.random() / 4, 6)
                    district = district_ids[r % len(district_ids)]
                    for number in range(1, counts[r - 1] + 1):
                        rev_id += 1
                        fields, text = _fields(category, rnd, r + number)
                        kind = "original" if number == 1 else "correction"
                        reason = "" if number == 1 else "集計の訂正"
                        recorded = base + timedelta(minutes=10 * (number - 1), microseconds=r)
                        observed = base
                        channel = "lineworks" if r % 3 else "web"
                        source = f"lineworks:inbound:{rev_id}" if channel == "lineworks" else ""
                        rev_copy.write_row(
                            (
                                rev_id,
                                r,
                                number,
                                kind,
                                category,
                                json.dumps(fields, ensure_ascii=False),
                                text,
                                lat,
                                lng,
                                district,
                                observed,
                                recorded,
                                user_id,
                                channel,
                                reason,
                                source,
                            )
                        )
                        record = {
                            "id": rev_id,
                            "report": r,
                            "number": number,
                            "kind": kind,
                            "category": category,
                            "fields": fields,
                            "text": text,
                            "lat": lat,
                            "lng": lng,
                            "facility": None,
                            "district": district,
                            "observed_at": _iso(observed),
                            "recorded_at": _iso(recorded),
                            "author": user_id,
                            "channel": channel,
                            "reason": reason,
                            "source_ref": source,
                        }
                        # The report as it stands after this revision, as the portal
                        # writes it into the revision's event (reports.report_snapshot).
                        state = {
                            "id": r,
                            "agency": agency_ids[r % len(agency_ids)],
                            "author": users[r % len(users)][0],
                            "channel": channel,
                            "category": category,
                            "incident": None,
                            "status": "new",
                            "current_revision": rev_id,
                            "recorded_at": _iso(base),
                            "observed_at": _iso(observed),
                            "acknowledged_by": None,
                            "acknowledged_at": None,
                        }
                        payload = json.loads(
                            chain.dumps(
                                {
                                    "record": record,
                                    "report_number": f"R-{r:06d}",
                                    "states": [
                                        {"type": "reports.report", "id": r, "record": state}
                                    ],
                                }
                            )
                        )
                        event_id += 1
                        event = {
                            "id": event_id,
                            "occurred_at": _iso(recorded),
                            "actor_id": user_id,
                            "actor_label": username,
                            "action": f"report.{kind}",
                            "object_type": "reports.reportrevision",
                            "object_id": str(rev_id),
                            "channel": channel,
                            "payload_digest": chain.digest(payload),
                            "prev_hash": prev,
                        }
                        prev = chain.event_hash(event)
                        events_file.write(
                            "\t".join(
                                [
                                    str(event_id),
                                    event["occurred_at"],
                                    str(user_id),
                                    username,
                                    event["action"],
                                    event["object_type"],
                                    event["object_id"],
                                    channel,
                                    chain.dumps(payload)
                                    .replace("\\", "\\\\")
                                    .replace("\t", "\\t")
                                    .replace("\n", "\\n"),
                                    event["payload_digest"],
                                    event["prev_hash"],
                                    prev,
                                ]
                            )
                            + "\n"
                        )
        print(f"  revisions: {rev_id:,} in {time.perf_counter() - started:.0f}s", flush=True)

        started = time.perf_counter()
        with (
            events_path.open("r", encoding="utf-8") as handle,
            cur.copy(
                "COPY audit_auditevent (id, occurred_at, actor_id, actor_label, action, "
                "object_type, object_id, channel, payload, payload_digest, prev_hash, hash) "
                "FROM STDIN"
            ) as copy,
        ):
            for block in iter(lambda: handle.read(1 << 20), ""):
                copy.write(block)
        events_path.unlink()
        print(f"  audit events: {event_id:,} in {time.perf_counter() - started:.0f}s", flush=True)
        cur.execute(
            "UPDATE reports_report r SET current_revision_id = v.id FROM ("
            " SELECT DISTINCT ON (report_id) report_id, id FROM reports_reportrevision"
            " ORDER BY report_id, number DESC) v WHERE v.report_id = r.id"
        )
        for table in ("reports_report", "reports_reportrevision", "audit_auditevent"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"
            )
    raw.commit()
    raw.autocommit = True
    with raw.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    raw.autocommit = False


def _context() -> str:
    return (
        f"client CPU {CPU['last']:.1f} s (PostgreSQL's own CPU not included); "
        f"load average {CPU['load']:.1f} on {os.cpu_count()} cores before the run"
    )


def _inner(out: str) -> str:
    """The command's own timing from its last line ("... in 12.3s" / "..., 12.34s")."""
    import re

    found = re.findall(r"(\d+\.\d+)s\b", out)
    return f"{found[-1]} s" if found else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="keep an existing bench database")
    options = parser.parse_args()
    url = _bench_url()
    env = _env(url)
    python = sys.executable

    if not options.reuse:
        print(f"building {BENCH_DB} with {options.revisions:,} revisions ...", flush=True)
        _admin(url, f"DROP DATABASE IF EXISTS {BENCH_DB}")
        _admin(url, f"CREATE DATABASE {BENCH_DB}")
        started = time.perf_counter()
        subprocess.run(
            [python, "-m", "bench.audit_bench", "--generate-only", str(options.revisions)],
            env=env,
            cwd=ROOT,
            check=True,
        )
        print(f"  built in {time.perf_counter() - started:.0f}s", flush=True)

    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT count(*) FROM reports_reportrevision").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM audit_auditevent").fetchone()[0]
        tenth = conn.execute(
            "SELECT recorded_at FROM reports_report ORDER BY id OFFSET "
            "(SELECT count(*) / 10 FROM reports_report) LIMIT 1"
        ).fetchone()[0]

    manage = [python, "manage.py"]
    print(f"\nCSV export ({rows:,} revisions):", flush=True)
    secs, rss, out = _peak_rss_of(
        [*manage, "export_reports", "--format", "csv", "--output", "/dev/null"], env
    )
    print(f"  all:   {secs:6.1f} s  {rows / secs:>9,.0f} rows/s  peak RSS {rss:6.0f} MiB")
    print(f"         ({_inner(out)} of it exporting; the rest is starting Django)")
    print(f"         {_context()}")
    small_rows_q = "SELECT count(*) FROM reports_reportrevision v JOIN reports_report r " + (
        "ON r.id = v.report_id WHERE r.recorded_at < %s"
    )
    with psycopg.connect(url) as conn:
        small_rows = conn.execute(small_rows_q, [tenth]).fetchone()[0]
    secs_s, rss_s, _ = _peak_rss_of(
        [
            *manage,
            "export_reports",
            "--format",
            "csv",
            "--until",
            tenth.isoformat(),
            "--output",
            "/dev/null",
        ],
        env,
    )
    print(
        f"  tenth: {secs_s:6.1f} s  {small_rows / secs_s:>9,.0f} rows/s  peak RSS "
        f"{rss_s:6.0f} MiB  ({small_rows:,} rows)"
    )

    print(f"\nverify_audit_chain ({events:,} events, every revision checked):", flush=True)
    secs_v, rss_v, out = _peak_rss_of([*manage, "verify_audit_chain", "--no-record"], env)
    print(f"  {secs_v:6.1f} s  {events / secs_v:>9,.0f} events/s  peak RSS {rss_v:6.0f} MiB")
    print(f"         ({_inner(out)} verifying; the rest is starting Django)")
    print(f"         {_context()}")
    print(f"  {out.splitlines()[-1] if out else ''}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--generate-only":
        generate(os.environ["DATABASE_URL"], int(sys.argv[2]))
    else:
        main()
