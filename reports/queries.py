"""The situation: what is true now, or as of any past time (design.md §4, contract).

For each subject, the latest observation with observed_at <= T and recorded_at <= T that was
not yet superseded at T (by a correction or withdrawal of the same report). Subjects whose
latest observation is an all-clear drop out. Both the dashboard and the API call these
functions; the query count is constant (it does not grow with reports or subjects).

The latest-per-subject step walks the subject registry and probes the index
(subject, observed_at DESC, id DESC) once per subject: a loose index scan (a LATERAL join on
PostgreSQL, a correlated subquery elsewhere), as fast for a past T as for now.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from agencies.models import Agency, Facility, FacilityKind
from reports.categories import Category
from reports.models import Incident, IncidentStatus, Observation, Report, Subject, format_number

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


@dataclass(slots=True)
class Row:
    """One subject's current statement, flattened: what the summary and the map need."""

    category: str
    label: str
    facility_id: int | None
    facility_lat: float | None
    facility_lng: float | None
    shelter_capacity: int | None
    district_name: str | None
    district_lat: float | None
    district_lng: float | None
    values: dict[str, Any]
    observed_at: datetime
    recorded_at: datetime
    report_id: int
    agency_code: str
    agency_name: str
    text: str
    lat: float | None
    lng: float | None

    @property
    def number(self) -> str:
        return format_number(self.report_id)


# The loose index scan of design.md §4: one probe per subject on observation_latest_idx
# (subject, observed_at DESC, id DESC), for "now" and for a past T alike. The report's agency
# and the revision's text and location are joined for the few thousand rows found.
_LATEST_SQL = """
SELECT s.category, s.label, s.facility_id, f.lat, f.lng,
       CASE WHEN f.kind = 'shelter' THEN f.capacity END, d.name, d.lat, d.lng,
       o.values, {observed_at}, {recorded_at}, o.report_id, a.code, a.name,
       {revision_columns}
FROM reports_subject s
CROSS JOIN LATERAL (
    SELECT ob.values, ob.closed, ob.observed_at, ob.recorded_at, ob.report_id, ob.revision_id
    FROM reports_observation ob
    WHERE ob.subject_id = s.id AND ob.observed_at <= %(t)s AND ob.recorded_at <= %(t)s
      AND (ob.superseded_at IS NULL OR ob.superseded_at > %(t)s)
    ORDER BY ob.observed_at DESC, ob.id DESC
    LIMIT 1
) o
JOIN reports_report r ON r.id = o.report_id
JOIN agencies_agency a ON a.id = r.agency_id
{revision_join}
LEFT JOIN agencies_facility f ON f.id = s.facility_id
LEFT JOIN agencies_district d ON d.id = s.district_id
WHERE NOT o.closed
ORDER BY s.category, s.label COLLATE "C"
"""


# Times travel as UTC text: parsing it is several times cheaper than the driver's
# timestamptz conversion, which matters at thousands of rows.
_UTC_TEXT = """to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""


def latest_rows(
    as_of: datetime | None = None, *, revision: bool = True
) -> tuple[datetime, dict[str, list[Row]]]:
    """Like ``latest_observations`` but as flat rows, without building model instances (at
    2,000 subjects that is most of the time). One query on PostgreSQL; elsewhere it reads
    ``latest_observations``. ``revision=False`` skips the revision's text and location."""
    moment = as_of or timezone.now()
    rows: dict[str, list[Row]] = {c: [] for c in SITUATION_CATEGORIES}
    if connection.vendor != "postgresql":
        for category, entries in latest_observations(moment).entries.items():
            for x in entries:
                obs, subject = x.observation, x.subject
                facility, district, rev = subject.facility, subject.district, obs.revision
                rows.setdefault(category, []).append(
                    Row(
                        category,
                        subject.label,
                        subject.facility_id,
                        facility.lat if facility else None,
                        facility.lng if facility else None,
                        facility.capacity
                        if facility and facility.kind == FacilityKind.SHELTER
                        else None,
                        district.name if district else None,
                        district.lat if district else None,
                        district.lng if district else None,
                        obs.values,
                        obs.observed_at,
                        obs.recorded_at,
                        obs.report_id,
                        obs.report.agency.code,
                        obs.report.agency.name,
                        rev.text if revision else "",
                        rev.lat if revision else None,
                        rev.lng if revision else None,
                    )
                )
        return moment, rows
    sql = _LATEST_SQL.format(
        observed_at=_UTC_TEXT.format(column="o.observed_at"),
        recorded_at=_UTC_TEXT.format(column="o.recorded_at"),
        revision_columns="v.text, v.lat, v.lng" if revision else "'', NULL::float, NULL::float",
        revision_join="JOIN reports_reportrevision v ON v.id = o.revision_id" if revision else "",
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"t": moment})
        for record in cursor.fetchall():
            values = record[9]
            if isinstance(values, str):
                values = json.loads(values)
            row = Row(
                *record[:9],
                values,
                datetime.fromisoformat(record[10]),
                datetime.fromisoformat(record[11]),
                *record[12:],
            )
            rows.setdefault(row.category, []).append(row)
    return moment, rows


