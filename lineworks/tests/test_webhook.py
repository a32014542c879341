"""The webhook: signature and bot id checks, limits, storage before work, duplicates."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from unittest import mock

import pytest
from django.test import Client

from lineworks.models import InboundEvent, InboundStatus
from lineworks.services import sweep
from lineworks.signature import sign, verify
from lineworks.tests.conftest import BOT_ID, BOT_SECRET
from reports.models import Report

A_USER, A_ROOM = "lw-a-1", "ch-mabi-shelter"

# The example in lineworks-api.md §3.2, recomputed independently of lineworks.signature.
BODY = (
    '{"type":"message","source":{"userId":"u1","domainId":1},'
    '"content":{"type":"text","text":"避難完了"}}'
).encode()


def test_signature_is_base64_hmac_sha256_of_the_raw_body():
    expected = base64.b64encode(hmac.new(b"secret", BODY, hashlib.sha256).digest()).decode()
    assert sign("secret", BODY) == expected
    assert expected.endswith("=")  # standard alphabet with padding
    assert verify("secret", BODY, expected)


GOOD = sign("secret", BODY)


@pytest.mark.parametrize(
    "secret, body, signature",
    [
        ("other-secret", BODY, GOOD),  # we hold another secret
        ("secret", BODY + b" ", GOOD),  # body changed after signing
        ("secret", BODY, ""),  # header missing
        ("secret", BODY, None),
        ("secret", BODY, "not base64 at all"),
        ("secret", BODY, "署名"),  # not even ASCII
        ("", BODY, GOOD),  # bot secret not configured: nothing verifies
    ],
)
def test_signature_rejects(secret, body, signature):
    assert not verify(secret, body, signature)


def test_signature_compare_is_constant_time():
    with mock.patch("lineworks.signature.hmac.compare_digest", return_value=False) as compare:
        assert not verify("secret", BODY, sign("secret", BODY))
    compare.assert_called_once()


def _post(client, body, headers):
    return client.post(
        "/lineworks/callback",
        data=body,
        content_type="application/json; charset=utf-8",
        headers=headers,
    )


def _event(text="15時現在の避難者数 35名"):
    return json.dumps(
        {
            "type": "message",
            "source": {"userId": A_USER, "channelId": A_ROOM, "domainId": 40029600},
            "issuedTime": "2024-07-06T05:30:00.000Z",
            "content": {"type": "text", "text": text},
        },
        ensure_ascii=False,
    ).encode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        {"X-WORKS-BotId": BOT_ID, "X-WORKS-Signature": sign("wrong-secret", _event())},
        {"X-WORKS-BotId": "2000002", "X-WORKS-Signature": sign(BOT_SECRET, _event())},
        {"X-WORKS-Signature": sign(BOT_SECRET, _event())},
        {"X-WORKS-BotId": BOT_ID},
        {},
    ],
    ids=["bad-signature", "wrong-bot-id", "no-bot-id", "no-signature", "no-headers"],
)
def test_bad_signature_or_wrong_bot_is_403_and_nothing_is_stored_or_processed(
    fake, reporter_a, headers, caplog, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = _post(Client(), _event(), headers)
    assert response.status_code == 403
    assert InboundEvent.objects.count() == 0
    assert Report.objects.count() == 0
    assert callbacks == []
    assert fake.messages() == []
    assert "lineworks callback rejected" in caplog.text
    assert BOT_SECRET not in caplog.text


@pytest.mark.django_db
def test_a_valid_callback_is_stored_raw_and_answered_200(fake, reporter_a, talk):
    body = _event()
    response = talk.post(
        body, {"X-WORKS-BotId": BOT_ID, "X-WORKS-Signature": sign(BOT_SECRET, body)}
    )
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert event.body.encode() == body  # byte for byte
    assert event.digest == hashlib.sha256(body).hexdigest()
    assert event.event_type == "message"
    assert (event.source_user_id, event.source_channel_id) == (A_USER, A_ROOM)
    assert event.headers["X-WORKS-BotId"] == BOT_ID
    assert event.status == InboundStatus.DONE
    assert Report.objects.count() == 1


@pytest.mark.django_db
def test_header_names_are_case_insensitive(fake, reporter_a, talk):
    body = _event()
    response = talk.post(
        body, {"x-works-botid": BOT_ID, "x-works-signature": sign(BOT_SECRET, body)}
    )
    assert response.status_code == 200
    assert InboundEvent.objects.count() == 1


@pytest.mark.django_db
def test_processing_waits_for_commit(fake, reporter_a):
    body = _event()
    headers = {"X-WORKS-BotId": BOT_ID, "X-WORKS-Signature": sign(BOT_SECRET, body)}
    with mock.patch("lineworks.tasks.process_inbound_task.apply_async") as enqueue:
        response = _post(Client(), body, headers)  # the test transaction never commits
    assert response.status_code == 200
    assert InboundEvent.objects.count() == 1
    enqueue.assert_not_called()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, status",
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (b'{"source": {}}', 400),
        (b'"text"', 400),
        (b"\xff\xfe{}", 400),
    ],
)
def test_malformed_json_with_a_valid_signature_is_400(fake, body, status):
    response = _post(
        Client(), body, {"X-WORKS-BotId": BOT_ID, "X-WORKS-Signature": sign(BOT_SECRET, body)}
    )
    assert response.status_code == status
    assert InboundEvent.objects.count() == 0


@pytest.mark.django_db
def test_oversized_body_is_refused_before_verification(fake):
    body = json.dumps({"type": "message", "pad": "x" * 70_000}).encode()
    response = _post(
        Client(), body, {"X-WORKS-BotId": BOT_ID, "X-WORKS-Signature": sign(BOT_SECRET, body)}
    )
    assert response.status_code == 413
    assert InboundEvent.objects.count() == 0


@pytest.mark.django_db
def test_only_post_is_allowed(fake):
    assert Client().get("/lineworks/callback").status_code == 405


@pytest.mark.django_db
def test_unconfigured_bot_accepts_no_callback(fake, settings):
    settings.LINEWORKS_BOT_SECRET = ""
    body = _event()
    response = _post(Client(), body, {"X-WORKS-BotId": BOT_ID, "X-WORKS-Signature": sign("", body)})
    assert response.status_code == 403
    assert InboundEvent.objects.count() == 0


@pytest.mark.django_db
def test_csrf_checks_do_not_block_signed_callbacks(fake, reporter_a):
    client = Client(enforce_csrf_checks=True)
    body = _event()
    response = _post(
        client, body, {"X-WORKS-BotId": BOT_ID, "X-WORKS-Signature": sign(BOT_SECRET, body)}
    )
    assert response.status_code == 200


@pytest.mark.django_db
def test_broker_down_still_answers_200_and_the_sweep_enqueues_later(
    fake, reporter_a, django_capture_on_commit_callbacks
):
    body = _event()
    headers = {"X-WORKS-BotId": BOT_ID, "X-WORKS-Signature": sign(BOT_SECRET, body)}
    with (
        mock.patch(
            "lineworks.tasks.process_inbound_task.apply_async", side_effect=OSError("redis down")
        ),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = _post(Client(), body, headers)
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert event.status == InboundStatus.RECEIVED
    assert Report.objects.count() == 0

    # The broker is back; the beat sweep finds the row once its enqueue is old enough.
    from datetime import timedelta

    from django.utils import timezone

    with django_capture_on_commit_callbacks(execute=True):
        assert sweep()["inbound"] == 0  # enqueued a moment ago: give the broker its chance
        counts = sweep(now=timezone.now() + timedelta(minutes=2))
    assert counts["inbound"] == 1
    event.refresh_from_db()
    assert event.status == InboundStatus.DONE
    assert Report.objects.count() == 1


@pytest.mark.django_db
def test_an_error_while_processing_keeps_the_event_for_a_retry(fake, reporter_a, talk):
    with mock.patch("lineworks.bot.Conversation.report", side_effect=RuntimeError("boom")):
        talk.say(A_USER, A_ROOM, "避難者数 35名")
    event = InboundEvent.objects.get()
    assert event.status == InboundStatus.RECEIVED
    assert event.attempts == 1 and "boom" in event.last_error
    assert event.next_attempt_at is not None
    assert Report.objects.count() == 0

    from datetime import timedelta

    from django.utils import timezone

    with talk.capture(execute=True):
        sweep(now=timezone.now() + timedelta(minutes=5))
    event.refresh_from_db()
    assert event.status == InboundStatus.DONE and event.attempts == 2
    assert Report.objects.count() == 1
