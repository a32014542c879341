"""Exports: CSV and JSON Lines read back to the same data, GeoJSON of a past moment, the
command-line export, and every export recorded in the audit log."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.exports import (
    CSV_HEADER,
    EXPORT_TZ,
    ReportFilter,
    iter_csv_pages,
    parse_csv_cell,
    stream_csv,
)
from audit.models import AuditEvent
from conftest import login
from reports.models import Report, ReportRevision
from reports.services import revision_snapshot

pytestmark = pytest.mark.django_db


def body(response) -> bytes:
    assert response.streaming
    return b"".join(response.streaming_content)


def read_csv(data: bytes) -> list[dict]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM for Excel"
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    assert tuple(reader.fieldnames) == CSV_HEADER
    return [{k: parse_csv_cell(k, v) for k, v in row.items()} for row in reader]


def test_csv_round_trip_one_row_per_revision(auditor, corrected_report, outage_report, fire_report):
    response = login(auditor).get(reverse("audit:export_csv"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment;" in response["Content-Disposition"]
    rows = read_csv(body(response))
    revisions = list(
        ReportRevision.objects.select_related("report", "report__agency", "author").order_by(
            "report_id", "number"
        )
    )
    assert len(rows) == len(revisions) == 6
    for row, rev in zip(rows, revisions, strict=True):
        assert row["report_id"] == rev.report_id
        assert row["report_number"] == rev.report.number
        assert row["revision"] == rev.number
        assert row["kind"] == rev.kind
        assert row["agency_code"] == rev.report.agency.code
        assert row["category"] == rev.category
        assert row["author"] == rev.author.username
        assert row["observed_at"] == rev.observed_at
        assert row["recorded_at"] == rev.recorded_at
        assert row["recorded_at"].utcoffset() == timedelta(hours=9)
        assert row["text"] == rev.text
        assert row["reason"] == (rev.reason or None)
        assert row["lat"] == rev.lat and row["lng"] == rev.lng
        # Category fields as columns: this revision's fields exactly, nothing elsewhere.
        own = {k.split(".", 1)[1]: v for k, v in row.items() if k.startswith(rev.category + ".")}
        assert own == rev.fields
        others = [v for k, v in row.items() if "." in k and not k.startswith(rev.category + ".")]
        assert all(v is None for v in others)
    by_key = {(r["report_id"], r["revision"]): r for r in rows}
    first = by_key[(corrected_report.pk, 1)]
    second = by_key[(corrected_report.pk, 2)]
    assert (first["evacuees.count"], second["evacuees.count"]) == (120, 135)
    assert second["reason"] == "集計誤り（体育館分を二重計上）"
    assert first["source_ref"] == "lineworks:inbound:501"
    assert by_key[(outage_report.pk, 1)]["outage.areas"][0] == {"area": "真備", "households": 1200}
    assert by_key[(fire_report.pk, 3)]["fire.evacuation_order"] is False


def test_csv_fast_path_writes_exactly_what_the_generic_path_writes(
    corrected_report, outage_report, fire_report, reporter_a, agency_a, districts
):
    from reports import services

    services.report_submit(
        agency=agency_a,
        author=reporter_a,
        category="water_level",
        fields={"area": "小田川", "trend": "rising", "level_m": 4.75, "flooding": None},
        text='水位 "約4.75m", 上昇中\r\n堤防の見回りを継続',
        district=districts["mabi"],
        location={"lat": 34.6301234, "lng": 133.7},
    )
    assert connection.vendor == "postgresql"
    fast = b"".join(stream_csv(ReportFilter(), fast=True))
    generic = b"".join(stream_csv(ReportFilter(), fast=False))
    assert fast == generic
    rows = read_csv(fast)
    assert rows[-1]["text"] == '水位 "約4.75m", 上昇中\r\n堤防の見回りを継続'
    assert rows[-1]["water_level.level_m"] == 4.75
    assert rows[-1]["district"] == "真備"


def test_csv_pages_are_bounded(corrected_report, outage_report, fire_report):
    pages = list(iter_csv_pages(ReportFilter(), page_size=1))
    assert [count for _data, count in pages] == [2, 1, 3]


def test_csv_follows_the_search_filters(auditor, corrected_report, outage_report, agency_b):
    response = login(auditor).get(reverse("audit:export_csv"), {"agency": agency_b.pk})
    rows = read_csv(body(response))
    assert {r["report_id"] for r in rows} == {outage_report.pk}


def test_jsonl_round_trip_reports_with_all_revisions(
    auditor, corrected_report, outage_report, photo
):
    response = login(auditor).get(reverse("audit:export_jsonl"))
    assert response.status_code == 200
    lines = body(response).decode("utf-8").splitlines()
    documents = [json.loads(line) for line in lines]
    assert [d["id"] for d in documents] == [corrected_report.pk, outage_report.pk]
    doc = documents[0]
    assert doc["number"] == corrected_report.number
    assert doc["agency"] == {"code": "mabi-shelter", "name": "真備地区避難所運営班"}
    assert doc["status"] == "new" and doc["current_revision"] == 2
    assert datetime.fromisoformat(doc["recorded_at"]) == corrected_report.recorded_at
    revisions = ReportRevision.objects.filter(report=corrected_report).order_by("number")
    for exported, rev in zip(doc["revisions"], revisions, strict=True):
        # Exactly the snapshot its audit event vouches for, plus reading aids.
        assert {k: exported[k] for k in revision_snapshot(rev)} == revision_snapshot(rev)
        assert exported["author_name"] == "reporter-a"
    assert [r["fields"]["count"] for r in doc["revisions"]] == [120, 135]
    assert doc["photos"][0]["sha256"] == photo.sha256


def test_exports_are_audit_events(auditor, corrected_report):
    client = login(auditor)
    for name, fmt in [("audit:export_csv", "csv"), ("audit:export_jsonl", "jsonl")]:
        body(client.get(reverse(name), {"category": "evacuees"}))
        event = AuditEvent.objects.order_by("-id").first()
        assert event.action == "audit.export" and event.actor_id == auditor.pk
        assert event.payload == {"format": fmt, "filters": {"category": "evacuees"}}


def test_geojson_as_of_a_past_moment(auditor, corrected_report, reporter_a):
    # Between the first report and its correction the shelter had 120, now 135.
    first = corrected_report.revisions.get(number=1)
    second = corrected_report.revisions.get(number=2)
    between = first.recorded_at + (second.recorded_at - first.recorded_at) / 2
    client = login(auditor)
    past = json.loads(
        body(
            client.get(
                reverse("audit:export_geojson"),
                {
                    "as_of": timezone.localtime(between, EXPORT_TZ).strftime(
                        "%Y-%m-%dT%H:%M:%S.%f"
                    )[:-3]
                },
            )
        )
    )
    now = json.loads(body(client.get(reverse("audit:export_geojson"))))
    assert now["type"] == "FeatureCollection"
    [feature] = [f for f in now["features"] if f["properties"]["category"] == "evacuees"]
    assert feature["properties"]["fields"]["count"] == 135
    assert feature["geometry"]["coordinates"] == [133.6921, 34.6371]
    event = AuditEvent.objects.order_by("-id").first()
    assert event.action == "audit.export" and event.payload["format"] == "geojson"
    assert past["type"] == "FeatureCollection"


def test_geojson_between_revisions_shows_the_earlier_count(auditor, corrected_report):
    first = corrected_report.revisions.get(number=1)
    second = corrected_report.revisions.get(number=2)
    assert second.recorded_at > first.recorded_at
    from audit.exports import situation_geojson_bytes

    between = first.recorded_at + (second.recorded_at - first.recorded_at) / 2
    past = json.loads(situation_geojson_bytes(between))
    counts = [f["properties"]["fields"]["count"] for f in past["features"]]
    assert counts == [120]


def test_export_command_csv_and_jsonl(corrected_report, outage_report, tmp_path):
    from django.core.management import call_command

    target = tmp_path / "reports.csv"
    call_command("export_reports", "--format", "csv", "--output", str(target))
    rows = read_csv(target.read_bytes())
    assert len(rows) == ReportRevision.objects.count()

    since = timezone.localtime(outage_report.recorded_at, EXPORT_TZ) - timedelta(microseconds=1)
    target = tmp_path / "reports.jsonl"
    call_command(
        "export_reports",
        "--format",
        "jsonl",
        "--since",
        since.isoformat(),
        "--output",
        str(target),
    )
    ids = [json.loads(line)["id"] for line in target.read_text(encoding="utf-8").splitlines()]
    assert ids == [outage_report.pk]
    event = AuditEvent.objects.filter(action="audit.export").order_by("-id").first()
    assert event.channel == "command" and event.payload["format"] == "jsonl"
    assert event.payload["filters"]["since"] == since.isoformat()


def test_export_command_rejects_bad_window(db, tmp_path):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--since must be before --until"):
        call_command(
            "export_reports",
            "--since",
            "2018-07-08",
            "--until",
            "2018-07-06",
            "-o",
            str(tmp_path / "x.csv"),
        )


def test_export_rejects_bad_filter(auditor):
    response = login(auditor).get(reverse("audit:export_csv"), {"since": "not-a-date"})
    assert response.status_code == 400


@pytest.mark.parametrize("who", ["reporter_a", "reporter_b", "stranger"])
def test_only_auditors_and_hq_export(cast, corrected_report, who):
    client = login(cast[who])
    for name in ["audit:export_csv", "audit:export_jsonl", "audit:export_geojson"]:
        assert client.get(reverse(name)).status_code == 403
    assert not AuditEvent.objects.filter(action="audit.export").exists()


def test_hq_may_export(hq_user, corrected_report):
    rows = read_csv(body(login(hq_user).get(reverse("audit:export_csv"))))
    assert len(rows) == 2


def test_reports_keyset_filter_matches_queryset(corrected_report, outage_report):
    flt = ReportFilter(q="停電")
    assert list(flt.queryset()) == [Report.objects.get(pk=outage_report.pk)]


class _Terminal:
    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.text = ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("tty", [True, False])
def test_export_command_shows_progress_only_on_a_terminal(
    corrected_report, outage_report, tmp_path, monkeypatch, tty
):
    import sys

    from django.core.management import call_command

    terminal = _Terminal(tty)
    monkeypatch.setattr(sys, "stderr", terminal)
    call_command("export_reports", "--output", str(tmp_path / "r.csv"), stderr=io.StringIO())
    if tty:
        assert "100.0%" in terminal.text and "3/3 rows" in terminal.text
    else:
        assert terminal.text == ""


# --- Spreadsheet safety -------------------------------------------------------------------

FORMULA = '=HYPERLINK("http://evil.example","x")'


@pytest.fixture
def hostile_reports(reporter_a, agency_a, districts):
    """A report whose text is a spreadsheet formula, corrected with a reason that is one
    too, and a water level below normal (a legitimate negative number)."""
    from reports import services

    client = login(reporter_a)
    response = client.post(
        "/api/v1/reports/",
        json.dumps(
            {
                "category": "evacuees",
                "fields": {"facility": "箭田小学校", "count": 35},
                "text": FORMULA,
            }
        ),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    report = Report.objects.get(pk=response.json()["id"])
    services.report_correct(
        report=report, author=reporter_a, reason="@SUM(1+1)*cmd|' /C calc'!A0", fields=None
    )
    water = services.report_submit(
        agency=agency_a,
        author=reporter_a,
        category="water_level",
        fields={"area": "+小田川", "trend": "falling", "level_m": -0.35, "flooding": False},
        text="\t-0.35m 平常水位より低下",
        district=districts["mabi"],
    )
    return report, water


def raw_rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def _check_neutralised(data: bytes, report, water) -> None:
    rows = {(int(r["report_id"]), int(r["revision"])): r for r in raw_rows(data)}
    assert rows[(report.pk, 1)]["text"] == "'" + FORMULA
    assert rows[(report.pk, 2)]["reason"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    w = rows[(water.pk, 1)]
    assert w["text"] == "'\t-0.35m 平常水位より低下"
    assert w["water_level.area"] == "'+小田川"
    assert w["water_level.level_m"] == "-0.35"  # a number stays a number
    assert w["lng"].startswith("133.") and w["water_level.flooding"] == "false"
    for row in rows.values():
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), (column, cell)
            if cell.startswith("-"):
                float(cell)  # only numbers may start with a minus sign
    # Read back through the documented parser, the original text comes back exactly.
    parsed = read_csv(data)
    texts = {(r["report_id"], r["revision"]): r for r in parsed}
    assert texts[(report.pk, 1)]["text"] == FORMULA
    assert texts[(water.pk, 1)]["water_level.level_m"] == -0.35
    assert texts[(water.pk, 1)]["water_level.area"] == "+小田川"


def test_every_spreadsheet_csv_neutralises_formulas(hostile_reports, auditor, tmp_path):
    from django.core.management import call_command

    from audit.bundle import stream_bundle

    report, water = hostile_reports
    fast = b"".join(stream_csv(ReportFilter(), fast=True))
    generic = b"".join(stream_csv(ReportFilter(), fast=False))
    assert fast == generic
    _check_neutralised(fast, report, water)
    # The auditor's download.
    _check_neutralised(body(login(auditor).get(reverse("audit:export_csv"))), report, water)
    # The command-line export.
    target = tmp_path / "reports.csv"
    call_command("export_reports", "--format", "csv", "--output", str(target))
    _check_neutralised(target.read_bytes(), report, water)
    # The spreadsheet inside an evidence bundle.
    zipped = b"".join(stream_bundle(ReportFilter(), user=auditor, readme="-"))
    archive = zipfile.ZipFile(io.BytesIO(zipped))
    _check_neutralised(archive.read("revisions.csv"), report, water)


def test_evidence_formats_keep_the_text_byte_for_byte(hostile_reports, auditor, tmp_path):
    from django.core.management import call_command

    from audit.bundle_check import verify_bundle
    from audit.exports import jsonl_line, report_documents

    report, water = hostile_reports
    exported = body(login(auditor).get(reverse("audit:export_jsonl")))
    expected = b"".join(jsonl_line(d) for d in report_documents([report.pk, water.pk]))
    assert exported == expected
    assert json.dumps(FORMULA, ensure_ascii=False).encode() in exported
    documents = [json.loads(line) for line in exported.splitlines()]
    assert documents[0]["revisions"][0]["text"] == FORMULA
    assert documents[0]["revisions"][1]["reason"] == "@SUM(1+1)*cmd|' /C calc'!A0"
    assert documents[1]["revisions"][0]["fields"]["level_m"] == -0.35
    # The command writes the same bytes.
    target = tmp_path / "reports.jsonl"
    call_command("export_reports", "--format", "jsonl", "--output", str(target))
    assert target.read_bytes() == expected
    # The bundle's records are the same documents and verify against the chain.
    from audit.bundle import stream_bundle

    zipped = b"".join(stream_bundle(ReportFilter(), user=auditor, readme="-"))
    archive = zipfile.ZipFile(io.BytesIO(zipped))
    bundled = [json.loads(line) for line in archive.read("reports.jsonl").splitlines()]
    assert bundled == documents
    assert FORMULA.encode() in archive.read("audit/events.jsonl").replace(b'\\"', b'"')
    assert verify_bundle(io.BytesIO(zipped)).ok
