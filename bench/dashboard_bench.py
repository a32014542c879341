"""Benchmark: the HQ dashboard's endpoints over 1,000,000 reports and 2,000 subjects.

    .venv/bin/python -m bench.dashboard_bench [--reports 1000000] [--subjects 2000] [--reuse]

Builds a separate PostgreSQL database (``kdr_dash_bench`` on DATABASE_URL's server) with COPY:
districts, agencies, facilities, the subject registry, reports with their revisions and
observations (every 20th report corrected, so "as of" has superseded rows to skip), photos
and the timeline rows, spread over ten days that end now. Then, in one process with the
Django test client (server time: middleware, permission checks, queries, JSON):

- ``GET /api/v1/situation/`` and ``GET /api/v1/map/`` now and as of the middle of the event,
  against the raw SQL that computes the same rows (goal ≤ 150 ms; the ratio shows the
  framework's share);
- ``GET /api/v1/timeline/`` first page, filtered, and a page deep in the history
  (goal ≤ 100 ms), against its raw SQL;
- the dashboard's first load: the HTML, its CSS and JS (as WhiteNoise serves them,
  compressed) and the first answers of the endpoints it reads (goal ≤ 500 KB).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "kdr_dash_bench"
DAYS = 10

CATEGORY_SHARE = (  # category, share of subjects
    ("evacuees", 0.30),
    ("outage", 0.15),
    ("road_closure", 0.25),
    ("water_level", 0.10),
    ("medical_capacity", 0.05),
    ("fire", 0.15),
)
AREAS = ("真備", "玉島", "水島", "児島", "倉敷", "船穂", "庄", "茶屋町", "連島", "福田")


def _bench_url() -> str:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kurashiki")
    parsed = urlparse(base)
    if not parsed.scheme.startswith("postgres"):
        sys.exit("the benchmark needs PostgreSQL (DATABASE_URL=postgres://...)")
    return urlunparse(parsed._replace(path=f"/{BENCH_DB}"))


def _setup_django(url: str) -> None:
    os.environ.update(
        {
            "DATABASE_URL": url,
            "DJANGO_DEBUG": "1",
            "DJANGO_SETTINGS_MODULE": "kurashiki_dr.settings",
            "DJANGO_ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        }
    )
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _admin(url: str, sql: str) -> None:
    import psycopg

    admin = urlunparse(urlparse(url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql)


# --- Data -----------------------------------------------------------------------------------


def _values(category: str, rnd: random.Random, label: str) -> tuple[dict, dict, str, bool]:
    """(revision fields, observation values, text, closed) for one report about a subject."""
    if category == "evacuees":
        n = 0 if rnd.random() < 0.02 else rnd.randint(1, 400)
        fields = {"facility": label, "count": n, "households": n // 3}
        return fields, fields, f"{rnd.randint(8, 20)}時現在の避難者数 {n}名", n == 0
    if category == "outage":
        hh = 0 if rnd.random() < 0.05 else rnd.randint(10, 3000)
        item = {"area": label, "households": hh}
        fields = {"areas": [item], "total_households": hh, "restoration": "未定"}
        text = f"停電情報 {label}：{hh:,}世帯 復旧見込みは未定"
        return fields, {**item, "restoration": "未定"}, text, hh == 0
    if category == "road_closure":
        passable = rnd.random() < 0.05
        road, _sep, place = label.partition(" ")
        fields = {"road": road, "place": place, "cause": "landslide", "passable": passable}
        return fields, fields, f"{road}{place}にて土砂災害発生、通行不可", passable
    if category == "water_level":
        fields = {
            "area": label,
            "trend": rnd.choice(("rising", "falling", "steady")),
            "level_m": round(rnd.uniform(1, 9), 2),
            "flooding": rnd.random() < 0.1,
        }
        return fields, fields, f"{label}エリア：一部で水位上昇", False
    if category == "medical_capacity":
        beds = rnd.randint(0, 40)
        fields = {"facility": label, "accepting": beds > 0, "beds_available": beds, "injured": 0}
        return fields, fields, f"状況報告 {label}：受け入れ可能、病床数{beds}", False
    order = rnd.random() > 0.1
    fields = {"area": label, "households": 20, "people": 50, "evacuation_order": order}
    return fields, fields, f"{label}にて火災発生。20世帯50名に退去を命令。", not order


def generate(url: str, reports: int, subjects: int) -> None:
    _setup_django(url)
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    rnd = random.Random(2018_07_06)  # noqa: S311 - benchmark data
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    start = now - timedelta(days=DAYS)
    started = time.perf_counter()

    hq_group = Group.objects.get_or_create(name="hq_operator")[0]
    hq = User.objects.create_user("bench-hq", password="bench-password-1")  # noqa: S106
    hq.groups.add(hq_group)

    raw = connection.connection
    with raw.cursor() as cur:
        for i, name in enumerate(AREAS):
            cur.execute(
                "INSERT INTO agencies_district (id, code, name, lat, lng) VALUES (%s,%s,%s,%s,%s)",
                [i + 1, f"d{i}", name, 34.45 + i * 0.02, 133.65 + i * 0.02],
            )
        for i in range(40):
            cur.execute(
                "INSERT INTO agencies_agency (id, code, name, kind, lineworks_channel_id, "
                "report_interval, active, created_at, updated_at) VALUES "
                "(%s, %s, %s, %s, %s, interval '3 hours', true, now(), now())",
                [i + 1, f"agency-{i:02d}", f"機関{i:02d}", "shelter_operator", f"ch-{i:02d}"],
            )
        counts = {c: int(subjects * share) for c, share in CATEGORY_SHARE}
        counts["evacuees"] += subjects - sum(counts.values())
        # Facilities for the facility subjects (shelters, hospitals), located.
        facility_rows, subject_rows = [], []
        facility_id = subject_id = 0
        for category, n in counts.items():
            for k in range(n):
                subject_id += 1
                area = AREAS[k % len(AREAS)]
                district = k % len(AREAS) + 1
                lat, lng = 34.45 + rnd.random() * 0.25, 133.6 + rnd.random() * 0.3
                facility = None
                if category in ("evacuees", "medical_capacity"):
                    facility_id += 1
                    facility = facility_id
                    kind = "shelter" if category == "evacuees" else "hospital"
                    name = f"{area}{'避難所' if kind == 'shelter' else '病院'}{k:04d}"
                    facility_rows.append(
                        (
                            facility_id,
                            f"f{facility_id}",
                            name,
                            kind,
                            facility_id % 40 + 1,
                            district,
                            lat,
                            lng,
                            400,
                            True,
                        )
                    )
                    key, label = f"facility:f{facility_id}", name
                elif category == "road_closure":
                    label = f"市道{k}号線 {area}町"
                    key = f"road:市道{k}号線|{area}町"
                else:
                    label = f"{area}地区{k:03d}"
                    key = f"name:{label}"
                subject_rows.append(
                    (subject_id, category, key, label, facility, district, lat, lng)
                )
        with cur.copy(
            "COPY agencies_facility (id, code, name, kind, agency_id, district_id, lat, lng, "
            "capacity, active) FROM STDIN"
        ) as copy:
            for row in facility_rows:
                copy.write_row(row)
        with cur.copy(
            "COPY reports_subject (id, category, key, label, facility_id, district_id) FROM STDIN"
        ) as copy:
            for row in subject_rows:
                copy.write_row(row[:6])
        for i in range(5):
            cur.execute(
                "INSERT INTO reports_incident (title, description, status, opened_by_id, "
                "opened_at, updated_at) VALUES (%s, '', 'open', %s, %s, %s)",
                [f"インシデント{i}", hq.pk, start + timedelta(hours=i), start + timedelta(hours=i)],
            )

        raw.commit()
        # One transaction from here: reports point at revisions written after them (the
        # foreign keys are checked at commit).
        raw.autocommit = False
        step = (now - start) / reports
        revision_id = observation_id = 0
        corrected = 0
        pick = random.Random(7)  # noqa: S311 - the same draw in both passes
        with (
            cur.copy(
                "COPY reports_report (id, agency_id, author_id, channel, category, status, "
                "recorded_at, observed_at, current_revision_id) FROM STDIN"
            ) as reports_copy,
        ):
            for r in range(1, reports + 1):
                subject = subject_rows[pick.randrange(len(subject_rows))]
                observed = start + step * r
                versions = 2 if r % 20 == 0 else 1
                corrected += versions - 1
                current = revision_id + versions
                reports_copy.write_row(
                    (
                        r,
                        (subject[4] or r) % 40 + 1,
                        hq.pk,
                        "lineworks",
                        subject[1],
                        "new",
                        observed + timedelta(minutes=2),
                        observed,
                        current,
                    )
                )
                revision_id = current
        print(f"  reports: {reports:,} ({time.perf_counter() - started:.0f}s)", flush=True)

        # Revisions, observations, timeline rows: one pass, three files, three COPYs.
        rnd = random.Random(2018_07_07)  # noqa: S311 - benchmark data
        revision_id = 0
        spool_dir = Path(tempfile.mkdtemp(prefix=f"{BENCH_DB}-"))
        spool = {name: spool_dir / f"{name}.tsv" for name in ("rev", "obs", "tl")}
        files = {name: path.open("w", encoding="utf-8") for name, path in spool.items()}

        def esc(value: str) -> str:
            return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

        def iso(moment: datetime) -> str:
            return moment.isoformat()

        pick = random.Random(7)  # noqa: S311 - the same draw as the first pass
        for r in range(1, reports + 1):
            subject = subject_rows[pick.randrange(len(subject_rows))]
            sid, category, _key, label, facility, district, lat, lng = subject
            observed = start + step * r
            versions = 2 if r % 20 == 0 else 1
            for number in range(1, versions + 1):
                revision_id += 1
                observation_id += 1
                recorded = observed + timedelta(minutes=2 + 15 * (number - 1))
                superseded = (
                    iso(observed + timedelta(minutes=17))
                    if versions == 2 and number == 1
                    else "\\N"
                )
                fields, values, text, closed = _values(category, rnd, label)
                kind = "original" if number == 1 else "correction"
                fields_json = esc(json.dumps(fields, ensure_ascii=False))
                files["rev"].write(
                    f"{revision_id}\t{r}\t{number}\t{kind}\t{category}\t{fields_json}\t"
                    f"{esc(text)}\t{lat}\t{lng}\t{facility or chr(92) + 'N'}\t{district}\t"
                    f"{iso(observed)}\t{iso(recorded)}\t{hq.pk}\tlineworks\t"
                    f"{'' if number == 1 else '集計の訂正'}\t\n"
                )
                files["obs"].write(
                    f"{observation_id}\t{sid}\t{r}\t{revision_id}\t{iso(observed)}\t"
                    f"{iso(recorded)}\t{superseded}\t"
                    f"{esc(json.dumps(values, ensure_ascii=False))}\t{'t' if closed else 'f'}\n"
                )
                data = esc(
                    json.dumps({"text": text, "fields": fields, "reason": ""}, ensure_ascii=False)
                )
                files["tl"].write(
                    f"{revision_id}\t{iso(recorded)}\treport.{kind}\tbench-hq\tlineworks\t"
                    f"{(facility or r) % 40 + 1}\t{category}\t{r}\t{number}\t\\N\t\\N\t{data}\n"
                )
        for handle in files.values():
            handle.close()
        for name, sql in (
            (
                "rev",
                "COPY reports_reportrevision (id, report_id, number, kind, category, fields, "
                "text, lat, lng, facility_id, district_id, observed_at, recorded_at, "
                "author_id, channel, reason, source_ref) FROM STDIN",
            ),
            (
                "obs",
                "COPY reports_observation (id, subject_id, report_id, revision_id, "
                "observed_at, recorded_at, superseded_at, values, closed) FROM STDIN",
            ),
            (
                "tl",
                "COPY dashboard_timelineentry (event_id, occurred_at, action, actor_label, "
                "channel, agency_id, category, report_id, revision_number, incident_id, "
                "notice_id, data) FROM STDIN",
            ),
        ):
            with spool[name].open("r", encoding="utf-8") as handle, cur.copy(sql) as copy:
                for block in iter(lambda h=handle: h.read(1 << 20), ""):
                    copy.write(block)
            spool[name].unlink()
            print(f"  {name}: copied ({time.perf_counter() - started:.0f}s)", flush=True)

        spool_dir.rmdir()
        # Photos on every 100th report.
        with cur.copy(
            "COPY reports_photo (report_id, revision_id, image, content_type, size, sha256, "
            "uploaded_at, channel, source_ref) FROM STDIN"
        ) as copy:
            for r in range(100, reports + 1, 100):
                copy.write_row(
                    (r, None, f"photos/{r}/x.jpg", "image/jpeg", 1000, "0" * 64, now, "web", "")
                )
        for table in (
            "agencies_district",
            "agencies_agency",
            "agencies_facility",
            "reports_subject",
            "reports_report",
            "reports_reportrevision",
            "reports_observation",
            "reports_photo",
            "reports_incident",
        ):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"
            )
    raw.commit()
    raw.autocommit = True
    with raw.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    print(
        f"  {reports:,} reports, {revision_id:,} revisions/observations ({corrected:,} "
        f"corrections), {subjects:,} subjects in {time.perf_counter() - started:.0f}s",
        flush=True,
    )


# --- Measurements ---------------------------------------------------------------------------


def _timed(fn, runs: int) -> tuple[float, float]:
    fn()  # warm
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9) - 1]


SITUATION_SQL = """
SELECT s.id, s.category, s.label, f.capacity, f.lat, f.lng, d.lat, d.lng,
       o.id, o.values, o.observed_at, o.recorded_at, o.report_id,
       a.code, a.name, v.text, v.lat, v.lng
