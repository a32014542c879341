"""The auditor changes nothing, anywhere. Two layers:

1. A sweep over every URL the portal serves: POST, PUT, PATCH and DELETE as the auditor, with
   a payload that would be valid for the common forms, must not change a single domain row
   (every write goes through a service that appends a non-``audit.*`` event, so the event
   count is the tripwire). Read-only pages may answer a POST with the page itself.
2. For the main write paths, the same request by someone who may write does write (so the
   payload is valid and the refusal means something), and the auditor gets 403.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from audit.models import AuditEvent
from conftest import login
from notices.models import Notice, NoticeRecipient
from reports.models import Incident, Photo, Report, ReportRevision

pytestmark = pytest.mark.django_db

# Not user writes: sign-in and language (session only), the schema, the LINE WORKS webhook
# (signed by LINE WORKS, not a user), the admin (the auditor is not staff), and the auditor's
# own two POSTs (publishing the chain head and verifying it add evidence, change no report).
SKIP = re.compile(
    r"^(accounts/|i18n/|admin/|api/schema|api/docs|media/|lineworks/callback$|"
    r"audit/chain/anchor/$|audit/chain/verify/$|healthz$)"
)


def fingerprint() -> tuple:
    return (
        AuditEvent.objects.exclude(action__startswith="audit.").count(),
        Report.objects.count(),
        ReportRevision.objects.count(),
        Report.objects.filter(status="acknowledged").count(),
        Report.objects.exclude(incident=None).count(),
        Incident.objects.count(),
        Notice.objects.count(),
        NoticeRecipient.objects.exclude(acknowledged_at=None).count(),
        Photo.objects.count(),
    )


def routes(resolver=None, prefix: str = ""):
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        text = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from routes(pattern, text)
        elif isinstance(pattern, URLPattern):
            yield text


@pytest.fixture
def world(hq_user, reporter_a, agency_a, agency_b, corrected_report, photo, notice, districts):
    from reports.services import incident_open

    incident = incident_open(user=hq_user, title="小田川 決壊", district=districts["mabi"])
    return {"report": corrected_report, "incident": incident, "notice": notice, "photo": photo}


def concrete(route: str, world: dict) -> str | None:
    """A real path for a route pattern, with ids of objects that exist."""
    if "^" in route or "(?P" in route or "<path:" in route:
        return None

    def pick(match: re.Match) -> str:
        name = match.group(2)
        before = route[: match.start()]
        if match.group(1) == "slug":
            return "mabi-shelter"
        if "notices" in before:
            return str(world["notice"].pk)
        if "incidents" in before:
            return str(world["incident"].pk)
        if "photos" in before:
            return str(world["photo"].pk)
        if name in ("pk", "id") or "reports" in before:
            return str(world["report"].pk)
        return "1"

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", pick, route)


def generic_payload(world: dict, agency_a) -> dict:
    return {
        "agency": agency_a.pk,
        "category": "evacuees",
        "evacuees__facility": "箭田小学校",
        "evacuees__count": "150",
        "facility": "",
        "text": "避難者数 150名",
        "reason": "監査担当による変更の試み",
        "title": "監査担当からの通知",
        "body": "本文",
        "kind": "info",
        "all_agencies": "on",
        "agencies": [agency_a.pk],
        "incident": world["incident"].pk,
        "status": "closed",
    }


def test_auditor_changes_nothing_on_any_url(auditor, world, agency_a):
    client = login(auditor)
    api = APIClient()
    api.force_authenticate(auditor)
    payload = generic_payload(world, agency_a)
    json_payload = {
        "agency": agency_a.code,
        "category": "evacuees",
        "fields": {"facility": "箭田小学校", "count": 150},
        "reason": "監査担当による変更の試み",
        "incident": world["incident"].pk,
        "title": "x",
        "body": "y",
        "kind": "info",
        "status": "closed",
    }
    tried = []
    for route in routes():
        if SKIP.match(route):
            continue
        path = concrete(route, world)
        if path is None:
            continue
        before = fingerprint()
        for method in ("post", "put", "patch", "delete"):
            if path.startswith("/api/"):
                response = getattr(api, method)(path, json_payload, format="json")
            else:
                response = getattr(client, method)(path, payload)
            tried.append((method, path, response.status_code))
            assert fingerprint() == before, (
                f"{method.upper()} {path} by the auditor changed data ({response.status_code})"
            )
    paths = {p for _m, p, _s in tried}
    assert "/audit/" in paths and f"/audit/reports/{world['report'].pk}/" in paths
    assert len(paths) >= 10


def _form_new(world, agency_a):
    return reverse("reports:new"), {
        "agency": agency_a.pk,
        "category": "evacuees",
        "evacuees__facility": "箭田小学校",
        "evacuees__count": "150",
        "text": "避難者数 150名",
    }


def _form_correct(world, agency_a):
    return reverse("reports:correct", args=[world["report"].pk]), {
        "category": "evacuees",
        "evacuees__facility": "箭田小学校",
        "evacuees__count": "160",
        "reason": "再集計",
    }


def _form_withdraw(world, agency_a):
    return reverse("reports:withdraw", args=[world["report"].pk]), {"reason": "重複のため"}


def _form_acknowledge(world, agency_a):
    return reverse("reports:acknowledge", args=[world["report"].pk]), {}


def _form_notice(world, agency_a):
    return reverse("notices:new"), {
        "kind": "info",
        "title": "給水所の開設",
        "body": "真備支所で給水を開始しました。",
        "all_agencies": "on",
    }


@pytest.mark.parametrize(
    ("build", "writer"),
    [
        (_form_new, "reporter_a"),
        (_form_correct, "reporter_a"),
        (_form_withdraw, "reporter_a"),
        (_form_acknowledge, "hq"),
        (_form_notice, "hq"),
    ],
)
def test_web_forms_write_for_writers_and_refuse_auditor(cast, world, agency_a, build, writer):
    path, data = build(world, agency_a)
    before = fingerprint()
    response = login(cast["auditor"]).post(path, data)
    assert response.status_code == 403
    assert fingerprint() == before
    login(cast[writer]).post(path, data)
    assert fingerprint() != before, f"control: {writer} could not write through {path}"


def _api_create(world, agency_a):
    return "/api/v1/reports/", {
        "agency": agency_a.code,
        "category": "evacuees",
        "fields": {"facility": "箭田小学校", "count": 150},
        "text": "避難者数 150名",
    }


def _api_correct(world, agency_a):
    return f"/api/v1/reports/{world['report'].pk}/corrections/", {
        "reason": "再集計",
        "fields": {"facility": "箭田小学校", "count": 160},
    }


def _api_withdraw(world, agency_a):
    return f"/api/v1/reports/{world['report'].pk}/withdrawal/", {"reason": "重複のため"}


def _api_acknowledge(world, agency_a):
    return f"/api/v1/reports/{world['report'].pk}/acknowledge/", {}


def _api_incident(world, agency_a):
    return f"/api/v1/reports/{world['report'].pk}/incident/", {"incident": world["incident"].pk}


@pytest.mark.parametrize(
    ("build", "writer"),
    [
        (_api_create, "reporter_a"),
        (_api_correct, "reporter_a"),
        (_api_withdraw, "reporter_a"),
        (_api_acknowledge, "hq"),
        (_api_incident, "hq"),
    ],
)
def test_api_writes_for_writers_and_refuses_auditor_token(cast, world, agency_a, build, writer):
    path, data = build(world, agency_a)

    def client_for(user):
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    before = fingerprint()
    response = client_for(cast["auditor"]).post(path, data, format="json")
    assert response.status_code == 403, response.content
    assert fingerprint() == before
    response = client_for(cast[writer]).post(path, data, format="json")
    assert fingerprint() != before, f"control: {writer} got {response.status_code} on {path}"
