"""The worst-case inputs (100 KB of text, 10,000 digits, ...) give a sound result, and the
work done on them is bounded by construction: the parser analyses a bounded prefix.

No timing here: the time bound (≤ 50 ms for each of these inputs) and the throughput goal
(≥ 2,000 messages/s on one core) are measured by ``make bench-parse`` (bench/parse_bench.py,
which uses these same inputs), where a busy shared machine makes a figure, not a failure.
"""

from __future__ import annotations

import pytest

from bench.parse_bench import WORST_CASES
from reports.parsing import CATEGORIES, CATEGORY_FIELDS, parse_strict
from reports.parsing.normalize import MAX_RAW_CHARS, MAX_TEXT_CHARS, normalize

from .helpers import NOW


@pytest.mark.parametrize("text", WORST_CASES.values(), ids=list(WORST_CASES))
def test_worst_case_input_is_analysed_on_a_bounded_prefix(text: str) -> None:
    assert len(text) > MAX_RAW_CHARS  # these inputs are past the bound
    assert len(normalize(text)) <= MAX_TEXT_CHARS
    # what the parser sees is the same as for the bounded prefix alone
    assert normalize(text) == normalize(text[:MAX_RAW_CHARS])


@pytest.mark.parametrize("text", WORST_CASES.values(), ids=list(WORST_CASES))
def test_worst_case_input_gives_a_well_formed_result(text: str) -> None:
    result = parse_strict(text, now=NOW)
    assert result.category in CATEGORIES
    assert set(result.fields) == set(CATEGORY_FIELDS[result.category])
    assert 0.0 <= result.confidence <= 1.0
    areas = result.fields.get("areas") or []
    assert len(areas) <= MAX_TEXT_CHARS // 2
    assert all(isinstance(a["area"], str) and a["area"] for a in areas)


def test_a_long_outage_list_is_still_read_as_one() -> None:
    result = parse_strict(WORST_CASES["100 KB of text"], now=NOW)
    assert result.category == "outage"
    assert result.fields["areas"][0] == {"area": "真備地区", "households": 1200}