FROM reports_subject s
CROSS JOIN LATERAL (
    SELECT id, values, closed, observed_at, recorded_at, report_id, revision_id
    FROM reports_observation o
    WHERE o.subject_id = s.id AND o.observed_at <= %(t)s AND o.recorded_at <= %(t)s
      AND (o.superseded_at IS NULL OR o.superseded_at > %(t)s)
    ORDER BY o.observed_at DESC, o.id DESC LIMIT 1
) o
JOIN reports_report r ON r.id = o.report_id
JOIN agencies_agency a ON a.id = r.agency_id
JOIN reports_reportrevision v ON v.id = o.revision_id
LEFT JOIN agencies_facility f ON f.id = s.facility_id
LEFT JOIN agencies_district d ON d.id = s.district_id
WHERE NOT o.closed
ORDER BY s.category, s.label
"""

TIMELINE_SQL = """
SELECT t.*, a.name, r.status, i.title
FROM dashboard_timelineentry t
LEFT JOIN agencies_agency a ON a.id = t.agency_id
LEFT JOIN reports_report r ON r.id = t.report_id
LEFT JOIN reports_incident i ON i.id = t.incident_id
ORDER BY t.occurred_at DESC, t.event_id DESC LIMIT 51
"""


def _first_load(client) -> list[tuple[str, int, int]]:
    from django.contrib.staticfiles import finders

    rows = []
    page = client.get("/dashboard/")
    html = page.content
    rows.append(("/dashboard/ (HTML)", len(html), len(gzip.compress(html, 9))))
    for url in re.findall(rb'(?:href|src)="(/static/[^"]+)"', html):
        path = finders.find(url.decode().removeprefix("/static/"))
        data = Path(path).read_bytes()
        rows.append((url.decode(), len(data), len(gzip.compress(data, 9))))
    for url in (
        "/api/v1/situation/",
        "/api/v1/map/",
        "/api/v1/map/places/",
        "/api/v1/timeline/?page_size=30",
        "/api/v1/situation/series/?window=24h",
    ):
        raw = client.get(url).content
        zipped = client.get(url, HTTP_ACCEPT_ENCODING="gzip")
        assert zipped.get("Content-Encoding") == "gzip", url
        rows.append((url, len(raw), len(zipped.content)))
    return rows


def measure(url: str, runs: int) -> None:
    _setup_django(url)
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(User.objects.get(username="bench-hq"))
    with connection.cursor() as cur:
        cur.execute("SELECT min(observed_at), max(observed_at), count(*) FROM reports_observation")
        first, last, observations = cur.fetchone()
        cur.execute("SELECT count(*) FROM reports_report")
        reports = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM reports_subject")
        subjects = cur.fetchone()[0]
    middle = first + (last - first) / 2
    print(
        f"\n{reports:,} reports, {observations:,} observations, {subjects:,} subjects "
        f"(PostgreSQL, {os.cpu_count()} CPUs); median / p90 of {runs} runs, ms\n"
    )

    def raw_sql(sql: str, params: dict):
        def run():
            with connection.cursor() as cur:
                cur.execute(sql, params)
                cur.fetchall()

        return run

    def get(path: str):
        def run():
            response = client.get(path)
            assert response.status_code == 200, response.content[:300]

        return run

    def queries(path: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            client.get(path)
        return len(ctx.captured_queries)

    results = []
    for label, moment in (("now", datetime.now(UTC)), ("as of mid-event", middle)):
        as_of = moment.isoformat().replace("+00:00", "Z")
        sql_med, sql_p90 = _timed(raw_sql(SITUATION_SQL, {"t": moment}), runs)
        for name, path in (
            ("situation", f"/api/v1/situation/?as_of={as_of}"),
            ("map", f"/api/v1/map/?as_of={as_of}"),
        ):
            med, p90 = _timed(get(path), runs)
            results.append((f"{name} ({label})", med, p90, sql_med, queries(path)))
    print(f"{'endpoint':34} {'median':>8} {'p90':>8} {'raw SQL':>8} {'ratio':>6} {'queries':>7}")
    for name, med, p90, sql_med, n in results:
        print(f"{name:34} {med:8.1f} {p90:8.1f} {sql_med:8.1f} {med / sql_med:6.1f} {n:7}")

    sql_med, _ = _timed(raw_sql(TIMELINE_SQL, {}), runs)
    print(f"\n{'timeline':34} {'median':>8} {'p90':>8} {'raw SQL':>8} {'ratio':>6} {'queries':>7}")
    page = client.get("/api/v1/timeline/?page_size=50").json()
    deep = page["next"]
    for _ in range(200):  # 10,000 entries back
        deep = client.get(deep).json()["next"]
    deep_path = deep.replace("http://testserver", "")
    for name, path in (
        ("first page", "/api/v1/timeline/?page_size=50"),
        ("category=evacuees", "/api/v1/timeline/?page_size=50&category=evacuees"),
        ("agency=agency-07", "/api/v1/timeline/?page_size=50&agency=agency-07"),
        ("until mid-event", f"/api/v1/timeline/?page_size=50&until={middle.isoformat()}"),
        ("page 201 (cursor)", deep_path),
    ):
        med, p90 = _timed(get(path), runs)
        print(
            f"{name:34} {med:8.1f} {p90:8.1f} {sql_med:8.1f} {med / sql_med:6.1f} {queries(path):7}"
        )

    from django.core.cache import cache

    for window in ("24h", "event"):
        series = get(f"/api/v1/situation/series/?window={window}")
        med, _p90 = _timed(lambda s=series: (cache.clear(), s()), 3)
        path = f"/api/v1/situation/series/?window={window}"
        cache.clear()
        print(f"series {window:5} (cold cache):          {med:8.1f} ms, {queries(path)} queries")
        from dashboard.situation import series_payload

        series_payload(None, window)
        with CaptureQueriesContext(connection) as ctx:
            warm, _p90 = _timed(lambda w=window: series_payload(None, w), 5)
        print(
            f"series {window:5} (settled points cached): {warm:5.1f} ms, "
            f"{len(ctx.captured_queries) // 6} queries"
        )
    etag = client.get("/api/v1/situation/")["ETag"]
    med, p90 = _timed(lambda: client.get("/api/v1/situation/", HTTP_IF_NONE_MATCH=etag), runs)
    print(f"situation 304 (If-None-Match):     {med:8.1f} ms median")

    rows = _first_load(client)
    print(f"\n{'dashboard first load':50} {'bytes':>10} {'gzip':>10}")
    for name, size, zipped in rows:
        print(f"{name[:50]:50} {size:10,} {zipped:10,}")
    total, total_gz = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"{'total':50} {total:10,} {total_gz:10,}")
    print("(transferred = gzip column: WhiteNoise serves compressed static files and the API")
    print(" answers are gzip-compressed; the HTML page itself is sent uncompressed)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--subjects", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--reuse", action="store_true", help="keep an existing bench database")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    url = _bench_url()
    if options.generate_only:
        generate(url, options.reports, options.subjects)
        return
    if options.measure_only:
        measure(url, options.runs)
        return
    if not options.reuse:
        print(f"building {BENCH_DB}: {options.reports:,} reports, {options.subjects:,} subjects")
        _admin(url, f"DROP DATABASE IF EXISTS {BENCH_DB}")
        _admin(url, f"CREATE DATABASE {BENCH_DB}")
        args = ["--generate-only", "--reports", str(options.reports)]
        args += ["--subjects", str(options.subjects)]
        subprocess.run([sys.executable, "-m", "bench.dashboard_bench", *args], cwd=ROOT, check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.dashboard_bench",
            "--measure-only",
            "--runs",
            str(options.runs),
        ],
        cwd=ROOT,
        check=True,
    )


if __name__ == "__main__":
    main()
