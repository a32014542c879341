"""The reports API through HTTP: permissions for the whole cast, the revision flows, validation
errors that name the field, filters, token and session authentication, constant query counts."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from audit.models import AuditEvent
from conftest import login
from reports import services
from reports.models import (
    Incident,
    Report,
    ReportChannel,
    ReportRevision,
)

pytestmark = pytest.mark.django_db

API = "/api/v1"
ROLES = ("hq", "reporter_a", "reporter_b", "auditor", "stranger", "anonymous")

# A tiny but real PNG (1×1), so the photo path is the one a phone upload takes.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


def post(client: Client, path: str, body: dict | None = None, **extra):
    return client.post(path, json.dumps(body or {}), content_type="application/json", **extra)


def patch(client: Client, path: str, body: dict):
    return client.patch(path, json.dumps(body), content_type="application/json")


def assert_error(response, status: int, *, field: str | None = None) -> dict:
    """Every refusal answers with the one error shape; ``field`` must be named in it."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["message"]
    if field is not None:
        assert field in body["error"]["fields"], body
        assert all(isinstance(m, str) and m for m in body["error"]["fields"][field])
    return body["error"]


def evacuees_body(count: int = 42, **extra) -> dict:
    body = {
        "category": "evacuees",
        "fields": {"facility": "箭田小学校", "count": count, "households": 15},
        "text": f"箭田小学校 避難者{count}名（15世帯）",
        "observed_at": "2018-07-07T06:30:00+09:00",
    }
    body.update(extra)
    return body


@pytest.fixture
def report_a(reporter_a, agency_a) -> Report:
    return services.report_submit(
        agency=agency_a,
        author=reporter_a,
        category="evacuees",
        fields={"facility": "箭田小学校", "count": 120, "households": 48},
        text="箭田小学校 避難者120名 48世帯",
        observed_at=timezone.now() - timedelta(hours=2),
        channel=ReportChannel.WEB,
    )


@pytest.fixture
def report_b(reporter_b, agency_b) -> Report:
    return services.report_submit(
        agency=agency_b,
        author=reporter_b,
        category="outage",
        fields={
            "areas": [
                {"area": "真備町箭田", "households": 1200},
                {"area": "玉島", "households": 340},
            ],
            "restoration": "未定",
        },
        text="停電情報 ①真備町箭田：1,200世帯 ②玉島：340世帯 復旧見込みは未定",
        observed_at=timezone.now() - timedelta(hours=1),
        channel=ReportChannel.LINEWORKS,
    )


@pytest.fixture
def incident(hq_user, districts) -> Incident:
    return services.incident_open(
        user=hq_user,
        title="小田川決壊（真備町）",
        description="小田川の堤防が決壊、真備町箭田・有井で浸水",
        district=districts["mabi"],
    )


# --- Permission matrix --------------------------------------------------------------------


def _matrix(**statuses: int) -> dict[str, int]:
    assert set(statuses) == set(ROLES)
    return statuses


UNAUTH = {"stranger": 403, "anonymous": 401}
READ_ALL = _matrix(hq=200, reporter_a=200, reporter_b=200, auditor=200, **UNAUTH)
READ_A = _matrix(hq=200, reporter_a=200, reporter_b=404, auditor=200, **UNAUTH)
WRITE_A = _matrix(hq=201, reporter_a=201, reporter_b=404, auditor=403, **UNAUTH)
HQ_ON_A = _matrix(hq=200, reporter_a=403, reporter_b=404, auditor=403, **UNAUTH)
HQ_ONLY = _matrix(hq=200, reporter_a=403, reporter_b=403, auditor=403, **UNAUTH)

