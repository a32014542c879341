"""Finding names (facilities, areas, roads, rivers) and reading each category's fields.

Everything here works on normalised text (see normalize.py) and returns the message's own
wording for names. A ``Doc`` computes each kind of mention once, on demand, so classifying and
extracting share the work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from . import gazetteer, lexicon
from .normalize import (
    APPROX,
    NUM,
    PLACEHOLDER,
    SUPERSEDED_LEVEL_RE,
    Quantity,
    as_count,
    find_quantities,
    parse_number,
)

_HIRA = "\u3041-\u309f"
_KANJI = "\u3005\u3006\u3007\u3400-\u4dbf\u4e00-\u9fff"
_KATA = "\u30a1-\u30fa\u30fc-\u30fe"
_PH = "○◯△□×"
# Characters a name is made of: kanji, kana, ASCII letters and digits, placeholders.
NAME_CHARS = f"{_KANJI}{_HIRA}{_KATA}A-Za-z0-9{_PH}"
MAX_NAME = 24


def _alternation(words: tuple[str, ...] | list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


_NAME_TAIL_RE = re.compile(f"[{NAME_CHARS}]{{1,{MAX_NAME}}}\\Z")
# A particle between two non-hiragana characters ends whatever came before a name:
# 避難者数は|真備東中学校, 玉島中学校避難所へ|職員.
_BOUNDARY_RE = re.compile(
    f"(?<=[^{_HIRA}])(?:により|による|によって|において|における|に伴い|に伴う|について|として"
    f"|にて|から|より|では|には|への|での|までの|まで|は|が|を|に|へ|で|と|の|や|も)(?=[^{_HIRA}])"
)
_LEADING_NOISE_RE = re.compile(
    "^(?:(?:"
    + _alternation(lexicon.NOISE_PREFIXES)
    + ")|[0-9]{1,4}+(?:年|月|日|時|分|報)?(?!丁目|番|号|区|条|線))+"
)
_LEADING_TIME_RE = re.compile(
    "^(?:[0-9]{1,4}+(?:年|月|日|時|分|報)?(?!丁目|番|号|区|条|線)|[年月日時分]|現在|時点)+"
)
_HIRA_ONLY_RE = re.compile(f"[{_HIRA}]*")
_LEADING_KANA_RE = re.compile(f"[{_HIRA}]{{2,}}(?=[{_KANJI}])")
_PARTICLE_END = tuple("のはがをにへでともや")


def clean_name(name: str, *, topics: bool = True) -> str:
    """Strip leading noise; reject what is only kana particles (a name like しげい stays).

    ``topics=False`` strips dates and times only (for phrases like 避難所運営支援).
    """
    name = (_LEADING_NOISE_RE if topics else _LEADING_TIME_RE).sub("", name)
    if _HIRA_ONLY_RE.fullmatch(name) and (len(name) < 2 or name.endswith(_PARTICLE_END)):
        return ""
    return name


def name_before(text: str, end: int, limit: int = MAX_NAME) -> tuple[int, str]:
    """The name that ends at ``end`` (exclusive), cut at particles and leading noise."""
    window_start = max(0, end - limit)
    m = _NAME_TAIL_RE.search(text, window_start, end)
    if m is None:
        return end, ""
    start = m.start()
    # include the character after the span so a particle right before `end` is seen
    for b in _BOUNDARY_RE.finditer(text, start, end + 1):
        if b.end() <= end:
            start = b.end()
    raw = text[start:end]
    name = clean_name(raw)
    return end - len(name), name


@dataclass(frozen=True, slots=True)
class Mention:
    start: int
    end: int
    name: str
    kind: str = ""


def _overlaps(m: Mention, spans: list[Mention]) -> bool:
    for s in spans:
        if m.start < s.end and s.start < m.end:
            return True
    return False


def _dedupe(mentions: list[Mention]) -> list[Mention]:
    """Drop mentions contained in a longer one; keep the order of appearance."""
    ordered = sorted(mentions, key=lambda m: (m.start, -(m.end - m.start)))
    out: list[Mention] = []
    for m in ordered:
        if out and m.start >= out[-1].start and m.end <= out[-1].end:
            continue
        if out and out[-1].start >= m.start and out[-1].end <= m.end:
            out[-1] = m
            continue
        out.append(m)
    return out


# -- mention patterns ---------------------------------------------------------------------

_FACILITY_SUFFIX = _alternation(lexicon.FACILITY_SUFFIXES)
# 川崎医科大学附属病院: suffixes chained, also through 附属/付属
_FACILITY_RE = re.compile(f"(?:{_FACILITY_SUFFIX})(?:(?:附属|付属)?(?:{_FACILITY_SUFFIX}))*")
_MEDICAL_SUFFIX_RE = re.compile(_alternation(lexicon.MEDICAL_SUFFIXES))
_SHELTER_SUFFIX_RE = re.compile(_alternation(lexicon.SHELTER_SUFFIXES))
_AREA_RE = re.compile(
    "(?:"
    + _alternation([s for s in lexicon.AREA_SUFFIXES if s != "町"])
    + "|IC(?![A-Za-z])|町(?!道|内会|民|長|役場|会))+"
)
# Bare district names (水島, 児島町): less specific than a 町域 or a name with a suffix.
_DISTRICT_NAMES = frozenset(
    [*gazetteer.DISTRICT_PREFIXES, *[d for d in lexicon.DISTRICTS if len(d) > 1]]
    + [d + "町" for d in lexicon.DISTRICTS if not d.endswith("町")]
)
# 中国電力NW倉敷, 中国電力ネットワーク倉敷営業所: a district inside an organisation's name
_ORG_BEFORE_RE = re.compile(r"(?:[A-Za-z]|電力|ネットワーク|株式会社|\(株\))\Z")
# 倉敷市消防局, 倉敷警察署, 水島支所の職員: the district names the sender, not the place
_ORG_AFTER_RE = re.compile(
    r"市?(?:消防局|消防署|消防本部|警察署|警察|市役所|役所|水道局|土木課|河川課|防災課"
    r"|危機管理課|保健所|社会福祉協議会|社協)"
)
# 国道2号 倉敷市 連島町: 倉敷市 on its own is the whole city, not the place reported when
# a place in it is named too
_CITY_AFTER_RE = re.compile(f"市(?![{_KANJI}{_KATA}{_HIRA}])")
_VICINITY = "付近"


def _without_vicinity(m: Mention) -> Mention:
    """呼松町付近 → 呼松町: 付近 says the place is approximate, it is no part of the name."""
    if m.name.endswith(_VICINITY) and len(m.name) > len(_VICINITY):
        cut = len(_VICINITY)
        return Mention(m.start, m.end - cut, m.name[:-cut], m.kind)
    return m


_ROAD_RE = re.compile(
    r"(?:国道|県道|市道|町道|農道|林道|主要地方道|一般県道|高速道路)"
    rf"(?:\s?(?:[0-9〇一二三四五六七八九十百{_PH}X]{{1,5}}\s?号(?:線)?(?:[{_KANJI}]{{0,6}}バイパス)?"
    # 国道486 (no 号): a road number is not followed by a unit or more digits
    r"|[0-9]{1,3}(?![0-9.,]|\s?(?:名|人|世帯|戸|軒|件|m|メートル|時|分|cm|台|号))"
    rf"|[{_KANJI}{_KATA}{_PH}X]{{1,10}}?線))?"
    # R2, R430: 国道 as people abbreviate it
    r"|(?<![A-Za-z0-9])R\s?[0-9]{1,3}(?![0-9A-Za-z.])"
    rf"|[{_KANJI}{_KATA}]{{1,10}}?(?:自動車道|バイパス|有料道路|道路|街道|大橋|橋|トンネル)"
)
_RIVER_DICT_RE = re.compile(_alternation(lexicon.RIVERS))
_RIVER_RE = re.compile(
    f"(?<![{_KANJI}{_KATA}])[{_KANJI}{_KATA}{_PH}X]{{1,5}}川"
    "(?!(?!水位|沿|流域|堤防|右岸|左岸|上流|下流|観測|橋|東|西|南|北|排水|樋門|水門)"
    f"[{_KANJI}{_KATA}])"
)
_GAUGE_RE = re.compile(_alternation(lexicon.GAUGE_SUFFIXES))
_LABEL_RE = re.compile(r"(?:^|(?<=[\n ]))([^\s:、。,]{0,23}[^\s:、。,0-9]):")
_LABEL_STRIP = "()[]「」【】『』<>〈〉《》\"'・"

_KV_KEYS: dict[str, str] = {}
for _key_names, _field in (
    (("施設名", "施設", "避難所名", "病院名", "医療機関名", "医療機関"), "facility"),
    (
        (
            "場所",
            "発生場所",
            "所在地",
            "住所",
            "地区",
            "地区名",
            "地域",
            "エリア",
            "対象地区",
            "対象地域",
            "停電地域",
            "停電地区",
        ),
        "place",
    ),
    (("路線名", "路線", "道路名", "道路"), "road"),
    (("河川名", "河川", "観測所", "観測所名"), "river"),
    (("派遣先", "行先", "行き先"), "destination"),
    (("職種", "派遣職種"), "role"),
    (("理由", "派遣理由", "目的"), "reason"),
):
    for _key in _key_names:
        _KV_KEYS[_key] = _field
_KV_RE = re.compile(
    f"(?:^|(?<=[\\n ]))({_alternation(tuple(_KV_KEYS))})\\s?:\\s?([^\\s、。,;]{{1,30}})"
)

# Labels that name a field or a topic, not a place.
_NOT_A_NAME_RE = re.compile(
    "停電|避難|水位|火災|通行|受入|受け入れ|報告|情報|状況|件名|日時|時刻|現在|速報|続報|訂正"
    "|連絡|お知らせ|病床|人数|世帯|原因|見込|予定|備考|内容|概要|要請|派遣|種別|区分|本部|より"
    "|発令|発生|対応|規制|場所|職種|理由|目的|質問|回答|単位|数$"
)


class Doc:
    """A normalised message with its mentions, each computed once on first use."""

    def __init__(self, text: str, prepared: str | None = None) -> None:
        self.text = text
        self.prepared = text if prepared is None else prepared  # before corrections

    @cached_property
    def superseded_levels(self) -> list[float]:
        """Levels a correction replaced (11.2m → 10.8m: 11.2), oldest first."""
        return [
            float(m.group("num") or m.group("num2"))
            for m in SUPERSEDED_LEVEL_RE.finditer(self.prepared)
        ]

    @cached_property
    def quantities(self) -> list[Quantity]:
        return find_quantities(self.text)

    @cached_property
    def facilities(self) -> list[Mention]:
        text = self.text
        out: list[Mention] = []
        for m in _FACILITY_RE.finditer(text):
            start, prefix = name_before(text, m.start())
            if not prefix:
                continue
            chain = m.group()
            if _MEDICAL_SUFFIX_RE.search(chain):
                kind = "medical"
            elif _SHELTER_SUFFIX_RE.search(chain):
                kind = "shelter"
            else:
                kind = "generic"
            out.append(Mention(start, m.end(), prefix + chain, kind))
        kinds = gazetteer.short_facility_kind()
        for m in gazetteer.short_facility_re().finditer(text):
            kind = kinds[m.group()]
            if kind != "gauge" and not _overlaps(Mention(m.start(), m.end(), ""), out):
                out.append(Mention(m.start(), m.end(), m.group(), kind))
        return sorted(out, key=lambda f: f.start)

    @cached_property
    def roads(self) -> list[Mention]:
        return [
            Mention(m.start(), m.end(), m.group().strip()) for m in _ROAD_RE.finditer(self.text)
        ]

    @cached_property
    def rivers(self) -> list[Mention]:
        text = self.text
        found = [Mention(m.start(), m.end(), m.group()) for m in _RIVER_DICT_RE.finditer(text)]
        towns = gazetteer.town_full_names()
        for m in _RIVER_RE.finditer(text):
            name = m.group()
            if "河川" in name or name in ("川", "X川"):
                continue
            if name in towns:
                continue  # 児島小川, 真備町川辺: a 町域, not a river
            found.append(Mention(m.start(), m.end(), name))
        return _dedupe(found)

    @cached_property
    def gauges(self) -> list[Mention]:
        out = []
        for m in _GAUGE_RE.finditer(self.text):
            start, prefix = name_before(self.text, m.start())
            if prefix:
                out.append(Mention(start, m.end(), prefix + m.group()))
        kinds = gazetteer.short_facility_kind()
        for m in gazetteer.short_facility_re().finditer(self.text):
            if kinds[m.group()] == "gauge" and not _overlaps(Mention(m.start(), m.end(), ""), out):
                out.append(Mention(m.start(), m.end(), m.group(), "gauge"))
        return sorted(out, key=lambda g: g.start)

    @cached_property
    def areas(self) -> list[Mention]:
        """Areas and places (…地区, …町付近, 真備町有井), outside facility/road/river names."""
        text = self.text
        found: list[Mention] = []
        for m in _AREA_RE.finditer(text):
            start, prefix = name_before(text, m.start())
            # こちら真備町: kana before a kanji name is the sentence, not the name
            lead = _LEADING_KANA_RE.match(prefix)
            if lead and lead.end() < len(prefix):
                start, prefix = start + lead.end(), prefix[lead.end() :]
            if prefix:
                found.append(Mention(start, m.end(), prefix + m.group()))
        for m in gazetteer.place_re().finditer(text):
            found.append(Mention(m.start(), m.end(), m.group()))
        for m in gazetteer.weak_place_re().finditer(text):
            found.append(Mention(m.start(), m.end(), m.group()))
        blockers = self.facilities + self.roads + self.rivers
        districts = _DISTRICT_NAMES
        found = [
            Mention(m.start, m.end, m.name, "district" if m.name in districts else "town")
            for m in found
        ]
        found += _spaced_towns(text)
        kept = [
            _without_vicinity(m)
            for m in _join_spaced(_merge_overlapping(_dedupe(found), text), text)
            if not _overlaps(m, blockers)
            and not _ORG_BEFORE_RE.search(text, max(0, m.start - 8), m.start)
            and not _ORG_AFTER_RE.match(text, m.end)
        ]
        kept = [m for m in kept if m.name]
        cities = [m for m in kept if _CITY_AFTER_RE.match(text, m.end)]
        if cities and len(cities) < len(kept):
            kept = [m for m in kept if m not in cities]
        return _drop_detail_lists(kept, text)

    @cached_property
    def labels(self) -> list[Mention]:
        """``Name:`` at the start of a line or item, when the name is not a field or topic."""
        out = []
        for m in _LABEL_RE.finditer(self.text):
            raw = m.group(1)
            if raw in _KV_KEYS:
                continue
            if _NOT_A_NAME_RE.search(raw):
                continue
            name = clean_name(raw.strip(_LABEL_STRIP))
            if not name or len(name) > MAX_NAME:
                continue
            out.append(Mention(m.start(1), m.end(1), name))
        return out

    @cached_property
    def kv_spans(self) -> dict[str, Mention]:
        """Values of ``key: value`` lines (施設名：…, 場所：…), by the field they fill."""
        out: dict[str, Mention] = {}
        for m in _KV_RE.finditer(self.text):
            out.setdefault(_KV_KEYS[m.group(1)], Mention(m.start(2), m.end(2), m.group(2)))
        return out

    @cached_property
    def kv(self) -> dict[str, str]:
        return {key: m.name for key, m in self.kv_spans.items()}

    def facility(self, prefer: tuple[str, ...]) -> str | None:
        for kind in prefer:
            for f in self.facilities:
                if f.kind == kind:
                    return f.name
        return None


_SPACED_TOWN_RE = re.compile(
    f"(?P<d>{_alternation(gazetteer.DISTRICT_PREFIXES)}) (?P<t>[{_KANJI}{_KATA}の]{{1,6}}?)"
    f"(?=付近|[^{_KANJI}{_KATA}の]|$)"
)


def _spaced_towns(text: str) -> list[Mention]:
    """児島 唐琴町, 水島 広江付近: a 町域 written with a space after its district.

    The name keeps the message's wording (the space included); consumers that match it
    against the 町域 ignore blanks (reports.subjects.normalise_name).
    """
    out = []
    names = gazetteer.town_full_names()
    for m in _SPACED_TOWN_RE.finditer(text):
        name = m.group("d") + m.group("t")
        if name in names:
            out.append(Mention(m.start(), m.end(), m.group(), "town"))
    return out


def _merge_overlapping(mentions: list[Mention], text: str) -> list[Mention]:
    """倉敷市真備町 + 真備町箭田 → 倉敷市真備町箭田: one place written once."""
    out: list[Mention] = []
    for m in mentions:
        if out and m.start < out[-1].end:
            last = out[-1]
            start, end = min(last.start, m.start), max(last.end, m.end)
            out[-1] = Mention(start, end, text[start:end], "town")
            continue
        out.append(m)
    return out


# The city's six 地区 (the former towns): a place named after one of them is in that 地区
_MAIN_DISTRICTS = ("倉敷", "水島", "児島", "玉島", "真備", "船穂")


def _join_spaced(mentions: list[Mention], text: str) -> list[Mention]:
    """水島 広江, 児島 下津井付近: a district, a blank, then a place in it: one place."""
    out: list[Mention] = []
    for m in mentions:
        last = out[-1] if out else None
        if (
            last is not None
            and last.kind == "district"
            and m.kind != "district"
            and not m.name.startswith(_MAIN_DISTRICTS)  # 水島 玉島中央町: two places
            and m.start == last.end + 1
            and text[last.end] == " "
        ):
            out[-1] = Mention(last.start, m.end, text[last.start : m.end], "town")
            continue
        out.append(m)
    return out


_DETAIL_OPEN_RE = re.compile(r"\s?\(")
_DIGIT_RE = re.compile(r"[0-9]")


def _drop_detail_lists(areas: list[Mention], text: str) -> list[Mention]:
    """水島地区(水島西通、水島東川町) 300世帯: the areas in brackets detail the one before."""
    out: list[Mention] = []
    closes = -1
    for m in areas:
        if m.start < closes:
            continue
        opened = _DETAIL_OPEN_RE.match(text, m.end)
        if opened:
            close = text.find(")", opened.end(), opened.end() + 40)
            if close > 0 and not _DIGIT_RE.search(text, opened.end(), close):
                closes = close
            elif close > 0:
                # 真備地区(箭田 300、川辺 200): the areas inside have their own counts; the
                # one before holds them (not counted again in a total)
                m = Mention(m.start, m.end, m.name, "container")
        out.append(m)
    return out


# -- helpers ------------------------------------------------------------------------------


def _preceded_by(text: str, pos: int, pattern: re.Pattern[str], window: int = 10) -> bool:
    return bool(pattern.search(text[max(0, pos - window) : pos]))


_TOTAL_BEFORE_RE = re.compile(r"(?:合計|総計|総数|全体|計)(?:で|は|:)?\s?(?:約)?\s?$")
# "百名を超えました（102名）": a bound, not the count, when an exact figure follows
_BOUND_AFTER_RE = re.compile(r"\s?(?:を)?(?:超え|超|以上|近く|未満|弱|余り)")


def _first_value(quantities: list[Quantity]) -> int | None:
    return as_count(quantities[0].value) if quantities else None


# -- evacuees -----------------------------------------------------------------------------

_EVAC_COUNT_BEFORE_RE = re.compile(
    r"(?:避難者|避難人数|在所者|滞在者|避難者数|収容人数|避難)(?:数|総数)?(?:は|:|が)?\s?"
    rf"(?:{APPROX})?\s?$"
)
_TIMED_COUNT_BEFORE_RE = re.compile(
    r"(?:[0-9]{1,2}時(?:[0-9]{1,2}分|半)?|[0-9]{1,2}:[0-9]{2})(?:現在|時点)?\s?"
    r"(?:避難者|避難者数|在所者)?(?:数)?(?:は|:)?\s?(?:約)?\s?$"
)
_STAFF_BEFORE_RE = re.compile(
    r"(?:職員|スタッフ|保健師|看護師|医師|運営|ボランティア|要配慮者|うち|内|負傷者|けが人)"
    r"(?:は|が|:)?\s?(?:約)?\s?$"
)
_CLOSED_SHELTER_RE = re.compile(r"閉鎖|閉所")
# the complementary parts of a head count (a subset such as 高齢者 is no part)
_PART_BEFORE_RE = re.compile(r"(?:大人|成人|子ども|子供|こども|小人|男性|女性|男|女)(?:は|:)?\s?$")
_BARE_EVAC_COUNT_RE = re.compile(
    r"(?:避難者|避難者数|避難人数|在所者)(?:数)?(?:は|:)?\s?(?:いまのところ|今のところ|現在|只今|ただいま)?"
    r"\s?(?P<num>[0-9]{1,5})(?![0-9.,]|\s?(?:世帯|戸|時|分|:))"
)
_NO_EVACUEES_RE = re.compile(
    r"(?:避難者|避難している人|避難者数)(?:は|が)?\s?(?:なし|無し|ゼロ|いません|おりません|いない)"
)


def evacuees(doc: Doc, context_facility: str | None) -> dict[str, Any]:
    text = doc.text
    people = [q for q in doc.quantities if q.unit in ("名", "人")]
    chosen: Quantity | None = None
    for q in people:
        if _preceded_by(text, q.start, _TOTAL_BEFORE_RE, 8):
            chosen = q
            break
    timed = [q for q in people if _preceded_by(text, q.start, _TIMED_COUNT_BEFORE_RE, 14)]
    if chosen is None and len(timed) >= 2:
        chosen = timed[-1]  # 16時 避難者 30名 18時 45名: counts in time order, the latest
    if chosen is None:
        for q in people:
            if _preceded_by(text, q.start, _EVAC_COUNT_BEFORE_RE, 12):
                chosen = q
                break
    if chosen is not None and _BOUND_AFTER_RE.match(text, chosen.end):
        exact = [q for q in people if q.start > chosen.start]
        chosen = exact[0] if exact else chosen
    if chosen is None:
        for q in people:
            if not _preceded_by(text, q.start, _STAFF_BEFORE_RE, 8):
                chosen = q
                break
    count = as_count(chosen.value) if chosen else None
    explicit_total = chosen is not None and _preceded_by(text, chosen.start, _TOTAL_BEFORE_RE, 8)
    parts = [q for q in people if _preceded_by(text, q.start, _PART_BEFORE_RE, 4)]
    if not explicit_total and len(parts) >= 2 and chosen in parts:
        # 大人30名 子ども12名, 男性20名 女性25名: the parts of the count, no total given
        values = [as_count(q.value) for q in parts]
        if all(v is not None for v in values):
            count = sum(v for v in values if v is not None)
    if chosen is None:
        bare = _BARE_EVAC_COUNT_RE.search(text)  # 避難者 いまのところ0
        if bare:
            count = _count_of(bare.group("num"))
    if count is None and (_CLOSED_SHELTER_RE.search(text) or _NO_EVACUEES_RE.search(text)):
        count = 0
    households = _first_value([q for q in doc.quantities if q.unit in ("世帯", "戸")])
    facility = doc.kv.get("facility") or doc.facility(("shelter", "generic"))
    if facility is None:
        facility = next((lb.name for lb in doc.labels), None)
    if facility is None:
        facility = context_facility or doc.facility(("medical",))
    return {"facility": facility, "count": count, "households": households}


# -- outage -------------------------------------------------------------------------------

_HOUSEHOLD_UNITS = ("世帯", "戸", "軒", "件")
_REMAINING_BEFORE_RE = re.compile(r"(?:残り|残る|未復旧)(?:は|:)?\s?(?:約)?\s?$")
_TIME_PHRASE = (
    r"(?:翌日|明日|本日|今日|今夜|明朝|当日|同日|明後日)?\s?(?:[0-9]{1,2}月)?(?:[0-9]{1,2}日)?\s?"
    r"(?:午前|午後|夕方|夜|朝|昼|深夜|未明)?\s?"
    r"(?:[0-9]{1,2}(?:時(?:[0-9]{1,2}分|半)?|:[0-9]{2}))?"
)
_RESTORE_VALUE = (
    rf"(?P<value>未定|不明|調査中|確認中|検討中|不透明|{_TIME_PHRASE}\s?(?:頃|ごろ|まで|中|以降)?)"
)
_RESTORE_RES = (
    re.compile(
        r"(?:復旧|送電|復電|停電解消)(?:の)?(?:見込み?|見通し|予定|目途|めど|目処|時期)"
        rf"(?:時刻|時間|日時)?(?:は|:|、)?\s?(?:約)?\s?{_RESTORE_VALUE}"
    ),
    re.compile(
        rf"{_RESTORE_VALUE}\s?(?:に|には|までに|の)?\s?(?:全面)?(?:復旧|送電再開|復電|送電)"
        r"(?:の|できる|する|される|させる)?(?:見込み?|予定|見通し|目途|めど)"
    ),
    re.compile(
        rf"(?:復旧|送電再開|復電)(?:は|:)\s?{_RESTORE_VALUE}\s?(?:の|に|には|まで)?\s?"
        r"(?:見込み?|予定|見通し|目途|めど)"
    ),
    # 復旧未定, 復旧は未定, 復旧時期：不明: the words without 見込み
    re.compile(r"(?:復旧|送電再開|復電)(?:時期|日時)?(?:は|も|:)?\s?(?P<value>未定|不明)"),
)
_RESTORE_UNKNOWN_RE = re.compile(
    r"(?:復旧|送電|復電)(?:の)?(?:見込み?|見通し|目途|めど|目処)(?:は|が)?\s?"
    r"(?:立っていない|立っておりません|立たない|立たず|たっていない|なし|無し|ない|ありません)"
)
_RESTORED_RE = re.compile(
    r"(?P<phrase>全面復旧|全戸復旧|全て復旧|すべて復旧|復旧済み?|復旧完了|停電(?:は)?解消|"
    r"送電再開|復電)(?!見込|予定|の見込|の予定|時期|作業|に向け|のめど|の目途)"
    r"|(?P<verb>復旧)(?:しました|した|しています)"
)
_NO_OUTAGE_RE = re.compile(
    r"停電(?:は|も)?(?:なし|無し|ゼロ|ありません|していません|発生していません|は発生していない|0件)"
)
_RESPECTIVELY_RE = re.compile(r"それぞれ|各々|各|順に")
_SUB_BEFORE_RE = re.compile(r"(?:うち|内訳|内|このうち|その内|そのうち)(?:は|:|、)?\s?$")
# "真備町川辺 復旧済み" inside a list: the area just named is back (not 復旧見込み)
_AREA_RESTORED_RE = re.compile(
    r"(?:は|:)?\s?(?:復旧済み?|復旧完了|送電再開済み?|停電解消|解消済み?)(?!見込|予定)"
)
_PARTIAL_RE = re.compile(r"一部|残り|残る|未復旧|うち")


_AREA_JOIN_RE = re.compile(r"[\s・、,/]*(?:と|及び|および)?[\s・、,/]*")


# "①倉敷地区 500 ②水島地区 250（単位：世帯）": the unit written once for the list
_UNIT_STATED_RE = re.compile(r"単位\s?(?:は|:)?\s?(?P<unit>世帯|戸|軒)")
_BARE_NUMBER_RE = re.compile(
    r"(?<![0-9.,:/])(?P<num>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,7})"
    r"(?![0-9.,:/]|\s?(?:世帯|戸|軒|件|名|人|時|分|月|日|年|号|丁目|番|m|cm|%|km))"
)


# "停電世帯数 450": the label gives the unit of the number after it
_LABELLED_COUNT_RE = re.compile(
    r"(?:世帯数|戸数|軒数)(?:は|:)?\s?(?:約|およそ)?\s?(?P<num>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,7})"
    r"(?![0-9.,:]|\s?(?:世帯|戸|軒|件|名|人|時|分))"
)


def _unit_stated_once(text: str) -> list[Quantity]:
    stated = _UNIT_STATED_RE.search(text)
    if stated is None:
        return [
            Quantity(m.start("num"), m.end("num"), parse_number(m.group("num")), "世帯", False)
            for m in _LABELLED_COUNT_RE.finditer(text)
        ]
    unit = stated.group("unit")
    out = []
    for m in _BARE_NUMBER_RE.finditer(text):
        value = parse_number(m.group("num"))
        out.append(Quantity(m.start(), m.end(), value, unit, False))
    return out


def _restoration(text: str) -> str | None:
    for pattern in _RESTORE_RES:
        for m in pattern.finditer(text):
            value = m.group("value").strip()
            if value.rstrip("頃ごろまで中以降").strip():
                return value
    if _RESTORE_UNKNOWN_RE.search(text):
        return "未定"
    return None


def outage(doc: Doc) -> dict[str, Any]:
    """Areas with their households; a count after "A・B" belongs to the group jointly."""
    text = doc.text
    events: list[tuple[int, int, Mention | Quantity]] = []
    kv_place = doc.kv_spans.get("place")
    named = [kv_place] if kv_place else []
    for a in doc.areas:
        if not _overlaps(a, named):
            events.append((a.start, 0, a))
    for lb in [*named, *doc.labels]:
        if lb is kv_place or not _overlaps(lb, doc.areas):
            events.append((lb.start, 0, lb))
    for q in [*doc.quantities, *_unit_stated_once(text)]:
        if q.unit in _HOUSEHOLD_UNITS:
            events.append((q.start, 1, q))
    for r in _AREA_RESTORED_RE.finditer(text):
        events.append((r.start(), 2, None))
    events.sort(key=lambda e: (e[0], e[1]))
    sub_areas: set[int] = set()  # うち下津井地区 600世帯: part of a count already given
    respective: list[dict[str, Any]] = []
    restored_areas: set[int] = set()
    areas: list[dict[str, Any]] = []
    group: list[dict[str, Any]] = []  # areas waiting for their count
    group_end = -1  # where the last area of the group ended; -1 after a count
    joint: list[tuple[list[dict[str, Any]], int | None]] = []
    explicit_total: int | None = None
    remaining: int | None = None
    orphans: list[int | None] = []
    for _, _, item in events:
        if item is None:  # 真備町川辺 復旧済み: that area's count is 0
            if group_end >= 0:
                for entry in group:
                    if entry["households"] is None:
                        entry["households"] = 0
                        restored_areas.add(id(entry))
            group_end = -1
            continue
        if isinstance(item, Mention):
            respective = []
            entry = next((a for a in areas if a["area"] == item.name), None)
            if entry is None:
                entry = {"area": item.name, "households": None}
                areas.append(entry)
                if _preceded_by(text, item.start, _SUB_BEFORE_RE, 6) or item.kind == "container":
                    sub_areas.add(id(entry))
            adjacent = group_end >= 0 and _AREA_JOIN_RE.fullmatch(text, group_end, item.start)
            group = [*group, entry] if adjacent else [entry]
            group_end = item.end
            continue
        value = as_count(item.value)
        if respective:
            respective.pop(0)["households"] = value
            continue
        if (
            len(group) > 1
            and group_end >= 0
            and _RESPECTIVELY_RE.search(text, group_end, item.start)
        ):
            # 真備町箭田、真備町川辺 それぞれ 200世帯、150世帯: one count each, in order
            group[0]["households"] = value
            respective = group[1:]
            group_end = -1
            continue
        if _preceded_by(text, item.start, _TOTAL_BEFORE_RE, 8):
            explicit_total = value
        elif _preceded_by(text, item.start, _REMAINING_BEFORE_RE, 8):
            remaining = value
        elif len(group) == 1 and group_end >= 0:
            group[0]["households"] = value
        elif len(group) > 1 and group_end >= 0:
            joint.append((group, value))
        else:
            orphans.append(value)
        group_end = -1
    if (
        orphans
        and not joint
        and len(orphans) == len(areas)
        and all(a["households"] is None for a in areas)
    ):
        # 停電 2,300世帯 児島, 停電戸数 1,100世帯 / 地域：玉島地区: the count before its area
        for entry, value in zip(areas, orphans, strict=True):
            entry["households"] = value
        orphans = []
    elif areas and len(orphans) == 1 and not joint and all(a["households"] is None for a in areas):
        # 停電 約2,300戸（玉島・船穂）: one count before the areas it covers together
        joint.append((areas, orphans.pop()))
    restoration = _restoration(text)
    if _NO_OUTAGE_RE.search(text) and not any(a["households"] for a in areas):
        # 真備地区 停電なし: an all-clear, each area at 0
        for a in areas:
            a["households"] = 0
        return {"areas": areas, "total_households": 0, "restoration": restoration}
    restored = _RESTORED_RE.search(text)
    still_out = any(
        a["households"] for a in areas if id(a) not in restored_areas and id(a) not in sub_areas
    )
    if restored and restoration is None and not (restored_areas and still_out):
        restoration = restored.group("phrase") or "復旧済み"
        if not _PARTIAL_RE.search(text):
            for a in areas:
                a["households"] = 0
            explicit_total = 0
    if remaining is not None and len(areas) == 1:
        areas[0]["households"] = remaining
    total: int | None = None
    if explicit_total is not None:
        total = explicit_total
    elif remaining is not None:
        total = remaining
    elif areas:
        in_joint = {id(a) for members, v in joint if v is not None for a in members}
        counted = [a for a in areas if id(a) not in sub_areas] or areas
        if all(a["households"] is not None or id(a) in in_joint for a in counted):
            total = sum(a["households"] or 0 for a in counted if id(a) not in in_joint)
            total += sum(v for _, v in joint if v is not None)
    elif orphans and all(v is not None for v in orphans):
        total = sum(v for v in orphans if v is not None)
    return {"areas": areas, "total_households": total, "restoration": restoration}


# -- road closure -------------------------------------------------------------------------

_CAUSE_RE = re.compile(
    r"(?P<landslide>土砂災害|土砂崩れ|土砂崩落|土砂流出|土砂流入|土砂|がけ崩れ|崖崩れ|法面崩壊"
    r"|のり面崩壊|法面崩落|斜面崩壊|落石|土石流|山崩れ)"
    r"|(?P<flooding>冠水|浸水|水没|越水|氾濫|滞水|水につか|増水"
    r"|水が(?:引|ひ)(?:いて(?:い|お)?(?:ない|ません|らず)|かない|かず|きません|けない))"
    r"|(?P<fallen_tree>倒木|倒竹)"
    r"|(?P<collapse>陥没|崩落|路肩崩壊|路肩決壊|路肩崩落|道路崩壊|決壊|亀裂|段差|損壊|倒壊|崩壊"
    r"|流失|落橋|崩れ)"
    r"|(?P<accident>事故|衝突|横転|故障車|車両火災|追突)"
    r"|(?P<other>電線垂下|電柱|工事|点検|調査|火災|落下物|障害物|漏水|看板)"
)
_PASSABLE_RE = re.compile(
    r"(?P<true>通行止め?(?:は|も)?(?:なし|無し|ありません|ゼロ)|(?:通行に)?支障(?:は)?(?:なし|ありません)"
    r"|通行止め?(?:に|と)?(?:は|も)?\s?(?:して|なって|されて)?(?:い|お)?"
    r"(?:ません|ない|りません|らず)|通行止め?では(?:ありません|ない)"
    r"|通行止め?(?:は|を|が)?[^。、\n]{0,12}?"
    r"(?:全面)?解除(?!予定|見込|の見込|時期|めど|目途|未定|の予定|に向け|して(?:い|お)(?:ない|ません|りません)"
    r"|されて(?:い|お)(?:ない|ません|りません)|でき(?:ない|ません)|せず|に至って)"
    r"|規制(?:は|を)?解除(?!予定|見込|の見込|時期|めど|目途|未定|の予定)|片側交互通行|片側通行"
    r"|交互通行|通行可能|通行可|通行(?:を)?再開(?!予定|見込|の見込)|開通(?!予定|見込|の見込)"
    r"|通れる|通れます|徐行|仮復旧|迂回可)"
    r"|(?P<false>通行止|通行不可|通行不能|通行でき(?:ない|ません)|通れな|通れません|全面閉鎖"
    r"|閉鎖|不通|寸断|封鎖|進入禁止|立ち?入り?禁止)"
)


def road_closure(doc: Doc) -> dict[str, Any]:
    text = doc.text
    road = doc.kv.get("road") or (doc.roads[0].name if doc.roads else None)
    kv_place = doc.kv_spans.get("place")
    place = None
    if kv_place is not None and not _overlaps(kv_place, doc.roads):
        place = kv_place.name
    if place is None:
        candidates = [a for a in doc.areas] + [
            f for f in doc.facilities if not _overlaps(f, doc.roads)
        ]
        # 県道 水島 広江付近: the 町域 or the place with a suffix, not the district before it
        candidates.sort(key=lambda m: (m.kind == "district", m.start))
        if candidates:
            place = candidates[0].name
    if place is None:
        place = next((lb.name for lb in doc.labels if not _overlaps(lb, doc.roads)), None)
    cause_m = _CAUSE_RE.search(text)
    cause = cause_m.lastgroup if cause_m else None
    passable: bool | None = None
    for m in _PASSABLE_RE.finditer(text):
        passable = m.lastgroup == "true"
    return {"road": road, "place": place, "cause": cause, "passable": passable}


# -- water level --------------------------------------------------------------------------

_TREND_RE = re.compile(
    r"(?P<falling>ピーク(?:を)?(?:越え|超え|過ぎ|越し|超し|アウト)|ピーク(?:は|を)?過ぎ|下降|低下|減水"
    r"|下がっ|下がり|引い|引き始|減少|[↓⤵↘]|減って|減り|さがっ|さがり|へって|へりはじ)"
    r"|(?P<rising>上昇|増水|上がっ|上がり|高くなっ|増加|増え|増して|[↑⤴↗]|高まっ"
    r"|あがっ|あがり|ふえて|ふえた|ふえと|たかくなっ)"
    r"|(?P<steady>横ばい|横這い|変化なし|変化無し|変動なし|変わらず|一定|安定|平行線)"
)
_FLOOD_RE = re.compile(
    r"(?P<false>(?:浸水|越水|氾濫|冠水|溢水|越流|決壊)(?:する|した|している)?[^。、\n]{0,8}?"
    r"(?:心配|恐れ|おそれ|可能性|状況|段階|様子|気配|危険)(?:は|も)?\s?(?:ありません|ない|なし|無し"
    r"|低い|少ない|ではありません|ではない|じゃない|にはない|にはありません)"
    r"|(?:浸水|越水|氾濫|冠水|溢水|越流)(?:は|も)?(?:していない|していません|しておらず|せず"
    r"|までは(?:いって|至って)(?:いない|いません)|には至って(?:いない|いません|おらず))"
    r"|(?:浸水|越水|氾濫|冠水|溢水|越流)(?:は|の|も)?(?:被害)?(?:は|も)?"
    r"\s?(?:今のところ|いまのところ|現在|現時点で|現時点では|特に)?\s?(?:なし|無し|ありません|出ていない"
    r"|出ていません|ない"
    r"|していない|していません|解消|の(?:おそれ|恐れ)は?(?:なし|ない|ありません))|異常なし"
    r"|(?:浸水|越水|氾濫|冠水|溢水|越流)(?:は|が|も)?\s?(?:止ま|とま|収ま|おさま|治ま)[りっ]"
    r"|被害なし)"
    r"|(?P<true>氾濫(?!危険|注意|警戒|の?(?:おそれ|恐れ|可能性)|予測|警報)"
    r"|(?:越水|溢水|越流|決壊)(?!の?(?:おそれ|恐れ|可能性))"
    r"|浸水(?!の?(?:おそれ|恐れ|可能性)|想定)|冠水(?!の?(?:おそれ|恐れ|可能性)))"
)
_LEVEL_AFTER_BLOCK_RE = re.compile(r"\s?(?:先|手前|区間|付近|にわたり|幅|範囲|以内|離れ)")
# "いつもより 2mくらい高い": a difference from the usual level, not a reading
_RELATIVE_BEFORE_RE = re.compile(r"(?:より|比べ(?:て)?|比で)\s?(?:約)?\s?$")
_RELATIVE_AFTER_RE = re.compile(r"\s?(?:くらい|ぐらい|位|ほど|程度)?\s?(?:高|低|上|下|多|少)")
_DATUM_BEFORE_RE = re.compile(r"(?:T\.?P\.?|EL|標高|A\.?P\.?)\s?$")
_CHANGE_BEFORE_RE = re.compile(
    r"(?:(?:前回比|前回差|比|差|変化)(?:は|:)?\s?(?P<sign>[+\-−±]|プラス|マイナス)?"
    r"|(?P<sign2>[+\-−]|プラス|マイナス))\s?$"
)
_CURRENT_BEFORE_RE = re.compile(r"(?:現在|現在の水位|今|いま|最新)(?:は|:|で)?\s?(?:約)?\s?$")
# Thresholds, peaks and earlier readings written beside the current level.
_REFERENCE_BEFORE_RE = re.compile(
    r"(?:氾濫危険水位|避難判断水位|氾濫注意水位|水防団待機水位|危険水位|基準水位|計画高水位|警戒水位"
    r"|ピーク|最高水位|最高|前回|前報|先ほど|さきほど)(?:は|:|の|時)?\s?(?:約)?\s?$"
)
_EARLIER_BEFORE_RE = re.compile(
    r"(?:ピーク|最高水位|最高|前回|前報|先ほど|さきほど)(?:は|:|時)?\s?(?:約)?\s?$"
)
_READING_TIME_BEFORE_RE = re.compile(
    r"(?:[0-9]{1,2}時(?:[0-9]{1,2}分|半)?|[0-9]{1,2}:[0-9]{2})\s?$"
)
_READING_TIME_AFTER_RE = re.compile(
    r"\s?\((?:[0-9]{1,2}時(?:[0-9]{1,2}分|半)?|[0-9]{1,2}:[0-9]{2})(?:現在|時点)?\)"
)
_LEVEL_NO_UNIT_RE = re.compile(
    rf"水位(?:は|:)?\s?(?:{APPROX})?\s?(?P<num>[0-9]{{1,3}}\.[0-9]{{1,3}})"
)


def water_level(doc: Doc) -> dict[str, Any]:
    text = doc.text
    area = next((lb.name for lb in doc.labels), None)
    if area is None:
        area = doc.kv.get("river") or doc.kv.get("place")
    if area is None and doc.rivers:
        area = doc.rivers[0].name
    if area is None and doc.gauges:
        area = doc.gauges[0].name
    if area is None and doc.areas:
        area = doc.areas[0].name
    trend = None
    for m in _TREND_RE.finditer(text):
        trend = m.lastgroup
    level: float | None = None
    levels = []
    change: float | None = None  # 前回比 +0.4m, +0.3m: a change, not a level
    for q in doc.quantities:
        if q.value is None or _LEVEL_AFTER_BLOCK_RE.match(text, q.end):
            continue
        if _RELATIVE_AFTER_RE.match(text, q.end) and _preceded_by(
            text, q.start, _RELATIVE_BEFORE_RE, 6
        ):
            continue
        if q.unit == "cm" and not any(x.unit in ("m", "メートル") for x in doc.quantities):
            q = Quantity(q.start, q.end, q.value / 100, "m", q.placeholder)  # 520cm
        if q.unit not in ("m", "メートル"):
            continue
        sign = _CHANGE_BEFORE_RE.search(text, max(0, q.start - 6), q.start)
        if sign and _DATUM_BEFORE_RE.search(text, max(0, sign.start() - 6), sign.start()):
            sign = None  # T.P.+8.2m: a height above the datum, not a change
        if sign:
            negative = sign.group("sign") in ("-", "−", "マイナス")
            change = -float(q.value) if negative else float(q.value)
            continue
        levels.append(q)
    current = next((q for q in levels if _preceded_by(text, q.start, _CURRENT_BEFORE_RE, 6)), None)
    timed = [q for q in levels if _preceded_by(text, q.start, _READING_TIME_BEFORE_RE, 10)]
    if len(timed) < 2:  # 8.2m(19:00) 8.5m(19:30): the time after each reading
        timed = [q for q in levels if _READING_TIME_AFTER_RE.match(text, q.end)]
    if current is None and len(timed) >= 2:
        # 18時 5.8m 19時 6.3m: readings in time order, the last is the current one
        current = timed[-1]
    reference = [q for q in levels if _preceded_by(text, q.start, _REFERENCE_BEFORE_RE, 12)]
    if current is None:
        current = next((q for q in levels if q not in reference), None)
    if current is None and levels:
        current = levels[0]
    if current is not None:
        level = float(current.value)
    if level is None:
        m = _LEVEL_NO_UNIT_RE.search(text)
        if m:
            value = parse_number(m.group("num"))
            level = float(value) if value is not None else None
    if level is not None and level > 1000:
        level = None
    if trend is None and change:
        trend = "rising" if change > 0 else "falling"
    if trend is None and level is not None:
        # ピーク 9.9m 現在 9.4m / 11.2m → 10.8m: the change between two readings
        before = doc.superseded_levels + [
            float(q.value)
            for q in levels
            if q is not current and _preceded_by(text, q.start, _EARLIER_BEFORE_RE, 8)
        ]
        if len(timed) >= 2 and current is timed[-1]:
            before.append(float(timed[-2].value))  # the reading before the latest
        if before:
            trend = (
                "falling" if before[-1] > level else "rising" if before[-1] < level else "steady"
            )
    flooding = None
    fm = _FLOOD_RE.search(text)
    if fm:
        flooding = fm.lastgroup == "true"
    return {"area": area, "trend": trend, "level_m": level, "flooding": flooding}


# -- medical capacity ---------------------------------------------------------------------

ACCEPT_RE = re.compile(
    r"(?P<false>(?:受け?入れ?|受入れ?)?可否\s?(?:は)?\s?:?\s?(?:否|不可|×|NG|できません|できない)"
    r"|(?:受け?入れ?|受入れ?)(?:状況)?(?:は|が|も|:)?\s?(?:一時|当面|当分|しばらく|現在)?\s?"
    r"(?:不可|停止|中止|困難|不能|できな|できません|否(?!定)|×|NG"
    r"|出来な|見合わせ|制限|休止|ストップ|お断り)|満床|休診|診療(?:を)?(?:停止|不可|中止|休止)"
    r"|受け?入れ?られ(?:ない|ません))"
    r"|(?P<true>(?:受け?入れ?|受入れ?)(?:に|は|も)?(?:問題|支障)(?:は)?(?:なし|無し|ありません|ない)"
    r"|(?:受け?入れ?|受入れ?)?可否\s?(?:は)?\s?:?\s?(?:可能|可|OK)"
    r"|(?:受け?入れ?|受入れ?)(?:状況)?(?:は|が|も|:)?\s?(?:可能|可(?!否)|OK|継続|再開|しています|できます"
    r"|しております|中)|診療(?:可能|継続|中|再開)|対応可能|通常診療|空床あり|空きあり)"
)
_BEDS_RE = re.compile(
    r"(?:空床|空き?病床|空きベッド|病床|ベッド|受入可能数|受け?入れ?可能(?:数|人数)|残り|あと)"
    rf"(?:数)?\s?(?:は|:)?\s?(?:{APPROX})?\s?(?P<num>{NUM}|{PLACEHOLDER})\s?(?:床|名|人|台)?"
)
_NO_BEDS_RE = re.compile(
    r"満床|空床(?:は)?(?:なし|無し|ゼロ|0)|空きベッド(?:は)?(?:なし|無し)"
    r"|(?:ベッド|病床)(?:の)?\s?空き\s?(?:は|:)?\s?(?:なし|無し|ゼロ|0|ありません)"
)
_INJURED_TOTAL_RE = re.compile(
    r"(?:負傷者|けが人|怪我人|ケガ人|傷病者|負傷|救急搬送|搬送者|受入患者|患者)(?:数)?"
    r"(?:の)?(?:\s?(?:受入れ?|受け入れ|搬送|収容|来院|済み?)(?:数|人数)?)*"
    rf"(?:は|:|が)?\s?(?:累計|合計|計|総数)?\s?(?:{APPROX})?\s?(?P<num>{NUM}|{PLACEHOLDER})\s?"
    r"(?:名|人|件)"
)
_INJURED_PART_RE = re.compile(
    rf"(?:重傷|軽傷|重症|軽症|中等症|重篤)(?:者)?(?:は|:)?\s?(?P<num>{NUM}|{PLACEHOLDER})\s?"
    r"(?:名|人|(?=[\s、,/]|$))"
)
_INJURED_AFTER_RE = re.compile(r"\s?(?:を|が)?\s?(?:搬送|受け?入れ?|受入|来院|収容)")


def _count_of(token: str) -> int | None:
    return as_count(parse_number(token))


def medical_capacity(doc: Doc, context_facility: str | None) -> dict[str, Any]:
    text = doc.text
    facility = doc.kv.get("facility") or doc.facility(("medical", "generic"))
    if facility is None:
        facility = next((lb.name for lb in doc.labels), None)
    if facility is None:
        facility = context_facility or doc.facility(("shelter",))
    accepting = None
    for m in ACCEPT_RE.finditer(text):
        accepting = m.lastgroup == "true"
    beds: int | None = None
    bm = _BEDS_RE.search(text)
    if bm:
        beds = _count_of(bm.group("num"))
    else:
        bed_q = [q for q in doc.quantities if q.unit == "床"]
        if bed_q:
            beds = as_count(bed_q[0].value)
        elif _NO_BEDS_RE.search(text):
            beds = 0
    injured: int | None = None
    im = _INJURED_TOTAL_RE.search(text)
    if im:
        injured = _count_of(im.group("num"))
    else:
        parts = [_count_of(m.group("num")) for m in _INJURED_PART_RE.finditer(text)]
        if parts and all(p is not None for p in parts):
            injured = sum(p for p in parts if p is not None)
        else:
            for q in doc.quantities:
                if q.unit in ("名", "人") and _INJURED_AFTER_RE.match(text, q.end):
                    injured = as_count(q.value)
                    break
    return {
        "facility": facility,
        "accepting": accepting,
        "beds_available": beds,
        "injured": injured,
    }


def bare_medical(doc: Doc, fields: dict[str, Any]) -> dict[str, Any]:
    """A hospital's bare ``3名``: patients received (injured); ``5床``: beds available."""
    if fields["injured"] is None:
        people = [q for q in doc.quantities if q.unit in ("名", "人")]
        if people:
            fields["injured"] = as_count(people[0].value)
    return fields


