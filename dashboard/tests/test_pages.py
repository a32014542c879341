"""Dashboard pages and HQ actions: who may see and do what, and what the actions record."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from conftest import login
from dashboard.tests import helpers
from notices.models import Notice, NoticeKind
from reports import services
from reports.models import IncidentStatus, ReportStatus

pytestmark = pytest.mark.django_db

READERS = {"hq": 200, "auditor": 200, "reporter_a": 403, "stranger": 403}


def _expect(response, status: int) -> None:
    assert response.status_code == status, (response.status_code, response.content[:300])


@pytest.mark.parametrize(("role", "status"), READERS.items())
@pytest.mark.parametrize("name", ["dashboard:index", "dashboard:print", "dashboard:incidents"])
def test_dashboard_pages_are_for_hq_and_auditors(cast, role, status, name):
    _expect(login(cast[role]).get(reverse(name)), status)


@pytest.mark.parametrize("name", ["dashboard:index", "dashboard:print", "dashboard:incidents"])
def test_anonymous_is_sent_to_the_login_form(name):
    response = login(None).get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(("role", "status"), READERS.items())
def test_incident_page_readers(cast, hq_user, role, status):
    incident = services.incident_open(user=hq_user, title="倉敷川 越水")
    _expect(login(cast[role]).get(reverse("dashboard:incident_detail", args=[incident.pk])), status)


@pytest.mark.parametrize(
    ("role", "status"),
    [("hq", 200), ("auditor", 200), ("reporter_a", 200), ("stranger", 403)],
)
@pytest.mark.parametrize(
    "url",
    ["/api/v1/situation/", "/api/v1/map/", "/api/v1/map/places/", "/api/v1/situation/series/"],
)
def test_situation_endpoints_are_readable_by_every_role_but_strangers(cast, role, status, url):
    _expect(login(cast[role]).get(url), status)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/situation/",
        "/api/v1/map/",
        "/api/v1/map/places/",
        "/api/v1/situation/series/",
        "/api/v1/timeline/",
        "/api/v1/notices/",
    ],
)
def test_api_refuses_anonymous_in_the_error_shape(url):
    response = login(None).get(url)
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("role", "status"),
    [("hq", 200), ("auditor", 200), ("reporter_a", 403), ("stranger", 403)],
)
def test_timeline_is_for_hq_and_auditors(cast, role, status):
    response = login(cast[role]).get("/api/v1/timeline/")
    _expect(response, status)
    if status == 403:
        assert response.json()["error"]["code"] == "permission_denied"


def test_dashboard_page_hands_the_script_its_endpoints(hq_user, agency_a):
    response = login(hq_user).get(reverse("dashboard:index"))
    html = response.content.decode()
    assert 'id="dashboard-config"' in html
    for url in ("/api/v1/situation/", "/api/v1/map/", "/api/v1/timeline/"):
        assert url in html
    assert "leaflet/leaflet.js" in html
    assert "vendor/leaflet.markercluster/leaflet.markercluster.js" in html
    assert "真備地区避難所運営班" in html  # the agency filter


def test_print_report_shows_the_figures_as_of_a_time(hq_user, reporter_a, agency_a):
    from django.utils import timezone

    report = helpers.evacuees(reporter_a, agency_a, 1234)
    before = timezone.localtime()
    services.report_correct(
        report=report,
        author=reporter_a,
        reason="再集計",
        fields={"facility": "箭田小学校", "count": 1300},
    )
    client = login(hq_user)
    now_html = client.get(reverse("dashboard:print")).content.decode()
    assert "状況報告書" in now_html and "1,300" in now_html
    past_html = client.get(
        reverse("dashboard:print"), {"as_of": before.isoformat()}
    ).content.decode()
    assert "1,234" in past_html and "1,300" not in past_html
    bad = client.get(reverse("dashboard:print"), {"as_of": "きのう"})
    assert bad.status_code == 200
    assert "日時の指定が正しくない" in bad.content.decode()


# --- HQ actions -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["auditor", "reporter_a", "stranger"])
def test_only_hq_acknowledges_links_and_reminds(cast, hq_user, reporter_a, agency_a, role):
    report = helpers.evacuees(reporter_a, agency_a, 10)
    incident = services.incident_open(user=hq_user, title="浸水")
    client = login(cast[role])
    urls = [
        (reverse("dashboard:report_acknowledge", args=[report.pk]), {}),
        (reverse("dashboard:report_link", args=[report.pk]), {"incident": incident.pk}),
        (reverse("dashboard:remind", args=[agency_a.code]), {}),
        (reverse("dashboard:incidents"), {"title": "勝手な登録"}),
        (
            reverse("dashboard:incident_detail", args=[incident.pk]),
            {"form": "close"},
        ),
    ]
    for url, data in urls:
        _expect(client.post(url, data), 403)
    report.refresh_from_db()
    incident.refresh_from_db()
    assert report.status == ReportStatus.NEW and report.incident is None
    assert incident.status == IncidentStatus.OPEN
    assert not Notice.objects.exists()


def test_hq_acknowledges_a_report_from_the_dashboard(hq_user, reporter_a, agency_a):
    report = helpers.evacuees(reporter_a, agency_a, 10)
    response = login(hq_user).post(
        reverse("dashboard:report_acknowledge", args=[report.pk]), HTTP_ACCEPT="application/json"
    )
    assert response.json() == {"report": report.pk, "status": "acknowledged"}
    report.refresh_from_db()
    assert report.acknowledged_by == hq_user
    timeline = login(hq_user).get("/api/v1/timeline/").json()["results"]
    assert timeline[0]["action"] == "report.acknowledge"
    assert timeline[0]["report_status"] == "acknowledged"


def test_hq_links_a_report_to_an_incident_and_unlinks_it(hq_user, reporter_a, agency_a):
    report = helpers.evacuees(reporter_a, agency_a, 10)
    incident = services.incident_open(user=hq_user, title="真備 浸水")
    client = login(hq_user)
    url = reverse("dashboard:report_link", args=[report.pk])
    assert client.post(url, {"incident": incident.pk}, HTTP_ACCEPT="application/json").json() == {
        "report": report.pk,
        "incident": incident.pk,
    }
    report.refresh_from_db()
    assert report.incident == incident
    client.post(url, {"incident": ""}, HTTP_ACCEPT="application/json")
    report.refresh_from_db()
    assert report.incident is None
    # Both are audit events from the web, each holding the report's state after it.
    from audit.models import AuditEvent
    from audit.services import verify_chain

    events = AuditEvent.objects.filter(action="report.link_incident", object_id=str(report.pk))
    assert [
        (e.channel, e.payload["to"], e.payload["states"][0]["record"]["incident"])
        for e in events.order_by("id")
    ] == [("web", incident.pk, incident.pk), ("web", None, None)]
    assert verify_chain().ok
    bad = client.post(url, {"incident": 999999}, HTTP_ACCEPT="application/json")
    assert bad.status_code == 400
    assert "incident" in bad.json()["error"]["fields"]


def test_hq_opens_updates_links_and_closes_an_incident(hq_user, reporter_a, agency_a, districts):
    client = login(hq_user)
    response = client.post(
        reverse("dashboard:incidents"),
        {
            "title": "国道486号 土砂崩れ",
            "description": "箭田付近",
            "district": districts["mabi"].pk,
        },
    )
    assert response.status_code == 302
    incident_url = response["Location"]
    report = helpers.evacuees(reporter_a, agency_a, 10)

    linked = client.post(incident_url, {"form": "link", "number": report.number}, follow=True)
    assert report.number in linked.content.decode()
    report.refresh_from_db()
    assert report.incident_id is not None

    missing = client.post(incident_url, {"form": "link", "number": "R-999999"})
    assert "見つかりません" in missing.content.decode()

    client.post(
        incident_url,
        {
            "form": "update",
            "title": "国道486号 土砂崩れ（片側通行）",
            "description": "",
            "status": "monitoring",
        },
    )
    client.post(incident_url, {"form": "close"})
    incident = report.incident
    incident.refresh_from_db()
    assert incident.title == "国道486号 土砂崩れ（片側通行）"
    assert incident.status == IncidentStatus.CLOSED
    actions = list(
        AuditEvent.objects.filter(action__startswith="incident.").values_list("action", flat=True)
    )
    assert actions == ["incident.open", "incident.update", "incident.close"]
    page = client.get(incident_url).content.decode()
    assert "終了" in page and report.number in page


def test_incident_form_errors_are_shown_in_japanese(hq_user):
    response = login(hq_user).post(reverse("dashboard:incidents"), {"title": ""})
    assert response.status_code == 200
    assert "この項目は必須です" in response.content.decode()


def test_one_click_reminder_to_a_silent_agency_goes_out_through_the_outbox(
    hq_user, reporter_a, agency_a
):
    from lineworks.models import OutboundMessage

    services.incident_open(user=hq_user, title="平成30年7月豪雨")
    response = login(hq_user).post(
        reverse("dashboard:remind", args=[agency_a.code]), HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 201
    notice = Notice.objects.get()
    assert notice.kind == NoticeKind.REMINDER
    assert [r.agency for r in notice.recipients.all()] == [agency_a]
    assert response.json()["url"] == reverse("notices:detail", args=[notice.pk])
    outbound = OutboundMessage.objects.filter(notice_recipient__notice=notice)
    assert outbound.count() == 1
    assert outbound.get().to_channel_id == agency_a.lineworks_channel_id
