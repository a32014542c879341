"""``parse``: normalise, classify by weighted cues, extract the category's fields, time it.

Deterministic and offline. ``parse`` never raises: any unexpected error inside gives a
``general`` result with confidence 0 (``parse_strict`` is the same without that guard, for
tests that must see such errors).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from . import extract, language, lexicon
from .normalize import apply_corrections, prepare
from .schema import (
    CATEGORIES,
    REQUIRED_FIELDS,
    ParseResult,
    SenderContext,
    empty_fields,
    missing_fields,
)
from .times import JST, observed_at

logger = logging.getLogger(__name__)

# Ties go to the earlier category: specific before general.
PRIORITY = (
    "fire",
    "medical_capacity",
    "evacuees",
    "outage",
    "water_level",
    "road_closure",
    "dispatch",
    "general",
)
MIN_SCORE = 3.0  # below this, a message is `general`
_REPAIRED_FACTOR = 0.85

_CUE_RE = re.compile("|".join(re.escape(w) for w in sorted(lexicon.CUES, key=len, reverse=True)))
# A cue that explains something else (停電のため受入不可, 火災の影響で停電) counts less.
_CAUSE_AFTER_RE = re.compile(
    r"(?:発生)?(?:の影響|のため|による|により|に伴|が原因|で停止|の(?:おそれ|恐れ|可能性))"
)
_CAUSE_FACTOR = 0.3
# Questions and requests for a report are not reports.
_QUESTION_RE = re.compile(
    r"\?|(?:ですか|ますか|でしょうか|ませんか|ないか|のか|いかが|どうなって|どのくらい|どの程度)"
    # 何世帯？ asks; 何世帯かは不明 reports that the count is not known
    r"|何(?:名|人|世帯|床)(?!か?(?:は|も)?\s?(?:不明|わから|分から|未確認|確認中|調査中))"
    r"|(?:報告|連絡|教え|おしえ|お知らせ|おしらせ|確認|回答|共有|提出|返信|入力|集計|情報|状況)"
    r"(?:して|を|て|の上)?\s?"
    r"(?:ください|下さい|願います|願いたい|お願いします|お願い致します|お願いいたします"
    r"|いただけ|頂け|くれ)"
)
_QUESTION_WEIGHT = 14.0

# What a sender's agency suggests, and which bare quantities it turns into a report.
_CONTEXT_CATEGORY = {
    "shelter_operator": "evacuees",
    "medical": "medical_capacity",
    "power": "outage",
    "police": "road_closure",
    "fire": "fire",
    "waterway": "water_level",
    "hq": "general",
}
_CONTEXT_PRIOR = 2.0
_BARE_UNITS = {
    "evacuees": ("名", "人", "世帯"),
    "medical_capacity": ("名", "人", "床"),
    "outage": ("世帯", "戸", "軒", "件", "名", "人"),
    "water_level": ("m", "メートル"),
}

_TEAM_UNITS = {"名", "人", "チーム", "班", "隊", "台"}
_ROLE_COUNT_RE = re.compile(
    f"(?:{'|'.join(re.escape(r) for r in sorted(lexicon.ROLES, key=len, reverse=True))})"
    r"(?:チーム|班|隊)?\s?(?:約)?\s?[0-9〇一二三四五六七八九十]{1,3}\s?(?:名|人|チーム|班|隊|台)"
)

# Where people sent are going or have arrived: …へ (before a blank, the end, 出動/出発/向かう),
# … 着 (arrived), 着任, 到着
_MOVEMENT_RE = re.compile(
    r"へ(?:\s|$|。|出動|出発|向か|移動|派遣|急行)|(?:^|\s)着(?:\s|$)|着任|到着"
)

_EXTRACTORS = {
    "evacuees": lambda doc, ctx: extract.evacuees(doc, ctx.facility),
    "outage": lambda doc, ctx: extract.outage(doc),
    "road_closure": lambda doc, ctx: extract.road_closure(doc),
    "water_level": lambda doc, ctx: extract.water_level(doc),
    "medical_capacity": lambda doc, ctx: extract.medical_capacity(doc, ctx.facility),
    "fire": lambda doc, ctx: extract.fire(doc),
    "dispatch": lambda doc, ctx: extract.dispatch(doc),
}


def score(doc: extract.Doc, context: SenderContext) -> dict[str, float]:
    text = doc.text
    scores = dict.fromkeys(CATEGORIES, 0.0)
    for m in _CUE_RE.finditer(text):
        factor = _CAUSE_FACTOR if _CAUSE_AFTER_RE.match(text, m.end()) else 1.0
        for category, weight in lexicon.CUES[m.group()]:
            scores[category] += weight * factor
    if _QUESTION_RE.search(text):
        scores["general"] += _QUESTION_WEIGHT

    # Structure: the shapes typical reports take.
    units = {q.unit for q in doc.quantities}
    kinds = (
        {f.kind for f in doc.facilities}
        if ("名" in units or "人" in units or "床" in units)
        else set()
    )
    if ("名" in units or "人" in units) and "shelter" in kinds:
        scores["evacuees"] += 3
    if "床" in units and "medical" in kinds:
        scores["medical_capacity"] += 3
    if scores["outage"] > 0 and units & {"世帯", "戸", "軒"}:
        scores["outage"] += 2
    if scores["water_level"] > 0 and doc.rivers:
        scores["water_level"] += 2
    if doc.rivers and units & {"m", "メートル"} and scores["road_closure"] < MIN_SCORE:
        scores["water_level"] += 3  # 高梁川 酒津 8.2m: a river and a height
    if scores["water_level"] > 0 and units & {"m", "メートル"}:
        scores["water_level"] += 2
    if scores["road_closure"] > 0 and doc.roads:
        scores["road_closure"] += 2
    if units & _TEAM_UNITS and _ROLE_COUNT_RE.search(text):
        if scores["dispatch"] > 0:
            scores["dispatch"] += 2  # 保健師チーム 三名, JMAT 1チーム: who was sent, how many
        if _MOVEMENT_RE.search(text) and scores["general"] < 4:
            # 職員10名 真備東中学校へ, ポンプ隊 2隊 … へ出動, 職員 3名 真備支所 着: sent
            # somewhere (not a request for a dispatch: 派遣をお願いします)
            scores["dispatch"] += 5
    if extract.ACCEPT_RE.search(text):
        scores["medical_capacity"] += 4

    prior = _CONTEXT_CATEGORY.get(context.agency_kind or "")
    if prior and scores[prior] > 0:
        scores[prior] += _CONTEXT_PRIOR
    return scores


def _choose(
    scores: dict[str, float], doc: extract.Doc, context: SenderContext
) -> tuple[str, float]:
    """The category and a confidence for the choice alone (0..1)."""
    ranked = sorted(CATEGORIES, key=lambda c: (-scores[c], PRIORITY.index(c)))
    best, second = ranked[0], ranked[1]
    best_report = next(c for c in ranked if c != "general")
    if scores[best_report] < MIN_SCORE or best == "general":
        # a bare "35名" from a shelter's group: what the sender's agency reports
        prior = _CONTEXT_CATEGORY.get(context.agency_kind or "")
        if (
            prior in _BARE_UNITS
            and scores["general"] < 4
            and scores[best_report] < MIN_SCORE
            and any(q.unit in _BARE_UNITS[prior] for q in doc.quantities)
        ):
            return prior, 0.6
        if scores["general"] <= 0 and scores[best_report] <= 0:
            return "general", 0.2 if doc.text else 0.0
        top = scores["general"]
        rival = scores[best_report] if scores[best_report] >= MIN_SCORE else 0.0
        return "general", round(min(0.95, 0.3 + top / (top + rival + 4)), 2)
    return best, cue_confidence(scores[best], scores[second])


def cue_confidence(top: float, runner: float) -> float:
    """How sure the category is, from the winning score and the runner-up's (0..1).

    The strength of the evidence (one cue of weight 3: 0.43; 6: 0.6; several strong cues:
    towards 1) times how clearly it beats the next category (a tie halves it), over a floor
    of 0.25. A tie or a single weak cue beside a rival falls under 0.5, the bot's threshold
    for filing without asking; a clear report with several cues is 0.8 and more.
    """
    if top <= 0:
        return 0.0
    strength = top / (top + 4.0)
    rivalry = min(1.0, max(0.0, runner) / top)
    return 0.25 + 0.75 * strength * (1.0 - 0.5 * rivalry)


def parse_strict(
    text: str, *, context: SenderContext | None = None, now: datetime | None = None
) -> ParseResult:
    """``parse`` without the guard: errors propagate (for tests)."""
    context = context or SenderContext()
    if now is None:
        now = datetime.now(tz=JST)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=JST)
    prepared = prepare(text)
    written = apply_corrections(prepared).strip()
    repaired = language.repair(written)
    doc = extract.Doc(repaired, prepared=prepared)
    scores = score(doc, context)
    category, confidence = _choose(scores, doc, context)
    if repaired != written and category != "general":
        # the category rests on words read from kana or a homophone: a guess, trusted less
        as_written = score(extract.Doc(written, prepared=prepared), context)
        if as_written[category] < MIN_SCORE:
            confidence *= _REPAIRED_FACTOR
    fields: dict[str, Any] = empty_fields(category)
    if category != "general":
        fields.update(_EXTRACTORS[category](doc, context))
        if category == "medical_capacity" and scores["medical_capacity"] < MIN_SCORE:
            fields = extract.bare_medical(doc, fields)
    missing = missing_fields(category, fields)
    if category != "general":
        required = [name for group in REQUIRED_FIELDS[category] for name in group]
        if required:
            # a report without its subject (no area, no facility) is a weaker reading
            found = len(required) - len(missing)
            confidence *= 0.7 + 0.3 * found / len(required)
    return ParseResult(
        category=category,
        fields=fields,
        observed_at=observed_at(doc.text, now),
        missing=missing,
        confidence=round(max(0.0, min(1.0, confidence)), 2),
    )


def parse(
    text: str, *, context: SenderContext | None = None, now: datetime | None = None
) -> ParseResult:
    """Read a free-text Japanese report: category, §5 fields, observed_at, missing, confidence.

    ``now`` (aware) resolves dates and times without a full date; default: now in Asia/Tokyo.
    """
    try:
        return parse_strict(text, context=context, now=now)
    except Exception:  # the guard the contract asks for: any input returns a result
        logger.exception("report parser failed; returning general")
        return ParseResult(
            category="general", fields={}, observed_at=None, missing=[], confidence=0.0
        )
