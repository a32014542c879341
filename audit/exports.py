"""Streamed exports of reports for auditors: CSV (one row per revision) and JSON Lines (one
report per line with all its revisions and photos), plus the situation as GeoJSON.

Memory stays constant whatever the volume: reports are walked in keyset pages by id (never
OFFSET), each page's revisions fetched in one query, and every page is written out before
the next is read. The exports read through the same filter the auditor's search uses.

CSV format (written by ``audit.spreadsheet``, the one CSV writer: UTF-8 with BOM so that
Excel in Japan opens it; RFC 4180 quoting as PostgreSQL writes it, LF line ends; a text cell
starting with = + - @, a tab or a CR, or with ', gets a leading ' so a spreadsheet never runs
it as a formula; times in Asia/Tokyo, ISO 8601 with offset and microseconds): the columns in
``CSV_COLUMNS``, then one column per category field named ``<category>.<field>``, filled
only for that category. Empty cell = no value; booleans are ``true``/``false``; lists
(outage areas) are JSON; numbers (also negative ones) are plain numbers.

JSON Lines format: times in UTC, ISO 8601. Each revision is exactly the snapshot that its
audit event vouches for, plus a few ``*_name`` labels for reading (not vouched for).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from agencies.models import Agency, District, Facility
from audit import spreadsheet
from audit.prefetch import can_prefetch, ordered_parallel
from audit.registry import snapshot_of
from reports.categories import SCHEMAS
from reports.models import Incident, Photo, Report, ReportRevision, format_number, parse_number

EXPORT_TZ = ZoneInfo("Asia/Tokyo")
_EXPORT_OFFSET = "+09:00"  # Asia/Tokyo has had no daylight saving time since 1951
PAGE_SIZE = 2000
BOM = spreadsheet.BOM

CSV_COLUMNS: tuple[str, ...] = (
    "report_id",
    "report_number",
    "revision",
    "kind",
    "report_status",
    "agency_code",
    "agency_name",
    "category",
    "incident_id",
    "channel",
    "author",
    "observed_at",
    "recorded_at",
    "lat",
    "lng",
    "facility",
    "district",
    "text",
    "reason",
    "source_ref",
)
FIELD_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (category, f.name) for category, fields in SCHEMAS.items() for f in fields
)
CSV_HEADER: tuple[str, ...] = CSV_COLUMNS + tuple(f"{c}.{n}" for c, n in FIELD_COLUMNS)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class ReportFilter:
    """What the auditor searched for. Every criterion narrows; none means everything.

    ``since``/``until`` bound the report's ``recorded_at`` (since inclusive, until
    exclusive); ``q`` matches the text of any revision (so a report that once said it is
    found) or a receipt number.
    """

    agency: Agency | None = None
    category: str = ""
    since: datetime | None = None
    until: datetime | None = None
    channel: str = ""
    author: Any | None = None
    incident: Incident | None = None
    q: str = ""

    def queryset(self) -> QuerySet[Report]:
        qs = Report.objects.all()
        if self.agency is not None:
            qs = qs.filter(agency=self.agency)
        if self.category:
            qs = qs.filter(category=self.category)
        if self.since is not None:
            qs = qs.filter(recorded_at__gte=self.since)
        if self.until is not None:
            qs = qs.filter(recorded_at__lt=self.until)
        if self.channel:
            qs = qs.filter(channel=self.channel)
        if self.author is not None:
            qs = qs.filter(author=self.author)
        if self.incident is not None:
            qs = qs.filter(incident=self.incident)
        text = self.q.strip()
        if text:
            said = ReportRevision.objects.filter(report=OuterRef("pk"), text__icontains=text)
            match = Q(Exists(said))
            number = parse_number(text)
            if number is not None:
                match |= Q(pk=number)
            qs = qs.filter(match)
        return qs

    def describe(self) -> dict[str, Any]:
        """The criteria as plain JSON, for the audit event of a view or an export."""
        out: dict[str, Any] = {}
        if self.agency is not None:
            out["agency"] = self.agency.code
        if self.category:
            out["category"] = self.category
        if self.since is not None:
            out["since"] = self.since.isoformat()
        if self.until is not None:
            out["until"] = self.until.isoformat()
        if self.channel:
            out["channel"] = self.channel
        if self.author is not None:
            out["author"] = self.author.get_username()
        if self.incident is not None:
            out["incident"] = self.incident.pk
        if self.q.strip():
            out["q"] = self.q.strip()
        return out

    @property
    def empty(self) -> bool:
        return not self.describe()


def iter_report_id_pages(flt: ReportFilter, page_size: int = PAGE_SIZE) -> Iterator[list[int]]:
    """Ids of the matching reports in ascending order, one keyset page at a time."""
    ids = flt.queryset().order_by("id").values_list("id", flat=True)
    last = 0
    while True:
        page = list(ids.filter(id__gt=last)[:page_size])
        if not page:
            return
        yield page
        last = page[-1]


# --- CSV ----------------------------------------------------------------------------------


def _jst(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(EXPORT_TZ).strftime("%Y-%m-%dT%H:%M:%S.%f") + _EXPORT_OFFSET


def _jsonb_key(key: str) -> tuple[int, bytes]:
    raw = key.encode("utf-8")
    return len(raw), raw


def _jsonb_text(value: Any) -> str:
    """JSON as PostgreSQL prints jsonb (", " and ": ", keys shortest first), so both CSV
    paths write identical cells."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: _jsonb_key(kv[0]))
        inner = ", ".join(
            f"{json.dumps(k, ensure_ascii=False)}: {_jsonb_text(v)}" for k, v in items
        )
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_jsonb_text(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _cell(value: Any) -> Any:
    if value is None:
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, list | dict):
        return _jsonb_text(value)
    return value


