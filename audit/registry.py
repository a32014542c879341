"""What the audit app learns from other apps, without importing them.

Records: immutable rows whose content the audit chain vouches for. An app registers a model
and a snapshot function. The service that creates such a record writes one audit event with
``payload["record"] = snapshot(obj)`` and ``object_type`` the model label. ``RecordChecker``
(fed during the chain walk) and ``verify_records`` then check every record against its event,
so a record edited, deleted or inserted by SQL is found even though the chain itself is
intact.

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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import CharField, DateTimeField, Exists, JSONField, Model, OuterRef
from django.db.models.base import ModelState
from django.db.models.functions import Cast
from django.utils.module_loading import autodiscover_modules

from audit import chain
from audit.models import AuditEvent

logger = logging.getLogger(__name__)

Snapshot = Callable[[Any], dict[str, Any]]
_RECORDS: dict[str, tuple[type[Model], Snapshot]] = {}
_discovered = False


def _discover() -> None:
    """Import every app's ``services`` module once, where records are registered, so that a
    management command checks them too (nothing else may have imported them yet)."""
    global _discovered
    if not _discovered:
        autodiscover_modules("services")
        _discovered = True


def register_record(model: type[Model], snapshot: Snapshot) -> None:
    _RECORDS[model._meta.label_lower] = (model, snapshot)


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


Fetched = dict[str, dict[int, Model]]


class RecordChecker:
    """Checks audited records while the chain is walked (one pass over the events).

    Page by page: ``fetch(events)`` loads the rows those events vouch for (the verifier does
    this on its read-ahead thread), ``check(events, fetched)`` compares each with its
    event's snapshot. ``finish`` looks for rows that no event vouches for. ``check`` and
    ``finish`` return the first problem found, or None.
    """

    def __init__(self) -> None:
        _discover()
        self.labels = frozenset(_RECORDS)
        self.checked = 0

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
            self.checked += 1
        return None

    def finish(self) -> chain.ChainProblem | None:
        for label, (model, _snapshot) in _RECORDS.items():
            vouched = AuditEvent.objects.filter(
                object_type=label,
                object_id=Cast(OuterRef("pk"), CharField()),
                payload__has_key="record",
            )
            stray = (
                model._default_manager.filter(~Exists(vouched))
                .order_by("pk")
                .values_list("pk", flat=True)
                .first()
            )
            if stray is not None:
                return chain.ChainProblem(
                    0, f"{label} {stray} has no audit event (inserted outside the portal)"
                )
        return None


def verify_records(chunk_size: int = 2000) -> chain.ChainProblem | None:
    """Check every audited record against its event (a separate pass over the events)."""
    checker = RecordChecker()
    events = AuditEvent.objects.filter(object_type__in=checker.labels, payload__has_key="record")
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