# (name, method, path template, body, expected status per role)
ENDPOINTS = [
    ("list reports", "get", "/reports/", None, READ_ALL),
    (
        "create for agency A",
        "post",
        "/reports/",
        evacuees_body(agency="mabi-shelter"),
        _matrix(hq=201, reporter_a=201, reporter_b=403, auditor=403, **UNAUTH),
    ),
    ("read A's report", "get", "/reports/{a}/", None, READ_A),
    ("A's revisions", "get", "/reports/{a}/revisions/", None, READ_A),
    (
        "correct A's report",
        "post",
        "/reports/{a}/corrections/",
        {"reason": "集計誤り", "fields": {"facility": "箭田小学校", "count": 135}},
        WRITE_A,
    ),
    ("withdraw A's report", "post", "/reports/{a}/withdrawal/", {"reason": "重複報告"}, WRITE_A),
    ("acknowledge A's report", "post", "/reports/{a}/acknowledge/", None, HQ_ON_A),
    ("link A's report", "post", "/reports/{a}/incident/", {"incident": "{i}"}, HQ_ON_A),
    ("list incidents", "get", "/incidents/", None, READ_ALL),
    (
        "open an incident",
        "post",
        "/incidents/",
        {"title": "県道60号 土砂崩れ", "district": "mabi"},
        _matrix(hq=201, reporter_a=403, reporter_b=403, auditor=403, **UNAUTH),
    ),
    ("read an incident", "get", "/incidents/{i}/", None, READ_ALL),
    ("update an incident", "patch", "/incidents/{i}/", {"status": "monitoring"}, HQ_ONLY),
]


def _fill(value, ids: dict[str, int]):
    if isinstance(value, str):
        for key, pk in ids.items():
            if value == "{" + key + "}":
                return pk
            value = value.replace("{" + key + "}", str(pk))
        return value
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _state() -> tuple:
    return (
        Report.objects.count(),
        ReportRevision.objects.count(),
        tuple(Report.objects.order_by("pk").values_list("status", "incident_id")),
        tuple(Incident.objects.order_by("pk").values_list("title", "status")),
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [pytest.param(*e[1:], id=e[0]) for e in ENDPOINTS],
)
def test_permission_matrix(cast, report_a, report_b, incident, role, method, path, body, expected):
    ids = {"a": report_a.pk, "i": incident.pk}
    client = login(cast[role])
    url = API + _fill(path, ids)
    before = _state()
    if method == "get":
        response = client.get(url)
    elif method == "post":
        response = post(client, url, _fill(body, ids))
    else:
        response = patch(client, url, _fill(body, ids))

    status = expected[role]
    if status >= 400:
        assert_error(response, status)
        assert _state() == before, "a refused request changed something"
    else:
        assert response.status_code == status, response.content
        if method != "get":
            assert _state() != before


def test_reporter_b_never_sees_agency_a_reports(reporter_b, report_a, report_b):
    body = login(reporter_b).get(f"{API}/reports/").json()
    assert body["count"] == 1
    assert [r["number"] for r in body["results"]] == [report_b.number]
    for suffix in ("", "revisions/"):
        assert_error(login(reporter_b).get(f"{API}/reports/{report_a.pk}/{suffix}"), 404)


def test_auditor_reads_everything_and_changes_nothing(auditor, report_a, report_b, incident):
    client = login(auditor)
    assert client.get(f"{API}/reports/").json()["count"] == 2
    assert client.get(f"{API}/reports/{report_b.pk}/revisions/").status_code == 200
    before = _state()
    for path, body in [
        ("/reports/", evacuees_body(agency="mabi-shelter")),
        ("/reports/", evacuees_body()),  # no agency of its own to default to
        (f"/reports/{report_b.pk}/corrections/", {"reason": "確認のため"}),
        (f"/reports/{report_b.pk}/withdrawal/", {"reason": "確認のため"}),
        (f"/reports/{report_b.pk}/acknowledge/", None),
        (f"/reports/{report_b.pk}/incident/", {"incident": incident.pk}),
        ("/incidents/", {"title": "監査テスト"}),
    ]:
        assert_error(post(client, API + path, body), 403)
    assert_error(patch(client, f"{API}/incidents/{incident.pk}/", {"status": "closed"}), 403)
    assert _state() == before


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_reports_are_never_edited_or_deleted_in_place(hq_user, report_a, method):
    response = getattr(login(hq_user), method)(
        f"{API}/reports/{report_a.pk}/", json.dumps({"text": "上書き"}), "application/json"
    )
    assert_error(response, 405)
    assert "GET" in response["Allow"]
    assert ReportRevision.objects.filter(report=report_a).count() == 1