def _csv_rows_generic(ids: list[int]) -> list[tuple[Any, ...]]:
    """Any database: the ORM, with the formatting in Python."""
    revisions = (
        ReportRevision.objects.filter(report_id__in=ids)
        .select_related("report", "report__agency", "author", "facility", "district")
        .order_by("report_id", "number")
    )
    rows = []
    for rev in revisions:
        report = rev.report
        fields = rev.fields if isinstance(rev.fields, dict) else {}
        base = (
            report.pk,
            format_number(report.pk),
            rev.number,
            rev.kind,
            report.status,
            report.agency.code,
            report.agency.name,
            rev.category,
            report.incident_id,
            rev.channel,
            rev.author.get_username() if rev.author else None,
            _jst(rev.observed_at),
            _jst(rev.recorded_at),
            rev.lat,
            rev.lng,
            rev.facility.name if rev.facility else None,
            rev.district.name if rev.district else None,
            rev.text,
            rev.reason,
            rev.source_ref,
        )
        extra = tuple(
            _cell(fields.get(name)) if rev.category == category else None
            for category, name in FIELD_COLUMNS
        )
        rows.append(base + extra)
    return rows


def _pg_sql() -> str:
    """The page as CSV, written by PostgreSQL itself (``COPY ... TO STDOUT``): times
    formatted, field cells picked, names looked up, quoting done in C on the database's core;
    Python only passes the bytes on (and reads the next page ahead, see ``stream_csv``)."""
    time_format = f'YYYY-MM-DD"T"HH24:MI:SS.US"{_EXPORT_OFFSET}"'
    zone = str(EXPORT_TZ)

    def ts(column: str) -> str:
        return f"to_char({column} AT TIME ZONE '{zone}', '{time_format}')"

    q = connection.ops.quote_name
    user_model = get_user_model()
    username = q(user_model._meta.get_field(user_model.USERNAME_FIELD).column)
    author = f"(SELECT {username} FROM {q(user_model._meta.db_table)} WHERE id = rv.author_id)"  # noqa: S608
    text = spreadsheet.sql_text_cell

    # A field's text is neutralised like any text cell; numbers and booleans stay as they are.
    def field_cell(category: str, name: str) -> str:
        value = f"rv.fields ->> '{name}'"
        return (
            f"CASE WHEN rv.category = '{category}' THEN CASE "
            f"WHEN jsonb_typeof(rv.fields -> '{name}') = 'string' "
            f"THEN {text(value)} ELSE {value} END END"
        )

    field_cells = ",\n".join(field_cell(category, name) for category, name in FIELD_COLUMNS)
    # Names by scalar subqueries: one primary-key probe each, whatever the planner estimates.
    return f"""
        COPY (
        SELECT rv.report_id,
               'R-' || CASE WHEN rv.report_id < 1000000 THEN lpad(rv.report_id::text, 6, '0')
                       ELSE rv.report_id::text END,
               rv.number, {text("rv.kind")}, {text("r.status")},
               {text(f"(SELECT code FROM {q(Agency._meta.db_table)} WHERE id = r.agency_id)")},
               {text(f"(SELECT name FROM {q(Agency._meta.db_table)} WHERE id = r.agency_id)")},
               {text("rv.category")}, r.incident_id, {text("rv.channel")},
               {text(author)},
               {ts("rv.observed_at")}, {ts("rv.recorded_at")}, rv.lat, rv.lng,
               {text(f"(SELECT name FROM {q(Facility._meta.db_table)} WHERE id = rv.facility_id)")},
               {text(f"(SELECT name FROM {q(District._meta.db_table)} WHERE id = rv.district_id)")},
               {text("rv.text")}, {text("rv.reason")}, {text("rv.source_ref")},
               {field_cells}
        FROM {q(ReportRevision._meta.db_table)} rv
        JOIN {q(Report._meta.db_table)} r ON r.id = rv.report_id
        WHERE rv.report_id = ANY(%s) AND r.id = ANY(%s)
        ORDER BY rv.report_id, rv.number
        ) TO STDOUT (FORMAT csv)
    """  # noqa: S608 - table and column names come from the models, values are parameters


