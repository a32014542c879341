"""The timeline (クロノロジー): projection from the audit log, the page query, the entry shape.

``project_event`` runs for every new audit event, inside its transaction, and copies the
events HQ follows into ``TimelineEntry``. ``timeline_page`` reads one keyset page (newest
first) with the filters of the dashboard; one query, whatever the number of reports.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from agencies.models import Agency
from audit.models import AuditEvent
from dashboard.links import incident_url, notice_url, report_url
from dashboard.models import TimelineEntry
from reports.categories import CAUSE_LABELS, SCHEMAS, TREND_LABELS, Category
from reports.models import IncidentStatus, Report, format_number

REPORT_REVISION_ACTIONS = ("report.original", "report.correction", "report.withdrawal")
REPORT_ACTIONS = (*REPORT_REVISION_ACTIONS, "report.photo", "report.acknowledge")
INCIDENT_ACTIONS = ("incident.open", "incident.update", "incident.close")
NOTICE_ACTIONS = ("notice.send", "notice.acknowledge")
TIMELINE_ACTIONS = (*REPORT_ACTIONS, "report.link_incident", *INCIDENT_ACTIONS, *NOTICE_ACTIONS)

_TEXT_EXCERPT = 300
_CODED = {**CAUSE_LABELS, **TREND_LABELS}
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def action_labels() -> dict[str, str]:
    return {
        "report.original": _("報告"),
        "report.correction": _("訂正"),
        "report.withdrawal": _("取消"),
        "report.photo": _("写真"),
        "report.acknowledge": _("確認"),
        "report.link_incident": _("関連付け"),
        "incident.open": _("インシデント開始"),
        "incident.update": _("インシデント更新"),
        "incident.close": _("インシデント終了"),
        "notice.send": _("通知発信"),
        "notice.acknowledge": _("了解"),
    }


# --- Projection -----------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def project_event(event: AuditEvent) -> TimelineEntry | None:
    """Copy one audit event into the timeline, if it is one HQ follows.

    Runs inside the transaction that wrote the event (a post_save receiver), so the entry
    commits or rolls back with the change. Never raises for a missing related row: the audit
    event is the record, the entry only a view of it.
    """
    if event.action not in TIMELINE_ACTIONS:
        return None
    payload = event.payload or {}
    entry = TimelineEntry(
        event=event,
        occurred_at=event.occurred_at,
        action=event.action,
        actor_label=event.actor_label,
        channel=event.channel,
    )
    if event.action in REPORT_REVISION_ACTIONS:
        record = payload.get("record") or {}
        entry.report_id = _int(record.get("report"))
        entry.category = record.get("category") or ""
        entry.revision_number = _int(record.get("number"))
        text = record.get("text") or ""
        entry.data = {
            "text": text[:_TEXT_EXCERPT],
            "fields": record.get("fields") or {},
            "reason": (record.get("reason") or "")[:_TEXT_EXCERPT],
        }
    elif event.action in ("report.photo",):
        entry.report_id = _int((payload.get("record") or {}).get("report"))
    elif event.action in ("report.acknowledge", "report.link_incident"):
        entry.report_id = _int(event.object_id)
        if event.action == "report.link_incident":
            entry.data = {"from": payload.get("from"), "to": payload.get("to")}
    elif event.action in INCIDENT_ACTIONS:
        entry.incident_id = _int(event.object_id)
        entry.data = {"title": payload.get("title", ""), "status": payload.get("status", "")}
    elif event.action == "notice.send":
        from notices.models import Notice

        entry.notice_id = _int(event.object_id)
        entry.incident_id = (
            Notice.objects.filter(pk=entry.notice_id).values_list("incident_id", flat=True).first()
        )
        entry.data = {
            "kind": payload.get("kind", ""),
            "title": payload.get("title", ""),
            "recipients": len(payload.get("agencies") or []),
        }
    elif event.action == "notice.acknowledge":
        from notices.models import Notice

        entry.notice_id = _int(payload.get("notice"))
        entry.agency_id = (
            Agency.objects.filter(code=payload.get("agency")).values_list("pk", flat=True).first()
        )
        notice = Notice.objects.filter(pk=entry.notice_id).values("title", "kind", "incident_id")
        notice = notice.first() or {}
        entry.incident_id = notice.get("incident_id")
        entry.data = {"title": notice.get("title", ""), "kind": notice.get("kind", "")}

    if entry.report_id is not None:
        report = (
            Report.objects.filter(pk=entry.report_id)
            .values("agency_id", "category", "incident_id")
            .first()
        )
        if report is None:
            entry.report_id = None
        else:
            entry.agency_id = report["agency_id"]
            entry.category = entry.category or report["category"]
            entry.incident_id = report["incident_id"]
            if event.action == "report.link_incident":
                # The report's whole history now belongs to the incident for the filter.
                TimelineEntry.objects.filter(report_id=entry.report_id).update(
                    incident_id=report["incident_id"]
                )
                entry.incident_id = report["incident_id"] or _int(payload.get("from"))
    entry.save(force_insert=True)
    return entry


def rebuild_timeline(batch: int = 2000) -> int:
    """Project every audit event again (after a restore). Safe to run twice."""
    TimelineEntry.objects.all().delete()
    last_id, count = 0, 0
    while True:
        events = list(
            AuditEvent.objects.filter(id__gt=last_id, action__in=TIMELINE_ACTIONS).order_by("id")[
                :batch
            ]
        )
        if not events:
            return count
        for event in events:
            if project_event(event) is not None:
                count += 1
        last_id = events[-1].id


# --- Reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineFilters:
    category: str | None = None
    agency: Agency | None = None
    incident: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def parse_moment(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 time from a query string; a time without offset is Asia/Tokyo."""
    if value in (None, ""):
        return None
    text = value.strip()
    if "T" in text:
        # An unescaped "+09:00" in a query string arrives as " 09:00".
        text = text.replace(" ", "+", 1)
    try:
        moment = parse_datetime(text)
        if moment is not None and timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        if moment is not None:
            # Nothing was recorded before 1900 or after 2200; clamping keeps the answer exact
            # and every later conversion within Python's datetime range.
            moment = min(max(moment, _EARLIEST), _LATEST)
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        raise ValidationError(
            {name: _("日時は ISO 8601 形式で指定してください（例: 2018-07-07T06:00:00+09:00）。")}
        )
    return moment


