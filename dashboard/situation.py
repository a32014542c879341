"""What the situation, map and chart endpoints answer, built on reports.queries.

Everything here reads; nothing writes. Each function runs a fixed number of queries,
whatever the number of reports or subjects.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import IntegerField, Min, OuterRef, Q, Subquery, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from agencies.models import District, Facility
from audit.models import AuditEvent
from dashboard.links import photo_url, report_url
from reports.categories import Category
from reports.models import Incident, IncidentStatus, Observation, Photo, Report, Subject
from reports.queries import situation_geojson, situation_summary

MAP_TEXT = 200


def localise(value: Any, tz: Any = None) -> Any:
    """Datetimes in Asia/Tokyo (ISO 8601 with +09:00), recursively, in place for dicts and
    lists (the situation has thousands of entries; copying them all costs more than the
    query)."""
    tz = tz or timezone.get_current_timezone()
    if isinstance(value, datetime):
        return value.astimezone(tz).isoformat()
    if isinstance(value, dict):
        for key, item in value.items():
            if type(item) is datetime:
                value[key] = item.astimezone(tz).isoformat()
            elif isinstance(item, dict | list):
                localise(item, tz)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if type(item) is datetime:
                value[index] = item.astimezone(tz).isoformat()
            elif isinstance(item, dict | list):
                localise(item, tz)
    return value


def situation_payload(as_of: datetime | None) -> dict[str, Any]:
    return localise(situation_summary(as_of))


def map_payload(as_of: datetime | None, *, full: bool) -> dict[str, Any]:
    """The situation as GeoJSON. ``full`` (HQ, auditors) adds the report text, a link and
    the latest photo; reporters get the aggregated facts only."""
    collection = situation_geojson(as_of)
    features = collection["features"]
    photos: dict[int, int] = {}
    if full and features:
        photos = latest_photos([f["properties"]["report"] for f in features], as_of)
    labels = {code: str(label) for code, label in Category.choices}
    for feature in features:
        props = feature["properties"]
        props["category_label"] = labels.get(props["category"], props["category"])
        if full:
            # A popup shows an excerpt; the whole text is one click away on the report page.
            if len(props["text"]) > MAP_TEXT:
                props["text"] = props["text"][:MAP_TEXT] + "…"
            props["url"] = report_url(props["report"])
            photo = photos.get(props["report"])
            props["photo"] = photo_url(photo) if photo else None
        else:
            props["text"] = ""
            props["url"] = None
            props["photo"] = None
    collection["as_of"] = timezone.localtime(as_of or timezone.now()).isoformat()
    return collection


def latest_photos(report_ids: list[int], as_of: datetime | None) -> dict[int, int]:
    """The newest photo of each report (uploaded by ``as_of``): report id → photo id. One
    query; on PostgreSQL the ids travel as one array (an IN list of thousands of
    parameters costs more to build than to run)."""
    moment = as_of or timezone.now()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT ON (report_id) report_id, id FROM reports_photo "
                "WHERE report_id = ANY(%s) AND uploaded_at <= %s "
                "ORDER BY report_id, uploaded_at DESC, id DESC",
                [list(report_ids), moment],
            )
            return dict(cursor.fetchall())
    photos: dict[int, int] = {}
    for report_id, photo_id in (
        Photo.objects.filter(report_id__in=set(report_ids), uploaded_at__lte=moment)
        .order_by("report_id", "-uploaded_at", "-id")
        .values_list("report_id", "id")
    ):
        photos.setdefault(report_id, photo_id)
    return photos


def places_payload() -> dict[str, Any]:
    """Facilities and districts as GeoJSON: the map's fixed background. Two queries."""
    features: list[dict[str, Any]] = []
    for d in District.objects.order_by("code"):
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [d.lng, d.lat]},
                "properties": {"layer": "district", "code": d.code, "name": d.name},
            }
        )
        if d.boundary:
            features.append(
                {
                    "type": "Feature",
                    "geometry": d.boundary,
                    "properties": {"layer": "district_boundary", "code": d.code, "name": d.name},
                }
            )
    facilities = (
        Facility.objects.filter(active=True, lat__isnull=False, lng__isnull=False)
        .select_related("agency")
        .order_by("kind", "code")
    )
    for f in facilities:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [f.lng, f.lat]},
                "properties": {
                    "layer": "facility",
                    "code": f.code,
                    "name": f.name,
                    "kind": f.kind,
                    "kind_label": str(f.get_kind_display()),
                    "agency": f.agency.code,
                    "agency_name": f.agency.name,
                    "capacity": f.capacity,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


# --- Charts ---------------------------------------------------------------------------------

SERIES = {Category.EVACUEES: "count", Category.OUTAGE: "households"}
MAX_POINTS = 48


def event_start(moment: datetime) -> datetime:
    """Where "the whole event" begins: the first incident still open (or closed within the
    last day) at ``moment``; failing that, the first report of the week before."""
    start = (
        Incident.objects.filter(opened_at__lte=moment)
        .filter(
            Q(closed_at__isnull=True)
            | Q(closed_at__gt=moment - timedelta(days=1))
            | ~Q(status=IncidentStatus.CLOSED)
        )
        .aggregate(first=Min("opened_at"))["first"]
    )
    if start is None:
        start = (
            Report.objects.filter(
                recorded_at__lte=moment, recorded_at__gte=moment - timedelta(days=7)
            )
            .order_by("recorded_at")
            .values_list("recorded_at", flat=True)
            .first()
        )
    return min(start, moment - timedelta(hours=1)) if start else moment - timedelta(hours=24)


_STEPS = (600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
# A point this far in the past can no longer change (every transaction that could still
# record something before it has committed), so its value is cached for good.
_SETTLED = timedelta(minutes=2)


def _buckets(start: datetime, end: datetime) -> list[datetime]:
    """Points on a fixed grid (10 min … 1 day, at most MAX_POINTS), then ``end`` itself.
    The grid is anchored at the epoch, so successive calls share their past points."""
    span = (end - start).total_seconds()
    step = next((s for s in _STEPS if span / s <= MAX_POINTS - 1), _STEPS[-1])
    first = int(start.timestamp() // step + 1) * step
    points = [datetime.fromtimestamp(t, tz=UTC) for t in range(first, int(end.timestamp()), step)]
    return [start, *points, end] if not points or points[0] > start else [*points, end]


def _total_at(category: str, key: str, moment: datetime) -> int:
    """Sum over subjects of the latest visible value at ``moment``: one query, a loose index
    scan per subject (closed subjects say 0, so they add nothing)."""
    visible = (
        Observation.objects.filter(
            subject=OuterRef("pk"), observed_at__lte=moment, recorded_at__lte=moment
        )
        .filter(Q(superseded_at__isnull=True) | Q(superseded_at__gt=moment))
        .order_by("-observed_at", "-id")
        .annotate(v=Cast(KeyTextTransform(key, "values"), IntegerField()))
        .values("v")[:1]
    )
    total = (
        Subject.objects.filter(category=category)
        .annotate(v=Subquery(visible))
        .aggregate(total=Sum("v"))["total"]
    )
    return int(total or 0)


def series_payload(as_of: datetime | None, window: str) -> dict[str, Any]:
    """Evacuees and households without power over time, as of ``as_of``.

    ``window`` is ``24h`` (the last day) or ``event`` (since the event began). One query per
    point and series, at most 2 × (MAX_POINTS + 1), whatever the number of reports; settled
    points come from the cache, so a refresh usually computes only the latest point. (A
    point's value cannot change once settled, since "as of T" counts only what was recorded
    by T; loaders that backdate ``recorded_at`` into cached points are the exception.)
    """
    now = timezone.now()
    end = min(as_of or now, now)
    start = end - timedelta(hours=24) if window == "24h" else event_start(end)
    points = _buckets(start, end)
    # The first audit event's hash names this database, so a restored or replaced database
    # never reads another one's cached points.
    namespace = (AuditEvent.objects.order_by("id").values_list("hash", flat=True).first() or "")[
        :16
    ]
    keys = {
        (category, t): f"dashboard:series:{namespace}:{category}:{t.timestamp()}"
        for category in SERIES
        for t in points
        if t <= now - _SETTLED and t.timestamp() % _STEPS[0] == 0  # grid points only
    }
    known = cache.get_many(list(keys.values()))
    fresh: dict[str, int] = {}
    tz = timezone.get_current_timezone()
    out: dict[str, Any] = {
        "as_of": end.astimezone(tz).isoformat(),
        "window": window,
        "start": start.astimezone(tz).isoformat(),
    }
    for category, field_name in SERIES.items():
        series = []
        for t in points:
            key = keys.get((category, t))
            value = known.get(key) if key else None
            if value is None:
                value = _total_at(category, field_name, t)
                if key:
                    fresh[key] = value
            series.append({"t": t.astimezone(tz).isoformat(), "value": value})
        out[category] = series
    if fresh:
        cache.set_many(fresh, timeout=7 * 24 * 3600)
    return out


def tiles_url_configured() -> bool:
    return bool(settings.MAP_TILES_URL)
