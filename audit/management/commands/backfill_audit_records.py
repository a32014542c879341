"""Vouch for rows written before the audit chain covered them.

Older versions of the portal recorded only revisions and photos in the chain. After the
upgrade, ``verify_audit_chain`` also compares reports, incidents, notices, their
acknowledgements and stored LINE WORKS messages with the chain, and a row that no event
vouches for fails ("has no audit event"). This command writes one ``audit.backfill`` event
per such row, holding the row as it is now: from then on an edit is detected.

It never touches a row the chain already vouches for, so it cannot hide an edit made after
that (run ``verify_audit_chain`` first: what it reports is not repaired here). Safe to run
again; a second run finds nothing to do.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import CharField, Exists, Model, OuterRef
from django.db.models.functions import Cast

from audit import registry
from audit.models import AuditEvent
from audit.services import _lock_chain, audit_record, iter_chain

_BATCH = 500


class Command(BaseCommand):
    help = (
        "Write an audit event for every audited row that has none yet (rows from before the "
        "chain covered them); changes nothing else."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        registry._discover()
        checker = registry.RecordChecker()
        page: list[dict[str, Any]] = []
        for event in iter_chain():
            page.append(event)
            if len(page) >= 5000:
                checker.remember_states(page)
                page = []
        checker.remember_states(page)

        total = 0
        for label, (model, _snapshot) in sorted(registry._STATES.items()):
            known = checker.states.get(label, {})
            missing = [
                obj.pk
                for rows in registry.iter_model_pages(model)
                for obj in rows
                if obj.pk not in known
            ]
            self._write(model, missing, state=True)
            self.stdout.write(f"{label}: {len(missing)}")
            total += len(missing)
        for label, (model, _snapshot) in sorted(registry._RECORDS.items()):
            vouched = AuditEvent.objects.filter(
                object_type=label,
                object_id=Cast(OuterRef("pk"), CharField()),
                payload__has_key="record",
            )
            rows = model._default_manager.filter(~Exists(vouched))
            if label in registry._UNVOUCHED:
                rows = rows.exclude(registry._UNVOUCHED[label])
            missing = list(rows.order_by("pk").values_list("pk", flat=True))
            self._write(model, missing, state=False)
            self.stdout.write(f"{label}: {len(missing)}")
            total += len(missing)
        self.stdout.write(f"backfilled {total} rows")

    def _write(self, model: type[Model], pks: list[Any], *, state: bool) -> None:
        snapshot = (registry._STATES if state else registry._RECORDS)[model._meta.label_lower][1]
        for start in range(0, len(pks), _BATCH):
            with transaction.atomic():
                # Rows are read under the chain's lock: a change committed before is in the
                # snapshot, one committed after writes its own, later, event.
                _lock_chain()
                for obj in model._default_manager.filter(pk__in=pks[start : start + _BATCH]):
                    payload = {"states": [registry.state_of(obj)]} if state else {}
                    if not state:
                        payload["record"] = snapshot(obj)
                    audit_record(
                        actor=None,
                        action="audit.backfill",
                        obj=obj,
                        channel="command",
                        payload=payload,
                    )