def test_anonymous_gets_401_with_token_challenge(report_a):
    response = Client().get(f"{API}/reports/{report_a.pk}/")
    error = assert_error(response, 401)
    assert error["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"


def test_unknown_report_is_404_with_error_shape(hq_user):
    client = login(hq_user)
    for path in (
        "/reports/999999/",
        "/reports/99999999999999999999/revisions/",
        "/reports/R-000001/",
        "/reports/null,null/corrections/",
        "/incidents/١٢/",
    ):
        method = client.post if path.endswith("corrections/") else client.get
        assert_error(method(API + path), 404)
    assert_error(Client().get(f"{API}/incidents/abc/"), 401)  # authentication comes first


def test_outage_area_households_must_be_integers(reporter_b):
    body = {
        "category": "outage",
        "fields": {"areas": [{"area": "児島", "households": "約2,300"}]},
    }
    response = post(login(reporter_b), f"{API}/reports/", body)
    assert_error(response, 400, field="fields.areas[0].households")


# --- Authentication -----------------------------------------------------------------------


def test_create_with_token_from_drf_create_token(reporter_a, agency_a):
    out = io.StringIO()
    call_command("drf_create_token", "reporter-a", stdout=out)
    key = Token.objects.get(user=reporter_a).key
    assert key in out.getvalue()

    client = Client(enforce_csrf_checks=True)  # tokens need no CSRF token
    response = post(client, f"{API}/reports/", evacuees_body(), HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["agency"] == "mabi-shelter"  # defaults to the reporter's own agency
    assert body["agency_name"] == "真備地区避難所運営班"
    assert body["channel"] == "api"
    assert body["number"] == f"R-{body['id']:06d}"
    assert body["revision"] == 1
    assert body["fields"] == {"facility": "箭田小学校", "count": 42, "households": 15}
    assert body["facility"] == "yata-es"
    assert body["location"] == {"lat": 34.6371, "lng": 133.6921}  # the facility's
    assert body["observed_at"] == "2018-07-07T06:30:00+09:00"
    report = Report.objects.get(pk=body["id"])
    assert report.author == reporter_a
    assert report.current_revision.channel == ReportChannel.API


def test_bad_token_is_401(reporter_a):
    response = Client().get(f"{API}/reports/", HTTP_AUTHORIZATION="Token 0123456789abcdef")
    assert_error(response, 401)


def test_session_post_needs_csrf_token(reporter_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(reporter_a)
    refused = post(client, f"{API}/reports/", evacuees_body())
    assert "CSRF" in assert_error(refused, 403)["message"]
    assert Report.objects.count() == 0

    client.get("/accounts/login/")  # sets the csrftoken cookie, as the web pages do
    token = client.cookies["csrftoken"].value
    accepted = post(client, f"{API}/reports/", evacuees_body(), HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201, accepted.content


# --- Creating -----------------------------------------------------------------------------


def test_hq_creates_on_behalf_of_an_agency(hq_user, agency_b):
    body = {
        "agency": "chuden-kurashiki",
        "category": "outage",
        "fields": {"areas": [{"area": "水島", "households": 2300}], "restoration": "18時頃"},
        "text": "水島地区 2,300世帯停電 18時頃復旧見込み",
        "location": {"lat": 34.519, "lng": 133.737},
    }
    response = post(login(hq_user), f"{API}/reports/", body)
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["agency"] == "chuden-kurashiki"
    assert data["author"] == "hq-operator"
    assert data["fields"]["total_households"] == 2300
    assert data["location"] == {"lat": 34.519, "lng": 133.737}
    assert data["status"] == "new"
    assert data["incident"] is None
    # observed_at defaults to now, with Tokyo's offset
    assert data["observed_at"].endswith("+09:00")


def test_reporter_b_cannot_create_for_agency_a(reporter_b, agency_a):
    error = assert_error(
        post(login(reporter_b), f"{API}/reports/", evacuees_body(agency="mabi-shelter")), 403
    )
    assert error["code"] == "permission_denied"
    assert Report.objects.count() == 0


def test_reporter_cannot_link_a_new_report_to_an_incident(reporter_a, incident):
    before = AuditEvent.objects.count()
    response = post(login(reporter_a), f"{API}/reports/", evacuees_body(incident=incident.pk))
    error = assert_error(response, 403)
    assert "インシデントとの関連付けは本部のみです" in error["message"]
    assert not Report.objects.exists()
    assert AuditEvent.objects.count() == before


def test_hq_creates_a_report_linked_to_an_incident_with_an_audit_event(
    hq_user, hq_agency, incident
):
    response = post(login(hq_user), f"{API}/reports/", evacuees_body(incident=incident.pk))
    assert response.status_code == 201, response.content
    assert response.json()["incident"] == incident.pk
    report = Report.objects.get()
    link = AuditEvent.objects.get(action="report.link_incident", object_id=str(report.pk))
    assert link.actor == hq_user and link.channel == "api"
    assert (link.payload["from"], link.payload["to"]) == (None, incident.pk)
    [state] = link.payload["states"]
    assert state["record"]["incident"] == incident.pk
    # The revision's event holds the report before the link; the link's event after it.
    original = AuditEvent.objects.get(action="report.original")
    assert original.payload["states"][0]["record"]["incident"] is None
    assert original.pk < link.pk


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"fields": {"facility": "箭田小学校", "count": -5}}, "fields.count"),
        ({"fields": {"facility": "箭田小学校", "count": "三十五人くらい"}}, "fields.count"),
        ({"fields": {"facility": "箭田小学校", "count": [35]}}, "fields.count"),
        ({"fields": {"facility": "箭田小学校", "count": "35"}}, "fields.count"),
        ({"fields": {"facility": "箭田小学校", "count": True}}, "fields.count"),
        ({"fields": {"facility": "  ", "count": 35}}, "fields.facility"),
        ({"fields": {"facility": "箭田\x00小学校", "count": 35}}, "fields"),
        ({"fields": {"facility": "箭田小学校", "count": 35, "pets": 3}}, "fields.pets"),
        ({"fields": {"facility": "箭田小学校"}}, "fields.count"),
        ({"fields": "35名"}, "fields"),
        ({"category": "landslide"}, "category"),
        ({"observed_at": "2018-07-07T06:30:00"}, "observed_at"),
        ({"observed_at": "7月7日 6時半"}, "observed_at"),
        ({"observed_at": "2099-07-07T06:30:00+09:00"}, "observed_at"),
        ({"observed_at": "0026-01-22T16:10:07Z"}, "observed_at"),
        ({"location": {"lat": 134.6, "lng": 34.6}}, "location"),
        ({"agency": "no-such-agency"}, "agency"),
        ({"facility": "no-such-school"}, "facility"),
        ({"incident": 987654}, "incident"),
        ({"text": "避" * 5001}, "text"),
    ],
)
def test_create_validation_errors_name_the_field(reporter_a, change, field):
    response = post(login(reporter_a), f"{API}/reports/", evacuees_body(**change))
    error = assert_error(response, 400, field=field)
    assert error["code"] == "invalid"
    assert Report.objects.count() == 0


