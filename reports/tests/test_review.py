"""HQ's review queue (要確認): reports read from free text that the parser was unsure of, or
that lack a field their category requires, wait for HQ; HQ fixes them in one step (a 本部確認
revision) or confirms them as they are. Through the pages, the API and the audit chain."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from conftest import login
from reports import services
from reports.models import Report, ReportChannel, ReportReview, ReviewKind
from reports.review import awaiting_review, review_count

pytestmark = pytest.mark.django_db


def file_from_chat(agency, author, text, category, fields, confidence, *, minutes_ago=0):
    """What the LINE WORKS bot does with a parsed message (``minutes_ago``: filed earlier)."""
    return services.report_submit(
        agency=agency,
        author=author,
        category=category,
        fields=fields,
        text=text,
        channel=ReportChannel.LINEWORKS,
        source_ref="lineworks:inbound:999",
        require_fields=False,
        check_permission=False,
        parsed_confidence=confidence,
        recorded_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


@pytest.fixture
def queued(agency_a, reporter_a, agency_b, reporter_b):
    """Two reports awaiting review (the older first) and one the parser was sure of."""
    river = file_from_chat(
        agency_a,
        reporter_a,
        "水位上昇中、堤防の近くまで来ています",
        "water_level",
        {"trend": "rising"},
        0.47,
        minutes_ago=30,
    )
    odd = file_from_chat(
        agency_b, reporter_b, "小田川の様子がおかしい", "general", {}, 0.2, minutes_ago=5
    )
    sure = file_from_chat(
        agency_b,
        reporter_b,
        "停電情報 ①真備地区：1,200世帯 ②玉島地区：340世帯 復旧見込みは未定",
        "outage",
        {
            "areas": [
                {"area": "真備地区", "households": 1200},
                {"area": "玉島地区", "households": 340},
            ],
            "restoration": "未定",
        },
        0.92,
    )
    return {"river": river, "odd": odd, "sure": sure}


def verify() -> str:
    out = StringIO()
    call_command("verify_audit_chain", stdout=out)
    return out.getvalue()


def api_post(client: Client, path: str, body: dict) -> object:
    return client.post(path, json.dumps(body), content_type="application/json")


def assert_error(response, status: int, *, field: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["message"]
    if field is not None:
        assert field in body["error"]["fields"], body
    return body["error"]


# --- What gets queued ---------------------------------------------------------------------


def test_unsure_or_incomplete_chat_reports_are_queued_and_the_sure_one_is_not(queued):
    pending = list(awaiting_review(Report.objects.all()).order_by("pk"))
    assert pending == [queued["river"], queued["odd"]]
    river = ReportReview.objects.get(report=queued["river"])
    assert (river.kind, river.reasons, river.missing) == (
        ReviewKind.FLAGGED,
        ["low_confidence", "missing_fields"],
        ["area"],
    )
    assert river.revision.number == 1
    assert not ReportReview.objects.filter(report=queued["sure"]).exists()
    assert AuditEvent.objects.filter(action="report.review_flagged").count() == 2
    assert "audit chain OK" in verify()


def test_confident_parse_missing_a_required_field_is_queued(agency_a, reporter_a):
    report = file_from_chat(
        agency_a, reporter_a, "15時現在の避難者数 35名", "evacuees", {"count": 35}, 0.9
    )
    flag = ReportReview.objects.get(report=report)
    assert flag.reasons == ["missing_fields"] and flag.missing == ["facility"]


def test_threshold_comes_from_the_setting(settings, agency_b, reporter_b):
    settings.REPORT_REVIEW_CONFIDENCE = 0.3
    file_from_chat(agency_b, reporter_b, "小田川の様子がおかしい", "general", {}, 0.35)
    assert review_count() == 0
    settings.REPORT_REVIEW_CONFIDENCE = 0.4
    file_from_chat(agency_b, reporter_b, "小田川の様子がおかしい", "general", {}, 0.35)
    assert review_count() == 1


def test_reports_typed_into_the_web_form_or_the_api_are_never_queued(reporter_a, agency_a):
    web = login(reporter_a).post(
        "/reports/new/",
        {
            "agency": agency_a.pk,
            "category": "water_level",
            "water_level__area": "小田川",
            "water_level__trend": "rising",
        },
    )
    assert web.status_code == 302
    api = api_post(
        login(reporter_a),
        "/api/v1/reports/",
        {"category": "general", "fields": {}, "text": "炊き出しを12時から行います"},
    )
    assert api.status_code == 201, api.content
    assert api.json()["needs_review"] is False and api.json()["review"] is None
    assert Report.objects.count() == 2
    assert not ReportReview.objects.exists()


# --- The queue page -----------------------------------------------------------------------


def test_hq_sees_the_queue_oldest_first_with_original_text_and_why(hq_user, queued):
    response = login(hq_user).get("/reports/review/")

    assert response.status_code == 200
    html = response.content.decode()
    river, odd = queued["river"], queued["odd"]
    assert html.index(f'id="review-{river.pk}"') < html.index(f'id="review-{odd.pk}"')
    assert f'id="review-{queued["sure"].pk}"' not in html
    assert "水位上昇中、堤防の近くまで来ています" in html  # the original words
    assert "信頼度が低い（0.47）" in html
    assert "必須項目なし: 河川・地区" in html
    assert "小田川の様子がおかしい" in html
    assert "このまま確定" in html
    # the fix form reuses the report form's widgets, prefilled with what was read
    assert f'name="r{river.pk}-water_level__area"' in html
    assert '<option value="water_level" selected>' in html
    # the menu badge and the dashboard tile count the queue
    assert 'class="count-badge"' in html and ">2</span></a>" in html
    board = login(hq_user).get("/dashboard/").content.decode()
    assert 'id="review-tile" href="/reports/review/"' in board
    assert '<span class="num">2</span>' in board


def test_empty_queue_says_so(hq_user):
    html = login(hq_user).get("/reports/review/").content.decode()
    assert "確認待ちの報告はありません。" in html


def test_hq_fixes_category_and_fields_in_one_step(hq_user, queued):
    river = queued["river"]
    prefix = f"r{river.pk}"

    response = login(hq_user).post(
        f"/reports/{river.pk}/review/",
        {
            "action": "fix",
            f"{prefix}-category": "water_level",
            f"{prefix}-water_level__area": "小田川",
            f"{prefix}-water_level__trend": "rising",
            f"{prefix}-water_level__flooding": "false",
        },
        follow=True,
    )

    assert response.status_code == 200
    assert "を修正して確定しました（第2版・本部確認）" in response.content.decode()
    river.refresh_from_db()
    fixed = river.current_revision
    assert (fixed.number, fixed.kind, fixed.reason) == (2, "correction", "本部確認")
    assert fixed.author == hq_user and fixed.channel == ReportChannel.WEB
    assert fixed.fields == {"area": "小田川", "trend": "rising", "level_m": None, "flooding": False}
    original = river.revisions.get(number=1)
    assert original.text == "水位上昇中、堤防の近くまで来ています"
    assert original.fields["area"] is None  # the reading stays as it was
    decision = ReportReview.objects.filter(report=river).last()
    assert (decision.kind, decision.revision, decision.actor) == (ReviewKind.FIXED, fixed, hq_user)
    assert list(awaiting_review(Report.objects.all())) == [queued["odd"]]
    actions = list(
        AuditEvent.objects.filter(occurred_at__gte=fixed.recorded_at)
        .order_by("id")
        .values_list("action", "actor_label")
    )
    assert actions == [
        ("report.correction", "hq-operator"),
        ("report.review_fixed", "hq-operator"),
    ]
    assert f'id="review-{river.pk}"' not in response.content.decode()
    assert "audit chain OK" in verify()


def test_fix_with_a_required_field_missing_is_refused_in_japanese(hq_user, queued):
    odd = queued["odd"]
    prefix = f"r{odd.pk}"
    response = login(hq_user).post(
        f"/reports/{odd.pk}/review/",
        {
            "action": "fix",
            f"{prefix}-category": "evacuees",
            f"{prefix}-evacuees__facility": "箭田小学校",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "入力内容を確認してください。" in html
    assert "この項目は必須です。" in html
    assert '<details class="review-fix" open>' in html
    odd.refresh_from_db()
    assert odd.current_revision.number == 1
    assert review_count() == 2


def test_hq_confirms_as_is_without_a_new_revision(hq_user, queued):
    odd = queued["odd"]
    client = login(hq_user)

    response = client.post(f"/reports/{odd.pk}/review/", {"action": "confirm"}, follow=True)

    assert "をこのまま確定しました。" in response.content.decode()
    odd.refresh_from_db()
    assert odd.revisions.count() == 1
    decision = ReportReview.objects.filter(report=odd).last()
    assert (decision.kind, decision.revision_id, decision.actor) == (
        ReviewKind.CONFIRMED,
        odd.current_revision_id,
        hq_user,
    )
    event = AuditEvent.objects.get(action="report.review_confirmed")
    assert event.payload["record"]["kind"] == "confirmed"
    assert list(awaiting_review(Report.objects.all())) == [queued["river"]]

    again = client.post(f"/reports/{odd.pk}/review/", {"action": "confirm"}, follow=True)
    assert "すでに確認済みです" in again.content.decode()
    assert ReportReview.objects.filter(report=odd).count() == 2


@pytest.mark.parametrize("who", ["reporter_a", "reporter_b", "auditor", "stranger"])
def test_only_hq_opens_the_queue_or_decides(cast, queued, who):
    client = login(cast[who])
    river = queued["river"]
    assert client.get("/reports/review/").status_code == 403
    assert client.post(f"/reports/{river.pk}/review/", {"action": "confirm"}).status_code == 403
    prefix = f"r{river.pk}"
    fix = client.post(
        f"/reports/{river.pk}/review/",
        {"action": "fix", f"{prefix}-category": "water_level", f"{prefix}-water_level__area": "X"},
    )
    assert fix.status_code == 403
    assert review_count() == 2 and ReportReview.objects.count() == 2


def test_anonymous_is_sent_to_login(queued):
    response = Client().get("/reports/review/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_reporter_sees_that_hq_will_check_and_auditor_sees_the_decision(
    hq_user, reporter_a, auditor, queued
):
    river = queued["river"]
    page = login(reporter_a).get(f"/reports/{river.pk}/").content.decode()
    assert "要確認" in page and "信頼度が低い（0.47）" in page
    assert "要確認の一覧で確認する" not in page  # only HQ acts
    services.report_review_confirm(report=river, user=hq_user)

    detail = login(auditor).get(f"/reports/{river.pk}/").content.decode()
    assert "本部がこのまま確定しました（hq-operator、" in detail
    history = login(auditor).get(f"/audit/reports/{river.pk}/").content.decode()
    assert "本部確認（要確認の判断）" in history
    assert 'data-review="flagged"' in history and 'data-review="confirmed"' in history
    assert "信頼度が低い、必須項目なし (0.47)" in history
    assert "report.review_confirmed" in history
    assert "不一致" not in history


def test_review_rows_edited_by_sql_are_found_by_verify_audit_chain(hq_user, queued):
    services.report_review_confirm(report=queued["odd"], user=hq_user)
    decision = ReportReview.objects.get(kind=ReviewKind.CONFIRMED)
    with connection.cursor() as cursor:  # put the report back on the queue behind HQ's back
        cursor.execute(
            "UPDATE reports_reportreview SET kind = 'flagged' WHERE id = %s", [decision.pk]
        )
    event = AuditEvent.objects.get(action="report.review_confirmed")
    with pytest.raises(CommandError, match=f"event #{event.pk}: .*no longer matches"):
        verify()


# --- The API ------------------------------------------------------------------------------


def test_api_filters_the_queue_and_shows_review_state(hq_user, reporter_b, queued):
    client = login(hq_user)
    body = client.get("/api/v1/reports/?needs_review=true").json()
    assert {r["number"] for r in body["results"]} == {queued["river"].number, queued["odd"].number}
    river = next(r for r in body["results"] if r["id"] == queued["river"].pk)
    assert river["needs_review"] is True
    assert river["review"]["state"] == "pending"
    assert river["review"]["reasons"] == ["low_confidence", "missing_fields"]
    assert river["review"]["missing"] == ["area"]
    assert river["review"]["confidence"] == 0.47
    assert river["review"]["decided_by"] is None

    rest = client.get("/api/v1/reports/?needs_review=false").json()
    assert [r["id"] for r in rest["results"]] == [queued["sure"].pk]
    assert rest["results"][0]["needs_review"] is False and rest["results"][0]["review"] is None
    assert client.get("/api/v1/reports/").json()["count"] == 3
    # A reporter sees its own agency's queued report, and nothing of agency A's.
    own = login(reporter_b).get("/api/v1/reports/?needs_review=true").json()
    assert [r["id"] for r in own["results"]] == [queued["odd"].pk]


@pytest.mark.parametrize("value", ["", "maybe"])
def test_api_bad_needs_review_value_is_400(hq_user, value):
    response = login(hq_user).get(f"/api/v1/reports/?needs_review={value}")
    assert_error(response, 400, field="needs_review")


def test_api_review_confirm_and_fix(hq_user, queued):
    client = login(hq_user)
    odd, river = queued["odd"], queued["river"]

    confirmed = api_post(client, f"/api/v1/reports/{odd.pk}/review/", {"confirm": True})
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["needs_review"] is False
    assert confirmed.json()["review"]["state"] == "confirmed"
    assert confirmed.json()["review"]["decided_by"] == "hq-operator"
    assert confirmed.json()["revision"] == 1

    fixed = api_post(
        client,
        f"/api/v1/reports/{river.pk}/review/",
        {"category": "fire", "fields": {"area": "真備町箭田", "evacuation_order": True}},
    )
    assert fixed.status_code == 200, fixed.content
    data = fixed.json()
    assert (data["category"], data["revision"], data["needs_review"]) == ("fire", 2, False)
    assert data["review"]["state"] == "fixed"
    assert data["fields"]["area"] == "真備町箭田"
    revisions = client.get(f"/api/v1/reports/{river.pk}/revisions/").json()
    assert [r["reason"] for r in revisions] == ["", "本部確認"]
    assert revisions[0]["text"] == "水位上昇中、堤防の近くまで来ています"
    assert revisions[1]["channel"] == "api"
    assert AuditEvent.objects.filter(action="report.review_fixed", channel="api").count() == 1
    assert client.get("/api/v1/reports/?needs_review=true").json()["count"] == 0

    again = api_post(client, f"/api/v1/reports/{odd.pk}/review/", {"confirm": True})
    assert assert_error(again, 409)["code"] == "conflict"
    assert "audit chain OK" in verify()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "non_field_errors"),
        ({"confirm": False}, "confirm"),
        ({"confirm": True, "category": "fire"}, "confirm"),
        ({"category": "evacuees", "fields": {"facility": "箭田小学校"}}, "fields.count"),
        (
            {"category": "evacuees", "fields": {"facility": "箭田小学校", "count": "多数"}},
            "fields.count",
        ),
        ({"category": "fire"}, "fields"),
        ({"category": "typhoon", "fields": {}}, "category"),
    ],
)
def test_api_review_bad_body_is_400_naming_the_field(hq_user, queued, body, field):
    response = api_post(login(hq_user), f"/api/v1/reports/{queued['river'].pk}/review/", body)
    assert_error(response, 400, field=field)
    assert review_count() == 2


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("reporter_a", 403),
        ("reporter_b", 403),
        ("auditor", 403),
        ("stranger", 403),
        ("anonymous", 401),
    ],
)
def test_api_review_is_hq_only(cast, queued, who, status):
    client = login(cast[who])
    response = api_post(client, f"/api/v1/reports/{queued['river'].pk}/review/", {"confirm": True})
    assert_error(response, status)
    assert review_count() == 2


def test_api_review_of_unknown_or_never_queued_report(hq_user, queued):
    client = login(hq_user)
    assert_error(api_post(client, "/api/v1/reports/999999/review/", {"confirm": True}), 404)
    sure = api_post(client, f"/api/v1/reports/{queued['sure'].pk}/review/", {"confirm": True})
    assert_error(sure, 409)


def test_openapi_describes_the_review_endpoint_and_filter(hq_user):
    schema = login(hq_user).get("/api/schema/?format=json").json()
    review = schema["paths"]["/api/v1/reports/{id}/review/"]["post"]
    assert set(review["responses"]) >= {"200", "400", "401", "403", "404", "409"}
    body = schema["components"]["schemas"]["ReportReviewDecisionRequest"]["properties"]
    assert set(body) == {"confirm", "category", "fields"}
    params = {p["name"] for p in schema["paths"]["/api/v1/reports/"]["get"]["parameters"]}
    assert "needs_review" in params
    report = schema["components"]["schemas"]["Report"]["properties"]
    assert {"needs_review", "review"} <= set(report)


def test_queue_and_decisions_read_in_english(hq_user, auditor, queued):
    from kurashiki_dr.tests.test_i18n import english, japanese_ui_text

    queue = english(hq_user).get("/reports/review/").content.decode()
    assert "Reports to check" in queue and "Low confidence (0.47)" in queue
    assert "Confirm as is" in queue and "Original message" in queue
    assert japanese_ui_text(queue) == []
    services.report_review_confirm(report=queued["odd"], user=hq_user)
    detail = english(auditor).get(f"/reports/{queued['odd'].pk}/").content.decode()
    assert "HQ confirmed this report as it is" in detail
    assert japanese_ui_text(detail) == []
    history = english(auditor).get(f"/audit/reports/{queued['odd'].pk}/").content.decode()
    assert "HQ review (decisions on reports to check)" in history
    assert japanese_ui_text(history) == []


def test_queue_page_query_count_does_not_grow_with_the_queue(hq_user, agency_a, reporter_a):
    from django.test.utils import CaptureQueriesContext

    client = login(hq_user)

    def queries_with(n: int) -> int:
        for i in range(n):
            file_from_chat(
                agency_a, reporter_a, f"避難者 {i} 増加中", "evacuees", {"count": i}, 0.4
            )
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/reports/review/").status_code == 200
        return len(ctx.captured_queries)

    assert queries_with(2) == queries_with(6)


def test_queue_cannot_be_emptied_behind_the_audit_chains_back(queued):
    river = queued["river"]
    with connection.cursor() as cursor:  # a mutable column says "withdrawn": not enough
        cursor.execute("UPDATE reports_report SET status = 'withdrawn' WHERE id = %s", [river.pk])
    assert river in awaiting_review(Report.objects.all())
    flag = ReportReview.objects.get(report=river)
    with connection.cursor() as cursor:  # deleting the flag is found
        cursor.execute("DELETE FROM reports_reportreview WHERE id = %s", [flag.pk])
    assert river not in awaiting_review(Report.objects.all())
    with pytest.raises(CommandError, match=f"reports.reportreview {flag.pk} was deleted"):
        verify()