# -- fire / evacuation order --------------------------------------------------------------

_EVAC_ORDER_RE = re.compile(
    r"(?P<false>(?:避難指示|避難勧告|警戒区域|退去命令|緊急安全確保|避難命令)(?:を|は|が)?"
    r"[^。、\n]{0,12}?(?:全面)?解除(?!予定|見込|の見込|時期|めど|目途|未定|の予定)"
    r"|(?<!未)鎮火(?!見込|予定|していない|せず|に至らず|には至って|の見込|の予定)"
    r"|(?:避難指示|避難勧告|避難命令|退去命令)(?:は|の)?(?:発令)?"
    r"(?:なし|無し|出ていない|出ておらず|出ていません|ありません|不要))"
    r"|(?P<true>避難指示|避難勧告|緊急安全確保|退去(?:を)?(?:命令|命じ|指示|要請)|退去命令"
    r"|警戒区域(?:を)?(?:設定|指定)|避難命令|避難を指示|避難(?:を)?(?:呼びかけ|よびかけ)|立入禁止区域)"
)
_NOT_PEOPLE_BEFORE_RE = re.compile(
    r"(?:負傷|けが|怪我|ケガ|死者|死亡|重傷|軽傷|重症|軽症|隊員|消防|職員|不明|救助|搬送)"
    r"(?:者|人)?(?:は|:|が)?\s?(?:約)?\s?$"
)


