"""/api/v1/audit/: the log and the chain's status for auditors' tools."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEvent, ChainAnchor

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def test_auditor_reads_the_log_filtered_and_paged(auditor, corrected_report, outage_report):
    response = api(auditor).get("/api/v1/audit/events/", {"action": "report."})
    assert response.status_code == 200
    data = response.json()
    actions = [e["action"] for e in data["results"]]
    assert actions == ["report.original", "report.correction", "report.original"]
    assert all(len(e["hash"]) == 64 for e in data["results"])
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.action, event.channel) == ("audit.view", "api")
    assert event.payload["filters"] == {"action": "report."}


def test_log_rejects_bad_time_and_bad_cursor(auditor):
    response = api(auditor).get("/api/v1/audit/events/", {"since": "昨日"})
    assert response.status_code == 400
    assert "since" in response.json()["error"]["fields"]
    assert api(auditor).get("/api/v1/audit/events/", {"cursor": "not-a-cursor"}).status_code == 404


def test_chain_status_and_publish(auditor, corrected_report):
    client = api(auditor)
    response = client.post("/api/v1/audit/chain/anchors/")
    assert response.status_code == 201
    anchor = ChainAnchor.objects.get()
    assert response.json()["head_hash"] == anchor.head_hash
    status = client.get("/api/v1/audit/chain/").json()
    assert status["head"]["id"] == anchor.head_id + 1  # the anchor's own event
    assert status["anchors"][0]["head_id"] == anchor.head_id

    # The same head again: nothing sent, the published anchor answered with 200.
    again = client.post("/api/v1/audit/chain/anchors/")
    assert again.status_code == 200 and again.json()["head_hash"] == anchor.head_hash
    assert ChainAnchor.objects.count() == 1


def test_publishing_too_often_is_refused_with_429(auditor, reporter_a, corrected_report):
    from reports import services

    client = api(auditor)
    assert client.post("/api/v1/audit/chain/anchors/").status_code == 201
    services.report_correct(
        report=corrected_report,
        author=reporter_a,
        reason="再集計",
        fields={"facility": "箭田小学校", "count": 150},
    )
    response = client.post("/api/v1/audit/chain/anchors/")
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "throttled" and "秒お待ちください" in error["message"]
    assert 0 < int(response["Retry-After"]) <= 300
    assert ChainAnchor.objects.count() == 1


@pytest.mark.parametrize("who", ["reporter_a", "stranger"])
def test_others_are_refused(cast, who, corrected_report):
    client = api(cast[who])
    assert client.get("/api/v1/audit/events/").status_code == 403
    assert client.get("/api/v1/audit/chain/").status_code == 403
    assert client.post("/api/v1/audit/chain/anchors/").status_code == 403
    assert not ChainAnchor.objects.exists()


def test_anonymous_gets_401(db):
    assert api(None).get("/api/v1/audit/events/").status_code == 401