def _csv_page_postgresql(ids: list[int], sql: str) -> tuple[bytes, int]:
    """(CSV bytes, row count) of one page. The ids go on both tables so that the planner
    probes the report index instead of scanning every report per page."""
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(sql, [ids, ids]) as copy:
            data = b"".join(bytes(block) for block in copy)
        return data, raw.rowcount


def _csv_line(row: tuple[Any, ...] | list[Any]) -> str:
    return spreadsheet.line(row)


def iter_csv_pages(
    flt: ReportFilter, *, fast: bool | None = None, page_size: int = PAGE_SIZE
) -> Iterator[tuple[bytes, int]]:
    """(UTF-8 CSV bytes, row count) per page of reports, without the header."""
    if fast is None:
        fast = connection.vendor == "postgresql"
    if not fast:
        for ids in iter_report_id_pages(flt, page_size):
            rows = _csv_rows_generic(ids)
            yield "".join(_csv_line(r) for r in rows).encode("utf-8"), len(rows)
        return
    sql = _pg_sql()
    id_pages = iter_report_id_pages(flt, page_size)
    if can_prefetch():
        # Two pages at a time on two connections: the database formats on both cores.
        yield from ordered_parallel(id_pages, lambda ids: _csv_page_postgresql(ids, sql))
    else:
        for ids in id_pages:
            yield _csv_page_postgresql(ids, sql)


def stream_csv(
    flt: ReportFilter, *, progress: Progress | None = None, fast: bool | None = None
) -> Iterator[bytes]:
    """The CSV as UTF-8 chunks, the BOM and the header first."""
    yield spreadsheet.header(CSV_HEADER)
    for data, count in iter_csv_pages(flt, fast=fast):
        yield data
        if progress is not None:
            progress(count)


