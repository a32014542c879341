"""Odd input never makes a 500: every list page, filter and API list endpoint is swept with
values that once broke a parser (digits that ``str.isdigit`` accepts but ``int`` does not,
year-0001 and year-9999 times that overflow when converted between UTC and Asia/Tokyo,
NUL, very long numbers), as each role of design.md §8."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import login
from reports import services
from reports.models import ReportChannel

pytestmark = pytest.mark.django_db

# For ids, codes, page numbers, cursors and free text: digits that str.isdigit() accepts and
# int() refuses, numbers past bigint and float, NUL.
ODD_VALUES = ["²", "①", "R-²", "Ｒ－①２", "99999999999999999999999", "-1", "1e309", "\x00"]
# For times (since, until, as_of): the ends of the calendar, which overflow when converted
# between UTC and Asia/Tokyo, with and without an offset.
ODD_MOMENTS = [
    "0001-01-01T00:00:00+09:00",
    "0001-01-01T00:00:00-09:00",
    "0001-01-01",
    "0001-01-01T00:00",
    "9999-12-31T23:59:59-09:00",
    "9999-12-31T23:59",
    "²",
    "\x00",
]
MOMENT_PARAMS = {"since", "until", "as_of"}
# Parameters checked against a fixed list of choices: two odd values are enough.
CHOICE_PARAMS = {"category", "channel", "status", "kind", "window"}
ODD_CHOICES = ["²", "\x00"]

# (path, the query parameters it reads, or might: a page that reads none is still swept once
# with one odd parameter, to show that stray parameters are ignored)
HTML_PAGES = [
    (
        "/reports/",
        ["q", "category", "agency", "incident", "channel", "status", "since", "until", "page"],
    ),
    ("/reports/mine/", ["page"]),
    ("/dashboard/", ["as_of"]),
    ("/dashboard/print/", ["as_of"]),
    ("/dashboard/incidents/", ["status"]),
    ("/notices/", ["kind"]),
    ("/notices/new/", ["kind"]),
    (
        "/audit/",
        ["q", "agency", "category", "channel", "author", "incident", "since", "until", "page"],
    ),
    (
        "/audit/events/",
        ["actor", "action", "object_type", "object_id", "since", "until", "before", "after"],
    ),
    ("/audit/exports/", ["as_of"]),
    ("/audit/exports/reports.csv", ["q", "agency", "incident", "since", "until"]),
    ("/audit/exports/reports.jsonl", ["q", "since", "until"]),
    ("/audit/exports/situation.geojson", ["as_of"]),
    ("/audit/exports/cap.zip", ["since", "until"]),
    ("/audit/exports/bundle.zip", ["incident", "since", "until"]),
    ("/audit/chain/", ["page"]),
    ("/lineworks/outbox/", ["status"]),
    ("/lineworks/unmatched/", ["user_id"]),
]
API_ENDPOINTS = [
    (
        "/api/v1/reports/",
        [
            "category",
            "agency",
            "incident",
            "since",
            "until",
            "channel",
            "status",
            "page",
            "page_size",
        ],
    ),
    ("/api/v1/incidents/", ["status", "page", "page_size"]),
    ("/api/v1/situation/", ["as_of"]),
    ("/api/v1/situation/series/", ["as_of", "window"]),
    ("/api/v1/map/", ["as_of"]),
    ("/api/v1/map/places/", []),
    (
        "/api/v1/timeline/",
        ["category", "agency", "incident", "since", "until", "cursor", "page_size"],
    ),
    ("/api/v1/notices/", ["page", "page_size"]),
    (
        "/api/v1/audit/events/",
        ["actor", "action", "object_type", "object_id", "since", "until", "page"],
    ),
    ("/api/v1/audit/chain/", []),
]


@pytest.fixture
def disaster(hq_user, reporter_a, reporter_b, agency_a, agency_b):
    now = timezone.now()
    report = services.report_submit(
        agency=agency_a,
        author=reporter_a,
        category="evacuees",
        fields={"facility": "箭田小学校", "count": 120},
        text="箭田小学校 避難者120名",
        observed_at=now - timedelta(hours=2),
        channel=ReportChannel.LINEWORKS,
    )
    services.report_correct(
        report=report,
        author=reporter_a,
        reason="数え直し",
        fields={"facility": "箭田小学校", "count": 135},
    )
    services.report_submit(
        agency=agency_b,
        author=reporter_b,
        category="outage",
        fields={"areas": [{"area": "真備町箭田", "households": 1200}]},
        text="停電 真備町箭田 1,200世帯",
    )
    services.incident_open(user=hq_user, title="小田川 堤防決壊", district=None, location=None)


def _cases(endpoints):
    """Every parameter an endpoint reads, each with the odd values of its kind."""
    return [
        (path, name, value)
        for path, names in endpoints
        for name in names or ["q"]
        for value in (
            ODD_MOMENTS
            if name in MOMENT_PARAMS
            else ODD_CHOICES
            if name in CHOICE_PARAMS
            else ODD_VALUES
        )
    ]


@pytest.mark.parametrize("role", ["hq", "reporter_a", "auditor"])
def test_odd_filter_values_never_make_a_server_error(role, cast, disaster):
    client = login(cast[role])
    failures = []
    for path, name, value in _cases(HTML_PAGES) + _cases(API_ENDPOINTS):
        try:
            response = client.get(path, {name: value})
            if response.streaming:  # an export fails while it streams, if at all
                b"".join(response.streaming_content)
        except Exception as exc:  # noqa: BLE001 (the test client re-raises a view's error)
            failures.append((path, name, value, repr(exc)[:200]))
            continue
        if response.status_code >= 500:
            failures.append((path, name, value, response.status_code))
        elif path.startswith("/api/") and response.status_code >= 400:
            body = response.json()
            assert set(body) == {"error"}, (path, name, value, body)
            assert body["error"]["message"], (path, name, value, body)
    assert not failures, "\n".join(map(repr, failures))


FORM_DATES = [
    *ODD_MOMENTS,
    "①",
    "99999999999999999999999",
    "0001-01-01 00:00",
    "0001-01-01T00:00:00Z",
]


@pytest.mark.parametrize("role", ["hq", "reporter_a"])
def test_odd_dates_in_report_forms_are_form_errors(role, cast, agency_a, disaster):
    from reports.models import Report

    report = Report.objects.filter(agency=agency_a).get()
    client = login(cast[role])
    failures = []
    for value in FORM_DATES:
        new = {
            "agency": str(agency_a.pk),
            "category": "evacuees",
            "facility": str(agency_a.facilities.get().pk),
            "evacuees__count": "40",
            "observed_at": value,
            "text": "箭田小学校 避難者40名",
        }
        correct = {**new, "reason": "人数の訂正"}
        for path, data in (("/reports/new/", new), (f"/reports/{report.pk}/correct/", correct)):
            try:
                response = client.post(path, data)
            except Exception as exc:  # noqa: BLE001
                failures.append((path, value, repr(exc)[:200]))
                continue
            if response.status_code >= 500:
                failures.append((path, value, response.status_code))
            else:
                assert response.status_code == 200, (path, value, response.status_code)
                html = response.content.decode()
                assert '<p class="error">' in html, (path, value)
                assert any(
                    reason in html
                    for reason in ("2000年以降の日時", "未来の日時", "日時を正しく入力")
                ), (path, value)
    assert not failures, "\n".join(map(repr, failures))
    assert Report.objects.count() == 2
    assert report.revisions.count() == 2
    # The same form with a sensible time is accepted: the odd time alone was refused.
    now = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    assert client.post("/reports/new/", {**new, "observed_at": now}).status_code == 302
    assert Report.objects.count() == 3


DEEP_BODIES = {
    "array-5000": "[" * 5000 + "]" * 5000,
    "object-5000": '{"text":' + '{"a":' * 5000 + "1" + "}" * 5000 + "}",
    "fields-200": '{"category":"evacuees","fields":' + "[" * 200 + "]" * 200 + "}",
}


@pytest.mark.parametrize("body", DEEP_BODIES.values(), ids=DEEP_BODIES.keys())
@pytest.mark.parametrize("role", ["hq", "reporter_a", "auditor"])
def test_deeply_nested_json_bodies_are_a_400_in_the_error_shape(role, body, cast, disaster):
    from reports.models import Report

    report = Report.objects.filter(agency__code="mabi-shelter").get()
    client = login(cast[role])
    allowed = {
        "hq": {"reports", "parse", "corrections", "withdrawal", "notices"},
        "reporter_a": {"reports", "parse", "corrections", "withdrawal"},
        "auditor": set(),  # refused (403) before the body is read: also fine
    }[role]
    for name, path in (
        ("reports", "/api/v1/reports/"),
        ("parse", "/api/v1/parse/"),
        ("corrections", f"/api/v1/reports/{report.pk}/corrections/"),
        ("withdrawal", f"/api/v1/reports/{report.pk}/withdrawal/"),
        ("notices", "/api/v1/notices/"),
    ):
        response = client.post(path, data=body, content_type="application/json")
        assert response.status_code < 500, (path, response.status_code)
        assert set(response.json()) == {"error"}, (path, response.json())
        if name in allowed:
            assert response.status_code == 400, (path, response.status_code)
            error = response.json()["error"]
            assert error["code"] == "parse_error", (path, error)
            assert "入れ子が深すぎます" in error["message"]
    assert report.revisions.count() == 2 and report.status != "withdrawn"


def test_an_out_of_range_time_is_refused_in_japanese(hq_user):
    """The API's own date parser overflows on year 0001 in Asia/Tokyo; the person reading the
    error gets Japanese, in the one error shape."""
    response = login(hq_user).get("/api/v1/reports/", {"since": "0001-01-01T00:00:00+09:00"})

    assert response.status_code == 400
    body = response.json()["error"]
    assert body["fields"]["since"] == ["日時が扱える範囲を超えています。"]
