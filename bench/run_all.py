"""Every benchmark in one run: a table on stdout and ``BENCHMARKS.md``.

    .venv/bin/python -m bench.run_all            # full: 1,000,000-row databases, ~15 min on 2 cores
    .venv/bin/python -m bench.run_all --quick    # smoke run: small sizes, ~3 minutes
    .venv/bin/python -m bench.run_all --only ingest,notice --output /tmp/b.md

Runs, each in its own process and with its own databases and redis-server:

=========  ==========================================================================
parse      ``bench.parse_bench``: report parser rate (one core), worst-case input time,
           accuracy on its regression corpus and, when present, on the blind corpus
webhook    ``bench.webhook_bench``: webhook handling at 100 callbacks/s under gunicorn;
           callback → report visible in ``/api/v1/reports/`` with a real worker
ingest     ``bench.ingest_bench``: webhook ingest throughput vs a bare INSERT view
notice     ``bench.notice_bench``: a notice to 200 rooms through the fake LINE WORKS
dashboard  ``bench.dashboard_bench``: situation, map and timeline over 1,000,000 reports
           against the raw SQL for the same result
audit      ``bench.audit_bench``: CSV export rate and ``verify_audit_chain`` over 1,000,000
=========  ==========================================================================

PostgreSQL: DATABASE_URL's server (default 127.0.0.1:5432); every database used is created
for the run. Redis: a redis-server of its own per step (the ``redis-server`` binary is
needed). Exit status: non-zero if a step failed to run (goals not met do not fail the run;
the table says so).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench import stack

ROOT = stack.ROOT
JST = ZoneInfo("Asia/Tokyo")


@dataclass
class Figure:
    name: str
    value: str
    goal: str = ""
    met: bool | None = None  # None: no goal
    note: str = ""  # why a goal is not met, for BENCHMARKS.md


@dataclass
class Step:
    name: str
    title: str
    argv: Callable[[bool], list[str]]
    timeout: Callable[[bool], float]
    parse: Callable[[str], list[Figure]]
    needs: str = ""  # "redis+db": run_all provides REDIS_URL and a fresh DATABASE_URL
    output: str = ""
    seconds: float = 0.0
    status: int | None = None
    figures: list[Figure] = field(default_factory=list)
    error: str = ""


def _json_line(output: str, key: str) -> dict[str, Any] | None:
    for line in reversed(output.splitlines()):
        line = line.strip()
        if line.startswith("{") and f'"{key}"' in line:
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def _num(text: str) -> float:
    return float(text.replace(",", ""))


# --- parsers of each benchmark's output ------------------------------------------------------


def parse_parser(output: str) -> list[Figure]:
    figures = []
    match = re.search(r"throughput: ([\d,]+) messages/s", output)
    if match:
        rate = _num(match[1])
        figures.append(
            Figure("parser rate (one core)", f"{match[1]} messages/s", "≥ 2,000/s", rate >= 2000)
        )
    match = re.search(r"worst case max: ([\d.]+) ms \(([^)]*)\)", output)
    if match:
        ms = float(match[1])
        figures.append(
            Figure("parser worst-case input", f"{ms:.1f} ms ({match[2]})", "≤ 50 ms", ms <= 50)
        )
    match = re.search(r"^all\s+(\d+)\s+([\d.]+)%\s+([\d.]+)%", output, re.MULTILINE)
    if match:
        figures.append(
            Figure(
                "parser accuracy on its regression corpus",
                f"category {match[2]} %, fields {match[3]} % ({match[1]} messages)",
            )
        )
    match = re.search(
        r"^blind corpus (\S+): category (\d+)/(\d+) \(([\d.]+) %\), "
        r"fields (\d+)/(\d+) \(([\d.]+) %\)",
        output,
        re.MULTILINE,
    )
    if match:
        figures.append(
            Figure(
                "parser accuracy, blind corpus",
                f"category {match[4]} % ({match[2]}/{match[3]}), "
                f"fields {match[7]} % ({match[5]}/{match[6]}) — {match[1]}",
            )
        )
    match = re.search(r"^blind corpus: not present \((\S+)\)", output, re.MULTILINE)
    if match:
        figures.append(Figure("parser accuracy, blind corpus", f"not run: {match[1]} not present"))
    return figures


def parse_webhook(output: str) -> list[Figure]:
    figures = []
    match = re.search(
        r"webhook @ (\d+)/s.*?client-measured: median ([\d.]+) ms, p99 ([\d.]+) ms.*?"
        r"server \(gunicorn %\(D\)s\): median ([\d.]+) ms, p99 ([\d.]+) ms",
        output,
        re.DOTALL,
    )
    if match:
        figures.append(
            Figure(
                f"webhook handling at {match[1]} callbacks/s (gunicorn 3 sync)",
                f"median {match[2]} ms, p99 {match[3]} ms (server: {match[4]} / {match[5]} ms)",
            )
        )
    match = re.search(
        r"callback → report listed.*?(\d+)/(\d+) seen\s+median (\d+) ms, p95 (\d+) ms, max (\d+)",
        output,
        re.DOTALL,
    )
    if match:
        p95 = int(match[4])
        figures.append(
            Figure(
                "callback → report visible in the API (real worker)",
                f"p50 {match[3]} ms, p95 {p95} ms, max {match[5]} ms ({match[1]}/{match[2]} seen)",
                "p95 ≤ 1,000 ms",
                p95 <= 1000 and match[1] == match[2],
            )
        )
    return figures


def parse_ingest(output: str) -> list[Figure]:
    data = _json_line(output, "ingest")
    if not data:
        return []
    s = data["ingest"]
    bare, hook = s["bare"], s["webhook"]
    figures = [
        Figure(
            "bare Django view, one INSERT (gunicorn 3 sync)",
            f"{bare['rate']:,.0f} req/s (p50 {bare['p50_ms']:.1f} ms, p99 {bare['p99_ms']:.1f} ms)",
        ),
        Figure(
            "webhook ingest, same gunicorn and settings",
            f"{hook['rate']:,.0f} req/s (p50 {hook['p50_ms']:.1f} ms, p99 {hook['p99_ms']:.1f} ms)",
        ),
        Figure(
            "webhook / bare view throughput",
            f"{s['ratio']:.2f} (median of rounds: "
            + ", ".join(f"{r:.2f}" for r in s.get("round_ratios", []))
            + ")",
            "≥ 0.8",
            s["ratio"] >= 0.8 and not hook["errors"],
        ),
    ]
    parts = s.get("breakdown_ms")
    if parts:
        insert = parts["webhook_without_enqueue"] - parts["webhook_checks_only"]
        enqueue = parts["webhook"] - parts["webhook_without_enqueue"]
        if s["ratio"] < 0.8:
            figures[2].note = (
                f"per request the webhook spends {insert:.2f} ms storing the `InboundEvent` "
                f"(a wider row with a unique digest and more indexes) and {enqueue:.2f} ms "
                f"publishing its task on Redis, where the bare view spends "
                f"{parts['bare_view']:.2f} ms in all; signature and JSON checks are cheap "
                f"({parts['webhook_checks_only']:.2f} ms with the framework). Reaching 0.8 "
                "needs the publish off the request path (workers taking `received` rows from "
                "the table, which the sweep already does, e.g. woken by NOTIFY) and a lighter "
                "insert."
            )
        figures.append(
            Figure(
                "where a webhook request's time goes (in-process)",
                f"{parts['webhook']:.2f} ms = framework and checks "
                f"{parts['webhook_checks_only']:.2f} + InboundEvent INSERT {insert:.2f} + "
                f"enqueue on Redis {enqueue:.2f}; the bare view: {parts['bare_view']:.2f} ms",
            )
        )
    return figures


def parse_notice(output: str) -> list[Figure]:
    data = _json_line(output, "notice")
    if not data:
        return []
    s = data["notice"]
    share = s["share_of_allowed_rate"]
    delivered = s["calls"] == s["expected_calls"] and s["delivery"].get("sent") == s["channels"]
    return [
        Figure(
            f"notice to {s['channels']} rooms at {s['rate_limit']} calls/min",
            f"{s['calls']}/{s['expected_calls']} calls in {s['seconds_to_all_delivered']:.0f} s "
            f"(minimum {s['minimum_seconds']:.0f} s), per window {s['per_window']}",
            "all delivered",
            delivered,
        ),
        Figure(
            "share of the allowed rate achieved",
            f"{share:.0%}" if share is not None else "n/a (fits one window)",
        ),
        Figure("429 answers during the notice", str(s["status_429"]), "0", s["status_429"] == 0),
    ]


_DASH_ROW = re.compile(
    r"^(?P<name>\S.*?)\s+(?P<median>[\d.]+)\s+(?P<p90>[\d.]+)\s+(?P<sql>[\d.]+)\s+"
    r"(?P<ratio>[\d.]+)\s+(?P<queries>\d+)\s*$"
)
_DASH_SERIES = re.compile(r"^(series .*?\(cold cache\)):\s+([\d.]+) ms, (\d+) queries")


def parse_dashboard(output: str) -> list[Figure]:
    figures = []
    section = ""
    for line in output.splitlines():
        line = line.strip()
        if line.startswith(("endpoint ", "timeline ")):
            section = line.split()[0]
            continue
        row = _DASH_ROW.match(line)
        if row and section:
            median, ratio, sql = float(row["median"]), float(row["ratio"]), float(row["sql"])
            prefix = "timeline: " if section == "timeline" else ""
            note = ""
            if median > 150:
                note = f"{median:.0f} ms, over the 150 ms goal."
            elif ratio > 1.5:
                note = (
                    f"within 150 ms, but the endpoint spends {median - sql:.0f} ms beyond the "
                    f"{sql:.1f} ms of the raw SQL ({row['queries']} queries in all), so the "
                    "ratio is over 1.5."
                )
            figures.append(
                Figure(
                    f"{prefix}{row['name'].strip()}",
                    f"median {median:.1f} ms (p90 {float(row['p90']):.1f}); raw SQL "
                    f"{sql:.1f} ms → ratio {ratio:.1f}; {row['queries']} queries",
                    "≤ 150 ms, ratio ≤ 1.5",
                    median <= 150 and ratio <= 1.5,
                    note,
                )
            )
            continue
        series = _DASH_SERIES.match(line)
        if series:
            figures.append(
                Figure(
                    re.sub(r"\s+", " ", series[1]),
                    f"{float(series[2]):.1f} ms, {series[3]} queries",
                )
            )
    match = re.search(r"^\s*total\s+([\d,]+)\s+([\d,]+)\s*$", output, re.MULTILINE)
    if match:
        figures.append(
            Figure(
                "dashboard first load (transferred, gzip)",
                f"{_num(match[2]) / 1024:,.0f} KB ({_num(match[1]) / 1024:,.0f} KB raw)",
                "≤ 500 KB",
                _num(match[2]) <= 500 * 1024,
            )
        )
    return figures


def parse_audit(output: str) -> list[Figure]:
    figures = []
    match = re.search(
        r"CSV export \(([\d,]+) revisions\):\s+all:\s+([\d.]+) s\s+([\d,]+) rows/s\s+"
        r"peak RSS\s+([\d.]+) MiB(?:\s+\(([\d.]+) s of it exporting)?",
        output,
    )
    if match:
        rate = _num(match[3])
        inner = (
            f"; {_num(match[1]) / float(match[5]):,.0f} rows/s exporting alone"
            if match[5] and float(match[5]) > 0
            else ""
        )
        figures.append(
            Figure(
                f"CSV export of {match[1]} revisions",
                f"{rate:,.0f} rows/s ({match[2]} s with start-up{inner}), peak RSS {match[4]} MiB",
                "≥ 50,000 rows/s",
                rate >= 50_000,
            )
        )
    match = re.search(
        r"verify_audit_chain \(([\d,]+) events.*?\):\s+([\d.]+) s\s+([\d,]+) events/s", output
    )
    if match:
        seconds = float(match[2])
        figures.append(
            Figure(
                f"verify_audit_chain over {match[1]} events",
                f"{seconds:.1f} s ({_num(match[3]):,.0f} events/s)",
                "≤ 60 s",
                seconds <= 60,
            )
        )
    return figures


def steps() -> list[Step]:
    py = [sys.executable, "-m"]
    return [
        Step(
            "parse",
            "Report parser",
            lambda q: [*py, "bench.parse_bench", "--seconds", "1" if q else "5"],
            lambda q: 300,
            parse_parser,
        ),
        Step(
            "webhook",
            "Webhook handling and callback → visible",
            lambda q: [
                *py,
                "bench.webhook_bench",
                *("--rate", "100", "--seconds", "3" if q else "10"),
                *("--e2e-rate", "10", "--e2e-seconds", "3" if q else "10"),
            ],
            lambda q: 600,
            parse_webhook,
            needs="redis+db",
        ),
        Step(
            "ingest",
            "Webhook ingest vs a bare INSERT view",
            lambda q: [
                *py,
                "bench.ingest_bench",
                *(
                    ("--seconds", "3", "--rounds", "1")
                    if q
                    else ("--seconds", "10", "--rounds", "5")
                ),
            ],
            lambda q: 900,
            parse_ingest,
        ),
        Step(
            "notice",
            "A notice through the fake LINE WORKS at its rate limit",
            lambda q: [
                *py,
                "bench.notice_bench",
                *(("--channels", "20", "--rate-limit", "24") if q else ("--channels", "200")),
            ],
            lambda q: 900,
            parse_notice,
        ),
        Step(
            "dashboard",
            "Dashboard endpoints over the report history",
            lambda q: [
                *py,
                "bench.dashboard_bench",
                *(
                    ("--reports", "20000", "--subjects", "400", "--runs", "5")
                    if q
                    else ("--reports", "1000000", "--subjects", "2000")
                ),
            ],
            lambda q: 1200 if q else 4 * 3600,
            parse_dashboard,
        ),
        Step(
            "audit",
            "CSV export and audit-chain verification",
            lambda q: [
                *py,
                "bench.audit_bench",
                "--revisions",
                "20000" if q else "1000000",
            ],
            lambda q: 1200 if q else 4 * 3600,
            parse_audit,
        ),
    ]


def run_step(step: Step, quick: bool, workdir: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DATABASE_URL": stack.server_url()}
    procs = stack.Processes(workdir)
    database = ""
    try:
        if step.needs == "redis+db":
            database = stack.database_url(f"kdr_bench_{step.name}")
            stack.recreate_database(database)
            port = stack.start_redis(procs, workdir)
            env.update(DATABASE_URL=database, REDIS_URL=f"redis://127.0.0.1:{port}/0")
        argv = step.argv(quick)
        print(f"\n== {step.name}: {' '.join(argv[1:])}", flush=True)
        started = time.monotonic()
        lines: list[str] = []
        process = subprocess.Popen(  # noqa: S603 (our own benchmark modules)
            argv,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

        def relay() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                print(f"   {line}", end="", flush=True)

        reader = threading.Thread(target=relay, daemon=True)
        reader.start()
        try:
            step.status = process.wait(timeout=step.timeout(quick))
        except subprocess.TimeoutExpired:
            step.error = f"stopped after {step.timeout(quick):.0f} s"
        finally:
            stack.Processes.stop(process)  # type: ignore[arg-type]
        reader.join(timeout=10)
        step.seconds = time.monotonic() - started
        step.output = "".join(lines)
        step.figures = step.parse(step.output)
        if step.status != 0 and not step.error:
            step.error = f"exit status {step.status}"
        elif not step.figures and not step.error:
            step.error = "no figures found in its output"
    except Exception as exc:
        step.error = f"{type(exc).__name__}: {exc}"
    finally:
        procs.stop_all()
        if database:
            stack.drop_database(database)


def _result(figure: Figure) -> str:
    if figure.met is None:
        return "—"
    return "met" if figure.met else "NOT met"


def table(selected: list[Step]) -> list[tuple[str, str, str, str]]:
    rows = []
    for step in selected:
        for figure in step.figures:
            rows.append((figure.name, figure.value, figure.goal or "—", _result(figure)))
        if step.error:
            rows.append((f"{step.name}: did not complete", step.error, "—", "FAILED"))
    return rows


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    widths = [
        max(len(r[i]) for r in rows + [("figure", "value", "goal", "result")]) for i in range(4)
    ]
    widths[1] = min(widths[1], 90)
    header = ("figure", "value", "goal", "result")
    print()
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def _git() -> str:
    try:
        commit = subprocess.run(  # noqa: S603
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(  # noqa: S603
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return commit + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_markdown(
    path: Path,
    selected: list[Step],
    rows: list[tuple[str, str, str, str]],
    info: dict[str, Any],
    quick: bool,
    started: datetime,
    load_end: tuple[float, float, float],
    total: float,
) -> None:
    load = info["load"]
    lines = [
        "# Benchmarks",
        "",
        "Measured by `make bench` ("
        + (
            "`python -m bench.run_all --quick`: small sizes, a smoke run — not the figures of "
            "record"
            if quick
            else "`python -m bench.run_all`"
        )
        + "). Every figure is measured in the same run as its baseline.",
        "",
        f"- Date: {started:%Y-%m-%d %H:%M} JST; the run took {total / 60:.0f} min",
        f"- Machine: {info['cores']} cores ({info['cpu']}), {info['memory_gib']} GiB memory; "
        f"Linux {info['kernel']}, Python {info['python']}, PostgreSQL {info['postgresql']}",
        f"- Load average (1/5/15 min): {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at the "
        f"start, {load_end[0]:.2f} / {load_end[1]:.2f} / {load_end[2]:.2f} at the end. The "
        "machine is shared: other work ran beside the benchmark, and clients and servers "
        "share its cores, so absolute rates are lower than on a dedicated host; ratios are "
        "measured against a baseline in the same conditions.",
        f"- Code: {info['git']}",
        "",
        "| figure | value | goal | result |",
        "|---|---|---|---|",
    ]
    for name, value, goal, result in rows:
        cells = [c.replace("|", "\\|") for c in (name, value, goal, result)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Goals not met",
        "",
        *(
            [f"- **{f.name}**: {f.note}" for st in selected for f in st.figures if f.note]
            or ["- none"]
        ),
        "",
        "## How each figure is measured",
        "",
        "- **Parser**: `bench/parse_bench.py` parses its regression corpus over and over on one "
        "pinned core; the worst-case input is the slowest of its 100 KB / 10,000-digit inputs "
        "(best of five). Accuracy on the regression corpus is ~100 % by construction (the "
        "parser is fixed against it). The first blind corpus "
        "(`corpus_blind_2026_12.jsonl`) was measured once before the parser saw it (category "
        "97.3 %, fields 91.2 %); since then it is a regression corpus (test_blind_floor.py). "
        "The **blind corpus** reported here is the second one (`corpus_blind_2026_12b.jsonl`, "
        "`bench.parse_blind.BLIND`), which the parser has not been fixed against: this is the "
        "accuracy figure. `python -m bench.parse_blind PATH` measures any corpus and lists its "
        "failures.",
        "- **Webhook handling**: `bench/webhook_bench.py`, gunicorn (3 sync workers) with "
        "production settings on PostgreSQL and Redis, signed callbacks sent open-loop at "
        "100/s; client-measured and gunicorn's own request time. **Callback → visible**: the "
        "same with a real Celery worker and the fake LINE WORKS; the time from sending a "
        "callback until its report is listed by `GET /api/v1/reports/` (polled every 100 ms).",
        "- **Ingest vs bare view**: `bench/ingest_bench.py`, closed-loop load (12 "
        "connections, one request each, from two client processes on the same machine) "
        "against gunicorn with 3 sync workers, first serving a bare Django view that does one "
        "INSERT of the body (`bench/bare_urls.py`, same settings and middleware), then the "
        "webhook (signature, JSON, `InboundEvent` INSERT … ON CONFLICT, enqueue on Redis; no "
        "worker). Rounds alternate; the ratio is the median of each round's webhook / bare "
        "pair. The breakdown runs both views in-process (Django's test client) and again "
        "with the enqueue, then also the INSERT, replaced by nothing.",
        "- **Notice**: `bench/notice_bench.py`, HQ sends one notice long enough to go out as a "
        "text plus a 了解 button (2 calls per room) to every agency; a real worker (prefork, "
        "2) delivers through the fake LINE WORKS at its default 240 calls per minute per API "
        "(fixed clock-minute windows, `rateLimit-*` headers, 429 beyond). The share of the "
        "allowed rate is the calls accepted in the windows the demand could fill, over the "
        "limit × those windows.",
        "- **Dashboard**: `bench/dashboard_bench.py`, a COPY-built database of 1,000,000 "
        "reports over 2,000 subjects; server time of each endpoint (Django test client) "
        "against the raw SQL that computes the same result.",
        "- **Audit**: `bench/audit_bench.py`, a COPY-built database of 1,000,000 revisions, "
        "each with its hash-chained audit event; `export_reports --format csv` and "
        "`verify_audit_chain` as child processes.",
        "",
        "## Outputs",
        "",
    ]
    for step in selected:
        lines += [
            f"<details><summary>{step.name}: {step.title} ({step.seconds:.0f} s)</summary>",
            "",
            "```",
            step.output.rstrip() or step.error,
            "```",
            "",
            "</details>",
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", default="", help="comma-separated step names")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    selected = steps()
    if args.only:
        wanted = {name.strip() for name in args.only.split(",") if name.strip()}
        unknown = wanted - {s.name for s in selected}
        if unknown:
            parser.error(f"unknown steps: {', '.join(sorted(unknown))}")
        selected = [s for s in selected if s.name in wanted]
    started_at = datetime.now(tz=JST)
    started = time.monotonic()
    info = {**stack.machine(), "git": _git()}
    print(
        f"benchmarks{' (quick)' if args.quick else ''}: {info['cores']} cores, "
        f"{info['memory_gib']} GiB, load {info['load'][0]:.2f}, PostgreSQL {info['postgresql']}"
    )
    with tempfile.TemporaryDirectory(prefix="kdr-bench-") as tmp:
        for step in selected:
            workdir = Path(tmp) / step.name
            workdir.mkdir()
            run_step(step, args.quick, workdir)
    total = time.monotonic() - started
    rows = table(selected)
    print_table(rows)
    write_markdown(
        args.output, selected, rows, info, args.quick, started_at, os.getloadavg(), total
    )
    print(f"\nwritten to {args.output} ({total / 60:.1f} min)")
    return 1 if any(step.error for step in selected) else 0


if __name__ == "__main__":
    raise SystemExit(main())
