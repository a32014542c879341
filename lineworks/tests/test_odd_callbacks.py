"""Signed callbacks with odd but valid JSON: a document nested thousands of levels deep, and
text holding a lone surrogate (``"\\ud800"``, a legal JSON escape that PostgreSQL cannot
store). Both are kept as received; neither may end in a 500 or an event failing for ever."""

from __future__ import annotations

import json

import pytest

from conftest import login
from lineworks.models import InboundEvent, InboundStatus
from lineworks.signature import sign
from lineworks.tests.conftest import BOT_ID, BOT_SECRET, reply_texts
from reports.models import Report

pytestmark = pytest.mark.django_db

A_USER, A_ROOM = "lw-a-1", "ch-mabi-shelter"


def _headers(body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-WORKS-BotId": BOT_ID,
        "X-WORKS-Signature": sign(BOT_SECRET, body),
    }


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"type":"message","content":' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}",
        b'{"type":"message","x":' + b"[" * 100 + b"]" * 100 + b"}",
    ],
    ids=["array-5000", "object-5000", "array-100"],
)
def test_deeply_nested_json_is_stored_raw_then_refused(talk, reporter_a, body):
    response = talk.post(body, _headers(body))

    assert response.status_code == 400
    event = InboundEvent.objects.get()
    assert event.body == body.decode()  # the raw body, kept for HQ and the auditors
    assert event.status == InboundStatus.IGNORED
    assert event.outcome == "invalid:json_too_deep"
    assert Report.objects.count() == 0
    # Sent again: stored once, still refused.
    assert talk.post(body, _headers(body)).status_code == 400
    assert InboundEvent.objects.count() == 1


def test_a_lone_surrogate_in_a_text_is_stored_and_filed_with_it_replaced(talk, reporter_a, hq_user):
    event = talk.fake.member_event(
        user_id=A_USER,
        channel_id=A_ROOM,
        content={"type": "text", "text": "15時現在の避難者数 35名 \ud800 箭田小学校"},
    )
    body = json.dumps(event).encode()  # ASCII, the surrogate as the escape \ud800
    assert b"\\ud800" in body

    response = talk.post(body, _headers(body))

    assert response.status_code == 200
    stored = InboundEvent.objects.get()
    assert stored.body == body.decode()  # byte for byte, the escape included
    assert stored.status == InboundStatus.DONE
    report = Report.objects.get()
    assert report.current_revision.text == "15時現在の避難者数 35名 \ufffd 箭田小学校"
    assert report.current_revision.fields["count"] == 35
    replies = reply_texts(talk.fake.messages(channel_id=A_ROOM))
    assert report.number in replies[0]
    # HQ sees it like any other report.
    page = login(hq_user).get(f"/reports/{report.pk}/")
    assert page.status_code == 200
    assert "35名 \ufffd 箭田小学校" in page.content.decode()


def test_a_lone_surrogate_in_the_sender_id_is_kept_for_hq(talk, hq_user):
    event = talk.fake.member_event(
        user_id="lw-\udc80-x", channel_id=A_ROOM, content={"type": "text", "text": "避難者数 3名"}
    )
    body = json.dumps(event).encode()

    response = talk.post(body, _headers(body))

    assert response.status_code == 200
    stored = InboundEvent.objects.get()
    assert stored.status == InboundStatus.UNMATCHED
    assert stored.source_user_id == "lw-\ufffd-x"
    page = login(hq_user).get("/lineworks/unmatched/")
    assert page.status_code == 200
    assert "lw-\ufffd-x" in page.content.decode()


def test_an_event_that_failed_on_a_surrogate_is_filed_when_hq_retries_it(talk, reporter_a, hq_user):
    """Such events ended ``failed`` before; HQ's 再処理 on the outbox page now files them."""
    from django.test import Client

    event = talk.fake.member_event(
        user_id=A_USER, channel_id=A_ROOM, content={"type": "text", "text": "避難者数 12名\ud800"}
    )
    body = json.dumps(event).encode()
    headers = _headers(body)
    Client().post(  # stored, but its processing never ran (nothing committed)
        "/lineworks/callback",
        data=body,
        content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )
    stored = InboundEvent.objects.get()
    InboundEvent.objects.filter(pk=stored.pk).update(
        status=InboundStatus.FAILED, attempts=5, last_error="UnicodeEncodeError: surrogates"
    )
    hq = login(hq_user)
    assert "UnicodeEncodeError" in hq.get("/lineworks/outbox/").content.decode()

    with talk.capture(execute=True):
        assert hq.post(f"/lineworks/inbound/{stored.pk}/retry").status_code == 302

    stored.refresh_from_db()
    assert stored.status == InboundStatus.DONE
    assert Report.objects.get().current_revision.text == "避難者数 12名\ufffd"
