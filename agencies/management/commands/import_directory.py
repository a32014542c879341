"""python manage.py import_directory FILE: load agencies, facilities, districts and members.

The JSON shape is design.md §9. A bad file changes nothing and the error names each bad
record; importing the same file again changes nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agencies.services import SECTIONS, DirectoryImportError, directory_import

_LABELS = {"districts": "地区", "agencies": "機関", "facilities": "施設", "members": "メンバー"}


class Command(BaseCommand):
    help = "Import the directory (agencies, facilities, districts, members) from a JSON file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="JSON file (design.md §9 shape); '-' reads stdin")
        parser.add_argument(
            "--dry-run", action="store_true", help="validate and count, write nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source = options["file"]
        data = self._load(source)
        try:
            result = directory_import(data, source=source, dry_run=options["dry_run"])
        except DirectoryImportError as exc:
            count = len(exc.errors)
            raise CommandError(
                f"{source}: 取り込めません（{count}件の問題）。何も変更していません。\n"
                + "\n".join(f"  {line}" for line in exc.errors)
            ) from None
        for section in SECTIONS:
            c = result.counts[section]
            self.stdout.write(
                f"{_LABELS[section]} ({section}): 新規 {c.created} / 更新 {c.updated} / "
                f"変更なし {c.unchanged}"
            )
        if result.dry_run:
            self.stdout.write("--dry-run: 検証のみ行い、何も変更していません。")
        elif result.changed:
            self.stdout.write(self.style.SUCCESS("取り込みました。"))
        else:
            self.stdout.write("変更はありません。")

    def _load(self, source: str) -> Any:
        try:
            if source == "-":
                text = sys.stdin.read()
            else:
                text = Path(source).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{source}: ファイルを読めません: {exc}") from None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(
                f"{source}: JSON の形式が正しくありません（{exc.lineno}行 {exc.colno}列）: "
                f"{exc.msg}。何も変更していません。"
            ) from None
