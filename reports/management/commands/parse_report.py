"""``python manage.py parse_report``: free-text report on stdin → JSON (design.md §6).

One message on stdin prints one JSON object. ``--jsonl`` reads one JSON string per line and
prints one object per line, in order; a line that cannot be read prints ``{"error": ...}`` for
that line and the command goes on, so output line N always answers input line N.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agencies.models import Agency
from reports.parsing import SenderContext, parse
from reports.parsing.times import JST


def _stdin_text() -> str:
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is not None:  # real stdin: decode ourselves, whatever the locale says
        return buffer.read().decode("utf-8-sig", errors="replace")
    return sys.stdin.read().removeprefix("\ufeff")


def _stdin_lines() -> Iterator[str]:
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is not None:
        for raw in buffer:
            yield raw.decode("utf-8-sig", errors="replace")
    else:
        yield from sys.stdin


class Command(BaseCommand):
    help = (
        "標準入力の報告文を解析し、分類と項目をJSONで出力します (--jsonl: 1行に1つのJSON文字列)。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--jsonl",
            action="store_true",
            help="1行に1つのJSON文字列を読み、1行に1つのJSONオブジェクトを出力します。",
        )
        parser.add_argument(
            "--agency",
            metavar="CODE",
            help="この機関コードの機関から送られた報告として解析します。",
        )
        parser.add_argument(
            "--now",
            metavar="ISO8601",
            help="日付のない時刻を解釈する基準時刻 (既定: 現在時刻、Asia/Tokyo)。",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        context = self._context(options.get("agency"))
        now = self._now(options.get("now"))
        if not options.get("jsonl"):
            self._emit(parse(_stdin_text(), context=context, now=now).to_json())
            return
        for number, line in enumerate(_stdin_lines(), start=1):
            self._emit(self._parse_line(number, line, context, now))

    def _parse_line(
        self, number: int, line: str, context: SenderContext, now: datetime
    ) -> dict[str, Any]:
        if not line.strip():
            return {"error": f"{number}行目: 空行です。", "line": number}
        try:
            value = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            detail = getattr(exc, "msg", "too deep")
            return {"error": f"{number}行目: JSONとして読めません ({detail})。", "line": number}
        if isinstance(value, dict) and isinstance(value.get("text"), str):
            value = value["text"]  # also accept {"text": "..."} lines
        if not isinstance(value, str):
            return {"error": f"{number}行目: JSONの文字列ではありません。", "line": number}
        return parse(value, context=context, now=now).to_json()

    def _emit(self, obj: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(obj, ensure_ascii=False))

    def _context(self, code: str | None) -> SenderContext:
        if not code:
            return SenderContext()
        agency = Agency.objects.filter(code=code).first()
        if agency is None:
            raise CommandError(f"機関コード「{code}」は登録されていません。")
        facilities = [f.name for f in agency.facilities.all()]
        return SenderContext(
            agency_kind=agency.kind,
            agency_name=agency.name,
            facility=facilities[0] if len(facilities) == 1 else None,
        )

    def _now(self, value: str | None) -> datetime:
        if not value:
            return datetime.now(tz=JST)
        try:
            now = datetime.fromisoformat(value)
        except ValueError:
            raise CommandError(f"--now の日時が読めません: {value}") from None
        return now if now.tzinfo else now.replace(tzinfo=JST)