def parse_csv_cell(column: str, value: str) -> Any:
    """Read one cell back into the value it was written from (for tools and tests)."""
    if value == "":
        return None
    if value.startswith("'"):  # neutralised text (see audit.spreadsheet); never a number
        return spreadsheet.text_from_cell(value)
    if column in ("report_id", "revision", "incident_id"):
        return int(value)
    if column in ("lat", "lng"):
        return float(value)
    if column in ("observed_at", "recorded_at"):
        return datetime.fromisoformat(value)
    if "." in column:
        category, name = column.split(".", 1)
        kind = next(f.kind for f in SCHEMAS[category] if f.name == name)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            return value == "true"
        if kind == "areas":
            return json.loads(value)
    return value


# --- JSON Lines ---------------------------------------------------------------------------


def _utc(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="microseconds") if moment else None


def _username(user: Any | None) -> str | None:
    return user.get_username() if user is not None else None


def report_documents(ids: list[int]) -> list[dict[str, Any]]:
    """Full documents for the given reports (three queries), in id order."""
    reports = (
        Report.objects.filter(id__in=ids)
        .select_related("agency", "author", "acknowledged_by", "incident", "current_revision")
        .order_by("id")
    )
    revisions: dict[int, list[dict[str, Any]]] = {}
    for rev in (
        ReportRevision.objects.filter(report_id__in=ids)
        .select_related("author", "facility", "district")
        .order_by("report_id", "number")
    ):
        revisions.setdefault(rev.report_id, []).append(
            {
                **snapshot_of(rev),
                "author_name": _username(rev.author),
                "facility_name": rev.facility.name if rev.facility else None,
                "district_name": rev.district.name if rev.district else None,
            }
        )
    photos: dict[int, list[dict[str, Any]]] = {}
    for photo in (
        Photo.objects.filter(report_id__in=ids).select_related("uploaded_by").order_by("id")
    ):
        photos.setdefault(photo.report_id, []).append(
            {**snapshot_of(photo), "uploaded_by_name": _username(photo.uploaded_by)}
        )
    documents = []
    for report in reports:
        documents.append(
            {
                "id": report.pk,
                "number": report.number,
                "agency": {"code": report.agency.code, "name": report.agency.name},
                "author": report.author_id,
                "author_name": _username(report.author),
                "channel": report.channel,
                "category": report.category,
                "status": report.status,
                "incident": (
                    {"id": report.incident.pk, "title": report.incident.title}
                    if report.incident
                    else None
                ),
                "recorded_at": _utc(report.recorded_at),
                "observed_at": _utc(report.observed_at),
                "acknowledged_at": _utc(report.acknowledged_at),
                "acknowledged_by": _username(report.acknowledged_by),
                "current_revision": (
                    report.current_revision.number if report.current_revision else None
                ),
                "revisions": revisions.get(report.pk, []),
                "photos": photos.get(report.pk, []),
            }
        )
    return documents


def iter_report_documents(flt: ReportFilter) -> Iterator[dict[str, Any]]:
    for ids in iter_report_id_pages(flt, page_size=500):
        yield from report_documents(ids)


def jsonl_line(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def stream_jsonl(flt: ReportFilter, *, progress: Progress | None = None) -> Iterator[bytes]:
    for ids in iter_report_id_pages(flt, page_size=500):
        documents = report_documents(ids)
        yield b"".join(jsonl_line(d) for d in documents)
        if progress is not None:
            progress(sum(len(d["revisions"]) for d in documents))


# --- GeoJSON ------------------------------------------------------------------------------


def situation_geojson_bytes(as_of: datetime | None) -> bytes:
    """The situation as of T (one feature per subject; bounded by the number of subjects)."""
    from reports.queries import situation_geojson

    data = situation_geojson(as_of)
    data["as_of"] = (as_of or datetime.now(UTC)).isoformat()
    return json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
