from __future__ import annotations

import sys
import time
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from audit.exports import EXPORT_TZ, ReportFilter, stream_csv, stream_jsonl
from audit.services import audit_record


def _moment(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"not an ISO 8601 date or time: {value!r} (e.g. 2018-07-06 or 2018-07-06T14:30)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=EXPORT_TZ)


class _Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, total: int, stream) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream
        self.started = time.monotonic()
        self.shown = 0.0

    def __call__(self, rows: int) -> None:
        self.done += rows
        now = time.monotonic()
        if now - self.shown < 0.2 and self.done < self.total:
            return
        self.shown = now
        share = min(self.done / self.total, 1.0)
        bar = "#" * int(share * 30)
        rate = self.done / max(now - self.started, 1e-6)
        self.stream.write(
            f"\r[{bar:<30}] {share:6.1%} {self.done:,}/{self.total:,} rows {rate:,.0f}/s"
        )
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


class Command(BaseCommand):
    help = (
        "Export reports recorded in a time window: CSV (one row per revision, UTF-8 with BOM) "
        "or JSON Lines (one report per line with all revisions). Recorded in the audit log."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["csv", "jsonl"], default="csv")
        parser.add_argument("--since", type=_moment, help="recorded at or after (Asia/Tokyo)")
        parser.add_argument("--until", type=_moment, help="recorded before (Asia/Tokyo)")
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")

    def handle(self, *args, **options) -> None:
        flt = ReportFilter(since=options["since"], until=options["until"])
        if flt.since and flt.until and flt.since >= flt.until:
            raise CommandError("--since must be before --until")
        fmt = options["format"]
        output = options["output"]
        with transaction.atomic():
            audit_record(
                actor=None,
                action="audit.export",
                object_type="reports.report",
                channel="command",
                payload={"format": fmt, "filters": flt.describe(), "output": output or "-"},
            )
        progress = None
        if sys.stderr.isatty():
            from reports.models import ReportRevision

            total = ReportRevision.objects.filter(report__in=flt.queryset()).count()
            progress = _Progress(total, sys.stderr)
        stream = stream_csv if fmt == "csv" else stream_jsonl
        started = timezone.now()
        if output:
            with open(output, "wb") as handle:
                for chunk in stream(flt, progress=progress):
                    handle.write(chunk)
        else:
            out = sys.stdout.buffer
            for chunk in stream(flt, progress=progress):
                out.write(chunk)
            out.flush()
        if progress is not None:
            progress.finish()
        if output:
            seconds = (timezone.now() - started).total_seconds()
            self.stderr.write(f"wrote {output} in {seconds:.1f}s")
