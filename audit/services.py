"""Writing and verifying the audit chain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from audit import chain
from audit.models import AuditEvent

# Any constant; it names the PostgreSQL advisory lock that serialises chain appends.
_CHAIN_LOCK_KEY = 0x6B64725F61756469  # "kdr_audi"

_FIELDS = (
    "id",
    "occurred_at",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "channel",
    "payload",
    "payload_digest",
    "prev_hash",
    "hash",
)


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
    # SQLite serialises writers itself; the dev server is the only user of that mode.


def audit_record(
    *,
    actor: Any | None,
    action: str,
    obj: Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    channel: str = "",
    payload: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """Append one event. Must run inside the transaction of the change it records.

    Holds a transaction-scoped lock until commit, so appends are strictly ordered and the
    previous event read here is the committed head. Not idempotent: call once per change.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must be called inside transaction.atomic()")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = obj.pk
    clean_payload = json.loads(chain.dumps(payload or {}))
    _lock_chain()
    last = AuditEvent.objects.order_by("-id").values("id", "hash").first()
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    event = AuditEvent(
        id=(last["id"] + 1) if last else 1,
        occurred_at=occurred_at or timezone.now(),
        actor_id=actor_id,
        actor_label=actor.get_username() if actor_id else "",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        channel=channel,
        payload=clean_payload,
        payload_digest=chain.digest(clean_payload),
        prev_hash=last["hash"] if last else chain.GENESIS,
    )
    event.hash = chain.event_hash({f: getattr(event, f) for f in _FIELDS if f != "hash"})
    event.save(force_insert=True)
    return event


def iter_chain(chunk_size: int = 5000) -> Iterator[dict[str, Any]]:
    """All events in id order as dicts, streamed in keyset pages (constant memory)."""
    last_id = 0
    while True:
        rows = list(
            AuditEvent.objects.filter(id__gt=last_id).order_by("id").values(*_FIELDS)[:chunk_size]
        )
        if not rows:
            return
        yield from rows
        last_id = rows[-1]["id"]


@dataclass(frozen=True)
class VerifyResult:
    events: int
    head: str
    problem: chain.ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_chain() -> VerifyResult:
    """Verify the chain itself, then that every audited record still matches its event.

    A record edited by SQL after the fact keeps a valid chain but no longer matches the
    digest its audit event holds; the problem names that event.
    """
    with transaction.atomic():
        count, head, problem = chain.verify_events(iter_chain())
    if problem is None:
        from audit.registry import verify_records

        problem = verify_records()
    return VerifyResult(events=count, head=head, problem=problem)