def test_service_validation_error_is_400_naming_the_field(reporter_a, agency_a):
    agency_a.active = False
    agency_a.save()
    response = post(login(reporter_a), f"{API}/reports/", evacuees_body())
    assert_error(response, 400, field="agency")


def test_general_report_needs_text(reporter_a):
    response = post(login(reporter_a), f"{API}/reports/", {"category": "general", "text": "  "})
    assert_error(response, 400, field="text")
    response = post(
        login(reporter_a),
        f"{API}/reports/",
        {"category": "general", "text": "給水車が到着しました"},
    )
    assert response.status_code == 201
    assert response.json()["fields"] == {}


def test_malformed_json_is_400_with_error_shape(reporter_a):
    response = login(reporter_a).post(
        f"{API}/reports/", '{"category": "evacuees",', content_type="application/json"
    )
    assert assert_error(response, 400)["code"] == "parse_error"


# --- Corrections, withdrawal, acknowledgement, incident links ------------------------------


def test_correction_keeps_earlier_revisions(reporter_a, hq_user, report_a):
    client = login(reporter_a)
    response = post(
        client,
        f"{API}/reports/{report_a.pk}/corrections/",
        {
            "reason": "集計誤り（二重計上）",
            "fields": {"facility": "箭田小学校", "count": 135, "households": 52},
            "observed_at": (timezone.now() - timedelta(minutes=30)).isoformat(),
        },
    )
    assert response.status_code == 201, response.content
    current = response.json()
    assert current["revision"] == 2
    assert current["fields"]["count"] == 135
    assert current["text"] == "箭田小学校 避難者120名 48世帯"  # not given: kept

    history = login(hq_user).get(f"{API}/reports/{report_a.pk}/revisions/").json()
    assert [r["number"] for r in history] == [1, 2]
    assert [r["kind"] for r in history] == ["original", "correction"]
    assert history[0]["fields"] == {"facility": "箭田小学校", "count": 120, "households": 48}
    assert history[0]["reason"] == ""
    assert history[0]["channel"] == "web"
    assert history[1]["fields"] == {"facility": "箭田小学校", "count": 135, "households": 52}
    assert history[1]["reason"] == "集計誤り（二重計上）"
    assert history[1]["channel"] == "api"
    assert history[1]["author"] == "reporter-a"
    assert history[1]["observed_at"] != history[0]["observed_at"]
    assert history[0]["location"] == {"lat": 34.6371, "lng": 133.6921}
    assert history[1]["recorded_at"] >= history[0]["recorded_at"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"fields": {"facility": "箭田小学校", "count": 10}}, "reason"),
        ({"reason": "   ", "fields": {"count": 10}}, "reason"),
        ({"reason": 12}, "reason"),
        ({"reason": "訂正", "fields": {"facility": "箭田小学校", "count": -1}}, "fields.count"),
        ({"reason": "訂正", "category": "outage"}, "fields"),
        ({"reason": "訂正", "observed_at": "2018-07-07 06:30"}, "observed_at"),
    ],
)
def test_correction_validation_errors_name_the_field(reporter_a, report_a, body, field):
    response = post(login(reporter_a), f"{API}/reports/{report_a.pk}/corrections/", body)
    assert_error(response, 400, field=field)
    assert ReportRevision.objects.filter(report=report_a).count() == 1


