"""Our own corpus (data/corpus.jsonl): realistic Kurashiki messages with expected parses.

Each line: text, category, fields (the subset that is judged), optionally agency_kind and
agency_facility (the sender context), observed_at (ISO, against helpers.NOW; null when the
message's only times are estimates) and note. Lines noted "3 a.m. wording" are made-up
examples of each failure class met on messages written blind (kana and voice-input spellings,
町域 lists, sub-counts and earlier figures, negations, trend words, team dispatches, night and
four-digit times): regression, not an accuracy figure.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from reports.parsing import CATEGORIES, CATEGORY_FIELDS, parse_strict

from .helpers import CORPUS_PATH, NOW, case_id, context_of, load_jsonl

CORPUS: list[dict[str, Any]] = load_jsonl(CORPUS_PATH)


def test_corpus_is_large_and_covers_every_category() -> None:
    assert len(CORPUS) >= 150
    counts = Counter(case["category"] for case in CORPUS)
    assert set(counts) == set(CATEGORIES)
    assert min(counts.values()) >= 15, counts
    for case in CORPUS:
        assert set(case["fields"]) <= set(CATEGORY_FIELDS[case["category"]]), case["text"]


@pytest.mark.parametrize("case", CORPUS, ids=[case_id(c) for c in CORPUS])
def test_corpus_message(case: dict[str, Any]) -> None:
    result = parse_strict(case["text"], context=context_of(case), now=NOW)
    assert result.category == case["category"], case.get("note")
    for name, expected in case["fields"].items():
        assert result.fields[name] == expected, name
    if "observed_at" in case:
        got = result.observed_at.isoformat() if result.observed_at else None
        assert got == case["observed_at"]  # null: the message gives no observation time
