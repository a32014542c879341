"""What the audit chain covers beyond revisions: a report's workflow state (agency, status,
current revision, incident link), incidents, notices and their acknowledgements, and the
photo files on disk. Each SQL edit behind the portal's back makes ``verify_audit_chain``
exit non-zero naming the event and the row, and the auditor's history page shows ✗."""

from __future__ import annotations

import io
import zipfile
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from audit.models import AuditEvent, ChainVerification
from audit.registry import latest_state
from conftest import login
from reports import services
from reports.models import ReportRevision

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def verify(*args: str) -> str:
    out = StringIO()
    call_command("verify_audit_chain", *args, stdout=out)
    return out.getvalue()


def sql(statement: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def last_state_event(obj) -> AuditEvent:
    found = latest_state(AuditEvent.objects.filter(payload__has_key="states").order_by("id"), obj)
    assert found is not None, obj
    return found[0]


def history(client, report) -> str:
    response = client.get(reverse("audit:report", args=[report.pk]))
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def incident(hq_user, corrected_report):
    incident = services.incident_open(user=hq_user, title="真備地区 浸水（小田川決壊）")
    services.report_link_incident(report=corrected_report, incident=incident, user=hq_user)
    corrected_report.refresh_from_db()
    return incident


def test_everything_written_through_the_services_verifies(
    incident, corrected_report, outage_report, fire_report, photo, notice, hq_user, agency_a
):
    from notices.services import notice_acknowledge

    services.report_acknowledge(report=outage_report, user=hq_user)
    services.report_withdraw(report=fire_report, author=hq_user, reason="重複登録のため")
    services.incident_update(incident=incident, user=hq_user, status="monitoring")
    notice_acknowledge(notice=notice, agency=agency_a, user=None, via="lineworks")
    out = verify()
    assert "audit chain OK" in out
    run = ChainVerification.objects.get()
    # 7 revisions (2 + 1 + 3 + the withdrawal) and 1 photo, 3 reports, 1 incident, the
    # notice and its 2 recipients.
    assert run.records_checked == 7 + 1 + 3 + 1 + 1 + 2


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("agency_id", "other_agency"),
        ("status", "'closed'"),
        ("current_revision_id", "first_revision"),
    ],
)
def test_report_state_edited_by_sql_is_detected(
    corrected_report, outage_report, auditor, column, value
):
    event = last_state_event(corrected_report)
    first = ReportRevision.objects.get(report=corrected_report, number=1)
    value = {"other_agency": str(outage_report.agency_id), "first_revision": str(first.pk)}.get(
        value, value
    )
    sql(f"UPDATE reports_report SET {column} = {value} WHERE id = %s", [corrected_report.pk])  # noqa: S608
    with pytest.raises(
        CommandError,
        match=f"event #{event.pk}: reports.report {corrected_report.pk} no longer matches",
    ):
        verify()
    assert ChainVerification.objects.get().problem_event_id == event.pk
    page = history(login(auditor), corrected_report)
    assert 'data-check="report"' in page
    assert "✗ 不一致（改ざんの疑い）" in page.split('data-check="report"', 1)[1][:400]


def test_incident_link_edited_by_sql_is_detected(
    incident, corrected_report, outage_report, auditor
):
    # Unlinked by SQL, and the other report linked without an event.
    event = last_state_event(corrected_report)
    sql("UPDATE reports_report SET incident_id = NULL WHERE id = %s", [corrected_report.pk])
    with pytest.raises(CommandError, match=f"event #{event.pk}: reports.report .* no longer"):
        verify()
    sql(
        "UPDATE reports_report SET incident_id = %s WHERE id = %s",
        [incident.pk, corrected_report.pk],
    )
    assert "audit chain OK" in verify()
    event = last_state_event(outage_report)
    sql("UPDATE reports_report SET incident_id = %s WHERE id = %s", [incident.pk, outage_report.pk])
    with pytest.raises(CommandError, match=f"event #{event.pk}: reports.report {outage_report.pk}"):
        verify()
    page = history(login(auditor), outage_report)
    assert "✗ 不一致（改ざんの疑い）" in page.split('data-check="report"', 1)[1][:400]


