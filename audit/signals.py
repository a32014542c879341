"""Sent by the audit app inside the transaction (see reports/signals.py for the rules)."""

from __future__ import annotations

from django.dispatch import Signal

# kwargs: text (str) — a message publishing the chain head, for HQ's LINE WORKS talk;
# anchor (the stored anchor row).
chain_anchored = Signal()

# kwargs: event (AuditEvent) — every appended event, inside its transaction (read models such
# as the dashboard's chronology project it here so they commit with the change).
event_recorded = Signal()
