"""When the report was true (``observed_at``) from dates and times written in the message.

Rules (all relative to ``now``, an aware datetime, converted to Asia/Tokyo):
- The time followed by 現在/時点 wins; then, for readings in time order (18時 5.8m 19時
  6.3m), the latest; otherwise the first time that is not a forecast (復旧見込み21時頃,
  18時頃復旧予定, 翌日午前6時の見込み, ...まで).
- A date written just before that time (7月6日, 7/6, 2024年7月6日, 令和6年7月6日, 6日(土))
  gives its day; 翌日/明日 add a day, 昨日 takes one away.
- A date without a year is in now's year, or the year before when that would put it more than
  60 days in the future. A time without a date is today, or yesterday when it would be
  later than now (23時現在 read at 20:00, a 23:50 report read at 00:10); a few minutes'
  clock difference between sender and server are tolerated.
- A date without any time gives no observed_at: midnight would be a made-up time.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from .normalize import parse_number

JST = ZoneInfo("Asia/Tokyo")

_KANJI_SMALL = r"[〇一二三四五六七八九十]{1,3}"
TIME_RE = re.compile(
    r"(?P<rel>翌日|明日|本日|今日|昨日|同日|当日|翌朝|今朝|今夜|昨夜)?\s?"
    r"(?P<ampm>午前|午後|AM|PM|am|pm|深夜|夜中|夜|夕方|朝|未明|明け方)?\s?"
    rf"(?:(?<![0-9.,/])(?<![0-9]:)(?P<h>[0-9]{{1,2}}|{_KANJI_SMALL})"
    rf"(?:時(?!間)(?:\s?(?P<m>[0-9]{{1,2}}|{_KANJI_SMALL})分|(?P<half>半))?"
    r"|:(?P<mm>[0-5][0-9])(?![0-9]))"
    # 1430時点, 0915現在: four digits written the military way, only before 時点/現在
    r"|(?<![0-9.,/:])(?P<hh4>[01][0-9]|2[0-3])(?P<mm4>[0-5][0-9])(?=\s?(?:時点|現在)))"
)
DATE_RE = re.compile(
    r"(?:(?P<era>令和|平成|R|H)\s?(?P<ey>[0-9]{1,2}|元)\s?年\s?|(?P<y>20[0-9]{2})\s?年\s?)?"
    r"(?P<mo>[0-9]{1,2})\s?月\s?(?P<d>[0-9]{1,2})\s?日"
    r"|(?<![0-9/.])(?:(?P<y2>20[0-9]{2})[/.-])?(?P<mo2>[0-9]{1,2})/(?P<d2>[0-9]{1,2})(?![0-9/])"
    r"|(?<![0-9.])(?P<y3>20[0-9]{2})[.-](?P<mo3>[0-9]{1,2})[.-](?P<d3>[0-9]{1,2})(?![0-9.])"
    r"|(?<![0-9月/])(?P<d4>[0-9]{1,2})日(?=\s?(?:\([^)\n]{1,3}\))?\s?(?:午前|午後)?\s?[0-9]{1,2}[時:])"
)
_CURRENT_AFTER_RE = re.compile(r"\s?(?:頃|ごろ)?\s?(?:現在|時点|の状況|の時点)")
_FUTURE_AFTER_RE = re.compile(
    r"\s?(?:頃|ごろ|目途|めど)?\s?(?:まで|以降)"
    r"|\s?(?:頃|ごろ)?\s?[^\s、。\n]{0,10}?(?:見込|予定|目途|めど|目処|見通|予想|予測)"
)
_FUTURE_BEFORE_RE = re.compile(
    r"(?:見込み?|予定|目途|めど|目処|見通し|予想|予測)(?:時刻|時間|日時|時期)?(?:は|:|で)?\s?(?:約)?\s?[(]?$"
)
_WEEKDAY_GAP_RE = re.compile(r"[\s()月火水木金土日曜祝の,、]{0,8}")
_ERA_BASE = {"令和": 2018, "R": 2018, "平成": 1988, "H": 1988}
_PM = frozenset(("午後", "PM", "pm", "夕方"))
_NIGHT = frozenset(("深夜", "夜中", "夜"))
_AM = frozenset(("午前", "AM", "am", "朝", "未明", "明け方"))
_PLUS_DAY = frozenset(("翌日", "明日", "翌朝"))
_FUTURE_TOLERANCE = timedelta(hours=3)  # 明日9時: further than this ahead is a plan
_CLOCK_SKEW = timedelta(minutes=15)  # a time without a date later than this is yesterday's
_MINUS_DAY = frozenset(("昨日", "昨夜"))


def _date_of(m: re.Match[str], now: datetime) -> date | None:
    g = m.groupdict()
    year: int | None = None
    if g["mo"]:
        month, day = int(g["mo"]), int(g["d"])
        if g["era"]:
            year = _ERA_BASE[g["era"]] + (1 if g["ey"] == "元" else int(g["ey"]))
        elif g["y"]:
            year = int(g["y"])
    elif g["mo2"]:
        month, day = int(g["mo2"]), int(g["d2"])
        year = int(g["y2"]) if g["y2"] else None
    elif g["mo3"]:
        month, day = int(g["mo3"]), int(g["d3"])
        year = int(g["y3"])
    else:
        month, day = now.month, int(g["d4"])
    try:
        if year is not None:
            return date(year, month, day)
        candidate = date(now.year, month, day)
        if candidate > now.date() + timedelta(days=60):
            candidate = date(now.year - 1, month, day)
        return candidate
    except ValueError:
        return None


def _hour_minute(m: re.Match[str], text: str) -> tuple[int, int] | None:
    if m.group("hh4"):
        return int(m.group("hh4")), int(m.group("mm4"))
    h_token = m.group("h")
    hour = parse_number(h_token)
    minute_token = m.group("m") or m.group("mm")
    ampm = m.group("ampm")
    if not h_token.isascii() and not ampm and not minute_token:
        # 一時避難, 一時停止: a kanji hour needs 午前/午後, minutes, or 現在/頃 after it.
        if not _CURRENT_AFTER_RE.match(text, m.end()) and not text.startswith(
            ("頃", "ごろ"), m.end()
        ):
            return None
    minute = 30 if m.group("half") else (parse_number(minute_token) if minute_token else 0)
    if not isinstance(hour, int) or not isinstance(minute, int):
        return None
    if ampm in _NIGHT:
        # 深夜2時半 is 02:30, 深夜11時 is 23:00; 夜8時 is 20:00 but 夜2時 is 02:00
        if 6 <= hour < 12:
            hour += 12
    elif ampm in _PM and hour < 12:
        hour += 12
    elif ampm in _AM and hour == 12:
        hour = 0
    if hour > 24 or minute > 59 or (hour == 24 and minute):
        return None
    return hour, minute


def _is_future(text: str, m: re.Match[str]) -> bool:
    if _FUTURE_AFTER_RE.match(text, m.end()):
        return True
    before = text[max(0, m.start() - 12) : m.start()]
    return bool(_FUTURE_BEFORE_RE.search(before))


def _resolve(text: str, m: re.Match[str], hm: tuple[int, int], now: datetime) -> datetime:
    time_start = m.start("h") if m.group("h") else m.start("hh4")
    if m.group("ampm"):
        time_start = m.start("ampm")
    if m.group("rel"):
        time_start = m.start("rel")
    day: date | None = None
    for dm in DATE_RE.finditer(text, max(0, time_start - 40), time_start):
        gap = text[dm.end() : time_start]
        if len(gap) <= 8 and _WEEKDAY_GAP_RE.fullmatch(gap):
            day = _date_of(dm, now)
    explicit = day is not None
    if day is None:
        day = now.date()
    rel = m.group("rel")
    if rel in _PLUS_DAY:
        day += timedelta(days=1)
    elif rel in _MINUS_DAY:
        day -= timedelta(days=1)
    hour, minute = hm
    if hour == 24:
        hour = 0
        day += timedelta(days=1)
    result = datetime(day.year, day.month, day.day, hour, minute, tzinfo=JST)
    if not explicit and rel is None and result - now > _CLOCK_SKEW:
        result -= timedelta(days=1)
    return result


# "ピーク 9.9m(2:00) 現在 9.4m(3:00)": the time of a peak or an earlier reading
_REFERENCE_BEFORE_RE = re.compile(r"(?:ピーク|最高|前回|前報)[^\n現]{0,12}$")


_READING_AFTER_RE = re.compile(
    r"\s?(?:避難者|避難者数|在所者|水位)?\s?(?:は|:)?\s?(?:約)?\s?[0-9]{1,5}(?:\.[0-9]{1,3})?\s?"
    r"(?:m|メートル|cm|名|人|世帯|戸)"
)


# "8.2m(19:00) 8.5m(19:30)": a reading with its time after it in brackets
_READING_BEFORE_RE = re.compile(r"[0-9](?:\.[0-9]{1,3})?\s?(?:m|メートル|cm|名|人|世帯|戸)\s?\($")


def _is_reference(text: str, m: re.Match[str]) -> bool:
    return bool(_REFERENCE_BEFORE_RE.search(text, max(0, m.start() - 14), m.start()))


def observed_at(text: str, now: datetime) -> datetime | None:
    """The moment the message says its content was true, or None."""
    now = now.astimezone(JST)
    fallback: datetime | None = None
    series: list[datetime] = []  # "18時 5.8m 19時 6.3m": times each with its reading
    for m in TIME_RE.finditer(text):
        hm = _hour_minute(m, text)
        if hm is None:
            continue
        if _CURRENT_AFTER_RE.match(text, m.end()):
            return _resolve(text, m, hm, now)
        if not _is_future(text, m) and not _is_reference(text, m):
            candidate = _resolve(text, m, hm, now)
            # 明日9時, 翌日午前6時 (from today): a plan, not an observation
            if m.group("rel") not in _PLUS_DAY or candidate <= now + _FUTURE_TOLERANCE:
                if fallback is None:
                    fallback = candidate
                if _READING_AFTER_RE.match(text, m.end()) or _READING_BEFORE_RE.search(
                    text, max(0, m.start() - 14), m.start()
                ):
                    series.append(candidate)
    if len(series) >= 2:
        return series[-1]  # readings are written in time order: the last is the latest
    return fallback
