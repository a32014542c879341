from __future__ import annotations

import json
from typing import Any

from django import template
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import event_intact as _event_intact

register = template.Library()


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


@register.filter
def event_intact(event: AuditEvent) -> bool:
    return _event_intact(event)


@register.filter
def object_link(event: AuditEvent) -> str:
    """Where the auditor can see the event's object, if it is a report or part of one."""
    try:
        if event.object_type == "reports.report":
            return reverse("audit:report", args=[int(event.object_id)])
        if event.object_type in ("reports.reportrevision", "reports.photo"):
            record = (event.payload or {}).get("record") or {}
            if record.get("report"):
                return reverse("audit:report", args=[int(record["report"])])
    except (TypeError, ValueError):
        return ""
    return ""
