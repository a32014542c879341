"""The parser's output contract: category codes, their fields, and the result objects.

CATEGORY_FIELDS mirrors design.md §5 exactly (it is the contract other parts rely on).
REQUIRED_FIELDS is the parser's judgement of what a report of each category needs before HQ can
use it; ``ParseResult.missing`` lists the fields of unmet groups so the bot can ask for them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CATEGORIES: tuple[str, ...] = (
    "evacuees",
    "outage",
    "road_closure",
    "water_level",
    "medical_capacity",
    "fire",
    "dispatch",
    "general",
)

CATEGORY_LABELS: dict[str, str] = {
    "evacuees": "避難者数",
    "outage": "停電",
    "road_closure": "通行止め・道路被害",
    "water_level": "水位",
    "medical_capacity": "医療機関受入",
    "fire": "火災・避難指示",
    "dispatch": "職員派遣",
    "general": "その他",
}

CATEGORY_FIELDS: dict[str, tuple[str, ...]] = {
    "evacuees": ("facility", "count", "households"),
    "outage": ("areas", "total_households", "restoration"),
    "road_closure": ("road", "place", "cause", "passable"),
    "water_level": ("area", "trend", "level_m", "flooding"),
    "medical_capacity": ("facility", "accepting", "beds_available", "injured"),
    "fire": ("area", "households", "people", "evacuation_order"),
    "dispatch": ("role", "count", "destination", "reason"),
    "general": (),
}

# Each inner tuple is a group of alternatives: at least one of its fields must be found
# (not None and not an empty list). When a group is unmet, all of its fields go to `missing`.
#   evacuees          the shelter and the head count: the situation sums counts per facility
#   outage            at least one area: the map draws outages per area
#   road_closure      the road or the place: without either the closure cannot be located
#   water_level       the river, gauge or area
#   medical_capacity  which hospital
#   fire              the area (the subject of a fire / evacuation-order report)
#   dispatch          who was sent (the role)
REQUIRED_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "evacuees": (("facility",), ("count",)),
    "outage": (("areas",),),
    "road_closure": (("road", "place"),),
    "water_level": (("area",),),
    "medical_capacity": (("facility",),),
    "fire": (("area",),),
    "dispatch": (("role",),),
    "general": (),
}

AGENCY_KINDS: tuple[str, ...] = (
    "hq",
    "shelter_operator",
    "medical",
    "power",
    "police",
    "fire",
    "waterway",
    "city_dept",
    "national",
    "prefecture",
    "other",
)

ROAD_CAUSES: tuple[str, ...] = (
    "landslide",
    "flooding",
    "collapse",
    "fallen_tree",
    "accident",
    "other",
)
WATER_TRENDS: tuple[str, ...] = ("rising", "falling", "steady")


@dataclass(frozen=True)
class SenderContext:
    """Who sent the message: changes how a bare message (``35名``) is read."""

    agency_kind: str | None = None  # one of AGENCY_KINDS
    agency_name: str | None = None  # e.g. "中国電力ネットワーク 倉敷営業所"
    facility: str | None = None  # the agency's only facility, e.g. "箭田小学校"


@dataclass(frozen=True)
class ParseResult:
    category: str
    fields: dict[str, Any]
    observed_at: datetime | None  # aware, Asia/Tokyo
    missing: list[str] = field(default_factory=list)
    confidence: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The JSON shape of design.md §6 (a fresh, JSON-serialisable dict)."""
        return {
            "category": self.category,
            "fields": copy.deepcopy(self.fields),
            "observed_at": self.observed_at.isoformat() if self.observed_at else None,
            "missing": list(self.missing),
            "confidence": self.confidence,
        }


def empty_fields(category: str) -> dict[str, Any]:
    return dict.fromkeys(CATEGORY_FIELDS[category])


def missing_fields(category: str, fields: dict[str, Any]) -> list[str]:
    missing: list[str] = []
    for group in REQUIRED_FIELDS[category]:
        if all(fields.get(name) in (None, []) for name in group):
            missing.extend(group)
    return missing