def test_reporter_b_cannot_correct_or_withdraw_a_report(reporter_b, report_a):
    client = login(reporter_b)
    for flow, body in [
        ("corrections", {"reason": "誤報", "text": "改ざん"}),
        ("withdrawal", {"reason": "誤報"}),
    ]:
        assert_error(post(client, f"{API}/reports/{report_a.pk}/{flow}/", body), 404)
    assert ReportRevision.objects.filter(report=report_a).count() == 1


def test_withdrawal_is_a_revision_and_ends_corrections(reporter_a, report_a):
    client = login(reporter_a)
    assert_error(post(client, f"{API}/reports/{report_a.pk}/withdrawal/", {}), 400, field="reason")
    response = post(
        client,
        f"{API}/reports/{report_a.pk}/withdrawal/",
        {"reason": "別の避難所の数値を誤って送信"},
    )
    assert response.status_code == 201
    assert response.json()["status"] == "withdrawn"
    assert response.json()["revision"] == 2

    history = client.get(f"{API}/reports/{report_a.pk}/revisions/").json()
    assert [r["kind"] for r in history] == ["original", "withdrawal"]
    assert history[0]["fields"]["count"] == 120  # what it said stays on record

    for flow in ("corrections", "withdrawal"):
        again = post(client, f"{API}/reports/{report_a.pk}/{flow}/", {"reason": "やはり正しい"})
        assert assert_error(again, 409)["code"] == "conflict"
    assert ReportRevision.objects.filter(report=report_a).count() == 2


def test_hq_acknowledges_once(hq_user, report_a):
    client = login(hq_user)
    first = post(client, f"{API}/reports/{report_a.pk}/acknowledge/")
    assert first.status_code == 200
    assert first.json()["status"] == "acknowledged"
    assert first.json()["acknowledged_at"] is not None
    second = post(client, f"{API}/reports/{report_a.pk}/acknowledge/")
    assert second.json()["acknowledged_at"] == first.json()["acknowledged_at"]


