"""Property-based fuzzing of the whole API (/api/v1/) from its own OpenAPI schema.

The schema is loaded in-process from /api/schema/ (WSGI, no network). Every operation is fuzzed
as each role of design.md §8 (HQ operator, agency reporter, auditor), authenticated by token,
against a small but realistic disaster: reports of several categories, a correction, a
withdrawal, incidents and notices. Every answer must be a non-5xx that the schema documents: its
status code, content type, headers and body.

Generated ids and codes are mostly steered towards rows that exist (otherwise nearly every call
would be a 404 or a 400), and every call runs in a savepoint that is rolled back, so a POST that
creates or changes data cannot affect the next case: the run is deterministic (fixed seed) and
independent of order.
"""

from __future__ import annotations

import re
import zlib
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import login
from kurashiki_dr.wsgi import application
from notices.services import notice_send
from reports import services
from reports.models import ReportChannel

# Examples per operation and role in the fuzzing phase; the coverage and examples phases add
# their own deterministic cases (boundaries, missing and wrong-typed values).
MAX_EXAMPLES = 30
SEED = 20180706  # 平成30年7月豪雨

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
            "with-security-parameters": False,
        },
        "phases": {"stateful": {"enabled": False}},
    }
)

schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=CONFIG)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

ROLES = ("hq", "reporter", "auditor")


def _seed_disaster(
    *, hq_user, reporter_a, reporter_b, agency_a, agency_b, hospital_agency, districts
) -> dict[str, list[int]]:
    """A morning like 7 July 2018 in 真備, through the services real reports go through."""
    now = timezone.now()
    earlier = now - timedelta(hours=3)
    evac = services.report_submit(
        agency=agency_a,
        author=reporter_a,
        category="evacuees",
        fields={"facility": "箭田小学校", "count": 120, "households": 48},
        text="箭田小学校 避難者120名 48世帯",
        observed_at=earlier,
        channel=ReportChannel.LINEWORKS,
        location={"lat": 34.6371, "lng": 133.6921},
    )
    services.report_correct(
        report=evac,
        author=reporter_a,
        reason="人数の数え直し",
        fields={"facility": "箭田小学校", "count": 135, "households": 52},
        text="箭田小学校 避難者135名 52世帯",
    )
    outage = services.report_submit(
        agency=agency_b,
        author=reporter_b,
        category="outage",
        fields={
            "areas": [
                {"area": "真備町箭田", "households": 1200},
                {"area": "真備町川辺", "households": 800},
            ],
            "restoration": "未定",
        },
        text="停電情報 真備町箭田：1,200世帯 真備町川辺：800世帯",
        observed_at=earlier,
    )
    road = services.report_submit(
        agency=agency_a,
        author=reporter_a,
        category="road_closure",
        fields={"road": "県道278号", "place": "川辺橋", "cause": "flooding", "passable": False},
        text="県道278号 川辺橋付近 冠水のため通行不可",
        location={"lat": 34.6290, "lng": 133.7050},
    )
    water = services.report_submit(
        agency=agency_a,
        author=reporter_a,
        category="water_level",
        fields={"area": "小田川", "trend": "rising", "level_m": 6.2, "flooding": True},
        text="小田川 水位6.2m 上昇中 越水あり",
        district=districts["mabi"],
    )
    medical = services.report_submit(
        agency=hospital_agency,
        author=hq_user,
        category="medical_capacity",
        fields={"facility": "まび記念病院", "accepting": False, "beds_available": 0, "injured": 3},
        text="まび記念病院 1階浸水のため受入停止",
    )
    general = services.report_submit(
        agency=agency_b,
        author=reporter_b,
        category="general",
        fields={},
        text="高圧線の点検に向かいます",
    )
    services.report_withdraw(report=general, author=reporter_b, reason="重複した報告")
    services.report_acknowledge(report=outage, user=hq_user)
    incident = services.incident_open(
        user=hq_user,
        title="小田川 堤防決壊",
        description="真備町川辺地区で越水・決壊。",
        district=districts["mabi"],
        location={"lat": 34.6300, "lng": 133.7000},
    )
    services.report_link_incident(report=water, incident=incident, user=hq_user)
    closed = services.incident_open(user=hq_user, title="玉島 倒木", district=None, location=None)
    services.incident_update(incident=closed, user=hq_user, status="closed")
    notice = notice_send(
        user=hq_user,
        kind="muster",
        title="職員参集",
        body="真備支所に参集してください。",
        agencies=[agency_a, agency_b],
        incident=incident,
    )
    # Not addressed to the reporter's agency: the reporter must not see it.
    power_only = notice_send(
        user=hq_user,
        kind="dispatch_request",
        title="高所作業車の派遣要請",
        body="真備町川辺へ高所作業車1台の派遣をお願いします。",
        agencies=[agency_b],
    )
    return {
        "reports": [evac.pk, outage.pk, road.pk, water.pk, medical.pk, general.pk],
        "incidents": [incident.pk, closed.pk],
        "notices": [notice.pk, power_only.pk],
    }


