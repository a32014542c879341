"""python manage.py photo_derivatives [--force]: make the display copies and thumbnails that
pages show, for photos stored before they existed (or after the sizes changed).

Reads each original and writes only under ``derived/``: originals, their rows and their
audited digests are never touched. Idempotent; safe to run while the portal is up (each file
is replaced whole). Exits 1 when an original is missing or does not decode, naming it.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reports.models import Photo
from reports.photos import photo_derivatives_make


class Command(BaseCommand):
    help = "Make missing photo derivatives (display copy, thumbnail) from the originals."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="make them again even where they exist"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        made = present = 0
        failed: list[str] = []
        for photo in Photo.objects.order_by("id").iterator(chunk_size=500):
            result = photo_derivatives_make(photo, force=options["force"])
            if result is None:
                failed.append(f"写真 {photo.pk}（{photo.image.name}）")
            elif result:
                made += 1
            else:
                present += 1
        self.stdout.write(f"作成 {made} 件、作成済み・対象外 {present} 件、失敗 {len(failed)} 件。")
        if failed:
            raise CommandError("原本がない、または読み取れない写真があります: " + "、".join(failed))
