"""Rotating the bot secret (docs/operator-guide.md §6): during the overlap callbacks signed
with the previous and with the new secret are both accepted; after it, only the new one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from lineworks.models import InboundEvent, InboundStatus
from lineworks.tests.conftest import BOT_SECRET
from reports.models import Report

OLD_SECRET = BOT_SECRET
NEW_SECRET = "bot-secret-after-rotation-9876543210"
A_USER, A_ROOM = "lw-a-1", "ch-mabi-shelter"

pytestmark = pytest.mark.django_db


def _post(fake, text: str, secret: str, capture) -> int:
    event = fake.member_event(
        user_id=A_USER, channel_id=A_ROOM, content={"type": "text", "text": text}
    )
    body, headers = fake.signed(event, secret=secret)
    with capture(execute=True):
        response = Client().post(
            "/lineworks/callback",
            data=body,
            content_type=headers["Content-Type"],
            headers={k: v for k, v in headers.items() if k != "Content-Type"},
        )
    return response.status_code


def test_rotation_accepts_both_secrets_in_the_overlap_and_only_the_new_one_after(
    fake, reporter_a, settings, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    # Before: only the current secret.
    assert _post(fake, "15時現在の避難者数 40名", OLD_SECRET, capture) == 200
    assert _post(fake, "15時現在の避難者数 41名", NEW_SECRET, capture) == 403

    # The overlap: the new secret is current, the old one still accepted for an hour.
    settings.LINEWORKS_BOT_SECRET = NEW_SECRET
    settings.LINEWORKS_BOT_SECRET_PREVIOUS = OLD_SECRET
    settings.LINEWORKS_BOT_SECRET_PREVIOUS_UNTIL = (timezone.now() + timedelta(hours=1)).isoformat()
    assert _post(fake, "16時現在の避難者数 52名", OLD_SECRET, capture) == 200
    assert _post(fake, "16時10分現在の避難者数 55名", NEW_SECRET, capture) == 200
    assert _post(fake, "16時20分現在の避難者数 56名", "a-guessed-secret", capture) == 403

    # After the overlap (the end time has passed): the old secret is refused.
    settings.LINEWORKS_BOT_SECRET_PREVIOUS_UNTIL = (
        timezone.now() - timedelta(seconds=1)
    ).isoformat()
    assert _post(fake, "17時現在の避難者数 60名", OLD_SECRET, capture) == 403
    assert _post(fake, "17時05分現在の避難者数 61名", NEW_SECRET, capture) == 200

    # And once the previous secret is removed from the settings.
    settings.LINEWORKS_BOT_SECRET_PREVIOUS = ""
    settings.LINEWORKS_BOT_SECRET_PREVIOUS_UNTIL = ""
    assert _post(fake, "18時現在の避難者数 62名", OLD_SECRET, capture) == 403
    assert _post(fake, "18時05分現在の避難者数 63名", NEW_SECRET, capture) == 200

    # Exactly the accepted callbacks were stored and filed as reports; nothing else.
    stored = list(InboundEvent.objects.order_by("id").values_list("status", flat=True))
    assert stored == [InboundStatus.DONE] * 5
    counts = sorted(r.current_revision.fields["count"] for r in Report.objects.all())
    assert counts == [40, 52, 55, 61, 63]


def test_previous_secret_without_an_end_time_is_accepted_while_set(
    fake, reporter_a, settings, django_capture_on_commit_callbacks
):
    settings.LINEWORKS_BOT_SECRET = NEW_SECRET
    settings.LINEWORKS_BOT_SECRET_PREVIOUS = OLD_SECRET
    settings.LINEWORKS_BOT_SECRET_PREVIOUS_UNTIL = ""
    capture = django_capture_on_commit_callbacks
    assert _post(fake, "避難者数 12名", OLD_SECRET, capture) == 200
    assert _post(fake, "避難者数 13名", NEW_SECRET, capture) == 200


def test_an_unreadable_end_time_accepts_only_the_current_secret(
    fake, reporter_a, settings, django_capture_on_commit_callbacks
):
    settings.LINEWORKS_BOT_SECRET = NEW_SECRET
    settings.LINEWORKS_BOT_SECRET_PREVIOUS = OLD_SECRET
    settings.LINEWORKS_BOT_SECRET_PREVIOUS_UNTIL = "来週の月曜"
    capture = django_capture_on_commit_callbacks
    assert _post(fake, "避難者数 12名", OLD_SECRET, capture) == 403
    assert _post(fake, "避難者数 13名", NEW_SECRET, capture) == 200
