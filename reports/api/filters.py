"""Query-parameter filters of the report and incident lists (validated by the serializers in
``reports.api.serializers``; applied here to querysets the access helpers produced)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from reports.models import Incident, Report
from reports.review import awaiting_review


def filter_reports(queryset: QuerySet[Report], params: dict[str, Any]) -> QuerySet[Report]:
    """``since``/``until`` bound ``observed_at`` (inclusive): reports about what was true in
    that window, whenever they arrived."""
    if "category" in params:
        queryset = queryset.filter(category=params["category"])
    if "agency" in params:
        queryset = queryset.filter(agency__code=params["agency"])
    if "incident" in params:
        queryset = queryset.filter(incident_id=params["incident"])
    if "since" in params:
        queryset = queryset.filter(observed_at__gte=params["since"])
    if "until" in params:
        queryset = queryset.filter(observed_at__lte=params["until"])
    if "channel" in params:
        queryset = queryset.filter(channel=params["channel"])
    if "status" in params:
        queryset = queryset.filter(status=params["status"])
    if params.get("needs_review") is not None:
        queryset = awaiting_review(queryset, params["needs_review"])
    return queryset


def filter_incidents(queryset: QuerySet[Incident], params: dict[str, Any]) -> QuerySet[Incident]:
    if "status" in params:
        queryset = queryset.filter(status=params["status"])
    return queryset