def fire(doc: Doc) -> dict[str, Any]:
    text = doc.text
    area = doc.kv.get("place")
    if area is None:
        label = next((lb for lb in doc.labels if not _overlaps(lb, doc.facilities)), None)
        area = label.name if label else None
    if area is None and doc.areas:
        area = doc.areas[0].name
    if area is None and doc.facilities:
        area = doc.facilities[0].name
    households = _first_value([q for q in doc.quantities if q.unit in ("世帯", "戸", "軒")])
    people = None
    for q in doc.quantities:
        if q.unit in ("名", "人") and not _preceded_by(text, q.start, _NOT_PEOPLE_BEFORE_RE, 8):
            people = as_count(q.value)
            break
    order = False
    for m in _EVAC_ORDER_RE.finditer(text):
        order = m.lastgroup == "true"
    return {"area": area, "households": households, "people": people, "evacuation_order": order}


# -- dispatch -----------------------------------------------------------------------------

_ROLE_RE = re.compile(f"[{_KANJI}{_KATA}]{{0,4}}(?:{_alternation(lexicon.ROLES)})(?:チーム|班|隊)?")
_DISPATCH_UNITS = ("名", "人", "隊", "班", "チーム", "台")
_REQUEST_AFTER_RE = re.compile(r"(?:から|より)の?(?:要請|依頼)")
_REASON_BECAUSE_RE = re.compile(r"(?:のため|に伴い|に伴う|の支援として)")
_REASON_REQUEST_RE = re.compile(
    r"(?:からの|よりの|の)?(?P<word>要請|依頼)(?:により|を受け|に基づき)"
)
# Like _BOUNDARY_RE but keeps の: a phrase (心のケア対応, 玉島地区の避難所) stays whole.
_PHRASE_BOUNDARY_RE = re.compile(
    f"(?<=[^{_HIRA}])(?:により|による|によって|において|における|に伴い|に伴う|について|として"
    f"|にて|から|より|では|には|への|での|まで|は|が|を|に|へ|で|と|や|も)(?=[^{_HIRA}])"
)
_DEST_MARK_RE = re.compile(
    r"(?:へ|に(?!より|よる|よって|伴|つい|基づ|対し|おい|関し|て))(?=[^\n。]{0,16}派遣)"
    # 真備支所へ, 二万小学校 へ 出発, 真備町有井 へ出動: where they are going
    r"|へ(?=\s|$|。|出動|出発|向か|移動|急行)"
    r"|(?<=\s)着(?=\s|$)"  # 真備支所 着 19時40分: where they arrived
)


