"""Shared test data for the parser tests (no Django, no conftest)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from reports.parsing import SenderContext

JST = ZoneInfo("Asia/Tokyo")
# The fixed "now" every expectation with a time is written against.
NOW = datetime(2024, 7, 6, 20, 0, tzinfo=JST)
DATA_DIR = Path(__file__).resolve().parent / "data"
CORPUS_PATH = DATA_DIR / "corpus.jsonl"
# shared/ sits beside the project root
SAMPLES_PATH = Path(__file__).resolve().parents[3] / ".." / "shared" / "samples" / "messages.jsonl"


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def context_of(case: dict[str, Any]) -> SenderContext | None:
    if not case.get("agency_kind") and not case.get("agency_facility"):
        return None
    return SenderContext(agency_kind=case.get("agency_kind"), facility=case.get("agency_facility"))


def case_id(case: dict[str, Any]) -> str:
    text = case["text"].replace("\n", "⏎")
    return f"{case['category']}:{text[:30]}" if text else f"{case['category']}:<empty>"
