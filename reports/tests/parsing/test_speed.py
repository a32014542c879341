"""One timing check on the worst-case inputs, with a wide margin (measured ~3 ms each on the
shared 2-core machine against a 50 ms bound). The throughput figure is bench/parse_bench.py.
"""

from __future__ import annotations

import time

import pytest

from reports.parsing import parse

from .helpers import NOW

WORST_CASES = {
    "100 KB of text": "真備地区 停電 約1,200世帯 ①○○地区：△△世帯 " * 4_000,
    "10,000 digits": "1" * 10_000,
    "100 KB of one kanji": "あ" * 100_000,
}


@pytest.mark.parametrize("text", WORST_CASES.values(), ids=list(WORST_CASES))
def test_worst_case_inputs_return_within_50_ms(text: str) -> None:
    best = float("inf")
    for _ in range(3):  # best of three: the machine is shared, noise only adds time
        start = time.perf_counter()
        parse(text, now=NOW)
        best = min(best, time.perf_counter() - start)
    assert best < 0.050, f"{best * 1000:.1f} ms"
