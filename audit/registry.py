"""Immutable records whose content the audit chain vouches for.

An app registers a model and a snapshot function. The service that creates such a record
writes one audit event with ``payload["record"] = snapshot(obj)`` and ``object_type`` the
model label. ``verify_records`` then checks every record against its event, so a record
edited, deleted or inserted by SQL is found even though the chain itself is intact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Model

from audit import chain
from audit.models import AuditEvent

Snapshot = Callable[[Any], dict[str, Any]]
_RECORDS: dict[str, tuple[type[Model], Snapshot]] = {}


def register_record(model: type[Model], snapshot: Snapshot) -> None:
    _RECORDS[model._meta.label_lower] = (model, snapshot)


def snapshot_of(obj: Model) -> dict[str, Any]:
    _model, snapshot = _RECORDS[obj._meta.label_lower]
    return snapshot(obj)


def verify_records(chunk_size: int = 2000) -> chain.ChainProblem | None:
    for label, (model, snapshot) in _RECORDS.items():
        seen: set[str] = set()
        last_id = 0
        events = AuditEvent.objects.filter(object_type=label, payload__has_key="record")
        while True:
            page = list(
                events.filter(id__gt=last_id)
                .order_by("id")
                .values("id", "object_id", "payload")[:chunk_size]
            )
            if not page:
                break
            last_id = page[-1]["id"]
            objects = model._default_manager.in_bulk([int(e["object_id"]) for e in page])
            for event in page:
                obj = objects.get(int(event["object_id"]))
                if obj is None:
                    return chain.ChainProblem(
                        event["id"], f"{label} {event['object_id']} was deleted"
                    )
                if chain.digest(snapshot(obj)) != chain.digest(event["payload"]["record"]):
                    return chain.ChainProblem(
                        event["id"],
                        f"{label} {event['object_id']} no longer matches the audited content",
                    )
                seen.add(event["object_id"])
        if model._default_manager.count() != len(seen):
            stray = (
                model._default_manager.exclude(pk__in=[int(s) for s in seen]).order_by("pk").first()
            )
            return chain.ChainProblem(
                0,
                f"{label} {stray.pk if stray else '?'} has no audit event (inserted outside "
                "the portal)",
            )
    return None
