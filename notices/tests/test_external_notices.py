"""Notices to an agency on another LINE WORKS tenant (the bot cannot be in its rooms): no
LINE WORKS message, the notice on the web for its reporters, and e-mail when configured."""

from __future__ import annotations

import socket

import pytest
from django.core import mail
from django.urls import reverse

from agencies.models import Agency, AgencyKind
from conftest import login, make_user
from lineworks.models import OutboundMessage
from notices.models import DeliveryStatus, Notice

pytestmark = pytest.mark.django_db

BODY = "倉敷市で震度5強を観測したため、全職員はあらかじめ決められた場所へ参集"


@pytest.fixture
def river(db) -> Agency:
    return Agency.objects.create(
        code="river-office",
        name="国土交通省 岡山河川事務所",
        kind=AgencyKind.WATERWAY,
        external_tenant=True,
        lineworks_channel_id="ch-river-external",  # registered by mistake: never used
        contact_email="kasen-bousai@okayama-river.example.jp",
    )


@pytest.fixture
def river_reporter(river):
    return make_user("river-1", role="agency_reporter", agency=river, name="河川 担当")


def send(client, *agencies, capture) -> Notice:
    with capture(execute=True):
        response = client.post(
            reverse("notices:new"),
            {
                "kind": "muster",
                "title": "全職員参集",
                "body": BODY,
                "agencies": [a.pk for a in agencies],
            },
        )
    assert response.status_code == 302, response.content.decode()[:500]
    return Notice.objects.latest("created_at")


def test_external_agency_gets_the_notice_by_web_and_email_not_lineworks(
    settings, hq_user, agency_a, river, river_reporter, django_capture_on_commit_callbacks
):
    settings.NOTICE_EMAIL_ENABLED = True
    settings.SITE_URL = "https://bousai-portal.example.jp"
    notice = send(login(hq_user), agency_a, river, capture=django_capture_on_commit_callbacks)

    channels = set(OutboundMessage.objects.values_list("to_channel_id", flat=True))
    assert "ch-mabi-shelter" in channels and "ch-river-external" not in channels

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["kasen-bousai@okayama-river.example.jp"]
    assert message.subject == "【参集命令】全職員参集"
    assert "国土交通省 岡山河川事務所 御中" in message.body and BODY in message.body
    assert f"https://bousai-portal.example.jp/notices/{notice.pk}/" in message.body
    recipient = notice.recipients.get(agency=river)
    assert recipient.delivery_status == DeliveryStatus.EMAILED
    assert recipient.delivered_at is not None

    # The notice page shows it, and the agency's reporter reads and acknowledges on the web.
    page = login(hq_user).get(reverse("notices:detail", args=[notice.pk])).content.decode()
    assert "メール送信済み" in page
    client = login(river_reporter)
    assert "全職員参集" in client.get(reverse("notices:list")).content.decode()
    assert client.post(reverse("notices:acknowledge", args=[notice.pk])).status_code == 302
    recipient.refresh_from_db()
    assert recipient.acknowledged_via == "web"

    # Delivered twice? The task is safe to run again.
    from notices.email import notice_email_deliver

    assert notice_email_deliver(recipient.pk) == "skipped"
    assert len(mail.outbox) == 1


def test_without_email_configured_the_notice_stays_on_the_web(
    settings, hq_user, river, river_reporter, django_capture_on_commit_callbacks
):
    settings.NOTICE_EMAIL_ENABLED = False
    notice = send(login(hq_user), river, capture=django_capture_on_commit_callbacks)
    assert mail.outbox == []
    assert not OutboundMessage.objects.exists()
    assert notice.recipients.get().delivery_status == DeliveryStatus.NO_CHANNEL
    page = login(river_reporter).get(reverse("notices:detail", args=[notice.pk]))
    assert BODY in page.content.decode()


def test_an_unreachable_mail_server_marks_the_recipient_failed(
    settings, hq_user, river, django_capture_on_commit_callbacks
):
    with socket.socket() as probe:  # a local port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.NOTICE_EMAIL_ENABLED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS, settings.EMAIL_TIMEOUT = False, 2
    notice = send(login(hq_user), river, capture=django_capture_on_commit_callbacks)
    recipient = notice.recipients.get()
    assert recipient.delivery_status == DeliveryStatus.FAILED
    assert "メールを送信できませんでした" in recipient.delivery_error