def test_hq_links_and_unlinks_incident(hq_user, reporter_a, report_a, incident):
    client = login(hq_user)
    linked = post(client, f"{API}/reports/{report_a.pk}/incident/", {"incident": incident.pk})
    assert linked.status_code == 200
    assert linked.json()["incident"] == incident.pk
    listed = login(reporter_a).get(f"{API}/reports/", {"incident": incident.pk}).json()
    assert [r["id"] for r in listed["results"]] == [report_a.pk]
    assert client.get(f"{API}/incidents/{incident.pk}/").json()["report_count"] == 1

    assert_error(
        post(client, f"{API}/reports/{report_a.pk}/incident/", {"incident": 424242}),
        400,
        field="incident",
    )
    assert_error(post(client, f"{API}/reports/{report_a.pk}/incident/", {}), 400, field="incident")

    unlinked = post(client, f"{API}/reports/{report_a.pk}/incident/", {"incident": None})
    assert unlinked.json()["incident"] is None


# --- Incidents ----------------------------------------------------------------------------


def test_incident_lifecycle(hq_user, reporter_a):
    client = login(hq_user)
    created = post(
        client,
        f"{API}/incidents/",
        {
            "title": "末政川 越水",
            "description": "真備町川辺付近で越水。住宅浸水のおそれ",
            "location": {"lat": 34.628, "lng": 133.713},
        },
    )
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["status"] == "open"
    assert data["opened_by"] == "hq-operator"
    assert data["location"] == {"lat": 34.628, "lng": 133.713}
    assert data["report_count"] == 0

    pk = data["id"]
    updated = patch(
        client, f"{API}/incidents/{pk}/", {"status": "closed", "title": "末政川 越水（収束）"}
    )
    assert updated.status_code == 200
    assert updated.json()["status"] == "closed"
    assert updated.json()["closed_at"] is not None
    assert updated.json()["title"] == "末政川 越水（収束）"

    seen = login(reporter_a).get(f"{API}/incidents/", {"status": "closed"}).json()
    assert [i["id"] for i in seen["results"]] == [pk]
    assert login(reporter_a).get(f"{API}/incidents/", {"status": "open"}).json()["count"] == 0


@pytest.mark.parametrize(
    ("method", "body", "field"),
    [
        ("post", {"description": "件名なし"}, "title"),
        ("post", {"title": "  "}, "title"),
        ("post", {"title": "浸水", "district": "atlantis"}, "district"),
        ("patch", {"status": "resolved"}, "status"),
        ("patch", {"title": ""}, "title"),
    ],
)
def test_incident_validation_errors_name_the_field(hq_user, incident, method, body, field):
    client = login(hq_user)
    if method == "post":
        response = post(client, f"{API}/incidents/", body)
    else:
        response = patch(client, f"{API}/incidents/{incident.pk}/", body)
    assert_error(response, 400, field=field)


# --- Listing and filters ------------------------------------------------------------------


@pytest.fixture
def varied_reports(hq_user, reporter_a, reporter_b, agency_a, agency_b, incident, hospital_agency):
    base = timezone.now().replace(microsecond=0) - timedelta(days=1)
    made = {}
    made["evac_early"] = services.report_submit(
        agency=agency_a,
        author=reporter_a,
        category="evacuees",
        fields={"facility": "箭田小学校", "count": 35},
        observed_at=base,
        channel=ReportChannel.WEB,
    )
    made["evac_late"] = services.report_submit(
        agency=agency_a,
        author=reporter_a,
        category="evacuees",
        fields={"facility": "箭田小学校", "count": 210},
        observed_at=base + timedelta(hours=6),
        channel=ReportChannel.API,
    )
    services.report_link_incident(report=made["evac_late"], incident=incident, user=hq_user)
    made["outage"] = services.report_submit(
        agency=agency_b,
        author=reporter_b,
        category="outage",
        fields={"areas": [{"area": "真備町有井", "households": 800}]},
        observed_at=base + timedelta(hours=3),
        channel=ReportChannel.LINEWORKS,
    )
    made["road"] = services.report_submit(
        agency=agency_b,
        author=hq_user,
        category="road_closure",
        fields={"road": "国道486号", "place": "真備町川辺", "cause": "flooding", "passable": False},
        observed_at=base + timedelta(hours=4),
        channel=ReportChannel.WEB,
    )
    services.report_acknowledge(report=made["road"], user=hq_user)
    return base, made


