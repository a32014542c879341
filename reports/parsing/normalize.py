"""Text normalisation and numbers: the layer every extractor reads from.

Invariants the rest of the package relies on:
- ``normalize`` returns NFKC text of at most MAX_TEXT_CHARS characters, without control
  characters, lone surrogates or zero-width characters; list markers (①②, ●, (1)) become line
  breaks; runs of blanks become one space. It never raises on any ``str``.
- ``parse_number`` returns None for placeholders (○〇△□X), for "several" (数十名), for anything
  it cannot read and for absurd values: callers treat None as "not given".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Very long inputs are analysed on a bounded prefix so any input returns quickly. NFKC can
# expand a character up to 18-fold, hence the second cut after normalising.
MAX_RAW_CHARS = 4000
MAX_TEXT_CHARS = 3000
MAX_VALUE = 10_000_000  # the portal rejects larger counts (reports.categories)

# -- list markers and control characters ---------------------------------------------------

_MARKER_TABLE: dict[int, str] = {}
for _first, _last in (
    (0x2460, 0x249B),  # ①..⑳, ⑴..⒇, ⒈..⒛
    (0x24EA, 0x24FF),  # ⓪, ⓫..⓴, ⓵..⓾, ⓿
    (0x2776, 0x2793),  # ❶..❿, ➀..➉, ➊..➓
    (0x3251, 0x325F),  # ㉑..㉟
    (0x32B1, 0x32BF),  # ㊱..㊿
):
    for _cp in range(_first, _last + 1):
        _MARKER_TABLE[_cp] = "\n"
for _ch in "●■◆◇▲▼▶►◎★☆":  # bullets (□ is not one: it is a placeholder)
    _MARKER_TABLE[ord(_ch)] = "\n"
for _ch in "\r\u2028\u2029\x85\x0b\x0c":
    _MARKER_TABLE[ord(_ch)] = "\n"
_MARKER_TABLE[ord("\u301c")] = "~"  # 〜 wave dash, like NFKC's ～ → ~

_CONTROL_RE = re.compile(
    "[\x00-\x09\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\ufe00-\ufe0f\ufeff\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e01ef]"
)
_SPACES_RE = re.compile(r"[ \t]+")
_NEWLINES_RE = re.compile(r" ?\n[\n ]*")
# "(1) " / "1. " / "1) " at the start of a line or after a blank: list markers.
_ASCII_MARKER_RE = re.compile(r"(?:^|(?<=[\n ]))(?:\([0-9]{1,2}\)|[0-9]{1,2}[.)](?= ))")

# -- numbers --------------------------------------------------------------------------------

KANJI_DIGITS = {
    "〇": 0,
    "零": 0,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
_LARGE_UNITS = {"万": 10_000, "億": 100_000_000}
PLACEHOLDERS = frozenset("○〇◯△□×X")
_PLACEHOLDER_ONLY = frozenset("○◯△□×X")  # 〇 alone is also the kanji zero

NUM = r"[0-9〇一二三四五六七八九十百千万億][0-9〇一二三四五六七八九十百千万億,.]{0,14}"
PLACEHOLDER = r"[○〇◯△□×X]{1,6}"
APPROX = r"(?:約|およそ|概ね|おおむね|推定|ほぼ)"

# A number (or a placeholder standing for one) with its unit.
QUANTITY_RE = re.compile(
    rf"(?P<approx>{APPROX})?\s?(?P<num>{NUM}|{PLACEHOLDER})\s?"
    r"(?P<unit>世帯|名|人(?!口|員)|戸|軒|床|件|隊|班|チーム|台|メートル|cm|m(?![a-zA-Z]))"
)

_SEVERAL_BEFORE = frozenset("数何幾第")


@dataclass(frozen=True, slots=True)
class Quantity:
    start: int
    end: int
    value: int | float | None  # None: a placeholder or unreadable
    unit: str
    placeholder: bool  # the message wrote ○○/XX where the number goes


def parse_number(token: str) -> int | float | None:
    """Read Arabic or kanji numerals (1,200 / 三十五 / 二千三百 / 1万2千 / 二〇〇 / 4.3)."""
    s = token.replace(",", "")
    if not s or len(s) > 15:
        return None
    if any(c in _PLACEHOLDER_ONLY for c in s) or s.strip("〇") == "":
        return None
    if "." in s:
        if s.count(".") != 1 or not s.replace(".", "").isascii() or s in (".",):
            return None
        head, _, tail = s.partition(".")
        if not (head + tail).isdigit():
            return None
        value = float(s)
        return value if value <= MAX_VALUE else None
    if s.isascii():
        if not s.isdigit():
            return None
        number = int(s)
        return number if number <= MAX_VALUE else None
    total = section = current = 0
    for c in s:
        if c.isdigit() and c.isascii():
            current = current * 10 + int(c)
        elif c in KANJI_DIGITS:
            current = current * 10 + KANJI_DIGITS[c]
        elif c in _SMALL_UNITS:
            section += (current or 1) * _SMALL_UNITS[c]
            current = 0
        elif c in _LARGE_UNITS:
            total += ((section + current) or 1) * _LARGE_UNITS[c]
            section = current = 0
        else:
            return None
        if current > MAX_VALUE:
            return None
    number = total + section + current
    return number if number <= MAX_VALUE else None


def as_count(value: int | float | None) -> int | None:
    """A count of people/households/beds: a non-negative integer, else None."""
    if value is None:
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    return value if 0 <= value <= MAX_VALUE else None


def find_quantities(text: str) -> list[Quantity]:
    out: list[Quantity] = []
    for m in QUANTITY_RE.finditer(text):
        token = m.group("num")
        start = m.start("num")
        placeholder = all(c in PLACEHOLDERS for c in token)
        if not placeholder and start > 0 and text[start - 1] in _SEVERAL_BEFORE:
            if not token[0].isascii():
                continue  # 数十名, 何名: not a count
            if text[start - 1] == "第":
                continue
        value = None if placeholder else parse_number(token)
        out.append(Quantity(m.start(), m.end(), value, m.group("unit"), placeholder))
    return out


# -- corrections ----------------------------------------------------------------------------

_EARLIER = r"(?:前回|前報|[0-9]{1,2}時間前|[0-9]{1,3}分前|先ほど|さきほど|さっき)"
SUPERSEDED_LEVEL_RE = re.compile(
    r"(?P<num>[0-9]{1,3}(?:\.[0-9]{1,3})?)\s?(?:m|メートル)(?:\s?\([^()\n]{1,12}\))?\s?"
    r"(?:→|⇒|➡|->|=>)\s?(?:約)?\s?[0-9]"
    rf"|{_EARLIER}(?:は|:|の水位)?\s?(?:約)?\s?(?P<num2>[0-9]{{1,3}}(?:\.[0-9]{{1,3}})?)\s?(?:m|メートル)"
)
_CORRECTION_HINT_RE = re.compile(
    r"→|⇒|➡|->|=>|誤|ではなく|でなく|訂正|修正|変更|前回|前報|時間前|分前|先ほど|さきほど|さっき"
)
_WHEN = r"(?:\s?\([^()\n]{1,12}\))"  # "6.0m(22時) → 6.4m(23時)"
_QTY = rf"{APPROX}?\s?(?:{NUM})\s?(?:世帯|名|人|戸|軒|床|件|隊|班|台|メートル|m)?"
_CLOCK = r"(?:[0-9]{1,2}時(?:[0-9]{1,2}分|半)?|[0-9]{1,2}:[0-9]{2})"
_CORRECTION_RES = (
    # "18時 80名 → 20時 95名": an earlier reading and its time, then the current one
    re.compile(rf"{_CLOCK}\s?{_QTY}\s?(?:→|⇒|➡|->|=>)\s?(?={_CLOCK})"),
    # "120名→135名", "120 ⇒ 135名": keep the new value
    re.compile(
        rf"{_QTY}{_WHEN}?\s?(?:→|⇒|➡|->|=>)\s?(?=(?:現在|今|最新)?\s?{APPROX}?\s?(?:{NUM}))"
    ),
    # "1,100世帯(前回1,350)", "水位 2.9m(1時間前 3.3m)": an earlier figure, not the report's
    re.compile(rf"[(\[]?{_EARLIER}(?:は|:|の水位)?\s?{_QTY}[)\]]?"),
    # "(誤)120名 (正)135名", "誤:120名 正:135名"
    re.compile(r"[(\[【]?誤[)\]】]?\s?:?[^\n]{0,30}?[(\[【]?正[)\]】]?\s?:?\s?(?=\S)"),
    # "120名ではなく135名"
    re.compile(rf"{_QTY}\s?(?:ではなくて?|でなく)\s?(?={APPROX}?\s?(?:{NUM}))"),
    # "120名を135名に訂正", "120名から135名に修正"
    re.compile(rf"{_QTY}\s?(?:を|から)\s?(?={_QTY}\s?に\s?(?:訂正|修正|変更))"),
)
# "受け入れ不可→可能", "通行止め→通行可": keep the head word with the new status
_STATUS_CORRECTION_RE = re.compile(
    r"(?P<head>受け?入れ?|受入れ?|通行)(?:は|が)?\s?[^\s→⇒➡]{1,4}\s?(?:→|⇒|➡|->|=>)\s?"
)


def apply_corrections(text: str) -> str:
    """Drop the superseded value of in-message corrections so extractors see the new one."""
    if not _CORRECTION_HINT_RE.search(text):
        return text
    for pattern in _CORRECTION_RES:
        text = pattern.sub("", text)
    return _STATUS_CORRECTION_RE.sub(r"\g<head>", text)


def normalize(text: str) -> str:
    return apply_corrections(prepare(text)).strip()


_KANA_UNITS_RE = re.compile(
    r"(?<=[0-9])\s?(?:(?P<ken>けん|ケン)|(?P<mei>めい|メイ|にん|ニン)|(?P<setai>せたい|セタイ)"
    r"|(?P<metre>めーとる|めえとる))"
)
_M_CM_RE = re.compile(r"(?<![0-9.])([0-9]{1,2})\s?m\s?([0-9]{1,2})\s?cm")
_KANA_UNITS = {"ken": "軒", "mei": "名", "setai": "世帯", "metre": "m"}


def prepare(text: str) -> str:
    """``normalize`` before in-message corrections are applied (the superseded values kept)."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text = text[:MAX_RAW_CHARS].translate(_MARKER_TABLE)
    text = _CONTROL_RE.sub(" ", text)
    text = unicodedata.normalize("NFKC", text)[:MAX_TEXT_CHARS]
    # NFKC may compose new controls out of compatibility characters only in theory; be sure.
    text = _CONTROL_RE.sub(" ", text)
    text = _ASCII_MARKER_RE.sub("\n", text)
    text = _SPACES_RE.sub(" ", text)
    text = _NEWLINES_RE.sub("\n", text)
    # 5m20cm: 5.20m
    text = _M_CM_RE.sub(lambda m: f"{m.group(1)}.{int(m.group(2)):02d}m", text)
    # 30けん, 12にん, 5.2めーとる: units typed in kana
    text = _KANA_UNITS_RE.sub(lambda m: _KANA_UNITS[m.lastgroup or "mei"], text)
    return text.strip()
