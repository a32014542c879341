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
    # Nothing new since (the chain page's own view does not count): nothing is sent again.
    page = client.post(reverse("audit:anchor_publish"), follow=True).content.decode()
    assert f"イベント #{anchor.head_id} までのハッシュは" in page and "公開済みです" in page
    assert ChainAnchor.objects.count() == 1 and len(published) == 1


@pytest.fixture
def hq_talk(settings):
    settings.LINEWORKS_HQ_CHANNEL_ID = "ch-hq"

    def anchor_messages() -> int:
        from lineworks.models import OutboundKind, OutboundMessage

        return OutboundMessage.objects.filter(
            kind=OutboundKind.ANCHOR, to_channel_id="ch-hq"
        ).count()

    return anchor_messages


def test_twenty_posts_send_one_message_to_hq(auditor, reporter_a, corrected_report, hq_talk):
    from reports import services

    client = login(auditor)
    url = reverse("audit:anchor_publish")
    for n in range(20):
        # Something new each time, so only the rate limit stands between the posts.
        services.report_correct(
            report=corrected_report,
            author=reporter_a,
            reason="再集計",
            fields={"facility": "箭田小学校", "count": 140 + n},
        )
        assert client.post(url).status_code == 302
    assert ChainAnchor.objects.count() == 1
    assert hq_talk() == 1
    page = client.get(reverse("audit:chain")).content.decode()
    assert "公開ハッシュの送信は1人5分に1回までです。" in page and "秒お待ちください" in page


def test_publishing_is_allowed_again_after_the_interval(
    auditor, hq_user, reporter_a, corrected_report, hq_talk
):
    from datetime import timedelta

    from django.utils import timezone

    from reports import services

    client = login(auditor)
    url = reverse("audit:anchor_publish")
    client.post(url)
    services.report_correct(
        report=corrected_report,
        author=reporter_a,
        reason="再集計",
        fields={"facility": "箭田小学校", "count": 150},
    )
    client.post(url)
    assert ChainAnchor.objects.count() == 1
    # Another person is not held back by the auditor's limit.
    login(hq_user).post(url)
    assert ChainAnchor.objects.count() == 2
    services.report_correct(
        report=corrected_report,
        author=reporter_a,
        reason="再々集計",
        fields={"facility": "箭田小学校", "count": 160},
    )
    ChainAnchor.objects.filter(created_by=auditor).update(
        created_at=timezone.now() - timedelta(seconds=301)
    )
    client.post(url)
    assert ChainAnchor.objects.filter(created_by=auditor).count() == 2
    assert hq_talk() == 3


def test_schedule_is_not_rate_limited(auditor, reporter_a, corrected_report):
    from reports import services

    login(auditor).post(reverse("audit:anchor_publish"))
    services.report_correct(
        report=corrected_report,
        author=reporter_a,
        reason="再集計",
        fields={"facility": "箭田小学校", "count": 150},
    )
    assert chain_anchor_publish() is not None


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
