"""Publishing the chain head: the service, the signal for LINE WORKS, the hourly schedule and
the on-demand button."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from audit import signals
from audit.models import AuditEvent, ChainAnchor, ChainVerification
from audit.services import chain_anchor_publish
from audit.tasks import chain_anchor_publish_task, chain_verify_task
from conftest import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def published():
    received = []

    def receiver(sender, text, anchor, **kwargs):
        received.append((text, anchor))

    signals.chain_anchored.connect(receiver, weak=False)
    yield received
    signals.chain_anchored.disconnect(receiver)


def test_anchor_stores_head_and_sends_text_for_hq_talk(corrected_report, published):
    head = AuditEvent.objects.order_by("-id").first()
    anchor = chain_anchor_publish()
    assert (anchor.head_id, anchor.head_hash) == (head.pk, head.hash)
    assert published == [(anchor.text, anchor)]
    assert "監査ログ 公開ハッシュ" in anchor.text
    assert anchor.text.splitlines()[-1] == f"{head.pk}:{head.hash}"
    event = AuditEvent.objects.order_by("-id").first()
    assert event.action == "audit.anchor" and event.object_id == str(anchor.pk)
    assert event.payload["head_hash"] == head.hash


def test_schedule_stays_quiet_when_nothing_new(corrected_report, published, reporter_a):
    first = chain_anchor_publish()
    assert first is not None
    assert chain_anchor_publish() is None  # only the anchor's own event is new
    assert ChainAnchor.objects.count() == 1 and len(published) == 1
    from reports import services

    services.report_correct(
        report=corrected_report,
        author=reporter_a,
        reason="再集計",
        fields={"facility": "箭田小学校", "count": 150},
    )
    second = chain_anchor_publish()
    assert second is not None and second.head_id > first.head_id


def test_empty_chain_publishes_nothing(db, published):
    assert chain_anchor_publish(force=True) is None
    assert published == []


def test_beat_schedules_hourly_anchor_and_verification():
    entries = {e["task"]: e for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert entries["audit.tasks.chain_anchor_publish_task"]["schedule"] == 3600.0
    assert "audit.tasks.chain_verify_task" in entries


def test_tasks_publish_and_verify(corrected_report, auditor):
    anchor_id = chain_anchor_publish_task.delay().get()
    assert ChainAnchor.objects.get(pk=anchor_id).trigger == "schedule"
    run_id = chain_verify_task.delay(user_id=auditor.pk).get()
    run = ChainVerification.objects.get(pk=run_id)
    assert run.ok and run.anchors_checked == 1 and run.requested_by == auditor


@pytest.mark.parametrize("who", ["auditor", "hq"])
def test_button_publishes_on_demand(cast, corrected_report, published, who):
    client = login(cast[who])
    response = client.post(reverse("audit:anchor_publish"))
    assert response.status_code == 302
    anchor = ChainAnchor.objects.get()
    assert anchor.created_by == cast[who] and anchor.trigger == "manual"
    assert len(published) == 1
    # On demand means now, even if nothing changed since.
    client.post(reverse("audit:anchor_publish"))
    assert ChainAnchor.objects.count() == 2


@pytest.mark.parametrize("who", ["reporter_a", "stranger"])
def test_others_cannot_publish_or_verify(cast, corrected_report, who):
    client = login(cast[who])
    assert client.post(reverse("audit:anchor_publish")).status_code == 403
    assert client.post(reverse("audit:chain_verify")).status_code == 403
    assert not ChainAnchor.objects.exists() and not ChainVerification.objects.exists()


def test_verify_button_runs_verification_after_commit(
    auditor, corrected_report, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = login(auditor).post(reverse("audit:chain_verify"))
    assert response.status_code == 302
    assert len(callbacks) == 1
    run = ChainVerification.objects.get()
    assert run.ok and run.requested_by == auditor and run.trigger == "manual"


def test_publish_button_needs_csrf(auditor, corrected_report):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(auditor)
    assert client.post(reverse("audit:anchor_publish")).status_code == 403
    assert not ChainAnchor.objects.exists()
