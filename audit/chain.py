"""Hashing rules of the audit chain. Pure functions, no database: a bundle verifier uses them too.

canonical(event) is the UTF-8 JSON of the fields that define an event, with sorted keys and no
whitespace. hash = sha256(prev_hash + canonical). The first event's prev_hash is GENESIS.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

try:  # Optional accelerator; every result is confirmed or decided by the json module.
    import orjson
except ImportError:  # pragma: no cover - the portal installs it; a bundle reader may not
    orjson = None

GENESIS = "0" * 64
_ORJSON_OPTS = orjson.OPT_SORT_KEYS if orjson is not None else 0


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(value: Any) -> str:
    return hashlib.sha256(dumps(value).encode("utf-8")).hexdigest()


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _canonical_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    return {
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


def canonical(event: Mapping[str, Any]) -> str:
    """The exact text that is hashed. ``event`` needs the keys listed here."""
    return dumps(_canonical_fields(event))


def event_hash(event: Mapping[str, Any]) -> str:
    return hashlib.sha256((event["prev_hash"] + canonical(event)).encode("utf-8")).hexdigest()


def _fast(value: Any) -> bytes | None:
    """Canonical bytes by orjson, or None. Only ever used to *confirm* a match: orjson and
    ``dumps`` agree on plain JSON values, and where they might not (exotic floats, non-JSON
    types) the caller falls back to the reference, so a result never depends on orjson."""
    if orjson is None:
        return None
    try:
        return orjson.dumps(value, option=_ORJSON_OPTS)
    except TypeError:
        return None


def loads(text: str | bytes) -> Any:
    """Parse JSON text from the database, fast where orjson can (it refuses, e.g., integers
    beyond 64 bits; the json module then decides)."""
    if orjson is not None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def payload_matches(payload: Any, expected_digest: str) -> bool:
    fast = _fast(payload)
    if fast is not None and hashlib.sha256(fast).hexdigest() == expected_digest:
        return True
    return digest(payload) == expected_digest


def hash_matches(event: Mapping[str, Any], expected_hash: str) -> bool:
    fast = _fast(_canonical_fields(event))
    if fast is not None:
        h = hashlib.sha256(event["prev_hash"].encode("ascii") + fast).hexdigest()
        if h == expected_hash:
            return True
    return event_hash(event) == expected_hash


def state_digest(value: Any) -> bytes:
    """A compact fingerprint of a JSON value for the verifier's in-memory map of audited
    states. Deterministic for a given value (orjson where it can, the reference otherwise);
    two fingerprints that differ are only a hint, confirmed with ``same_json`` before a
    problem is reported."""
    fast = _fast(value)
    return hashlib.sha256(fast if fast is not None else dumps(value).encode("utf-8")).digest()


def same_json(a: Any, b: Any) -> bool:
    """True when two JSON values are equal in canonical form (the digest's view)."""
    fa, fb = _fast(a), _fast(b)
    if fa is not None and fa == fb:
        return True
    return dumps(a) == dumps(b)


@dataclass(frozen=True)
class ChainProblem:
    event_id: int
    reason: str

    def __str__(self) -> str:
        return f"event #{self.event_id}: {self.reason}"


@dataclass(frozen=True)
class WalkResult:
    count: int
    first_id: int | None
    last_id: int | None
    head: str
    problem: ChainProblem | None
    checkpoints_checked: int = 0

    @property
    def ok(self) -> bool:
        return self.problem is None


def walk(
    events: Iterable[Mapping[str, Any]],
    *,
    start_prev_hash: str = GENESIS,
    checkpoints: Mapping[int, str] | None = None,
    require_payload: bool = True,
    up_to: int | None = None,
) -> WalkResult:
    """Walk events in id order and stop at the first problem.

    ``checkpoints`` maps event ids to hashes published earlier (anchors). The event with such
    an id must have exactly that hash: a chain rewritten after publication (every hash
    recomputed, so it is consistent in itself) fails here, and so does a chain cut short
    before a published head. Checkpoints below the first event walked are not checked (a
    bundle carries a segment of the chain).

    Each mapping needs the canonical keys plus ``hash`` and, unless ``require_payload`` is
    false (a bundle leaves out payloads outside its scope), ``payload``. ``up_to`` marks a
    segment that ends there by choice (verification in parallel): checkpoints after it
    belong to the next segment.
    """
    checkpoints = checkpoints or {}
    prev = start_prev_hash
    count = checked = 0
    first_id: int | None = None
    last_id: int | None = None

    def result(problem: ChainProblem | None) -> WalkResult:
        return WalkResult(count, first_id, last_id, prev, problem, checked)

    for event in events:
        count += 1
        eid = int(event["id"])
        if first_id is None:
            first_id = eid
        if event["prev_hash"] != prev:
            return result(
                ChainProblem(
                    eid,
                    "prev_hash does not match the previous event (a row was deleted, "
                    "inserted or reordered)",
                )
            )
        if last_id is not None and eid <= last_id:
            return result(ChainProblem(eid, "event ids are not in ascending order"))
        if "payload" in event:
            if not payload_matches(event["payload"], event["payload_digest"]):
                return result(ChainProblem(eid, "payload does not match its digest"))
        elif require_payload:
            return result(ChainProblem(eid, "payload is missing"))
        if not hash_matches(event, event["hash"]):
            return result(ChainProblem(eid, "hash does not match the event's content"))
        published = checkpoints.get(eid)
        if published is not None:
            checked += 1
            if published != event["hash"]:
                return result(
                    ChainProblem(
                        eid,
                        "hash differs from the head published for this event (the chain "
                        "was rewritten after publication)",
                    )
                )
        prev = event["hash"]
        last_id = eid
    for cid in sorted(checkpoints):
        if first_id is not None and cid < first_id:
            continue
        if up_to is not None and cid > up_to:
            continue
        if last_id is None or cid > last_id:
            return result(
                ChainProblem(
                    cid,
                    f"a head was published for event #{cid} but the chain ends at "
                    f"#{last_id or 0} (events were removed from the end)",
                )
            )
    return result(None)


def verify_events(
    events: Iterable[Mapping[str, Any]], *, start_prev_hash: str = GENESIS
) -> tuple[int, str, ChainProblem | None]:
    """Walk events in id order. Returns (count, head hash, first problem or None).

    Each mapping needs the canonical keys plus ``payload`` and ``hash``.
    """
    res = walk(events, start_prev_hash=start_prev_hash)
    return res.count, res.head, res.problem


_ANCHOR_RE = re.compile(r"(?<![0-9A-Za-z])(\d{1,18}):([0-9a-f]{64})(?![0-9a-f])")


def parse_anchor_text(text: str) -> list[tuple[int, str]]:
    """The "N:HASH" pairs in published anchor messages (e.g. copied from the HQ talk)."""
    return [(int(m.group(1)), m.group(2)) for m in _ANCHOR_RE.finditer(text)]
