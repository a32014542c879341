"""Every example in ../shared/samples/messages.jsonl parses as the README says."""

from __future__ import annotations

from typing import Any

import pytest

from reports.parsing import CATEGORY_FIELDS, parse_strict

from .helpers import NOW, SAMPLES_PATH, case_id, context_of, load_jsonl

SAMPLES: list[dict[str, Any]] = load_jsonl(SAMPLES_PATH) if SAMPLES_PATH.exists() else []


@pytest.mark.skipif(not SAMPLES, reason=f"shared samples not found at {SAMPLES_PATH}")
@pytest.mark.parametrize("sample", SAMPLES, ids=[case_id(s) for s in SAMPLES])
def test_shared_sample(sample: dict[str, Any]) -> None:
    result = parse_strict(sample["text"], context=context_of(sample), now=NOW)
    assert result.category == sample["category"]
    assert set(result.fields) == set(CATEGORY_FIELDS[result.category])
    for name, expected in sample.get("fields", {}).items():
        assert result.fields[name] == expected, name
    if "observed_at_time" in sample:
        assert result.observed_at is not None
        assert result.observed_at.strftime("%H:%M") == sample["observed_at_time"]
