"""The place gazetteer: 倉敷市's 町域 (Japan Post data, data/kurashiki_towns.tsv), districts,
the directory's facilities and gauges (data/kurashiki_facilities.tsv), matched by longest
match. Roads are found by their shape (国道2号, 県道倉敷玉野線, 市道…) and rivers by the
lexicon and their 川 (extract.py).

Each 町域 gives the forms people write: the full name (児島唐琴町, 連島町西之浦, 真備町箭田), the
name after its district (唐琴町, 西之浦, 箭田) and, for a name ending in 町, the name without it
(児島唐琴). Forms that are also common words or other places' names (中央, 昭和, 新田, 福島) are
*weak*: they count only with an area suffix after them (中央地区) or a district before them.
A district followed by a 町域 (児島 + 大畠) is one place: 児島大畠.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from . import lexicon

TSV_PATH = Path(__file__).resolve().parent / "data" / "kurashiki_towns.tsv"
FACILITIES_PATH = TSV_PATH.with_name("kurashiki_facilities.tsv")

# The districts a 町域 name may start with (児島唐琴町, 真備町箭田, 船穂町水江).
DISTRICT_PREFIXES = (
    "西阿知町",
    "茶屋町",
    "下津井",
    "真備町",
    "船穂町",
    "連島町",
    "福田町",
    "藤戸町",
    "児島",
    "玉島",
    "水島",
    "真備",
    "船穂",
    "連島",
    "福田",
    "藤戸",
)
# 町域 names that are also everyday words or names of places elsewhere.
WEAK_FORMS = frozenset(
    "中央 昭和 新田 中島 大島 福井 福島 福江 松江 松島 神田 西田 平田 三田 宮前 美和 浜町 本町"
    " 東町 南町 寿町 幸町 西尾 西岡 矢部 山地 向山 亀山 黒石 鳥羽 二子 沖 林 安江 浦田 日吉町"
    " 日吉 潮通 早高 新町 上東 帯高 五日市 二日市 堀南 木見 栗坂 祐安 稲荷町 石見町 東 南 北 西"
    " 中通 西通 海岸通 北浜町 川西町 船倉町 日ノ出町 八王寺町".split()
)


@dataclass(frozen=True, slots=True)
class Town:
    name: str
    reading: str
    code: str


@lru_cache(maxsize=1)
def towns() -> tuple[Town, ...]:
    out = []
    with TSV_PATH.open(encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, reading, code = line.rstrip("\n").split("\t")
            out.append(Town(name, reading, code))
    return tuple(out)


def forms_of(name: str) -> set[str]:
    forms = {name}
    for prefix in DISTRICT_PREFIXES:
        if name.startswith(prefix) and len(name) - len(prefix) >= 2:
            forms.add(name[len(prefix) :])
            break
    for form in list(forms):
        if form.endswith("町") and len(form) >= 3:
            forms.add(form[:-1])
    return forms


@lru_cache(maxsize=1)
def place_forms() -> tuple[frozenset[str], frozenset[str]]:
    """(strong forms, weak forms) of every known place name."""
    strong: set[str] = set()
    weak: set[str] = set()
    for town in towns():
        for form in forms_of(town.name):
            (weak if form in WEAK_FORMS or len(form) < 2 else strong).add(form)
    for district in lexicon.DISTRICTS:
        if len(district) > 1 and district != "市場":
            strong.add(district)
    weak -= strong
    return frozenset(strong), frozenset(weak)


def _alternation(words: set[str] | frozenset[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


@lru_cache(maxsize=1)
def place_re() -> re.Pattern[str]:
    """A run of place names: a strong form, or weak forms chained after one (児島大畠)."""
    strong, weak = place_forms()
    any_form = _alternation(strong | weak)
    return re.compile(f"(?:{_alternation(strong)})(?:町)?(?:(?:{any_form})(?:町)?)?")


@lru_cache(maxsize=1)
def weak_place_re() -> re.Pattern[str]:
    """A weak form that counts: followed by an area suffix (中央地区, 新田付近)."""
    _, weak = place_forms()
    suffixes = "地区|地域|付近|周辺|一帯|地内|地先|全域|丁目|[0-9]+丁目"
    return re.compile(f"(?:{_alternation(weak)})(?={suffixes})")


@lru_cache(maxsize=1)
def town_names() -> frozenset[str]:
    """Every form of a 町域 (not the bare districts): a place more specific than a district."""
    out: set[str] = set()
    for town in towns():
        out |= forms_of(town.name)
    return frozenset(out - set(lexicon.DISTRICTS))


@lru_cache(maxsize=1)
def town_full_names() -> frozenset[str]:
    """The 町域 as Japan Post writes them, and without a final 町 (児島唐琴)."""
    out: set[str] = set()
    for town in towns():
        out.add(town.name)
        if town.name.endswith("町") and len(town.name) >= 3:
            out.add(town.name[:-1])
    return frozenset(out)


def place_readings() -> dict[str, str]:
    """Katakana reading → place name, for kana spellings (まびちょうやた → 真備町箭田)."""
    strong, _ = place_forms()
    out: dict[str, str] = {}
    for town in towns():
        if town.name in strong and len(town.reading) >= 4:
            out.setdefault(town.reading, town.name)
    return out


@dataclass(frozen=True, slots=True)
class Facility:
    kind: str  # shelter, medical, gauge
    name: str
    short: tuple[str, ...]  # 箭田小 for 箭田小学校


@lru_cache(maxsize=1)
def facilities() -> tuple[Facility, ...]:
    out = []
    with FACILITIES_PATH.open(encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            kind, name, short = line.rstrip("\n").split("\t")
            out.append(Facility(kind, name, tuple(s for s in short.split(",") if s)))
    return tuple(out)


@lru_cache(maxsize=1)
def short_facility_re() -> re.Pattern[str]:
    """The short forms people type (箭田小, 真備東中, 酒津), not inside a longer word."""
    forms = {s for f in facilities() for s in f.short}
    return re.compile(
        f"(?<![\u3005\u4e00-\u9fff])(?:{_alternation(forms)})(?![\u3005\u4e00-\u9fff\u30a1-\u30fa])"
    )


@lru_cache(maxsize=1)
def short_facility_kind() -> dict[str, str]:
    return {s: f.kind for f in facilities() for s in f.short}