def phrase_before(text: str, end: int, limit: int = 20) -> str:
    """The phrase ending at ``end``: back to punctuation or a particle other than の."""
    m = _NAME_TAIL_RE.search(text, max(0, end - limit), end)
    if m is None:
        return ""
    start = m.start()
    for b in _PHRASE_BOUNDARY_RE.finditer(text, start, end + 1):
        if b.end() <= end:
            start = b.end()
    phrase = clean_name(text[start:end], topics=False)
    return phrase.removeprefix("の")


_REASON_PAREN_RE = re.compile(
    rf"\((?P<r>[{NAME_CHARS}・]{{2,20}}?(?:対応|支援|対策|ケア|相談|補助|応援|確認|調整))\)"
)
_REASON_TAIL_RE = re.compile(
    rf"(?:^|(?<=[\s、,]))(?P<r>[{NAME_CHARS}・]{{2,20}}?(?:対応|支援|対策|ケア|相談|補助|調整))"
    r"(?:中|のため|で|として|しています|します)?\s?(?:$|\n|。)"
)


_REASON_WITH_DE_RE = re.compile(
    rf"(?:^|(?<=[\s、,]))(?P<r>[{_KANJI}{_KATA}{_HIRA}・]{{1,16}}?"
    r"(?:対応|支援|対策|ケア|相談|補助|調整|活動|作業))"
    r"で(?=[\s、,。]|$)"
)


