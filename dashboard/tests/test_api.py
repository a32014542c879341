"""The situation, map, series and timeline endpoints, through HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import login
from dashboard.tests import helpers
from reports import services

pytestmark = pytest.mark.django_db

SITUATION = "/api/v1/situation/"
MAP = "/api/v1/map/"
TIMELINE = "/api/v1/timeline/"
SERIES = "/api/v1/situation/series/"
PLACES = "/api/v1/map/places/"


def count_queries(client, url: str, **extra) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **extra)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries), response


# --- Contents -------------------------------------------------------------------------------


def test_situation_shows_latest_figures_with_as_of_and_report_counts(
    hq_user, reporter_a, agency_a, reporter_b, agency_b, hospital_agency
):
    t0 = timezone.now() - timedelta(hours=2)
    helpers.evacuees(reporter_a, agency_a, 120, observed_at=t0)
    helpers.evacuees(reporter_a, agency_a, 80, observed_at=t0 + timedelta(hours=1))
    helpers.evacuees(reporter_a, agency_a, 35, facility="真備東中学校")
    helpers.outage(reporter_b, agency_b, {"真備地区": 1200, "玉島地区": 340})
    helpers.medical(hq_user, hospital_agency, accepting=True, beds=12)

    data = login(hq_user).get(SITUATION).json()

    assert data["evacuees"]["total"] == 80 + 35
    assert data["evacuees"]["reports"] == 2
    yata = next(f for f in data["evacuees"]["facilities"] if f["facility"] == "箭田小学校")
    assert (yata["count"], yata["capacity"]) == (80, 400)
    assert data["outage"]["total_households"] == 1540
    assert {d["district"]: d["households"] for d in data["outage"]["districts"]} == {
        "真備": 1200,
        "玉島": 340,
    }
    assert data["medical_capacity"]["accepting"] == 1
    assert data["medical_capacity"]["beds_available"] == 12
    assert data["evacuees"]["updated_at"].endswith("+09:00")
    assert data["as_of"].endswith("+09:00")


def test_map_is_geojson_with_category_and_popup_data(hq_user, reporter_a, agency_a, districts):
    report = helpers.evacuees(reporter_a, agency_a, 42)
    services.report_add_photo(report=report, data=helpers.PNG, filename="yata.png", user=reporter_a)
    helpers.road(
        hq_user, agency_a, "国道486号線", "真備町箭田", location={"lat": 34.63, "lng": 133.7}
    )

    data = login(hq_user).get(MAP).json()

    assert data["type"] == "FeatureCollection"
    by_category = {f["properties"]["category"]: f for f in data["features"]}
    assert set(by_category) == {"evacuees", "road_closure"}
    shelter = by_category["evacuees"]
    assert shelter["geometry"] == {"type": "Point", "coordinates": [133.6921, 34.6371]}
    props = shelter["properties"]
    assert props["fields"]["count"] == 42
    assert props["text"] == "箭田小学校 避難者数 42名"
    assert props["category_label"] == "避難者数"
    assert props["agency"] == "真備地区避難所運営班"
    # Photo and detail links appear once the report views are installed.
    from dashboard.links import photo_url, report_url

    assert props["url"] == report_url(report.pk)
    if photo_url(1) is not None:
        assert props["photo"] is not None


def test_reporters_get_the_aggregated_map_without_other_agencies_text(
    reporter_a, agency_a, reporter_b
):
    helpers.evacuees(reporter_a, agency_a, 42)
    props = login(reporter_b).get(MAP).json()["features"][0]["properties"]
    assert props["fields"]["count"] == 42
    assert props["text"] == ""
    assert props["photo"] is None and props["url"] is None


def test_places_list_districts_and_facilities(hq_user, agency_a, hospital_agency):
    features = login(hq_user).get(PLACES).json()["features"]
    layers = {(f["properties"]["layer"], f["properties"]["name"]) for f in features}
    assert ("district", "真備") in layers
    assert ("facility", "箭田小学校") in layers
    assert ("facility", "まび記念病院") in layers


def test_silent_agency_is_listed_with_its_facilities_while_an_incident_is_open(
    hq_user, reporter_a, agency_a, agency_b
):
    services.incident_open(user=hq_user, title="小田川決壊")
    data = login(hq_user).get(SITUATION).json()
    silent = {s["agency"]: s for s in data["silent_agencies"]}
    assert set(silent) == {"mabi-shelter", "chuden-kurashiki"}
    assert silent["mabi-shelter"]["facilities"][0]["name"] == "箭田小学校"
    assert silent["mabi-shelter"]["last_report_at"] is None

    helpers.evacuees(reporter_a, agency_a, 10)
    data = login(hq_user).get(SITUATION).json()
    assert [s["agency"] for s in data["silent_agencies"]] == ["chuden-kurashiki"]
    assert data["incidents"]["open"] == 1


# --- As of ----------------------------------------------------------------------------------


def test_as_of_shows_what_was_known_then(hq_user, reporter_a, agency_a):
    report = helpers.evacuees(reporter_a, agency_a, 120)
    before_correction = timezone.localtime()
    services.report_correct(
        report=report,
        author=reporter_a,
        reason="再集計",
        fields={"facility": "箭田小学校", "count": 150},
    )
    client = login(hq_user)

    assert client.get(SITUATION).json()["evacuees"]["total"] == 150
    past = client.get(SITUATION, {"as_of": before_correction.isoformat()}).json()
    assert past["evacuees"]["total"] == 120
    assert past["as_of"] == before_correction.isoformat()

    map_past = client.get(MAP, {"as_of": before_correction.isoformat()}).json()
    assert map_past["features"][0]["properties"]["fields"]["count"] == 120

    timeline_past = client.get(TIMELINE, {"until": before_correction.isoformat()}).json()
    assert [e["action"] for e in timeline_past["results"]] == ["report.original"]
    timeline_now = client.get(TIMELINE).json()
    assert [e["action"] for e in timeline_now["results"]] == [
        "report.correction",
        "report.original",
    ]


def test_as_of_without_offset_is_tokyo_time(hq_user, reporter_a, agency_a):
    helpers.evacuees(reporter_a, agency_a, 120)
    later = timezone.localtime() + timedelta(minutes=1)
    naive = later.strftime("%Y-%m-%dT%H:%M:%S")
    data = login(hq_user).get(SITUATION, {"as_of": naive}).json()
    assert data["evacuees"]["total"] == 120
    earlier = (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert login(hq_user).get(SITUATION, {"as_of": earlier}).json()["evacuees"]["total"] == 0


@pytest.mark.parametrize("url", [SITUATION, MAP, SERIES])
@pytest.mark.parametrize("value", ["yesterday", "2018-13-40T25:00", "7月6日"])
def test_bad_as_of_is_a_400_in_the_error_shape(hq_user, url, value):
    response = login(hq_user).get(url, {"as_of": value})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["message"]
    assert list(error["fields"]) == ["as_of"]


def test_bad_timeline_filters_name_the_parameter(hq_user):
    response = login(hq_user).get(
        TIMELINE, {"category": "flood", "agency": "nobody", "incident": "x", "since": "soon"}
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"category", "agency", "incident", "since"}
    bad_cursor = login(hq_user).get(TIMELINE, {"cursor": "not-a-cursor"})
    assert bad_cursor.status_code == 400
    assert "cursor" in bad_cursor.json()["error"]["fields"]


# --- Live: ETag / If-None-Match -------------------------------------------------------------


@pytest.mark.parametrize("url", [SITUATION, MAP, TIMELINE])
def test_unchanged_answer_is_a_cheap_304_until_something_happens(
    hq_user, reporter_a, agency_a, url
):
    helpers.evacuees(reporter_a, agency_a, 10)
    client = login(hq_user)
    first = client.get(url)
    etag = first["ETag"]
    assert etag

    with CaptureQueriesContext(connection) as ctx:
        again = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    # Session, user, groups and the version probe: nothing that reads the situation.
    assert len(ctx.captured_queries) <= 4

    helpers.evacuees(reporter_a, agency_a, 11)
    changed = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


# --- Timeline -------------------------------------------------------------------------------


def test_timeline_lists_reports_corrections_withdrawals_acknowledgements_incidents_notices(
    hq_user, reporter_a, agency_a, agency_b
):
    from notices.models import NoticeKind
    from notices.services import notice_acknowledge, notice_send

    incident = services.incident_open(user=hq_user, title="真備地区 浸水")
    report = helpers.evacuees(reporter_a, agency_a, 35)
    services.report_correct(
        report=report,
        author=reporter_a,
        reason="集計誤り",
        fields={"facility": "箭田小学校", "count": 40},
    )
    services.report_acknowledge(report=report, user=hq_user)
    services.report_link_incident(report=report, incident=incident, user=hq_user)
    notice = notice_send(
        user=hq_user,
        kind=NoticeKind.MUSTER,
        title="全職員参集",
        body="倉敷市で震度5強を観測したため、全職員はあらかじめ決められた場所へ参集",
        agencies=[agency_a, agency_b],
    )
    notice_acknowledge(notice=notice, agency=agency_a, user=reporter_a, via="lineworks")
    services.report_withdraw(report=report, author=reporter_a, reason="重複報告")
    services.incident_close(incident=incident, user=hq_user)

    results = login(hq_user).get(TIMELINE).json()["results"]
    assert [e["action"] for e in results] == [
        "incident.close",
        "report.withdrawal",
        "notice.acknowledge",
        "notice.send",
        "report.link_incident",
        "report.acknowledge",
        "report.correction",
        "report.original",
        "incident.open",
    ]
    original = results[-2]
    assert original["number"] == report.number
    assert original["agency_name"] == "真備地区避難所運営班"
    assert original["category"] == "evacuees"
    assert "箭田小学校" in original["summary"]
    assert original["at"].endswith("+09:00")
    assert "集計誤り" in results[-3]["summary"]
    ack = results[2]
    assert ack["agency"] == "mabi-shelter"
    assert "全職員参集" in ack["summary"]

    # The incident filter follows the link made after the report was filed.
    by_incident = login(hq_user).get(TIMELINE, {"incident": incident.pk}).json()["results"]
    assert {e["action"] for e in by_incident} >= {"report.original", "incident.open"}
    by_agency = login(hq_user).get(TIMELINE, {"agency": "chuden-kurashiki"}).json()["results"]
    assert by_agency == []
    by_category = login(hq_user).get(TIMELINE, {"category": "outage"}).json()["results"]
    assert by_category == []


def test_timeline_entries_link_to_their_detail(hq_user, reporter_a, agency_a):
    from dashboard.links import report_url

    report = helpers.evacuees(reporter_a, agency_a, 35)
    incident = services.incident_open(user=hq_user, title="土砂災害")
    results = login(hq_user).get(TIMELINE).json()["results"]
    assert results[0]["url"] == f"/dashboard/incidents/{incident.pk}/"
    assert results[1]["url"] == report_url(report.pk)


def test_timeline_pages_with_a_cursor_without_gaps_or_repeats(hq_user, reporter_a, agency_a):
    for i in range(7):
        helpers.evacuees(reporter_a, agency_a, i + 1, facility=f"避難所{i}")
    client = login(hq_user)
    seen, url = [], TIMELINE + "?page_size=3&category=evacuees"
    while url:
        page = client.get(url).json()
        seen.extend(e["id"] for e in page["results"])
        url = page["next"]
    assert len(seen) == 7
    assert seen == sorted(seen, reverse=True)


def test_timeline_window_filter(hq_user, reporter_a, agency_a):
    helpers.evacuees(reporter_a, agency_a, 1)
    since = (timezone.localtime() + timedelta(seconds=1)).isoformat()
    results = login(hq_user).get(TIMELINE, {"since": since}).json()["results"]
    assert results == []


# --- Series ---------------------------------------------------------------------------------


def test_series_shows_evacuees_and_outage_over_time(hq_user, reporter_a, agency_a, reporter_b):
    now = timezone.now()
    for hours, count in ((20, 100), (5, 250)):
        moment = now - timedelta(hours=hours)
        helpers.evacuees(reporter_a, agency_a, count, observed_at=moment, recorded_at=moment)
    client = login(hq_user)
    data = client.get(SERIES, {"window": "24h"}).json()
    values = [p["value"] for p in data["evacuees"]]
    assert values[0] == 0 and values[-1] == 250
    assert 100 in values
    assert values == sorted(values)
    assert data["outage"][-1]["value"] == 0
    assert client.get(SERIES, {"window": "week"}).status_code == 400
    assert client.get(SERIES, {"window": "event"}).status_code == 200


def test_series_reuses_settled_points_and_recomputes_only_the_latest(hq_user, reporter_a, agency_a):
    moment = timezone.now() - timedelta(hours=6)
    helpers.evacuees(reporter_a, agency_a, 100, observed_at=moment, recorded_at=moment)
    client = login(hq_user)
    first_count, first = count_queries(client, SERIES)
    helpers.evacuees(reporter_a, agency_a, 130)
    second_count, second = count_queries(client, SERIES)
    assert first.json()["evacuees"][-1]["value"] == 100
    assert second.json()["evacuees"][-1]["value"] == 130
    assert first.json()["evacuees"][1:-1] == second.json()["evacuees"][1:-1]
    assert len(first.json()["evacuees"]) > 20
    assert second_count < 10 < first_count


# --- Query counts ---------------------------------------------------------------------------


def _seed(n: int, offset: int, reporter_a, agency_a, reporter_b, agency_b) -> None:
    for i in range(offset, offset + n):
        report = helpers.evacuees(reporter_a, agency_a, 10 + i, facility=f"避難所{i}")
        helpers.evacuees(reporter_a, agency_a, 20 + i, facility=f"避難所{i}")
        services.report_add_photo(
            report=report, data=helpers.PNG, filename="p.png", user=reporter_a
        )
        helpers.outage(reporter_b, agency_b, {f"地区{i}": 100 + i})
        helpers.road(
            reporter_a, agency_a, f"市道{i}号線", "真備町", location={"lat": 34.6, "lng": 133.7}
        )


@pytest.mark.parametrize("url", [SITUATION, MAP, TIMELINE, SITUATION + "?as_of=2030-01-01T00:00"])
def test_query_count_does_not_grow_with_reports_or_subjects(
    hq_user, reporter_a, agency_a, reporter_b, agency_b, url
):
    services.incident_open(user=hq_user, title="平成30年7月豪雨")
    _seed(3, 0, reporter_a, agency_a, reporter_b, agency_b)
    client = login(hq_user)
    client.get(url)  # warm the session and the user's role cache
    small, first = count_queries(client, url)
    _seed(9, 3, reporter_a, agency_a, reporter_b, agency_b)
    large, second = count_queries(client, url)
    assert first.content != second.content
    assert large == small, f"{url}: {small} queries with 3 subjects, {large} with 12"


@pytest.mark.parametrize(
    "params",
    [
        {"incident": str(2**70)},
        {"agency": "a\x00b"},
        {"cursor": "MjAxOC0wNy0wNlQwMDowMDowMCswMDowMHw5OTk5OTk5OTk5OTk5OTk5OTk5OTk5"},
        {"since": "0001-01-01T00:00:00+14:00", "until": "9999-12-31T23:59:59-12:00"},
    ],
)
def test_hostile_timeline_parameters_are_400_or_empty_never_500(hq_user, params):
    response = login(hq_user).get(TIMELINE, params)
    assert response.status_code in (200, 400)


def test_extreme_as_of_is_answered(hq_user, reporter_a, agency_a):
    helpers.evacuees(reporter_a, agency_a, 10)
    client = login(hq_user)
    far_past = client.get(SITUATION, {"as_of": "0001-01-01T00:00:00+14:00"})
    assert far_past.status_code == 200 and far_past.json()["evacuees"]["total"] == 0
    far_future = client.get(MAP, {"as_of": "9999-12-31T23:59:59-12:00"})
    assert far_future.status_code == 200 and len(far_future.json()["features"]) == 1


def test_rebuild_timeline_reproduces_the_projection(hq_user, reporter_a, agency_a):
    from django.core.management import call_command

    report = helpers.evacuees(reporter_a, agency_a, 35)
    services.report_acknowledge(report=report, user=hq_user)
    before = login(hq_user).get(TIMELINE).json()["results"]
    call_command("rebuild_timeline")
    assert login(hq_user).get(TIMELINE).json()["results"] == before


def test_situation_is_the_same_without_the_postgresql_fast_path(
    monkeypatch, hq_user, reporter_a, agency_a, reporter_b, agency_b, hospital_agency
):
    from reports import queries

    helpers.evacuees(reporter_a, agency_a, 120)
    helpers.evacuees(reporter_a, agency_a, 0, facility="真備東中学校")
    helpers.outage(reporter_b, agency_b, {"真備地区": 1200, "玉島地区": 340})
    helpers.medical(hq_user, hospital_agency, accepting=False, beds=0)
    helpers.road(
        hq_user, agency_a, "国道486号線", "真備町箭田", location={"lat": 34.6, "lng": 133.7}
    )
    fast = (queries.situation_summary(), queries.situation_geojson())

    class Portable:
        vendor = "sqlite"

    monkeypatch.setattr(queries, "connection", Portable())
    portable = (queries.situation_summary(), queries.situation_geojson())
    for data in (fast[0], portable[0]):
        data.pop("as_of")
    assert fast == portable
