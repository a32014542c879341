"""Notices through HTTP: HQ sends, agencies acknowledge, the notice page shows who did."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conftest import login
from notices.models import DeliveryStatus, Notice, NoticeKind
from notices.services import notice_acknowledge, notice_mark_delivery, notice_send

pytestmark = pytest.mark.django_db

API = "/api/v1/notices/"


def muster(hq_user, *agencies) -> Notice:
    return notice_send(
        user=hq_user,
        kind=NoticeKind.MUSTER,
        title="全職員参集",
        body="倉敷市で震度5強を観測したため、全職員はあらかじめ決められた場所へ参集",
        agencies=agencies,
    )


def test_hq_sends_a_notice_and_every_recipient_starts_pending(hq_user, agency_a, agency_b):
    response = login(hq_user).post(
        API,
        {
            "kind": "dispatch_request",
            "title": "保健師派遣要請",
            "body": "二万小学校避難所からの要請により、要配慮者対応のため保健師2名を派遣",
            "agencies": [agency_a.code, agency_b.code],
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["kind"] == "dispatch_request"
    assert data["kind_label"] == "派遣要請"
    assert data["counts"] == {"recipients": 2, "sent": 0, "failed": 0, "acknowledged": 0}
    recipients = {r["agency"]: r for r in data["recipients"]}
    assert set(recipients) == {"mabi-shelter", "chuden-kurashiki"}
    for row in recipients.values():
        assert row["delivery_status"] == DeliveryStatus.PENDING
        assert row["acknowledged"] is False
    assert data["url"] == reverse("notices:detail", args=[data["id"]])


def test_notice_to_all_agencies_skips_hq_and_inactive(hq_user, agency_a, agency_b, hospital_agency):
    hospital_agency.active = False
    hospital_agency.save()
    response = login(hq_user).post(
        API,
        {"kind": "info", "title": "周知", "body": "小田川の水位が上昇しています。", "all": True},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert {r["agency"] for r in response.json()["recipients"]} == {
        "mabi-shelter",
        "chuden-kurashiki",
    }


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (
            {"kind": "muster", "title": "参集", "body": "参集してください", "agencies": []},
            "agencies",
        ),
        ({"kind": "muster", "title": "参集", "body": "参集", "agencies": ["nobody"]}, "agencies"),
        ({"kind": "order", "title": "参集", "body": "参集", "all": True}, "kind"),
        ({"kind": "info", "title": "", "body": "本文", "all": True}, "title"),
        ({"kind": "info", "title": "件名", "body": "あ" * 1501, "all": True}, "body"),
        (
            {"kind": "info", "title": "件名", "body": "本文", "all": True, "incident": 99999},
            "incident",
        ),
    ],
)
def test_bad_notice_names_the_field(hq_user, agency_a, payload, field):
    response = login(hq_user).post(API, payload, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not Notice.objects.exists()


@pytest.mark.parametrize("role", ["auditor", "reporter_a", "stranger"])
def test_only_hq_sends_notices(cast, agency_a, role):
    client = login(cast[role])
    api = client.post(
        API,
        {"kind": "info", "title": "周知", "body": "本文", "all": True},
        content_type="application/json",
    )
    assert api.status_code == 403
    page = client.post(reverse("notices:new"), {"kind": "info", "title": "周知", "body": "本文"})
    assert page.status_code == 403
    assert not Notice.objects.exists()


def test_acknowledgement_shows_on_the_notice_page_and_api(hq_user, agency_a, agency_b, reporter_a):
    notice = muster(hq_user, agency_a, agency_b)
    detail_api = reverse("api-notice-detail", args=[notice.pk])
    client = login(hq_user)
    first = client.get(detail_api)
    etag = first["ETag"]
    assert client.get(detail_api, HTTP_IF_NONE_MATCH=etag).status_code == 304

    notice_acknowledge(notice=notice, agency=agency_a, user=reporter_a, via="lineworks")
    recipient_b = notice.recipients.get(agency=agency_b)
    notice_mark_delivery(recipient_id=recipient_b.pk, delivered=True)

    second = client.get(detail_api, HTTP_IF_NONE_MATCH=etag)
    assert second.status_code == 200
    rows = {r["agency"]: r for r in second.json()["recipients"]}
    assert rows["mabi-shelter"]["acknowledged"] is True
    assert rows["mabi-shelter"]["acknowledged_by"] == "reporter-a"
    assert rows["mabi-shelter"]["acknowledged_via"] == "lineworks"
    assert rows["chuden-kurashiki"]["acknowledged"] is False
    assert rows["chuden-kurashiki"]["delivery_status"] == "sent"
    assert second.json()["counts"]["acknowledged"] == 1

    page = client.get(reverse("notices:detail", args=[notice.pk])).content.decode()
    row_a = page[page.index('data-agency="mabi-shelter"') :][:600]
    row_b = page[page.index('data-agency="chuden-kurashiki"') :][:600]
    assert "status-ack" in row_a and "了解" in row_a
    assert "未了解" in row_b and "送信済み" in row_b


def test_reporter_acknowledges_on_the_web_once(hq_user, agency_a, reporter_a):
    notice = muster(hq_user, agency_a)
    client = login(reporter_a)
    page = client.get(reverse("notices:detail", args=[notice.pk])).content.decode()
    assert reverse("notices:acknowledge", args=[notice.pk]) in page
    response = client.post(reverse("notices:acknowledge", args=[notice.pk]))
    assert response.status_code == 302
    recipient = notice.recipients.get()
    first_at = recipient.acknowledged_at
    assert recipient.acknowledged_via == "web"
    again = client.post(reverse("api-notice-acknowledge", args=[notice.pk]))
    assert again.status_code == 200
    recipient.refresh_from_db()
    assert recipient.acknowledged_at == first_at


def test_reporter_sees_only_notices_to_their_agency_and_only_their_row(
    hq_user, agency_a, agency_b, reporter_a, reporter_b
):
    both = muster(hq_user, agency_a, agency_b)
    only_b = muster(hq_user, agency_b)
    client = login(reporter_a)
    listed = client.get(API).json()
    assert [n["id"] for n in listed["results"]] == [both.pk]
    detail = client.get(reverse("api-notice-detail", args=[both.pk])).json()
    assert [r["agency"] for r in detail["recipients"]] == ["mabi-shelter"]
    assert client.get(reverse("api-notice-detail", args=[only_b.pk])).status_code == 404
    assert client.get(reverse("notices:detail", args=[only_b.pk])).status_code == 404
    not_recipient = client.post(reverse("api-notice-acknowledge", args=[only_b.pk]))
    assert not_recipient.status_code == 404


@pytest.mark.parametrize(
    ("role", "status"), [("hq", 200), ("auditor", 200), ("reporter_a", 200), ("stranger", 403)]
)
def test_notice_pages_per_role(cast, hq_user, agency_a, role, status):
    notice = muster(hq_user, agency_a)
    client = login(cast[role])
    assert client.get(reverse("notices:list")).status_code == status
    assert client.get(reverse("notices:detail", args=[notice.pk])).status_code == status
    assert client.get(API).status_code == status
    new_status = 200 if role == "hq" else 403
    assert client.get(reverse("notices:new")).status_code == new_status


def test_hq_sends_from_the_form(hq_user, agency_a, agency_b):
    client = login(hq_user)
    response = client.post(
        reverse("notices:new"),
        {
            "kind": "muster",
            "title": "全職員参集",
            "body": "倉敷市で震度5強を観測したため、全職員はあらかじめ決められた場所へ参集",
            "agencies": [agency_b.pk],
        },
    )
    notice = Notice.objects.get()
    assert response["Location"] == reverse("notices:detail", args=[notice.pk])
    assert [r.agency for r in notice.recipients.all()] == [agency_b]
    empty = client.post(reverse("notices:new"), {"kind": "info", "title": "周知", "body": "本文"})
    assert "送信先の機関を選ぶか" in empty.content.decode()


def test_notice_list_counts(hq_user, agency_a, agency_b, reporter_a):
    notice = muster(hq_user, agency_a, agency_b)
    notice_acknowledge(notice=notice, agency=agency_a, user=reporter_a, via="lineworks")
    page = login(hq_user).get(reverse("notices:list")).content.decode()
    assert "全職員参集" in page
    assert "1 / 2" in page
