"""A sign-in lockout is about the web login only: the same member keeps reporting through
LINE WORKS (the bot acts for the Member its LINE WORKS id maps to, without a password)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from lineworks.tests.conftest import reply_texts
from reports.models import Report

pytestmark = pytest.mark.django_db


def test_member_locked_out_of_the_web_still_reports_through_lineworks(talk, reporter_a):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        Client().post("/accounts/login/", {"username": "reporter-a", "password": "違うパスワード"})
    locked = Client().post(
        "/accounts/login/", {"username": "reporter-a", "password": "correct-horse-battery"}
    )
    assert locked.status_code == 429

    result = talk.say("lw-a-1", "ch-mabi-shelter", "15時現在 箭田小学校 避難者数 42名")
    assert result["response"].status_code == 200
    report = Report.objects.get()
    assert report.author == reporter_a
    assert any(report.number in text for text in reply_texts(result["replies"]))
