"""What a revision is about, for the situation (design.md §4).

``observations_for`` turns a revision's category and fields into (subject, values, closed)
triples. The closure rules (a subject drops out of the situation):
- evacuees: count 0 (the shelter has emptied or closed);
- outage: an area reported with 0 households (restored);
- road_closure: passable true (通行止め解除; restricted but passable roads are also open);
- fire: evacuation_order false (鎮火, order lifted);
- water_level and medical_capacity: never; their latest reading stays on the board.
Dispatch and general reports have no subject: they appear in the timeline, not the tiles.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from agencies.models import District, Facility
from reports.categories import Category
from reports.models import Subject

_AREA_SUFFIX = re.compile(r"(地区|地域|エリア|方面|周辺|付近|一帯)$")


def normalise_name(value: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", value or "")).strip()


def district_for(name: str | None) -> District | None:
    if not name:
        return None
    clean = normalise_name(name)
    base = _AREA_SUFFIX.sub("", clean)
    for candidate in (clean, base, base.removesuffix("町")):
        if not candidate:
            continue
        found = District.objects.filter(name=candidate).first()
        if found:
            return found
    return None


def facility_for(name: str | None) -> Facility | None:
    if not name:
        return None
    clean = normalise_name(name)
    return Facility.objects.filter(name=clean).first()


@dataclass(frozen=True)
class SubjectStatement:
    subject: Subject
    values: dict[str, Any]
    closed: bool


def _subject(
    category: str,
    key: str,
    label: str,
    *,
    facility: Facility | None = None,
    district: District | None = None,
) -> Subject:
    subject, _created = Subject.objects.get_or_create(
        category=category,
        key=key[:300],
        defaults={"label": label[:300], "facility": facility, "district": district},
    )
    return subject


def observations_for(
    category: str,
    fields: dict[str, Any],
    *,
    facility: Facility | None,
    district: District | None,
) -> list[SubjectStatement]:
    if category in (Category.EVACUEES, Category.MEDICAL_CAPACITY):
        facility = facility or facility_for(fields.get("facility"))
        name = facility.name if facility else normalise_name(fields.get("facility") or "")
        if not name:
            return []
        key = f"facility:{facility.code}" if facility else f"name:{name}"
        subject = _subject(
            category, key, name, facility=facility, district=facility.district if facility else None
        )
        closed = category == Category.EVACUEES and fields.get("count") == 0
        return [SubjectStatement(subject, fields, closed)]

    if category == Category.OUTAGE:
        statements = []
        for item in fields.get("areas") or []:
            area_district = district_for(item["area"])
            key = (
                f"district:{area_district.code}"
                if area_district
                else f"name:{normalise_name(item['area'])}"
            )
            label = area_district.name if area_district else item["area"]
            subject = _subject(category, key, label, district=area_district)
            values = {**item, "restoration": fields.get("restoration")}
            statements.append(SubjectStatement(subject, values, item.get("households") == 0))
        return statements

    if category == Category.ROAD_CLOSURE:
        road = normalise_name(fields.get("road") or "")
        place = normalise_name(fields.get("place") or "")
        if not road and not place:
            return []
        subject = _subject(
            category,
            f"road:{road}|{place}",
            " ".join(p for p in (road, place) if p),
            district=district or district_for(place),
        )
        return [SubjectStatement(subject, fields, fields.get("passable") is True)]

    if category in (Category.WATER_LEVEL, Category.FIRE):
        area = normalise_name(fields.get("area") or "")
        if facility is not None and category == Category.WATER_LEVEL:
            key, label = f"facility:{facility.code}", facility.name
        elif area:
            area_district = district or district_for(area)
            key, label = f"name:{area}", area
            district = area_district
        else:
            return []
        subject = _subject(category, key, label, facility=facility, district=district)
        closed = category == Category.FIRE and fields.get("evacuation_order") is False
        return [SubjectStatement(subject, fields, closed)]

    return []
