"""Property-based tests: any string gives a valid result and never raises.

``parse_strict`` is used so that an error inside the parser fails the test instead of being
turned into ``general`` by the guard in ``parse``. Deadlines are off: correctness here, speed
in test_speed.py and the benchmark (the CI machine is a noisy shared 2-core box).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reports.parsing import (
    AGENCY_KINDS,
    CATEGORIES,
    CATEGORY_FIELDS,
    ParseResult,
    SenderContext,
    parse,
    parse_strict,
)

from .helpers import CORPUS_PATH, JST, NOW, load_jsonl

CORPUS_TEXTS = [case["text"] for case in load_jsonl(CORPUS_PATH)]
# Pieces of real reports: recombined they exercise the extractors far more than random text.
PIECES = [
    "停電",
    "避難者数",
    "避難指示",
    "解除",
    "鎮火",
    "通行止め",
    "受入不可",
    "受け入れ可能",
    "水位",
    "派遣",
    "保健師",
    "真備地区",
    "箭田小学校",
    "小田川",
    "国道486号",
    "○○",
    "XX",
    "△",
    "①",
    "②",
    "：",
    "、",
    "。",
    " ",
    "\n",
    "約",
    "1,200",
    "３５",
    "三十五",
    "百二十",
    "〇",
    "名",
    "世帯",
    "戸",
    "床",
    "m",
    "4.3",
    "14:30",
    "7/6",
    "7月6日",
    "午後3時",
    "翌日",
    "現在",
    "頃",
    "復旧見込み",
    "未定",
    "→",
    "訂正",
    "へ",
    "に",
    "の",
    "から",
    "？",
    "😀",
    "\x00",
    "\u200b",
    "\ufeff",
]
SURROGATES = st.characters(categories=["Cs"])
CONTROLS = st.characters(categories=["Cc", "Cf", "Zl", "Zp"])
EMOJI = st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF)
JAPANESE = st.characters(min_codepoint=0x3000, max_codepoint=0x9FFF)
ANY_TEXT = st.one_of(
    st.text(),
    st.text(st.one_of(JAPANESE, EMOJI, CONTROLS, SURROGATES, st.sampled_from("0123456789"))),
    st.lists(st.sampled_from(PIECES), max_size=40).map("".join),
    st.builds(
        lambda base, noise, at: base[:at] + noise + base[at:],
        st.sampled_from(CORPUS_TEXTS),
        st.text(max_size=20),
        st.integers(min_value=0, max_value=200),
    ),
)
CONTEXTS = st.one_of(
    st.none(),
    st.builds(
        SenderContext,
        agency_kind=st.one_of(st.none(), st.sampled_from(AGENCY_KINDS), st.text(max_size=5)),
        agency_name=st.one_of(st.none(), st.text(max_size=10)),
        facility=st.one_of(st.none(), st.sampled_from(["箭田小学校", "まび記念病院", ""])),
    ),
)
NOWS = st.datetimes(
    min_value=datetime(2001, 1, 1),  # noqa: DTZ001 - bounds for aware datetimes below
    max_value=datetime(2099, 12, 31),  # noqa: DTZ001
    timezones=st.just(JST),
)

_TYPES: dict[str, Any] = {
    "facility": str,
    "count": int,
    "households": int,
    "areas": list,
    "total_households": int,
    "restoration": str,
    "road": str,
    "place": str,
    "cause": str,
    "passable": bool,
    "area": str,
    "trend": str,
    "level_m": float,
    "flooding": bool,
    "accepting": bool,
    "beds_available": int,
    "injured": int,
    "people": int,
    "evacuation_order": bool,
    "role": str,
    "destination": str,
    "reason": str,
}
_CHOICES = {
    "cause": {"landslide", "flooding", "collapse", "fallen_tree", "accident", "other"},
    "trend": {"rising", "falling", "steady"},
}


def assert_valid(result: ParseResult) -> None:
    assert isinstance(result, ParseResult)
    assert result.category in CATEGORIES
    assert tuple(result.fields) == CATEGORY_FIELDS[result.category]
    for name, value in result.fields.items():
        if value is None:
            assert name not in ("areas", "evacuation_order"), name
            continue
        expected = _TYPES[name]
        assert isinstance(value, expected) and not (expected is int and isinstance(value, bool)), (
            name,
            value,
        )
        if isinstance(value, str):
            assert value and value == value.strip() or name in ("restoration",), (name, value)
            assert not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
        if isinstance(value, int) and not isinstance(value, bool):
            assert 0 <= value <= 10_000_000
        if name in _CHOICES:
            assert value in _CHOICES[name]
    for area in result.fields.get("areas") or []:
        assert set(area) == {"area", "households"}
        assert isinstance(area["area"], str) and area["area"]
    assert set(result.missing) <= set(result.fields)
    assert 0.0 <= result.confidence <= 1.0
    if result.observed_at is not None:
        assert result.observed_at.utcoffset() == timedelta(hours=9)
    data = result.to_json()
    assert set(data) == {"category", "fields", "observed_at", "missing", "confidence"}
    json.loads(json.dumps(data, ensure_ascii=False))


@settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(text=ANY_TEXT, context=CONTEXTS, now=NOWS)
def test_any_text_gives_a_valid_result(text: str, context: SenderContext | None, now: datetime):
    assert_valid(parse_strict(text, context=context, now=now))


@settings(deadline=None, max_examples=200)
@given(text=ANY_TEXT)
def test_parse_is_deterministic(text: str) -> None:
    assert parse_strict(text, now=NOW) == parse_strict(text, now=NOW)


@settings(deadline=None, max_examples=20, suppress_health_check=[HealthCheck.too_slow])
@given(
    unit=st.sampled_from(["あ", "1", "停電 真備地区 ", "①○〇", "避難所へ", "12:", "😀", "\x00"]),
    size=st.sampled_from([10_000, 100_000]),
)
def test_huge_inputs_give_a_valid_result(unit: str, size: int) -> None:
    text = (unit * (size // len(unit) + 1))[:size]
    assert_valid(parse_strict(text, now=NOW))


def test_ten_thousand_digits_and_100_kb() -> None:
    assert_valid(parse_strict("9" * 10_000, now=NOW))
    assert_valid(parse_strict("9" * 10_000 + "名", now=NOW))
    assert_valid(parse_strict("真備地区 停電 " + "1" * 10_000 + "世帯", now=NOW))
    assert_valid(parse_strict("箭田小学校 避難者数 35名 " * 5_000, now=NOW))


def test_non_string_input_does_not_raise() -> None:
    assert_valid(parse(None, now=NOW))  # type: ignore[arg-type]
    assert_valid(parse(12345, now=NOW))  # type: ignore[arg-type]
