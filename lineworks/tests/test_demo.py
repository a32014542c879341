"""The demo page: HQ (or admins) in demo mode type as a member; the fake posts the callback."""

from __future__ import annotations

import json
from unittest import mock

import pytest

from conftest import login

pytestmark = pytest.mark.django_db


def test_demo_page_is_for_hq_in_demo_mode_only(fake, settings, hq_user, reporter_a, auditor):
    settings.DEMO_MODE = True
    page = login(hq_user).get("/lineworks/demo/")
    assert page.status_code == 200
    agencies = json.loads(
        page.content.decode()
        .split('id="demo-agencies" type="application/json">')[1]
        .split("</script>")[0]
    )
    assert {a["channel"] for a in agencies} >= {"ch-hq", "ch-mabi-shelter"}
    assert login(reporter_a).get("/lineworks/demo/").status_code == 403
    assert login(auditor).get("/lineworks/demo/").status_code == 403
    assert login(None).get("/lineworks/demo/").status_code == 302

    settings.DEMO_MODE = False
    assert login(hq_user).get("/lineworks/demo/").status_code == 404
    assert login(hq_user).post("/lineworks/demo/send", {}).status_code == 404


def test_demo_send_asks_the_fake_to_play_the_member(fake, settings, hq_user, reporter_a):
    settings.DEMO_MODE = True
    member = reporter_a.member
    sent = {}

    def fake_post(method, url, **kwargs):
        sent.update(url=url, payload=kwargs.get("json"))
        response = mock.Mock()
        response.json.return_value = {"status": 200}
        return response

    client = login(hq_user)
    with mock.patch("lineworks.views._fake", side_effect=fake_post):
        response = client.post(
            "/lineworks/demo/send",
            data=json.dumps(
                {"agency": "mabi-shelter", "member": member.pk, "kind": "text", "text": "35名"}
            ),
            content_type="application/json",
        )
    assert response.status_code == 200 and response.json() == {"status": 200}
    assert sent["url"] == f"{fake.url}/_fake/play"
    assert sent["payload"]["userId"] == "lw-a-1"
    assert sent["payload"]["channelId"] == "ch-mabi-shelter"
    assert sent["payload"]["content"] == {"type": "text", "text": "35名"}
    assert sent["payload"]["callbackUrl"] == "http://testserver/lineworks/callback"


def test_demo_send_needs_csrf(fake, settings, hq_user):
    from django.test import Client

    settings.DEMO_MODE = True
    client = Client(enforce_csrf_checks=True)
    client.force_login(hq_user)
    response = client.post("/lineworks/demo/send", data="{}", content_type="application/json")
    assert response.status_code == 403


def test_demo_feed_shows_the_bots_replies_and_the_situation(
    fake, settings, talk, hq_user, reporter_a
):
    settings.DEMO_MODE = True
    talk.say("lw-a-1", "ch-mabi-shelter", "15時現在の避難者数 35名")
    feed = login(hq_user).get("/lineworks/demo/feed", {"channel": "ch-mabi-shelter"}).json()
    [item] = feed["items"]
    assert item["from"] == "bot" and "受付番号" in item["content"]["text"]
    assert feed["situation"]["evacuees"] == 35
    assert login(hq_user).get("/lineworks/demo/feed", {"channel": "nope"}).status_code == 400