def parse_filters(params: Any) -> TimelineFilters:
    """Filters from a query dict; raises ValidationError naming the bad parameter."""
    errors: dict[str, str] = {}
    category = params.get("category") or None
    if category is not None and category not in Category.values:
        errors["category"] = _("不明な分類です。")
    agency = None
    if params.get("agency"):
        code = params["agency"]
        agency = None if "\x00" in code else Agency.objects.filter(code=code[:64]).first()
        if agency is None:
            errors["agency"] = _("不明な機関です。")
    incident = None
    if params.get("incident"):
        incident = _int(params["incident"])
        if incident is None or not 1 <= incident < 2**63:
            errors["incident"] = _("インシデントは番号で指定してください。")
    since = until = None
    try:
        since = parse_moment(params.get("since"), "since")
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
    try:
        until = parse_moment(params.get("until"), "until")
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)
    return TimelineFilters(category, agency, incident, since, until)


def encode_cursor(entry: TimelineEntry) -> str:
    raw = f"{entry.occurred_at.isoformat()}|{entry.event_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        at, _sep, event_id = raw.partition("|")
        moment = parse_datetime(at)
        numeric = event_id.isascii() and event_id.isdecimal()
        if moment is None or not numeric or timezone.is_naive(moment):
            raise ValueError(raw)
        if int(event_id) >= 2**63:
            raise ValueError(raw)
        return moment, int(event_id)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ValidationError({"cursor": _("ページの指定が正しくありません。")}) from None


def timeline_page(
    filters: TimelineFilters, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[TimelineEntry], str | None]:
    """One page, newest first, and the cursor of the next page (None at the end). One query."""
    qs = TimelineEntry.objects.select_related("agency", "report", "incident")
    if filters.category:
        qs = qs.filter(category=filters.category)
    if filters.agency is not None:
        qs = qs.filter(agency=filters.agency)
    if filters.incident is not None:
        qs = qs.filter(incident_id=filters.incident)
    if filters.since is not None:
        qs = qs.filter(occurred_at__gte=filters.since)
    if filters.until is not None:
        qs = qs.filter(occurred_at__lte=filters.until)
    if cursor:
        at, event_id = decode_cursor(cursor)
        qs = qs.filter(occurred_at__lte=at).filter(
            Q(occurred_at__lt=at) | Q(occurred_at=at, event_id__lt=event_id)
        )
    rows = list(qs.order_by("-occurred_at", "-event_id")[: limit + 1])
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _format_value(value: Any, *, coded: bool = False) -> str:
    if coded and isinstance(value, str) and value in _CODED:
        return str(_CODED[value])
    if value is True:
        return _("はい")
    if value is False:
        return _("いいえ")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, dict) and "area" in item:
                count = item.get("households")
                parts.append(
                    f"{item['area']} " + _("%(n)s世帯") % {"n": f"{count:,}"}
                    if count is not None
                    else item["area"]
                )
            else:
                parts.append(str(item))
        return _("、").join(parts)
    return str(value)