def test_incident_title_edited_by_sql_is_detected(incident, corrected_report, auditor):
    event = last_state_event(incident)
    client = login(auditor)
    assert "✓" in history(client, corrected_report).split('data-check="incident"', 1)[1][:300]
    sql("UPDATE reports_incident SET title = '訓練' WHERE id = %s", [incident.pk])
    with pytest.raises(
        CommandError, match=f"event #{event.pk}: reports.incident {incident.pk} no longer matches"
    ):
        verify()
    page = history(client, corrected_report)
    assert "✗ 不一致（改ざんの疑い）" in page.split('data-check="incident"', 1)[1][:300]


def test_notice_body_edited_by_sql_is_detected(notice):
    event = AuditEvent.objects.get(action="notice.send")
    sql("UPDATE notices_notice SET body = '参集は不要です。' WHERE id = %s", [notice.pk])
    with pytest.raises(
        CommandError, match=f"event #{event.pk}: notices.notice {notice.pk} no longer matches"
    ):
        verify()


def test_notice_acknowledgement_edited_by_sql_is_detected(notice, agency_a, agency_b, reporter_a):
    from notices.models import NoticeRecipient
    from notices.services import notice_acknowledge

    notice_acknowledge(notice=notice, agency=agency_a, user=reporter_a, via="web")
    acked = NoticeRecipient.objects.get(notice=notice, agency=agency_a)
    silent = NoticeRecipient.objects.get(notice=notice, agency=agency_b)
    assert "audit chain OK" in verify()
    # An acknowledgement that never happened...
    sql("UPDATE notices_noticerecipient SET acknowledged_at = now() WHERE id = %s", [silent.pk])
    send = AuditEvent.objects.get(action="notice.send")
    with pytest.raises(
        CommandError,
        match=f"event #{send.pk}: notices.noticerecipient {silent.pk} no longer matches",
    ):
        verify()
    sql("UPDATE notices_noticerecipient SET acknowledged_at = NULL WHERE id = %s", [silent.pk])
    # ... and one erased.
    ack = AuditEvent.objects.get(action="notice.acknowledge")
    sql("UPDATE notices_noticerecipient SET acknowledged_at = NULL WHERE id = %s", [acked.pk])
    with pytest.raises(CommandError, match=f"event #{ack.pk}: notices.noticerecipient {acked.pk}"):
        verify()


def test_notice_recipient_deleted_by_sql_is_detected(notice, agency_b):
    from notices.models import NoticeRecipient

    victim = NoticeRecipient.objects.get(notice=notice, agency=agency_b)
    sql("DELETE FROM lineworks_outboundmessage WHERE notice_recipient_id = %s", [victim.pk])
    sql("DELETE FROM notices_noticerecipient WHERE id = %s", [victim.pk])
    send = AuditEvent.objects.get(action="notice.send")
    with pytest.raises(
        CommandError, match=f"event #{send.pk}: notices.noticerecipient {victim.pk} was deleted"
    ):
        verify()


def test_report_inserted_by_sql_is_detected(corrected_report):
    sql(
        "INSERT INTO reports_report (agency_id, author_id, channel, category, status, "
        "recorded_at, observed_at) SELECT agency_id, author_id, channel, category, status, "
        "recorded_at, observed_at FROM reports_report WHERE id = %s",
        [corrected_report.pk],
    )
    with pytest.raises(CommandError, match=r"reports.report \d+ has no audit event"):
        verify()


def test_photo_file_replaced_on_disk_is_detected(photo, corrected_report, auditor):
    event = AuditEvent.objects.get(action="report.photo")
    client = login(auditor)
    assert "✓" in history(client, corrected_report).split(f'data-photo="{photo.pk}"', 1)[1][:600]
    path = Path(default_storage.path(photo.image.name))
    path.write_bytes(path.read_bytes() + b"\x00")  # same name, different bytes
    with pytest.raises(
        CommandError,
        match=f"event #{event.pk}: reports.photo {photo.pk}: the file .* differs from the SHA-256",
    ):
        verify()
    page = history(client, corrected_report)
    assert "✗" in page.split(f'data-photo="{photo.pk}"', 1)[1][:600]


def test_photo_file_deleted_on_disk_is_detected(photo, corrected_report, auditor):
    event = AuditEvent.objects.get(action="report.photo")
    default_storage.delete(photo.image.name)
    with pytest.raises(
        CommandError, match=f"event #{event.pk}: reports.photo {photo.pk}: the file .* is missing"
    ):
        verify()
    page = history(login(auditor), corrected_report)
    assert "ファイルがありません" in page.split(f'data-photo="{photo.pk}"', 1)[1][:600]


