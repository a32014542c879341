"""The situation: what is true now, or as of any past time (design.md §4, contract).

For each subject, the latest observation with observed_at <= T and recorded_at <= T that was
not yet superseded at T (by a correction or withdrawal of the same report). Subjects whose
latest observation is an all-clear drop out. Both the dashboard and the API call these
functions; the query count is constant (it does not grow with reports or subjects).

The latest-per-subject step is a correlated subquery per subject over the index
(subject, observed_at DESC, id DESC): PostgreSQL runs it as a loose index scan.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Max, OuterRef, Q, Subquery
from django.utils import timezone

from agencies.models import Agency, Facility, FacilityKind
from reports.categories import Category
from reports.models import Incident, IncidentStatus, Observation, Report, Subject

SITUATION_CATEGORIES = (
    Category.EVACUEES,
    Category.OUTAGE,
    Category.ROAD_CLOSURE,
    Category.WATER_LEVEL,
    Category.MEDICAL_CAPACITY,
    Category.FIRE,
)


@dataclass
class Entry:
    subject: Subject
    observation: Observation

    @property
    def values(self) -> dict[str, Any]:
        return self.observation.values


@dataclass
class Situation:
    as_of: datetime
    entries: dict[str, list[Entry]] = field(default_factory=dict)


def latest_observations(as_of: datetime | None = None) -> Situation:
    """Latest open observation per subject, as of ``as_of`` (default now). Two queries."""
    moment = as_of or timezone.now()
    visible = Observation.objects.filter(
        subject=OuterRef("pk"), observed_at__lte=moment, recorded_at__lte=moment
    ).filter(Q(superseded_at__isnull=True) | Q(superseded_at__gt=moment))
    latest_ids = (
        Subject.objects.annotate(
            latest_id=Subquery(visible.order_by("-observed_at", "-id").values("id")[:1])
        )
        .filter(latest_id__isnull=False)
        .values_list("latest_id", flat=True)
    )
    observations = (
        Observation.objects.filter(id__in=Subquery(latest_ids), closed=False)
        .select_related(
            "subject",
            "subject__facility",
            "subject__district",
            "report",
            "report__agency",
            "revision",
        )
        .order_by("subject__category", "subject__label")
    )
    situation = Situation(as_of=moment, entries={c: [] for c in SITUATION_CATEGORIES})
    for obs in observations:
        situation.entries.setdefault(obs.subject.category, []).append(Entry(obs.subject, obs))
    return situation


def _sum(values: list[int | None]) -> int:
    return sum(v for v in values if v is not None)


def silent_agencies(as_of: datetime | None = None) -> list[dict[str, Any]]:
    """Active agencies whose last report is older than their expected interval, while an
    incident is open (silence only matters during an event). Two queries."""
    moment = as_of or timezone.now()
    if (
        not Incident.objects.filter(opened_at__lte=moment)
        .exclude(Q(status=IncidentStatus.CLOSED) & Q(closed_at__lte=moment))
        .exists()
    ):
        return []
    agencies = (
        Agency.objects.filter(active=True)
        .exclude(kind="hq")
        .annotate(
            last_report=Max("reports__recorded_at", filter=Q(reports__recorded_at__lte=moment))
        )
        .order_by("last_report", "code")
    )
    silent = []
    for agency in agencies:
        interval = agency.report_interval or settings.SILENCE_DEFAULT_INTERVAL
        if agency.last_report is None or moment - agency.last_report > interval:
            silent.append(
                {
                    "agency": agency.code,
                    "name": agency.name,
                    "kind": agency.kind,
                    "last_report_at": agency.last_report,
                    "expected_interval_minutes": int(interval.total_seconds() // 60),
                }
            )
    return silent


def situation_summary(as_of: datetime | None = None) -> dict[str, Any]:
    """The situation keyed by category code (design.md §9 /api/v1/situation/)."""
    situation = latest_observations(as_of)
    e = situation.entries

    def base(entry: Entry) -> dict[str, Any]:
        obs = entry.observation
        return {
            "subject": entry.subject.label,
            "report": obs.report_id,
            "number": obs.report.number,
            "agency": obs.report.agency.code,
            "observed_at": obs.observed_at,
            "recorded_at": obs.recorded_at,
        }

    def as_of_of(entries: list[Entry]) -> datetime | None:
        return max((x.observation.observed_at for x in entries), default=None)

    capacities = {
        f.pk: f.capacity
        for f in Facility.objects.filter(kind=FacilityKind.SHELTER).only("capacity")
    }
    evacuees = [
        {
            **base(x),
            "facility": x.values.get("facility") or x.subject.label,
            "count": x.values.get("count"),
            "households": x.values.get("households"),
            "capacity": capacities.get(x.subject.facility_id),
        }
        for x in e[Category.EVACUEES]
    ]
    outage = [
        {
            **base(x),
            "area": x.values.get("area"),
            "households": x.values.get("households"),
            "restoration": x.values.get("restoration"),
        }
        for x in e[Category.OUTAGE]
    ]
    roads = [
        {**base(x), **{k: x.values.get(k) for k in ("road", "place", "cause", "passable")}}
        for x in e[Category.ROAD_CLOSURE]
    ]
    water = [
        {**base(x), **{k: x.values.get(k) for k in ("area", "trend", "level_m", "flooding")}}
        for x in e[Category.WATER_LEVEL]
    ]
    medical = [
        {
            **base(x),
            **{k: x.values.get(k) for k in ("facility", "accepting", "beds_available", "injured")},
        }
        for x in e[Category.MEDICAL_CAPACITY]
    ]
    fire = [
        {
            **base(x),
            **{k: x.values.get(k) for k in ("area", "households", "people", "evacuation_order")},
        }
        for x in e[Category.FIRE]
    ]
    by_district: dict[str, int] = defaultdict(int)
    for item in outage:
        by_district[item["area"] or item["subject"]] += item["households"] or 0
    open_incidents = Incident.objects.exclude(status=IncidentStatus.CLOSED).filter(
        opened_at__lte=situation.as_of
    )
    return {
        "as_of": situation.as_of,
        "evacuees": {
            "total": _sum([x["count"] for x in evacuees]),
            "households": _sum([x["households"] for x in evacuees]),
            "reports": len(evacuees),
            "updated_at": as_of_of(e[Category.EVACUEES]),
            "facilities": evacuees,
        },
        "outage": {
            "total_households": _sum([x["households"] for x in outage]),
            "reports": len(outage),
            "updated_at": as_of_of(e[Category.OUTAGE]),
            "areas": outage,
        },
        "road_closure": {
            "closed": sum(1 for x in roads if x["passable"] is not True),
            "reports": len(roads),
            "updated_at": as_of_of(e[Category.ROAD_CLOSURE]),
            "roads": roads,
        },
        "water_level": {
            "rising": sum(1 for x in water if x["trend"] == "rising"),
            "flooding": sum(1 for x in water if x["flooding"]),
            "reports": len(water),
            "updated_at": as_of_of(e[Category.WATER_LEVEL]),
            "areas": water,
        },
        "medical_capacity": {
            "accepting": sum(1 for x in medical if x["accepting"] is True),
            "not_accepting": sum(1 for x in medical if x["accepting"] is False),
            "beds_available": _sum([x["beds_available"] for x in medical]),
            "reports": len(medical),
            "updated_at": as_of_of(e[Category.MEDICAL_CAPACITY]),
            "facilities": medical,
        },
        "fire": {
            "active": len(fire),
            "evacuation_orders": sum(1 for x in fire if x["evacuation_order"]),
            "reports": len(fire),
            "updated_at": as_of_of(e[Category.FIRE]),
            "areas": fire,
        },
        "incidents": {"open": open_incidents.count()},
        "silent_agencies": silent_agencies(situation.as_of),
    }


def situation_geojson(as_of: datetime | None = None) -> dict[str, Any]:
    """The situation as a GeoJSON FeatureCollection, one feature per located subject."""
    situation = latest_observations(as_of)
    features = []
    for category, entries in situation.entries.items():
        for entry in entries:
            obs = entry.observation
            lat, lng = obs.revision.lat, obs.revision.lng
            if lat is None and entry.subject.facility is not None:
                lat, lng = entry.subject.facility.lat, entry.subject.facility.lng
            if lat is None and entry.subject.district is not None:
                lat, lng = entry.subject.district.lat, entry.subject.district.lng
            if lat is None or lng is None:
                continue
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [lng, lat]},
                    "properties": {
                        "category": category,
                        "subject": entry.subject.label,
                        "report": obs.report_id,
                        "number": obs.report.number,
                        "agency": obs.report.agency.name,
                        "fields": obs.values,
                        "text": obs.revision.text,
                        "observed_at": obs.observed_at.isoformat(),
                        "recorded_at": obs.recorded_at.isoformat(),
                    },
                }
            )
    return {"type": "FeatureCollection", "features": features}


def reports_for_listing():
    """Base queryset for report lists: everything a row shows, no N+1."""
    return Report.objects.select_related("agency", "author", "current_revision", "incident")