def fields_summary(category: str, fields: dict[str, Any]) -> str:
    """The fields as one readable line: 「施設: 箭田小学校 / 避難者数（人）: 35」."""
    parts = []
    for spec in SCHEMAS.get(category, ()):
        value = fields.get(spec.name)
        if value is None or value == [] or value == "":
            continue
        parts.append(f"{spec.label}: {_format_value(value, coded=spec.kind == 'choice')}")
    return " / ".join(parts)


def entry_summary(entry: TimelineEntry) -> str:
    data = entry.data or {}
    number = format_number(entry.report_id) if entry.report_id else ""
    if entry.action in REPORT_REVISION_ACTIONS:
        body = fields_summary(entry.category, data.get("fields") or {}) or data.get("text", "")
        if entry.action == "report.withdrawal":
            return _("%(n)s を取り消しました（理由: %(r)s）") % {
                "n": number,
                "r": data.get("reason"),
            }
        if entry.action == "report.correction":
            return _("%(n)s 第%(v)s版（理由: %(r)s） %(b)s") % {
                "n": number,
                "v": entry.revision_number,
                "r": data.get("reason"),
                "b": body,
            }
        return body
    if entry.action == "report.photo":
        return _("%(n)s に写真が追加されました") % {"n": number}
    if entry.action == "report.acknowledge":
        return _("%(n)s を本部が確認しました") % {"n": number}
    if entry.action == "report.link_incident":
        if data.get("to"):
            return _("%(n)s をインシデント I-%(i)04d に関連付けました") % {
                "n": number,
                "i": int(data["to"]),
            }
        return _("%(n)s のインシデント関連付けを解除しました") % {"n": number}
    if entry.action in INCIDENT_ACTIONS:
        status = data.get("status")
        label = IncidentStatus(status).label if status in IncidentStatus.values else ""
        return f"I-{entry.incident_id or 0:04d} {data.get('title', '')}（{label}）"
    if entry.action == "notice.send":
        from notices.models import NoticeKind

        kind = data.get("kind")
        kind_label = NoticeKind(kind).label if kind in NoticeKind.values else ""
        return _("%(k)s「%(t)s」を %(c)d 機関へ発信") % {
            "k": kind_label,
            "t": data.get("title", ""),
            "c": data.get("recipients") or 0,
        }
    if entry.action == "notice.acknowledge":
        return _("「%(t)s」を了解") % {"t": data.get("title", "")}
    return ""


def entry_url(entry: TimelineEntry) -> str | None:
    if entry.report_id:
        return report_url(entry.report_id)
    if entry.notice_id:
        return notice_url(entry.notice_id)
    if entry.incident_id:
        return incident_url(entry.incident_id)
    return None


def entry_json(entry: TimelineEntry, labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = labels or action_labels()
    category_label = Category(entry.category).label if entry.category in Category.values else ""
    return {
        "id": entry.event_id,
        "at": timezone.localtime(entry.occurred_at).isoformat(),
        "action": entry.action,
        "action_label": labels.get(entry.action, entry.action),
        "category": entry.category or None,
        "category_label": str(category_label) or None,
        "agency": entry.agency.code if entry.agency else None,
        "agency_name": entry.agency.name if entry.agency else None,
        "actor": entry.actor_label or None,
        "channel": entry.channel or None,
        "report": entry.report_id,
        "number": format_number(entry.report_id) if entry.report_id else None,
        "report_status": entry.report.status if entry.report else None,
        "revision": entry.revision_number,
        "incident": entry.incident_id,
        "incident_title": entry.incident.title if entry.incident else None,
        "notice": entry.notice_id,
        "text": (entry.data or {}).get("text") or None,
        "summary": entry_summary(entry),
        "url": entry_url(entry),
    }