def test_evidence_bundle_refuses_a_deleted_photo_file(photo, incident, auditor, tmp_path):
    from audit.bundle import stream_bundle
    from audit.exports import ReportFilter

    default_storage.delete(photo.image.name)
    response = login(auditor).get(reverse("audit:export_bundle"), {"incident": incident.pk})
    assert response.status_code == 409
    text = response.content.decode()
    assert "写真のファイル" in text and str(photo.pk) in text

    # A bundle made anyway (e.g. by a script calling the builder) does not verify.
    data = b"".join(stream_bundle(ReportFilter(incident=incident), user=auditor, readme="-"))
    path = tmp_path / "bundle.zip"
    path.write_bytes(data)
    assert zipfile.ZipFile(io.BytesIO(data)).namelist()
    with pytest.raises(CommandError, match=f"photo {photo.pk}"):
        call_command(
            "verify_audit_chain", "--bundle", str(path), stdout=StringIO(), stderr=StringIO()
        )


def test_evidence_bundle_refuses_a_replaced_photo_file(photo, incident, auditor):
    path = Path(default_storage.path(photo.image.name))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    response = login(auditor).get(reverse("audit:export_bundle"), {"incident": incident.pk})
    assert response.status_code == 409
    assert "SHA-256" in response.content.decode()


def test_state_changed_in_the_second_segment_is_checked_against_the_latest(
    monkeypatch, hq_user, reporter_a, agency_a
):
    """With the chain walked in two processes, a report created in the first half and
    acknowledged in the second must be compared with the acknowledged state."""
    from audit import services as audit_services

    monkeypatch.setattr(audit_services, "PARALLEL_MIN_EVENTS", 1)
    report = services.report_submit(
        agency=agency_a,
        author=reporter_a,
        category="evacuees",
        fields={"facility": "箭田小学校", "count": 80},
        text="避難者数 80名",
    )
    for n in range(4):
        services.incident_open(user=hq_user, title=f"土砂災害 {n + 1}")
    services.report_acknowledge(report=report, user=hq_user)
    assert audit_services.verify_chain(workers=1).ok
    sql("UPDATE reports_report SET status = 'new' WHERE id = %s", [report.pk])
    for workers in (1, 2):
        problem = audit_services.verify_chain(workers=workers).problem
        assert problem is not None and f"reports.report {report.pk}" in str(problem)
    ack = AuditEvent.objects.get(action="report.acknowledge")
    assert problem.event_id == ack.pk


def test_backfill_vouches_for_rows_written_before_coverage_and_only_for_them(
    corrected_report, outage_report, notice
):
    """Rows from before the chain covered them (their events hold no state) get one
    backfill event; a row that already has a state is never re-vouched (that would hide an
    edit)."""
    sql(
        "UPDATE audit_auditevent SET payload = payload - 'states' WHERE object_type = "
        "'reports.reportrevision' AND object_id IN (SELECT id::text FROM reports_reportrevision "
        "WHERE report_id = %s)",
        [outage_report.pk],
    )
    from audit.tests.test_tamper import rewrite_whole_chain

    rewrite_whole_chain()  # what an upgrade looks like: old events, no states
    with pytest.raises(CommandError, match=f"reports.report {outage_report.pk} has no audit"):
        verify()
    out = StringIO()
    call_command("backfill_audit_records", stdout=out)
    assert "reports.report: 1" in out.getvalue()
    assert "audit chain OK" in verify()
    event = AuditEvent.objects.get(action="audit.backfill")
    assert [s["id"] for s in event.payload["states"]] == [outage_report.pk]

    # Running it again changes nothing; a tampered row stays tampered.
    sql("UPDATE reports_report SET status = 'closed' WHERE id = %s", [corrected_report.pk])
    call_command("backfill_audit_records", stdout=StringIO())
    assert AuditEvent.objects.filter(action="audit.backfill").count() == 1
    with pytest.raises(CommandError, match=f"reports.report {corrected_report.pk} no longer"):
        verify()


def test_history_page_shows_every_check_passing(
    incident, corrected_report, photo, auditor, inbound_resolver
):
    page = history(login(auditor), corrected_report)
    for marker in ('data-check="report"', 'data-check="incident"', f'data-photo="{photo.pk}"'):
        assert "✓" in page.split(marker, 1)[1][:600], marker
    assert "不一致" not in page and "ファイルがありません" not in page
