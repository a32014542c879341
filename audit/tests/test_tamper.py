"""Tampering behind the portal's back is found by ``verify_audit_chain``, which names the
first broken event and exits non-zero."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit import chain
from audit.models import AuditEvent, ChainVerification
from audit.services import chain_anchor_publish
from reports.models import ReportRevision

pytestmark = pytest.mark.django_db


def verify(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("verify_audit_chain", *args, stdout=out)
    return out.getvalue()


def sql(statement: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def rewrite_whole_chain() -> None:
    """What an attacker with database access does: edit an event, then recompute every
    payload digest and hash after it so that the chain is consistent again."""
    prev = chain.GENESIS
    for event in AuditEvent.objects.order_by("id"):
        data = {
            "id": event.pk,
            "occurred_at": event.occurred_at,
            "actor_id": event.actor_id,
            "actor_label": event.actor_label,
            "action": event.action,
            "object_type": event.object_type,
            "object_id": event.object_id,
            "channel": event.channel,
            "payload_digest": chain.digest(event.payload),
            "prev_hash": prev,
        }
        new_hash = chain.event_hash(data)
        sql(
            "UPDATE audit_auditevent SET payload_digest=%s, prev_hash=%s, hash=%s WHERE id=%s",
            [data["payload_digest"], prev, "x" + new_hash[1:], event.pk],
        )
        sql("UPDATE audit_auditevent SET hash=%s WHERE id=%s", [new_hash, event.pk])
        prev = new_hash


def test_intact_chain_passes_and_is_recorded(corrected_report, outage_report):
    out = verify()
    assert "audit chain OK" in out
    run = ChainVerification.objects.get()
    assert run.ok and run.events == AuditEvent.objects.count()
    assert run.head_id == AuditEvent.objects.order_by("-id").first().pk


def test_revision_fields_edited_by_sql_are_detected(corrected_report):
    first = ReportRevision.objects.get(report=corrected_report, number=1)
    event = AuditEvent.objects.get(object_type="reports.reportrevision", object_id=str(first.pk))
    sql(
        "UPDATE reports_reportrevision SET fields = jsonb_set(fields, '{count}', '12') "
        "WHERE id = %s",
        [first.pk],
    )
    with pytest.raises(CommandError, match=f"event #{event.pk}: .*no longer matches"):
        verify()
    run = ChainVerification.objects.get()
    assert run.ok is False and run.problem_event_id == event.pk


def test_revision_deleted_by_sql_is_detected(outage_report):
    rev = outage_report.current_revision
    event = AuditEvent.objects.get(object_type="reports.reportrevision", object_id=str(rev.pk))
    sql("UPDATE reports_report SET current_revision_id = NULL WHERE id = %s", [outage_report.pk])
    sql("DELETE FROM reports_observation WHERE revision_id = %s", [rev.pk])
    sql("DELETE FROM reports_reportrevision WHERE id = %s", [rev.pk])
    with pytest.raises(CommandError, match=f"event #{event.pk}: .*was deleted"):
        verify()


def test_audit_row_deleted_is_detected(corrected_report, outage_report):
    victim = AuditEvent.objects.order_by("id")[1]
    sql("DELETE FROM audit_auditevent WHERE id = %s", [victim.pk])
    with pytest.raises(CommandError, match=f"event #{victim.pk + 1}: prev_hash"):
        verify()


def test_two_audit_rows_swapped_are_detected(corrected_report, outage_report):
    a, b = AuditEvent.objects.order_by("id")[1:3]
    sql("UPDATE audit_auditevent SET id = -1 WHERE id = %s", [a.pk])
    sql("UPDATE audit_auditevent SET id = %s WHERE id = %s", [a.pk, b.pk])
    sql("UPDATE audit_auditevent SET id = %s WHERE id = -1", [b.pk])
    with pytest.raises(CommandError, match=f"event #{a.pk}: prev_hash"):
        verify()


def test_audit_payload_edited_is_detected(corrected_report):
    event = AuditEvent.objects.order_by("id").first()
    sql(
        "UPDATE audit_auditevent "
        "SET payload = jsonb_set(payload, '{report_number}', '\"R-999999\"') WHERE id = %s",
        [event.pk],
    )
    with pytest.raises(CommandError, match=f"event #{event.pk}: payload does not match"):
        verify()


def test_whole_chain_rewritten_passes_without_anchor(corrected_report):
    """The reason anchors exist: a recomputed chain is consistent in itself."""
    event = AuditEvent.objects.order_by("id").first()
    sql(
        "UPDATE audit_auditevent SET actor_label = 'someone-else' WHERE id = %s",
        [event.pk],
    )
    rewrite_whole_chain()
    assert "audit chain OK" in verify()


def test_whole_chain_rewritten_after_anchor_is_detected(corrected_report, reporter_a):
    anchor = chain_anchor_publish(trigger="schedule")
    assert anchor is not None
    from reports import services

    services.report_correct(
        report=corrected_report,
        author=reporter_a,
        reason="再確認",
        fields={"facility": "箭田小学校", "count": 140, "households": 50},
    )
    assert "1 published heads matched" in verify()

    event = AuditEvent.objects.order_by("id").first()
    sql("UPDATE audit_auditevent SET actor_label = 'someone-else' WHERE id = %s", [event.pk])
    rewrite_whole_chain()
    with pytest.raises(CommandError, match=f"event #{anchor.head_id}: hash differs from the head"):
        verify()


def test_rewrite_that_also_fixes_stored_anchors_is_caught_by_the_published_copy(
    corrected_report,
):
    anchor = chain_anchor_publish(trigger="schedule")
    published = anchor.text.splitlines()[-1]  # what stays in HQ's LINE WORKS talk
    event = AuditEvent.objects.order_by("id").first()
    sql("UPDATE audit_auditevent SET actor_label = 'someone-else' WHERE id = %s", [event.pk])
    rewrite_whole_chain()
    new_head = AuditEvent.objects.get(pk=anchor.head_id).hash
    sql("UPDATE audit_chainanchor SET head_hash = %s", [new_head])
    assert "audit chain OK" in verify()
    with pytest.raises(CommandError, match="two different hashes"):
        verify("--anchor", published)


def test_anchors_file_with_pasted_talk_messages(corrected_report, tmp_path):
    anchor = chain_anchor_publish(trigger="schedule")
    talk = tmp_path / "hq-talk.txt"
    talk.write_text(f"本部 15:00\n{anchor.text}\n了解しました\n", encoding="utf-8")
    assert "published heads matched" in verify("--anchors-file", str(talk))
    wrong = hashlib.sha256(b"other").hexdigest()
    talk.write_text(f"{anchor.head_id}:{wrong}", encoding="utf-8")
    with pytest.raises(CommandError, match="two different hashes"):
        verify("--anchors-file", str(talk))


def test_events_removed_from_the_end_after_anchor_are_detected(corrected_report, reporter_a):
    from reports import services

    services.report_correct(
        report=corrected_report,
        author=reporter_a,
        reason="再確認",
        fields={"facility": "箭田小学校", "count": 140, "households": 50},
    )
    anchor = chain_anchor_publish(trigger="schedule")
    # Cut the tail: the anchor event, the last correction's event and its revision.
    last_rev = ReportRevision.objects.get(report=corrected_report, number=3)
    prior = ReportRevision.objects.get(report=corrected_report, number=2)
    sql(
        "UPDATE reports_report SET current_revision_id = %s WHERE id = %s",
        [prior.pk, corrected_report.pk],
    )
    sql("DELETE FROM reports_observation WHERE revision_id = %s", [last_rev.pk])
    sql("DELETE FROM reports_reportrevision WHERE id = %s", [last_rev.pk])
    sql("DELETE FROM audit_auditevent WHERE id >= %s", [anchor.head_id])
    with pytest.raises(CommandError, match=f"event #{anchor.head_id}: a head was published"):
        verify()


def test_event_inserted_by_sql_is_detected(corrected_report):
    last = AuditEvent.objects.order_by("-id").first()
    payload = {"note": "後から追加"}
    sql(
        "INSERT INTO audit_auditevent (id, occurred_at, actor_label, action, object_type, "
        "object_id, channel, payload, payload_digest, prev_hash, hash) "
        "VALUES (%s, now(), '', 'report.original', '', '', '', %s, %s, %s, %s)",
        [last.pk + 1, json.dumps(payload), chain.digest(payload), last.hash, "f" * 64],
    )
    with pytest.raises(CommandError, match=f"event #{last.pk + 1}: hash does not match"):
        verify()


def test_revision_inserted_without_audit_event_is_detected(corrected_report, reporter_a):
    rev = corrected_report.current_revision
    sql(
        "INSERT INTO reports_reportrevision (report_id, number, kind, category, fields, text, "
        "observed_at, recorded_at, author_id, channel, reason, source_ref) "
        "SELECT report_id, 9, kind, category, fields, text, observed_at, recorded_at, "
        "author_id, channel, reason, source_ref FROM reports_reportrevision WHERE id = %s",
        [rev.pk],
    )
    with pytest.raises(CommandError, match="has no audit event"):
        verify()
