"""Keeps the timeline read model in step with the audit log."""

from __future__ import annotations

from typing import Any

from audit.models import AuditEvent
from dashboard.timeline import project_event


def audit_event_recorded(sender: Any, event: AuditEvent, **kwargs: Any) -> None:
    # Runs inside the transaction of audit_record: the entry commits with the change.
    project_event(event)
