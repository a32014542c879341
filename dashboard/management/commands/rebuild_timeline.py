"""Rebuild the timeline (クロノロジー) from the audit log, e.g. after restoring a backup."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from dashboard.timeline import rebuild_timeline


class Command(BaseCommand):
    help = "Rebuild the dashboard timeline from the audit log (safe to run twice)."

    def handle(self, *args, **options) -> None:
        with transaction.atomic():
            count = rebuild_timeline()
        self.stdout.write(f"timeline rebuilt: {count} entries")