def _sum(values: list[int | None]) -> int:
    return sum(v for v in values if v is not None)


def _open_incidents_at(moment: datetime):
    """Incidents open (or being monitored) at ``moment``: opened by then, not yet closed."""
    return Incident.objects.filter(opened_at__lte=moment).exclude(
        Q(status=IncidentStatus.CLOSED) & Q(closed_at__lte=moment)
    )


def silent_agencies(as_of: datetime | None = None) -> list[dict[str, Any]]:
    """Active agencies whose last report is older than their expected interval, while an
    incident is open (silence only matters during an event). At most three queries.

    The last report per agency is an index probe on (agency, recorded_at DESC), not an
    aggregate over the history. ``facilities`` are the agency's located facilities, so the
    map can mark where the silence is.
    """
    moment = as_of or timezone.now()
    if not _open_incidents_at(moment).exists():
        return []
    last_report = (
        Report.objects.filter(agency=OuterRef("pk"), recorded_at__lte=moment)
        .order_by("-recorded_at")
        .values("recorded_at")[:1]
    )
    agencies = (
        Agency.objects.filter(active=True)
        .exclude(kind="hq")
        .annotate(last_report=Subquery(last_report))
        .order_by(F("last_report").asc(nulls_first=True), "code")
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
                    "facilities": [],
                    "_pk": agency.pk,
                }
            )
    if silent:
        by_agency = {item["_pk"]: item for item in silent}
        located = Facility.objects.filter(
            agency_id__in=list(by_agency), active=True, lat__isnull=False, lng__isnull=False
        ).order_by("code")
        for facility in located:
            by_agency[facility.agency_id]["facilities"].append(
                {
                    "code": facility.code,
                    "name": facility.name,
                    "kind": facility.kind,
                    "lat": facility.lat,
                    "lng": facility.lng,
                }
            )
    for item in silent:
        del item["_pk"]
    return silent


def situation_summary(as_of: datetime | None = None) -> dict[str, Any]:
    """The situation keyed by category code (design.md §9 /api/v1/situation/)."""
    moment, e = latest_rows(as_of, revision=False)

    def base(x: Row) -> dict[str, Any]:
        return {
            "subject": x.label,
            "report": x.report_id,
            "number": x.number,
            "agency": x.agency_code,
            "observed_at": x.observed_at,
            "recorded_at": x.recorded_at,
        }

    def as_of_of(rows: list[Row]) -> datetime | None:
        return max((x.observed_at for x in rows), default=None)

    evacuees = [
        {
            **base(x),
            "facility": x.values.get("facility") or x.label,
            "count": x.values.get("count"),
            "households": x.values.get("households"),
            "capacity": x.shelter_capacity,
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
    for x in e[Category.OUTAGE]:
        name = x.district_name or x.values.get("area") or x.label
        by_district[name] += x.values.get("households") or 0
    return {
        "as_of": moment,
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
            "districts": [
                {"district": name, "households": households}
                for name, households in sorted(by_district.items(), key=lambda kv: -kv[1])
            ],
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
        "incidents": {"open": _open_incidents_at(moment).count()},
        "silent_agencies": silent_agencies(moment),
    }


def situation_geojson(as_of: datetime | None = None) -> dict[str, Any]:
    """The situation as a GeoJSON FeatureCollection, one feature per located subject.
    Times are ISO 8601 in the portal's time zone (Asia/Tokyo)."""
    _moment, rows = latest_rows(as_of)
    tz = timezone.get_current_timezone()
    features = []
    for category, entries in rows.items():
        for x in entries:
            lat, lng = x.lat, x.lng
            if lat is None and x.facility_id is not None:
                lat, lng = x.facility_lat, x.facility_lng
            if lat is None:
                lat, lng = x.district_lat, x.district_lng
            if lat is None or lng is None:
                continue
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [lng, lat]},
                    "properties": {
                        "category": category,
                        "subject": x.label,
                        "report": x.report_id,
                        "number": x.number,
                        "agency": x.agency_name,
                        "fields": x.values,
                        "text": x.text,
                        "observed_at": x.observed_at.astimezone(tz).isoformat(),
                        "recorded_at": x.recorded_at.astimezone(tz).isoformat(),
                    },
                }
            )
    return {"type": "FeatureCollection", "features": features}


def reports_for_listing():
    """Base queryset for report lists: everything a row shows, no N+1."""
    return Report.objects.select_related("agency", "author", "current_revision", "incident")