def _ids(client: Client, **params) -> set[int]:
    response = client.get(f"{API}/reports/", params)
    assert response.status_code == 200, response.content
    return {r["id"] for r in response.json()["results"]}


def test_filters(hq_user, varied_reports, incident):
    base, made = varied_reports
    client = login(hq_user)
    pk = {name: r.pk for name, r in made.items()}
    assert _ids(client) == set(pk.values())
    assert _ids(client, category="evacuees") == {pk["evac_early"], pk["evac_late"]}
    assert _ids(client, agency="chuden-kurashiki") == {pk["outage"], pk["road"]}
    assert _ids(client, agency="no-such-agency") == set()
    assert _ids(client, incident=incident.pk) == {pk["evac_late"]}
    assert _ids(client, channel="lineworks") == {pk["outage"]}
    assert _ids(client, status="acknowledged") == {pk["road"]}
    since = (base + timedelta(hours=3)).isoformat()
    until = (base + timedelta(hours=4)).isoformat()
    assert _ids(client, since=since) == {pk["outage"], pk["road"], pk["evac_late"]}
    assert _ids(client, until=until) == {pk["evac_early"], pk["outage"], pk["road"]}
    assert _ids(client, since=since, until=until) == {pk["outage"], pk["road"]}
    assert _ids(client, since=since, category="evacuees") == {pk["evac_late"]}


def test_since_accepts_offset_whose_plus_became_a_space(hq_user, varied_reports):
    base, made = varied_reports
    moment = timezone.localtime(base + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%S")
    # "?since=...T..+09:00" typed unencoded: the "+" arrives as a space
    response = login(hq_user).get(f"{API}/reports/?since={moment}+09:00")
    assert {r["id"] for r in response.json()["results"]} == {made["evac_late"].pk}


def test_reporter_filters_stay_inside_own_agency(reporter_a, varied_reports):
    _, made = varied_reports
    client = login(reporter_a)
    assert _ids(client) == {made["evac_early"].pk, made["evac_late"].pk}
    assert _ids(client, agency="chuden-kurashiki") == set()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"category": "tsunami"}, "category"),
        ({"since": "昨日"}, "since"),
        ({"since": "2018-07-06T14:30:00"}, "since"),
        ({"status": ""}, "status"),
        ({"page_size": "many"}, "page_size"),
        ({"page": "0"}, "page"),
        ({"incident": "小田川"}, "incident"),
        ({"channel": "fax"}, "channel"),
        ({"status": "done"}, "status"),
    ],
)
def test_bad_filters_are_400_naming_the_parameter(hq_user, params, field):
    assert_error(login(hq_user).get(f"{API}/reports/", params), 400, field=field)


def test_pagination_shape(hq_user, varied_reports):
    client = login(hq_user)
    first = client.get(f"{API}/reports/", {"page_size": 3}).json()
    assert set(first) == {"count", "next", "previous", "results"}
    assert first["count"] == 4
    assert len(first["results"]) == 3
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 1
    assert second["next"] is None
    assert_error(client.get(f"{API}/reports/", {"page": 99}), 404)


def test_list_result_shape(hq_user, varied_reports, incident):
    _, made = varied_reports
    results = login(hq_user).get(f"{API}/reports/").json()["results"]
    # newest receipt first
    assert [r["id"] for r in results] == sorted((r.pk for r in made.values()), reverse=True)
    item = next(r for r in results if r["id"] == made["evac_late"].pk)
    expected_keys = {
        "id", "number", "category", "agency", "agency_name", "fields", "text", "observed_at",
        "recorded_at", "channel", "status", "location", "revision", "incident", "photos",
    }  # fmt: skip
    assert expected_keys <= set(item)
    assert item["incident"] == incident.pk
    assert item["category"] == "evacuees"
    assert item["category_label"] == "避難者数"
    assert item["photos"] == []
    road = next(r for r in results if r["id"] == made["road"].pk)
    assert road["location"] is None
    assert road["fields"]["cause"] == "flooding"


