"""A stored LINE WORKS callback is evidence: the transaction that processes it records the
SHA-256 of its raw body in the audit chain, so editing the body by SQL afterwards fails
``verify_audit_chain`` and shows ✗ beside the raw message on the auditor's history page."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from audit.models import AuditEvent
from conftest import login
from lineworks.models import InboundEvent, InboundStatus
from reports.models import Report

pytestmark = pytest.mark.django_db

A_USER, A_ROOM = "lw-a-1", "ch-mabi-shelter"


def verify() -> str:
    out = StringIO()
    call_command("verify_audit_chain", stdout=out)
    return out.getvalue()


def test_processed_callback_body_is_vouched_for(talk, reporter_a, auditor):
    talk.say(A_USER, A_ROOM, "15時現在の避難者数 35名")
    inbound = InboundEvent.objects.get()
    assert inbound.status == InboundStatus.DONE
    event = AuditEvent.objects.get(action="lineworks.inbound")
    assert event.object_id == str(inbound.pk)
    assert event.payload["record"]["sha256"] == hashlib.sha256(inbound.body.encode()).hexdigest()
    assert "audit chain OK" in verify()
    report = Report.objects.get()
    client = login(auditor)
    page = client.get(reverse("audit:report", args=[report.pk])).content.decode()
    assert "✓ 受信記録と一致" in page

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE lineworks_inboundevent SET body = replace(body, '35名', '350名') WHERE id = %s",
            [inbound.pk],
        )
    with pytest.raises(
        CommandError,
        match=f"event #{event.pk}: lineworks.inboundevent {inbound.pk} no longer matches",
    ):
        verify()
    page = client.get(reverse("audit:report", args=[report.pk])).content.decode()
    assert "350名" in page and "✗ 受信記録と不一致（改ざんの疑い）" in page


def test_unmatched_sender_message_is_vouched_for_and_pending_ones_wait(talk, reporter_a):
    talk.say("lw-unknown-9", A_ROOM, "川辺地区で冠水しています")
    unmatched = InboundEvent.objects.get()
    assert unmatched.status == InboundStatus.UNMATCHED
    assert AuditEvent.objects.filter(
        action="lineworks.inbound", object_id=str(unmatched.pk)
    ).exists()
    # A row not processed yet has no event by design (the webhook answers before any work).
    InboundEvent.objects.create(
        digest="0" * 64, body="{}", received_at=unmatched.received_at, status="received"
    )
    assert "audit chain OK" in verify()
    # Once processed, a row without an event is foreign.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO lineworks_inboundevent (digest, body, headers, received_at, event_type,"
            " source_user_id, source_channel_id, status, attempts, last_error, outcome) VALUES"
            " (%s, '{}', '{}', now(), 'message', 'lw-a-1', %s, 'done', 1, '', 'report')",
            ["1" * 64, A_ROOM],
        )
    with pytest.raises(CommandError, match=r"lineworks.inboundevent \d+ has no audit event"):
        verify()
