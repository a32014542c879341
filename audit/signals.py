"""Sent by the audit app inside the transaction (see reports/signals.py for the rules)."""

from __future__ import annotations

from django.dispatch import Signal

# kwargs: text (str) — a message publishing the chain head, for HQ's LINE WORKS talk;
# anchor (the stored anchor row).
chain_anchored = Signal()