@pytest.fixture
def in_process_requests():
    """As Django's test client does: the handler must not close the database connection at
    the end of a request, since the test's transaction lives on it."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def disaster(
    in_process_requests,
    hq_user,
    reporter_a,
    reporter_b,
    auditor,
    agency_a,
    agency_b,
    hospital_agency,
    districts,
) -> dict[str, Any]:
    ids = _seed_disaster(
        hq_user=hq_user,
        reporter_a=reporter_a,
        reporter_b=reporter_b,
        agency_a=agency_a,
        agency_b=agency_b,
        hospital_agency=hospital_agency,
        districts=districts,
    )
    users = {"hq": hq_user, "reporter": reporter_a, "auditor": auditor}
    tokens = {role: Token.objects.create(user=user).key for role, user in users.items()}
    return {"ids": ids, "tokens": tokens}


# Codes of the seeded directory (conftest.py), for the fields that name a row by its code.
CODES = {
    "agency": ["mabi-shelter", "chuden-kurashiki", "mabi-hospital", "hq"],
    "facility": ["yata-es", "mabi-kinen"],
    "district": ["mabi", "tamashima", "mizushima", "kojima", "kurashiki"],
}
ID_KINDS = (("/reports/", "reports"), ("/incidents/", "incidents"), ("/notices/", "notices"))


def _steer(case: Any, ids: dict[str, list[int]]) -> None:
    """Point three generated cases out of four at rows that exist: the path id, and the ids
    and codes named in the body or query. Random ids and codes would almost all be refused
    before the interesting code runs; the fourth case keeps what was generated (unknown and
    out-of-range values are worth fuzzing too). Only values of the documented type are
    replaced, so wrong-typed values still reach the server. Deterministic in the case."""
    key = zlib.crc32(repr((case.path_parameters, case.query, case.body)).encode())
    if key % 4 == 3:
        return

    def pick(options: list) -> Any:
        return options[(key >> 2) % len(options)]

    raw = (case.path_parameters or {}).get("id")
    if _is_int(raw) or (isinstance(raw, str) and raw.isascii() and raw.isdigit()):
        for prefix, kind in ID_KINDS:
            if case.path.startswith(f"/api/v1{prefix}"):
                case.path_parameters["id"] = pick(ids[kind])
    for values in (case.body, case.query):
        if not isinstance(values, dict):
            continue
        for name, codes in CODES.items():
            if isinstance(values.get(name), str):
                values[name] = pick(codes)
        if _is_int(values.get("incident")):
            values["incident"] = pick(ids["incidents"])
        if isinstance(values.get("agencies"), list) and values["agencies"]:
            values["agencies"] = CODES["agency"][: 1 + key % 3]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
# The fixture is the seeded disaster, shared on purpose: every case rolls back its changes.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_api_conforms_to_schema(case, role, disaster):
    _steer(case, disaster["ids"])
    # The WSGI transport hands back the body as sent; a gzip'd one could not be validated.
    headers = {"Authorization": f"Token {disaster['tokens'][role]}", "Accept-Encoding": "identity"}
    with transaction.atomic():
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        finally:
            transaction.set_rollback(True)


def _route_paths(patterns: list, prefix: str) -> set[str]:
    from django.urls import URLResolver

    paths = set()
    for pattern in patterns:
        route = prefix + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
        if isinstance(pattern, URLResolver):
            paths |= _route_paths(pattern.url_patterns, route)
        else:
            paths.add(route.replace("{pk}", "{id}"))
    return paths


def test_every_api_route_is_in_the_schema():
    """A view that drops out of the schema would silently drop out of the fuzzing above."""
    from kurashiki_dr import api_urls

    routes = _route_paths(api_urls.urlpatterns, "/api/v1/")
    assert routes
    assert routes <= set(schema.raw_schema["paths"]), routes - set(schema.raw_schema["paths"])


@pytest.mark.django_db
def test_api_not_found_is_the_error_shape_and_pages_stay_html(hq_user):
    client = login(hq_user)
    for path in ("/api/v1/notices/abc/", "/api/v1/no-such-thing/"):
        response = client.get(path)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json() == {
            "error": {"code": "not_found", "message": "見つかりません。", "fields": {}}
        }
    page = client.get("/reports/no-such-page/")
    assert page.status_code == 404
    assert "ページが見つかりません" in page.content.decode()
