"""The outbox: atomic claim, retries with backoff, permanent failures visible to HQ, the sweep,
and what goes out: web/API reports mirrored to HQ, notices with 了解, audit anchors."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from conftest import login
from lineworks import content, services
from lineworks.models import OutboundKind, OutboundMessage, OutboundStatus
from lineworks.services import (
    OUTBOUND_BACKOFF_CAP,
    OUTBOUND_MAX_ATTEMPTS,
    backoff,
    outbound_create,
    outbound_deliver,
    sweep,
)
from lineworks.tests.conftest import reply_texts

pytestmark = pytest.mark.django_db


def _queue(text="本部からのお知らせ", channel="ch-hq", **kwargs):
    """A pending message whose delivery is not started (the test drives it)."""
    with mock.patch("lineworks.services.outbound_enqueue"):
        return outbound_create(
            kind=OutboundKind.OTHER, contents=[content.text(text)], channel_id=channel, **kwargs
        )


def _reload(message):
    message.refresh_from_db()
    return message


def test_backoff_grows_exponentially_is_bounded_and_jittered():
    for attempts in range(1, 30):
        delay = backoff(attempts)
        ceiling = min(OUTBOUND_BACKOFF_CAP, 10 * 2 ** (attempts - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(backoff(3), 6) for _ in range(20)}) > 1  # jitter
    assert backoff(1, retry_after=45) >= 45  # LINE WORKS's reset time wins


def test_a_row_is_delivered_once_and_a_second_claim_does_nothing(fake):
    message = _queue()
    assert outbound_deliver(message.pk) == "sent"
    assert outbound_deliver(message.pk) == "skipped"
    message = _reload(message)
    assert message.status == OutboundStatus.SENT and message.attempts == 1
    assert message.sent_at is not None and message.claim_token is None
    assert len(fake.messages()) == 1


def test_claim_is_a_conditional_update(fake):
    message = _queue()
    now = timezone.now()
    assert services._claim(message.pk, now) is not None
    assert services._claim(message.pk, now) is None  # already sending
    assert _reload(message).status == OutboundStatus.SENDING


def test_a_row_not_yet_due_is_not_sent(fake):
    message = _queue()
    OutboundMessage.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    assert outbound_deliver(message.pk) == "skipped"
    assert fake.messages() == []


def test_429_then_201_is_delivered_once(fake):
    message = _queue()
    fake.add_fault(429, match="/messages")

    assert outbound_deliver(message.pk) == "retry"
    message = _reload(message)
    assert message.status == OutboundStatus.PENDING
    assert message.last_status_code == 429 and "TOO_MANY_REQUESTS" in message.last_error
    assert message.next_attempt_at > timezone.now()
    assert outbound_deliver(message.pk) == "skipped"  # not before its time
    waited = (message.next_attempt_at - timezone.now()).total_seconds()
    assert waited > 0  # at least until rateLimit-reset

    cache.clear()  # the rate-limit window has passed (the test does not sleep through it)
    assert outbound_deliver(message.pk, now=message.next_attempt_at) == "sent"
    assert _reload(message).attempts == 2
    assert len(fake.messages()) == 1


def test_500_for_a_while_then_delivered_after_recovery(fake):
    message = _queue()
    fake.add_fault(500, seconds=60, match="/messages")  # LINE WORKS is down for a minute
    now = timezone.now()
    delays = []
    for _attempt in range(3):
        assert outbound_deliver(message.pk, now=now) == "retry"
        message = _reload(message)
        delays.append((message.next_attempt_at - now).total_seconds())
        now = message.next_attempt_at
    assert delays[0] < delays[2]  # backing off
    assert message.status == OutboundStatus.PENDING and message.attempts == 3

    fake.clear_faults()  # recovered
    assert outbound_deliver(message.pk, now=now) == "sent"
    assert _reload(message).attempts == 4
    assert len(fake.messages()) == 1
    assert [c["status"] for c in fake.calls("/messages")] == [500, 500, 500, 201]


def test_expired_token_is_renewed_and_the_message_delivered(fake):
    outbound_deliver(_queue("一通目").pk)
    fake.expire_tokens()
    message = _queue("二通目")
    assert outbound_deliver(message.pk) == "sent"
    assert _reload(message).attempts == 1
    assert len(fake.calls("/oauth2/v2.0/token")) == 2
    assert [m["content"]["text"] for m in fake.messages()] == ["一通目", "二通目"]


def test_permanent_error_fails_at_once_and_hq_can_send_it_again(
    fake, hq_user, reporter_a, django_capture_on_commit_callbacks
):
    message = _queue(channel="ch-gone")
    fake.add_fault(403, code="ACCESS_DENIED", match="/messages")
    assert outbound_deliver(message.pk) == "failed"
    message = _reload(message)
    assert message.status == OutboundStatus.FAILED and message.attempts == 1
    assert "ACCESS_DENIED" in message.last_error

    page = login(hq_user).get("/lineworks/outbox/?status=failed")
    assert page.status_code == 200
    assert "ACCESS_DENIED" in page.content.decode()
    assert login(reporter_a).get("/lineworks/outbox/").status_code == 403

    with django_capture_on_commit_callbacks(execute=True):
        response = login(hq_user).post(f"/lineworks/outbox/{message.pk}/retry")
    assert response.status_code == 302
    assert _reload(message).status == OutboundStatus.SENT
    assert len(fake.messages(channel_id="ch-gone")) == 1


def test_transient_errors_stop_after_the_maximum_attempts(fake):
    message = _queue()
    fake.add_fault(503, count=OUTBOUND_MAX_ATTEMPTS + 5, match="/messages")
    now = timezone.now()
    results = []
    for _attempt in range(OUTBOUND_MAX_ATTEMPTS):
        results.append(outbound_deliver(message.pk, now=now))
        now = _reload(message).next_attempt_at
    assert results[-1] == "failed" and set(results[:-1]) == {"retry"}
    message = _reload(message)
    assert message.status == OutboundStatus.FAILED
    assert message.attempts == OUTBOUND_MAX_ATTEMPTS


def test_a_worker_that_died_while_sending_is_recovered_by_the_sweep(fake):
    """The documented duplicate window: LINE WORKS accepted the message, the worker died
    before recording it. After the lease the sweep sends it again."""
    message = _queue()
    token = services._claim(message.pk, timezone.now())
    assert token is not None
    from lineworks.client import get_client

    get_client().send_message(message.contents[0], channel_id=message.to_channel_id)  # 201
    # ... and the worker dies here: the row stays `sending`.
    assert _reload(message).status == OutboundStatus.SENDING

    later = timezone.now() + services.SENDING_LEASE + timedelta(seconds=1)
    with mock.patch("lineworks.services.outbound_enqueue") as enqueue:
        counts = sweep(now=later)
    assert counts["recovered"] == 1
    enqueue.assert_called_once_with(message.pk)
    assert outbound_deliver(message.pk, now=later) == "sent"
    assert len(fake.messages()) == 2  # sent twice: exactly the case the README describes


def test_the_sweep_re_enqueues_rows_whose_enqueue_was_lost(fake):
    message = _queue()
    now = timezone.now()
    with mock.patch("lineworks.services.outbound_enqueue") as enqueue:
        sweep(now=now)
        enqueue.assert_called_once_with(message.pk)  # never enqueued
    OutboundMessage.objects.filter(pk=message.pk).update(enqueued_at=now)
    with mock.patch("lineworks.services.outbound_enqueue") as enqueue:
        sweep(now=now + timedelta(seconds=5))
        enqueue.assert_not_called()  # just enqueued: leave it to the broker
        sweep(now=now + timedelta(minutes=2))
        enqueue.assert_called_once_with(message.pk)


def test_parts_already_accepted_are_not_sent_again(fake):
    message = _queue()
    OutboundMessage.objects.filter(pk=message.pk).update(
        contents=[content.text("第1部"), content.text("第2部")]
    )
    calls = {"n": 0}
    from lineworks.client import LineWorksClient, LineWorksError

    original = LineWorksClient.send_message

    def second_fails(self, body, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise LineWorksError("down", permanent=False, status=503)
        return original(self, body, **kwargs)

    with mock.patch.object(LineWorksClient, "send_message", second_fails):
        assert outbound_deliver(message.pk) == "retry"
    assert _reload(message).parts_sent == 1
    assert outbound_deliver(message.pk, now=_reload(message).next_attempt_at) == "sent"
    assert [m["content"]["text"] for m in fake.messages()] == ["第1部", "第2部"]


def test_web_report_is_mirrored_to_the_hq_room(
    fake, reporter_a, django_capture_on_commit_callbacks
):
    from reports.services import report_submit

    with django_capture_on_commit_callbacks(execute=True):
        report = report_submit(
            agency=reporter_a.member.agency,
            author=reporter_a,
            category="evacuees",
            fields={"facility": "箭田小学校", "count": 120},
            channel="web",
        )
    message = OutboundMessage.objects.get()
    assert message.kind == OutboundKind.MIRROR and message.to_channel_id == "ch-hq"
    assert message.status == OutboundStatus.SENT
    [text] = reply_texts(fake.messages(channel_id="ch-hq"))
    assert report.number in text and "120" in text and "Web" in text


def test_line_works_reports_are_not_mirrored_and_nothing_without_hq_room(
    fake, settings, reporter_a
):
    from reports.services import report_submit

    agency = reporter_a.member.agency
    report_submit(
        agency=agency, author=reporter_a, category="general", fields={}, channel="lineworks"
    )
    assert OutboundMessage.objects.count() == 0
    settings.LINEWORKS_HQ_CHANNEL_ID = ""
    report_submit(agency=agency, author=reporter_a, category="general", fields={}, channel="api")
    assert OutboundMessage.objects.count() == 0


def test_mirror_row_is_rolled_back_with_a_failed_report(fake, reporter_a):
    from reports.services import report_submit

    with pytest.raises(RuntimeError), transaction.atomic():
        report_submit(
            agency=reporter_a.member.agency,
            author=reporter_a,
            category="general",
            fields={},
            channel="web",
        )
        raise RuntimeError("the request failed after the report")
    assert OutboundMessage.objects.count() == 0


def test_notice_goes_to_each_agency_room_with_a_button_and_acknowledgement_is_recorded(
    fake, talk, hq_user, reporter_a, reporter_b, agency_a, agency_b, hospital_agency
):
    from agencies.models import Agency
    from notices.models import DeliveryStatus, NoticeRecipient
    from notices.services import notice_send

    Agency.objects.filter(pk=hospital_agency.pk).update(lineworks_channel_id="")
    hospital_agency.refresh_from_db()
    with talk.capture(execute=True):
        notice = notice_send(
            user=hq_user,
            kind="muster",
            title="全職員参集",
            body="倉敷市で震度5強を観測したため、全職員はあらかじめ決められた場所へ参集",
            agencies=[agency_a, agency_b, hospital_agency],
        )
    assert OutboundMessage.objects.filter(kind=OutboundKind.NOTICE).count() == 2
    [to_a] = fake.messages(channel_id="ch-mabi-shelter")
    body = to_a["content"]
    assert body["type"] == "button_template" and "全職員参集" in body["contentText"]
    assert body["actions"] == [
        {"type": "message", "label": "了解", "text": "了解", "postback": f"notice_ack:{notice.pk}"}
    ]
    recipients = {r.agency_id: r for r in NoticeRecipient.objects.filter(notice=notice)}
    assert recipients[agency_a.pk].delivery_status == DeliveryStatus.SENT
    assert recipients[hospital_agency.pk].delivery_status == DeliveryStatus.NO_CHANNEL

    result = talk.press(to_a, "了解", "lw-a-1", "ch-mabi-shelter")

    recipient = NoticeRecipient.objects.get(notice=notice, agency=agency_a)
    assert recipient.acknowledged_by == reporter_a and recipient.acknowledged_via == "lineworks"
    assert "了解を記録しました" in reply_texts(result["replies"])[0]
    assert NoticeRecipient.objects.get(notice=notice, agency=agency_b).acknowledged_at is None


def test_notice_delivery_failure_is_recorded_on_the_recipient(fake, hq_user, agency_a, talk):
    from notices.models import DeliveryStatus, NoticeRecipient
    from notices.services import notice_send

    fake.add_fault(403, code="ACCESS_DENIED", match="/messages")
    with talk.capture(execute=True):
        notice = notice_send(
            user=hq_user,
            kind="info",
            title="周知",
            body="給水所を開設しました",
            agencies=[agency_a],
        )
    recipient = NoticeRecipient.objects.get(notice=notice)
    assert recipient.delivery_status == DeliveryStatus.FAILED
    assert "ACCESS_DENIED" in recipient.delivery_error


def test_long_notice_is_text_then_button(fake, hq_user, agency_a, talk):
    from notices.services import notice_send

    with talk.capture(execute=True):
        notice_send(
            user=hq_user, kind="info", title="周知", body="給水情報。" * 250, agencies=[agency_a]
        )
    first, second = fake.messages(channel_id="ch-mabi-shelter")
    assert first["content"]["type"] == "text" and len(first["content"]["text"]) > 1000
    assert second["content"]["type"] == "button_template"


def test_postback_event_acknowledges_too(fake, talk, hq_user, reporter_a, agency_a):
    from notices.models import NoticeRecipient
    from notices.services import notice_send

    with talk.capture(execute=True):
        notice = notice_send(
            user=hq_user, kind="info", title="周知", body="本文", agencies=[agency_a]
        )
    event = fake.member_event(
        user_id="lw-a-1",
        channel_id="ch-mabi-shelter",
        kind="postback",
        data=f"notice_ack:{notice.pk}",
    )
    assert talk.event(event).status_code == 200
    assert NoticeRecipient.objects.get(notice=notice).acknowledged_by == reporter_a


def test_audit_anchor_is_posted_to_hq(fake, talk):
    from audit.signals import chain_anchored

    with talk.capture(execute=True), transaction.atomic():
        chain_anchored.send(sender=None, text="監査ログ #120 ハッシュ 3f2a…", anchor=None)
    [message] = fake.messages(channel_id="ch-hq")
    assert message["content"]["text"].startswith("監査ログ #120")