def _reason(text: str) -> str | None:
    m = _REASON_PAREN_RE.search(text)
    if m:
        return clean_name(m.group("r"), topics=False) or m.group("r")
    m = _REASON_BECAUSE_RE.search(text)
    if m:
        phrase = phrase_before(text, m.start())
        if phrase:
            return phrase
    m = _REASON_REQUEST_RE.search(text)
    if m:
        start, _ = name_before(text, m.start(), 20)
        return text[start : m.end("word")]
    m = _REASON_WITH_DE_RE.search(text)
    if m:  # 給水支援で 二万小学校へ: what for, then where
        return m.group("r")
    m = _REASON_TAIL_RE.search(text)
    if m:  # the phrase itself: 避難所で|心のケア対応中
        return phrase_before(text, m.end("r"), limit=m.end("r") - m.start("r")) or None
    return None


def _destination(doc: Doc, role_span: Mention | None) -> str | None:
    text = doc.text
    # "…へ派遣", "…に保健師2名を派遣": the phrase before へ/に, when it names a place
    place_spans = doc.facilities + doc.areas
    for m in _DEST_MARK_RE.finditer(text):
        end = m.start()
        while end > 0 and text[end - 1] == " ":  # 二万小学校 へ
            end -= 1
        phrase = phrase_before(text, end)
        if not phrase:
            continue
        start = end - len(phrase)
        if any(p.start < end and p.end > start for p in place_spans) or m.group() == "へ":
            return phrase
    places = [p for p in place_spans if role_span is None or not _overlaps(p, [role_span])]
    places.sort(key=lambda p: p.start)
    for p in places:
        if _REQUEST_AFTER_RE.match(text, p.end):
            return p.name
    # 川崎医科大学附属病院から応援に: where they came from, not where they went
    places = [p for p in places if not _FROM_AFTER_RE.match(text, p.end)]
    return places[0].name if places else None


