"""``python manage.py lineworks_sweep [--loop SECONDS]``: run the LINE WORKS sweep once, or
forever every SECONDS (for `make run`, where no Celery beat runs)."""

from __future__ import annotations

import signal
import time
from typing import Any

from django.core.management.base import BaseCommand

from lineworks.services import sweep


class Command(BaseCommand):
    help = "Re-enqueue stuck LINE WORKS rows and due retries (what the beat job does)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--loop", type=float, default=0, help="repeat every N seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        def stop(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        try:
            while True:
                counts = sweep()
                if any(counts.values()) or not options["loop"]:
                    self.stdout.write(" ".join(f"{k}={v}" for k, v in counts.items()))
                if not options["loop"]:
                    return
                time.sleep(options["loop"])
        except KeyboardInterrupt:
            return
