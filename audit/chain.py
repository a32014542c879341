"""Hashing rules of the audit chain. Pure functions, no database: a bundle verifier uses them too.

canonical(event) is the UTF-8 JSON of the fields that define an event, with sorted keys and no
whitespace. hash = sha256(prev_hash + canonical). The first event's prev_hash is GENESIS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS = "0" * 64


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(value: Any) -> str:
    return hashlib.sha256(dumps(value).encode("utf-8")).hexdigest()


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def canonical(event: Mapping[str, Any]) -> str:
    """The exact text that is hashed. ``event`` needs the keys listed here."""
    return dumps(
        {
            "id": int(event["id"]),
            "occurred_at": event["occurred_at"]
            if isinstance(event["occurred_at"], str)
            else iso(event["occurred_at"]),
            "actor": event["actor_id"],
            "actor_label": event["actor_label"],
            "action": event["action"],
            "object_type": event["object_type"],
            "object_id": event["object_id"],
            "channel": event["channel"],
            "payload_digest": event["payload_digest"],
            "prev_hash": event["prev_hash"],
        }
    )


def event_hash(event: Mapping[str, Any]) -> str:
    return hashlib.sha256((event["prev_hash"] + canonical(event)).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainProblem:
    event_id: int
    reason: str

    def __str__(self) -> str:
        return f"event #{self.event_id}: {self.reason}"


def verify_events(
    events: Iterable[Mapping[str, Any]], *, start_prev_hash: str = GENESIS
) -> tuple[int, str, ChainProblem | None]:
    """Walk events in id order. Returns (count, head hash, first problem or None).

    Each mapping needs the canonical keys plus ``payload`` and ``hash``.
    """
    prev = start_prev_hash
    count = 0
    for event in events:
        count += 1
        eid = int(event["id"])
        if event["prev_hash"] != prev:
            return (
                count,
                prev,
                ChainProblem(
                    eid,
                    "prev_hash does not match the previous event (a row was deleted, "
                    "inserted or reordered)",
                ),
            )
        if digest(event["payload"]) != event["payload_digest"]:
            return count, prev, ChainProblem(eid, "payload does not match its digest")
        if event_hash(event) != event["hash"]:
            return count, prev, ChainProblem(eid, "hash does not match the event's content")
        prev = event["hash"]
    return count, prev, None