_FROM_AFTER_RE = re.compile(r"\s?(?:から|より)")
# 玉島中学校避難所の運営支援に派遣: the place, then what for
_DEST_PURPOSE_RE = re.compile(
    r"(?P<dest>.+?(?:避難所|学校|公民館|支所|病院|センター|地区|会館|施設))の"
    r"(?P<reason>[^の]{1,12}?(?:支援|対応|対策|応援|運営|相談|補助|ケア))"
)


def dispatch(doc: Doc) -> dict[str, Any]:
    text = doc.text
    role: str | None = doc.kv.get("role")
    role_end: int | None = None
    role_span: Mention | None = None
    units = [q for q in doc.quantities if q.unit in _DISPATCH_UNITS]
    if role is None:
        # 職員派遣 … 保健師 2名: the role with a head count after it, else the first named
        found = list(_ROLE_RE.finditer(text))
        gaps = {
            id(r): min((q.start - r.end() for q in units if 0 <= q.start - r.end() <= 6), default=9)
            for r in found
        }
        rm = min(found, key=lambda r: gaps[id(r)]) if found else None  # the first on a tie
        if rm:
            start, name = rm.start(), rm.group()
            cleaned = clean_name(name)
            role = cleaned or name
            role_end = rm.end()
            role_span = Mention(start, rm.end(), role)
    count_q: Quantity | None = None
    if role_end is not None:
        count_q = next((q for q in units if 0 <= q.start - role_end <= 6), None)
    if role is None and units:
        # an unknown role: the name right before the head count (技師3名を派遣)
        for q in units:
            start, name = name_before(text, q.start)
            if name:
                role, count_q = name, q
                role_span = Mention(start, q.start, name)
                break
    if count_q is None and units:
        count_q = units[0]
    count = as_count(count_q.value) if count_q else None

    destination = doc.kv.get("destination") or _destination(doc, role_span)
    reason = doc.kv.get("reason") or _reason(text)
    split = _DEST_PURPOSE_RE.fullmatch(destination) if destination else None
    if split:
        destination = split.group("dest")
        reason = reason or split.group("reason")
    return {"role": role, "count": count, "destination": destination, "reason": reason}
