from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from audit.services import verify_chain


class Command(BaseCommand):
    help = "Verify the hash-chained audit log and every audited record (exit 0 when intact)."

    def handle(self, *args, **options) -> None:
        started = time.monotonic()
        result = verify_chain()
        elapsed = time.monotonic() - started
        if not result.ok:
            raise CommandError(f"audit chain BROKEN at {result.problem}")
        self.stdout.write(
            f"audit chain OK: {result.events} events, head {result.head}, {elapsed:.2f}s"
        )
