"""CAP 1.2 (OASIS Common Alerting Protocol) messages for notices and evacuation orders.

- A notice (参集命令, 派遣要請, 周知, 報告督促) is one ``Alert`` with scope ``Restricted``: it
  went to the city's partner agencies, not to the public.
- A fire report with an evacuation order (``fire`` with ``evacuation_order``) is a series:
  the first revision that orders evacuation is the ``Alert``; each later revision an
  ``Update`` (lifting the order is an update with responseType ``AllClear``); a withdrawal
  (取消: sent in error) a ``Cancel``. Later messages reference the earlier ones.

Times are Asia/Tokyo without fractions (the schema's pattern). The output validates against
the OASIS CAP 1.2 XSD (the tests check it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET  # noqa: S405 - we only build XML here, never parse

from django.conf import settings

from audit.exports import EXPORT_TZ
from notices.models import Notice, NoticeKind
from reports.categories import Category
from reports.models import Report, ReportRevision, RevisionKind

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CONTENT_TYPE = "application/cap+xml"
DEFAULT_SENDER = "city.kurashiki.okayama.jp"
SENDER_NAME = "倉敷市災害対策本部"

ET.register_namespace("", CAP_NS)


def sender() -> str:
    return getattr(settings, "KDR_CAP_SENDER", "") or DEFAULT_SENDER


def cap_time(moment: datetime) -> str:
    return moment.astimezone(EXPORT_TZ).strftime("%Y-%m-%dT%H:%M:%S+09:00")


def _status() -> str:
    # The demo portal's messages are exercises, never to be mistaken for real orders.
    return "Exercise" if getattr(settings, "DEMO_MODE", False) else "Actual"


def _sub(parent: ET.Element, tag: str, text: Any = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        element.text = str(text)
    return element


def _pair(parent: ET.Element, tag: str, name: str, value: Any) -> None:
    element = _sub(parent, tag)
    _sub(element, "valueName", name)
    _sub(element, "value", value)


def _circle(lat: float | None, lng: float | None, radius_km: float) -> str | None:
    if lat is None or lng is None:
        return None
    return f"{lat:.5f},{lng:.5f} {radius_km:g}"


def to_bytes(alert: ET.Element) -> bytes:
    return ET.tostring(alert, encoding="utf-8", xml_declaration=True)


# --- Notices ------------------------------------------------------------------------------

_NOTICE_PROFILE = {
    # kind: (category, responseType, urgency, severity)
    NoticeKind.MUSTER: ("Safety", "Execute", "Immediate", "Severe"),
    NoticeKind.DISPATCH_REQUEST: ("Rescue", "Execute", "Expected", "Moderate"),
    NoticeKind.INFO: ("Other", "Monitor", "Expected", "Minor"),
    NoticeKind.REMINDER: ("Other", "None", "Expected", "Minor"),
}


def notice_identifier(notice: Notice) -> str:
    return f"kurashiki-dr-notice-{notice.pk}"


def notice_alert(notice: Notice) -> ET.Element:
    category, response, urgency, severity = _NOTICE_PROFILE.get(
        notice.kind, ("Other", "None", "Unknown", "Unknown")
    )
    alert = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(alert, "identifier", notice_identifier(notice))
    _sub(alert, "sender", sender())
    _sub(alert, "sent", cap_time(notice.created_at))
    _sub(alert, "status", _status())
    _sub(alert, "msgType", "Alert")
    _sub(alert, "scope", "Restricted")
    _sub(alert, "restriction", "倉敷市災害対策本部と関係機関に限る")
    if notice.incident_id:
        _sub(alert, "incidents", f"kurashiki-dr-incident-{notice.incident_id}")
    info = _sub(alert, "info")
    _sub(info, "language", "ja-JP")
    _sub(info, "category", category)
    _sub(info, "event", notice.get_kind_display())
    _sub(info, "responseType", response)
    _sub(info, "urgency", urgency)
    _sub(info, "severity", severity)
    _sub(info, "certainty", "Observed")
    _sub(info, "audience", "関係機関")
    _sub(info, "senderName", SENDER_NAME)
    _sub(info, "headline", notice.title)
    _sub(info, "description", notice.body)
    recipients = [r.agency.name for r in notice.recipients.all()]
    if recipients:
        _pair(info, "parameter", "recipients", "、".join(recipients))
    area = _sub(info, "area")
    incident = notice.incident
    _sub(area, "areaDesc", incident.title if incident else "倉敷市")
    if incident is not None:
        circle = _circle(incident.lat, incident.lng, 1)
        if circle:
            _sub(area, "circle", circle)
    return alert


# --- Evacuation orders (fire reports) -----------------------------------------------------


@dataclass(frozen=True)
class _Message:
    identifier: str
    sent: str


def revision_identifier(rev: ReportRevision) -> str:
    return f"kurashiki-dr-report-{rev.report_id}-v{rev.number}"


def _order_text(fields: dict[str, Any]) -> str:
    parts = []
    if fields.get("households") is not None:
        parts.append(f"{fields['households']}世帯")
    if fields.get("people") is not None:
        parts.append(f"{fields['people']}名")
    return " ".join(parts)


def evacuation_alerts(report: Report, revisions: Iterable[ReportRevision]) -> Iterator[ET.Element]:
    """The CAP series of one fire report: nothing until a revision orders evacuation."""
    earlier: list[_Message] = []
    for rev in revisions:
        fields = rev.fields if isinstance(rev.fields, dict) else {}
        ordered = bool(fields.get("evacuation_order"))
        if not earlier and (not ordered or rev.kind == RevisionKind.WITHDRAWAL):
            continue
        if rev.kind == RevisionKind.WITHDRAWAL:
            msg_type, response = "Cancel", None
        elif not earlier:
            msg_type, response = "Alert", "Evacuate"
        else:
            msg_type, response = "Update", "Evacuate" if ordered else "AllClear"
        message = _Message(revision_identifier(rev), cap_time(rev.recorded_at))
        alert = ET.Element(f"{{{CAP_NS}}}alert")
        _sub(alert, "identifier", message.identifier)
        _sub(alert, "sender", sender())
        _sub(alert, "sent", message.sent)
        _sub(alert, "status", _status())
        _sub(alert, "msgType", msg_type)
        _sub(alert, "source", report.agency.name)
        _sub(alert, "scope", "Public")
        if rev.kind == RevisionKind.WITHDRAWAL:
            _sub(alert, "note", rev.reason)
        if earlier:
            _sub(
                alert,
                "references",
                " ".join(f"{sender()},{m.identifier},{m.sent}" for m in earlier),
            )
        if report.incident_id:
            _sub(alert, "incidents", f"kurashiki-dr-incident-{report.incident_id}")
        area_name = fields.get("area") or (rev.district.name if rev.district else "倉敷市")
        info = _sub(alert, "info")
        _sub(info, "language", "ja-JP")
        _sub(info, "category", "Fire")
        _sub(info, "event", "火災に伴う避難指示")
        if response:
            _sub(info, "responseType", response)
        lifted = response == "AllClear" or msg_type == "Cancel"
        _sub(info, "urgency", "Past" if lifted else "Immediate")
        _sub(info, "severity", "Minor" if lifted else "Severe")
        _sub(info, "certainty", "Observed")
        _sub(info, "effective", cap_time(rev.observed_at))
        reporter = report.agency.name
        _sub(
            info,
            "senderName",
            SENDER_NAME if reporter == SENDER_NAME else f"{SENDER_NAME}（{reporter}）",
        )
        if msg_type == "Cancel":
            headline = f"取消: {area_name} 火災に伴う避難指示"
        elif lifted:
            headline = f"解除: {area_name} 火災に伴う避難指示"
        else:
            headline = f"{area_name} 火災に伴う避難指示"
        _sub(info, "headline", headline)
        if rev.text:
            _sub(info, "description", rev.text)
        target = _order_text(fields)
        if ordered and target and not lifted:
            _sub(info, "instruction", f"対象 {target} は直ちに退去してください。")
        _pair(info, "parameter", "report", report.number)
        _pair(info, "parameter", "revision", rev.number)
        area = _sub(info, "area")
        _sub(area, "areaDesc", area_name)
        circle = _circle(rev.lat, rev.lng, 0.5)
        if circle:
            _sub(area, "circle", circle)
        earlier.append(message)
        yield alert


def evacuation_reports():
    """Fire reports any revision of which ordered evacuation."""
    return (
        Report.objects.filter(
            revisions__category=Category.FIRE, revisions__fields__evacuation_order=True
        )
        .distinct()
        .select_related("agency")
    )


def report_revisions(report: Report) -> list[ReportRevision]:
    return list(report.revisions.select_related("district").order_by("number"))


def latest_evacuation_alert(report: Report) -> ET.Element | None:
    alerts = list(evacuation_alerts(report, report_revisions(report)))
    return alerts[-1] if alerts else None