def _photo_route_exists() -> bool:
    try:
        reverse("reports:photo", kwargs={"pk": 1})
    except NoReverseMatch:
        return False
    return True


def test_photos_are_links_to_the_checked_photo_view(reporter_a, reporter_b, report_a):
    photo = services.report_add_photo(
        report=report_a, data=PNG, filename="hamon.png", user=reporter_a
    )
    client = login(reporter_a)
    urls = client.get(f"{API}/reports/{report_a.pk}/").json()["photos"]
    if not _photo_route_exists():
        assert urls == []
        return
    assert urls == [f"http://testserver{reverse('reports:photo', kwargs={'pk': photo.pk})}"]
    assert client.get(urls[0]).status_code == 200
    assert login(reporter_b).get(urls[0]).status_code == 404


def _list_queries(client: Client) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"{API}/reports/")
    assert response.status_code == 200
    return len(ctx.captured_queries), response.json()["count"]


@pytest.mark.parametrize("role", ["hq", "reporter_a", "auditor"])
def test_list_query_count_does_not_grow_with_reports(cast, agency_a, incident, role):
    reporter = cast["reporter_a"]

    def add(n: int) -> None:
        for i in range(n):
            report = services.report_submit(
                agency=agency_a,
                author=reporter,
                category="evacuees",
                fields={"facility": "箭田小学校", "count": 10 + i},
                channel=ReportChannel.WEB,
            )
            if i % 2:
                services.report_link_incident(report=report, incident=incident, user=cast["hq"])
            services.report_add_photo(report=report, data=PNG, filename=f"p{i}.png", user=reporter)

    add(2)
    client = login(cast[role])
    client.get(f"{API}/reports/")  # warm the session
    few, count_few = _list_queries(client)
    add(10)
    many, count_many = _list_queries(client)
    assert (count_few, count_many) == (2, 12)
    assert many == few
    assert few <= 10


# --- Parser -------------------------------------------------------------------------------


def _parsing_available() -> bool:
    try:
        import reports.parsing  # noqa: F401
    except ImportError:
        return False
    return True


needs_parser = pytest.mark.skipif(
    not _parsing_available(), reason="reports.parsing cannot be imported"
)


@needs_parser
def test_parse_reads_a_bare_count_as_the_shelter_of_the_sender(reporter_a):
    response = post(login(reporter_a), f"{API}/parse/", {"text": "7月6日14時30分現在 35名"})
    assert response.status_code == 200, response.content
    data = response.json()
    assert set(data) >= {"category", "fields", "observed_at", "missing", "confidence"}
    assert data["category"] == "evacuees"
    assert data["fields"]["facility"] == "箭田小学校"
    assert data["fields"]["count"] == 35
    assert data["observed_at"].endswith("+09:00")
    assert 0 <= data["confidence"] <= 1
    assert Report.objects.count() == 0  # parsing stores nothing


@needs_parser
def test_parse_as_another_agency(hq_user, agency_b):
    text = "停電情報 ①真備地区：1,200世帯 ②玉島地区：340世帯 復旧見込みは未定"
    response = post(login(hq_user), f"{API}/parse/", {"text": text, "agency": "chuden-kurashiki"})
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["category"] == "outage"
    assert data["fields"]["total_households"] == 1540


@needs_parser
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "停" * 10_001}, "text"),
        ({}, "text"),
        ({"text": "35名", "agency": "unknown-agency"}, "agency"),
    ],
)
def test_parse_validation(reporter_a, body, field):
    assert_error(post(login(reporter_a), f"{API}/parse/", body), 400, field=field)


@needs_parser
@pytest.mark.parametrize("role", ROLES)
def test_parse_permissions(cast, role):
    response = post(
        login(cast[role]), f"{API}/parse/", {"text": "国道486号 真備町川辺 冠水のため通行止め"}
    )
    expected = {"stranger": 403, "anonymous": 401}.get(role, 200)
    if expected == 200:
        assert response.status_code == 200
        assert response.json()["category"] == "road_closure"
    else:
        assert_error(response, expected)
