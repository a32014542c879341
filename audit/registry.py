"""What the audit app learns from other apps, without importing them.

Records: immutable rows whose content the audit chain vouches for. An app registers a model
and a snapshot function. The service that creates such a record writes one audit event with
``payload["record"] = snapshot(obj)`` and ``object_type`` the model label. ``RecordChecker``
(fed during the chain walk) and ``verify_records`` then check every record against its event,
so a record edited, deleted or inserted by SQL is found even though the chain itself is
intact. A record may also name a content check (a photo's file on disk against the SHA-256
its record holds) and the rows not yet due an event (a LINE WORKS message still waiting to
be processed).

States: rows that change (a report's status, agency, incident link and current revision; an
incident; a notice's acknowledgement per agency). Every service that writes such a row puts
its snapshot after the change into the audit event of that change, in the same transaction:
``payload["states"] = [state_of(obj), ...]`` (one event may carry several, e.g. a notice and
its recipients). Verification keeps the latest state per row while it walks the chain and
then compares each row with it: a row edited, deleted or inserted by SQL no longer matches
the last state the chain holds for it.

Sources: where a revision came from outside the portal. ``ReportRevision.source_ref`` holds a
reference such as ``"lineworks:inbound:123"``; the app that owns the raw message registers a
resolver for its prefix (in its ``AppConfig.ready``)::

    from audit.registry import SourceDocument, register_source_resolver

    def resolve_inbound(ref: str) -> SourceDocument | None:
        ...  # ref is the full reference, e.g. "lineworks:inbound:123"

    register_source_resolver("lineworks:inbound:", resolve_inbound)

The auditor's history page and the evidence bundle show what the resolver returns.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import CharField, DateTimeField, Exists, JSONField, Model, OuterRef, Q
from django.db.models.base import ModelState
from django.db.models.functions import Cast
from django.utils.module_loading import autodiscover_modules

from audit import chain
from audit.models import AuditEvent

logger = logging.getLogger(__name__)

Snapshot = Callable[[Any], dict[str, Any]]
ContentCheck = Callable[[Any], "str | None"]
_RECORDS: dict[str, tuple[type[Model], Snapshot]] = {}
_CONTENT_CHECKS: dict[str, ContentCheck] = {}
_UNVOUCHED: dict[str, Q] = {}
_STATES: dict[str, tuple[type[Model], Snapshot]] = {}
_discovered = False


def _discover() -> None:
    """Import every app's ``services`` module once, where records are registered, so that a
    management command checks them too (nothing else may have imported them yet)."""
    global _discovered
    if not _discovered:
        autodiscover_modules("services")
        _discovered = True


def register_record(
    model: type[Model],
    snapshot: Snapshot,
    *,
    content_check: ContentCheck | None = None,
    unvouched: Q | None = None,
) -> None:
    """``content_check(obj)`` returns why the row's content outside the database (a file)
    differs from its record, or None. ``unvouched`` selects rows that have no event yet by
    design (they get one when processed); every other row must have one."""
    label = model._meta.label_lower
    _RECORDS[label] = (model, snapshot)
    if content_check is not None:
        _CONTENT_CHECKS[label] = content_check
    if unvouched is not None:
        _UNVOUCHED[label] = unvouched


def register_state(model: type[Model], snapshot: Snapshot) -> None:
    _STATES[model._meta.label_lower] = (model, snapshot)


def state_of(obj: Model) -> dict[str, Any]:
    """The entry for ``payload["states"]``: the row's audited state as it is now (call after
    the change, inside its transaction)."""
    _discover()
    label = obj._meta.label_lower
    return {"type": label, "id": obj.pk, "record": _STATES[label][1](obj)}


def state_labels() -> frozenset[str]:
    _discover()
    return frozenset(_STATES)


def latest_state(events: Iterable[Any], obj: Model) -> tuple[Any, Any] | None:
    """(event, recorded state) of the last of ``events`` (AuditEvent rows in id order) that
    holds a state for ``obj``, or None."""
    label = obj._meta.label_lower
    found = None
    for event in events:
        payload = event.payload if isinstance(event.payload, dict) else {}
        for entry in payload.get("states") or ():
            if (
                isinstance(entry, dict)
                and entry.get("type") == label
                and str(entry.get("id")) == str(obj.pk)
            ):
                found = (event, entry.get("record"))
    return found


def state_matches(obj: Model, record: Any) -> bool:
    _discover()
    return chain.same_json(_STATES[obj._meta.label_lower][1](obj), record)


def content_problem(obj: Model) -> str | None:
    """Why the row's content outside the database differs from its record (None: it does
    not, or the model has no such content)."""
    _discover()
    check = _CONTENT_CHECKS.get(obj._meta.label_lower)
    return check(obj) if check is not None else None


def snapshot_of(obj: Model) -> dict[str, Any]:
    _discover()
    _model, snapshot = _RECORDS[obj._meta.label_lower]
    return snapshot(obj)


def record_labels() -> frozenset[str]:
    _discover()
    return frozenset(_RECORDS)


def record_matches(obj: Model, record: Any) -> bool:
    """Does ``obj`` still say what its audit event recorded?"""
    return chain.same_json(snapshot_of(obj), record)


def fetch_instances(model: type[Model], ids: list[int]) -> dict[int, Model]:
    """``in_bulk`` for the verifier, which loads every audited row (millions).

    On PostgreSQL the rows are read with one ``= ANY`` query, times as UTC text parsed by
    ``datetime.fromisoformat`` and JSON by the fast parser, and the instances are built the
    way ``Model.from_db`` would, without the per-field descriptor work. They are real,
    unsaved-state-free instances of ``model`` holding every concrete field.
    """
    if connection.vendor != "postgresql" or not ids:
        return model._default_manager.in_bulk(ids)
    return build_instances(model, fetch_rows(model, ids))


def fetch_rows(model: type[Model], ids: list[int]) -> list[tuple]:
    """The raw rows ``build_instances`` turns into instances (PostgreSQL; I/O only, so the
    verifier runs it on its read-ahead thread)."""
    sql = _fetch_plan(model)[0]
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids])
        return cursor.fetchall()


def build_instances(model: type[Model], rows: list[tuple]) -> dict[int, Model]:
    _sql, attnames, converters, pk_index = _fetch_plan(model)
    objects: dict[int, Model] = {}
    db = connection.alias
    new = model.__new__
    for row in rows:
        values = dict(zip(attnames, row, strict=True))
        for name, convert in converters:
            value = values[name]
            if value is not None:
                values[name] = convert(value)
        state = ModelState()
        state.adding = False
        state.db = db
        values["_state"] = state
        obj = new(model)
        obj.__dict__ = values
        objects[row[pk_index]] = obj
    return objects


_Plan = tuple[str, list[str], list[tuple[str, Callable[[Any], Any]]], int]
_PLANS: dict[str, _Plan] = {}


def _fetch_plan(model: type[Model]) -> _Plan:
    label = model._meta.label_lower
    if label in _PLANS:
        return _PLANS[label]
    qn = connection.ops.quote_name
    fields = model._meta.concrete_fields
    columns = []
    converters: list[tuple[str, Callable[[Any], Any]]] = []
    for f in fields:
        column = qn(f.column)
        if isinstance(f, DateTimeField):
            columns.append(
                f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US\"+00:00\"')"
            )
            converters.append((f.attname, datetime.fromisoformat))
        elif isinstance(f, JSONField):
            columns.append(f"{column}::text")
            converters.append((f.attname, chain.loads))
        else:
            columns.append(column)
            if hasattr(f, "from_db_value"):
                converters.append(
                    (f.attname, lambda value, f=f: f.from_db_value(value, None, connection))
                )
    sql = (
        f"SELECT {', '.join(columns)} FROM {qn(model._meta.db_table)} "  # noqa: S608
        f"WHERE {qn(model._meta.pk.column)} = ANY(%s)"
    )
    attnames = [f.attname for f in fields]
    plan = (sql, attnames, converters, attnames.index(model._meta.pk.attname))
    _PLANS[label] = plan
    return plan


def iter_model_pages(model: type[Model], chunk_size: int = 5000) -> Iterator[list[Model]]:
    """Every row of ``model`` in primary-key order, in keyset pages (constant memory)."""
    last: Any = None
    if connection.vendor == "postgresql":
        select = _fetch_plan(model)[0].split(" WHERE ", 1)[0]
        pk_column = connection.ops.quote_name(model._meta.pk.column)
        while True:
            where = f"WHERE {pk_column} > %s " if last is not None else ""
            params = [last, chunk_size] if last is not None else [chunk_size]
            with connection.cursor() as cursor:
                cursor.execute(f"{select} {where}ORDER BY {pk_column} LIMIT %s", params)
                rows = cursor.fetchall()
            if not rows:
                return
            objects = build_instances(model, rows)
            page = [objects[pk] for pk in sorted(objects)]
            yield page
            last = page[-1].pk
    manager = model._default_manager.order_by("pk")
    while True:
        qs = manager.filter(pk__gt=last) if last is not None else manager
        page = list(qs[:chunk_size])
        if not page:
            return
        yield page
        last = page[-1].pk


Fetched = dict[str, dict[int, Model]]
# label -> {row id: (id of the last event holding its state, state_digest of that state)}
States = dict[str, dict[int, tuple[int, bytes]]]


class RecordChecker:
    """Checks audited records and states while the chain is walked (one pass over events).

    Page by page: ``fetch(events)`` loads the rows those events vouch for (the verifier does
    this on its read-ahead thread), ``check(events, fetched)`` compares each with its
    event's snapshot (and a photo's file with its SHA-256) and remembers the latest state
    each event holds. ``finish`` looks for records that no event vouches for and compares
    every stateful row with the last state the chain holds for it. ``check`` and ``finish``
    return the first problem found, or None.
    """

    def __init__(self) -> None:
        _discover()
        self.labels = frozenset(_RECORDS)
        self.state_types = frozenset(_STATES)
        self.checked = 0
        self.states: States = {label: {} for label in _STATES}

    def _records(self, events: list[Mapping[str, Any]]) -> Iterator[tuple[str, Mapping]]:
        labels = self.labels
        for event in events:
            label = event["object_type"]
            if label in labels:
                payload = event["payload"]
                if isinstance(payload, dict) and "record" in payload:
                    yield label, event

    def fetch(self, events: list[Mapping[str, Any]]) -> Fetched:
        wanted: dict[str, list[int]] = {}
        for label, event in self._records(events):
            wanted.setdefault(label, []).append(int(event["object_id"]))
        return {label: fetch_instances(_RECORDS[label][0], ids) for label, ids in wanted.items()}

    def fetch_rows(self, wanted: Mapping[str, list[int]]) -> dict[str, list[tuple]]:
        """Raw rows for ``{label: [object ids]}`` (PostgreSQL; see ``build``)."""
        return {
            label: fetch_rows(_RECORDS[label][0], ids)
            for label, ids in wanted.items()
            if label in self.labels and ids
        }

    def build(self, raw: Mapping[str, list[tuple]]) -> Fetched:
        return {label: build_instances(_RECORDS[label][0], rows) for label, rows in raw.items()}

    def check(self, events: list[Mapping[str, Any]], fetched: Fetched) -> chain.ChainProblem | None:
        self.remember_states(events)
        for label, event in self._records(events):
            object_id = event["object_id"]
            obj = fetched.get(label, {}).get(int(object_id))
            if obj is None:
                return chain.ChainProblem(int(event["id"]), f"{label} {object_id} was deleted")
            if not chain.same_json(_RECORDS[label][1](obj), event["payload"]["record"]):
                return chain.ChainProblem(
                    int(event["id"]),
                    f"{label} {object_id} no longer matches the audited content",
                )
            check = _CONTENT_CHECKS.get(label)
            if check is not None:
                problem = check(obj)
                if problem is not None:
                    return chain.ChainProblem(int(event["id"]), f"{label} {object_id}: {problem}")
            self.checked += 1
        return None

    def remember_states(self, events: list[Mapping[str, Any]]) -> None:
        """Keep, per stateful row, the last state the events hold (events in id order)."""
        states, types, fingerprint = self.states, self.state_types, chain.state_digest
        for event in events:
            payload = event["payload"]
            if not isinstance(payload, dict) or "states" not in payload:
                continue
            entries = payload["states"]
            if not isinstance(entries, list):
                continue
            eid = int(event["id"])
            for entry in entries:
                if isinstance(entry, dict) and entry.get("type") in types:
                    try:
                        pk = int(entry["id"])
                    except (KeyError, TypeError, ValueError):
                        continue
                    states[entry["type"]][pk] = (eid, fingerprint(entry.get("record")))

    def merge_states(self, later: States) -> None:
        """Fold in the states remembered by a later segment of the chain."""
        for label, rows in later.items():
            self.states.setdefault(label, {}).update(rows)

    def finish(self) -> chain.ChainProblem | None:
        for label, (model, _snapshot) in _RECORDS.items():
            vouched = AuditEvent.objects.filter(
                object_type=label,
                object_id=Cast(OuterRef("pk"), CharField()),
                payload__has_key="record",
            )
            rows = model._default_manager.filter(~Exists(vouched))
            if label in _UNVOUCHED:
                rows = rows.exclude(_UNVOUCHED[label])
            stray = rows.order_by("pk").values_list("pk", flat=True).first()
            if stray is not None:
                return chain.ChainProblem(
                    0, f"{label} {stray} has no audit event (inserted outside the portal)"
                )
        return self.finish_states()

    def finish_states(self) -> chain.ChainProblem | None:
        """Every stateful row against the last state the chain holds for it (one pass over
        each table in primary-key order). Consumes ``self.states``."""
        fingerprint = chain.state_digest
        for label, (model, snapshot) in _STATES.items():
            latest = self.states.get(label, {})
            for page in iter_model_pages(model):
                for obj in page:
                    entry = latest.pop(obj.pk, None)
                    if entry is None:
                        return chain.ChainProblem(
                            0, f"{label} {obj.pk} has no audit event (inserted outside the portal)"
                        )
                    event_id, expected = entry
                    current = snapshot(obj)
                    if fingerprint(current) != expected and not _same_as_event(
                        event_id, label, obj.pk, current
                    ):
                        return chain.ChainProblem(
                            event_id, f"{label} {obj.pk} no longer matches the audited state"
                        )
                    self.checked += 1
            if latest:
                pk = min(latest)
                return chain.ChainProblem(latest[pk][0], f"{label} {pk} was deleted")
        return None


def _same_as_event(event_id: int, label: str, pk: Any, current: Any) -> bool:
    """The exact comparison behind a differing fingerprint (rare: read the event again)."""
    payload = AuditEvent.objects.filter(pk=event_id).values_list("payload", flat=True).first()
    for entry in (payload or {}).get("states") or ():
        if not isinstance(entry, dict) or entry.get("type") != label:
            continue
        if str(entry.get("id")) == str(pk):
            return chain.same_json(current, entry.get("record"))
    return False


def verify_records(chunk_size: int = 2000) -> chain.ChainProblem | None:
    """Check every audited record and state against its events (a separate pass over the
    events)."""
    checker = RecordChecker()
    events = AuditEvent.objects.filter(
        Q(object_type__in=checker.labels, payload__has_key="record") | Q(payload__has_key="states")
    )
    last_id = 0
    while True:
        page = list(
            events.filter(id__gt=last_id)
            .order_by("id")
            .values("id", "object_type", "object_id", "payload")[:chunk_size]
        )
        if not page:
            break
        last_id = page[-1]["id"]
        problem = checker.check(page, checker.fetch(page))
        if problem is not None:
            return problem
    return checker.finish()


# --- Sources ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceDocument:
    """A raw message behind a revision, as its owning app stored it.

    ``body`` is the message exactly as received (e.g. the LINE WORKS callback's JSON body);
    ``summary`` holds a few display lines (sender, talk room, text) in the order to show.
    """

    ref: str
    label: str
    body: str
    content_type: str = "application/json"
    received_at: datetime | None = None
    summary: Mapping[str, str] = field(default_factory=dict)
    # Does the stored message still match what the audit chain recorded for it? None: the
    # owning app does not say (or the message is not processed yet).
    intact: bool | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body.encode("utf-8")).hexdigest()


SourceResolver = Callable[[str], "SourceDocument | None"]
_RESOLVERS: dict[str, SourceResolver] = {}


def register_source_resolver(prefix: str, resolve: SourceResolver) -> None:
    """``resolve(ref)`` gets the full reference and returns a SourceDocument, or None when
    the message is not there. Registering the same prefix again replaces the resolver."""
    if not prefix:
        raise ValueError("a source resolver needs a non-empty prefix")
    _RESOLVERS[prefix] = resolve


def unregister_source_resolver(prefix: str) -> None:
    _RESOLVERS.pop(prefix, None)


def has_resolver(ref: str) -> bool:
    return any(ref.startswith(prefix) for prefix in _RESOLVERS)


def resolve_source(ref: str) -> SourceDocument | None:
    """The raw message behind ``ref``, or None (no resolver, not found, or resolver error:
    an auditor's page must still open when an integration is broken)."""
    if not ref:
        return None
    matches = [p for p in _RESOLVERS if ref.startswith(p)]
    if not matches:
        return None
    resolver = _RESOLVERS[max(matches, key=len)]
    try:
        return resolver(ref)
    except Exception:
        logger.exception("source resolver failed for %s", ref)
        return None
