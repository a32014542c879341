"""Access helpers: the only way views and API endpoints fetch reports and incidents.

``reports_for_user`` narrows a queryset to what the user may see; ``report_for_user`` fetches
one report or raises Http404 (a report of another agency is "not found", not "forbidden", so
its existence does not leak), and PermissionDenied when ``write`` is asked without the right.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from agencies import roles
from reports.models import Incident, Report, parse_number
from reports.queries import reports_for_listing


def reports_for_user(user: Any, queryset: QuerySet[Report] | None = None) -> QuerySet[Report]:
    qs = queryset if queryset is not None else reports_for_listing()
    if roles.can_read_all(user):
        return qs
    agency = roles.user_agency(user)
    if agency is None or not roles.is_reporter(user):
        return qs.none()
    return qs.filter(agency=agency)


def report_for_user(user: Any, pk: int | str, *, write: bool = False) -> Report:
    if isinstance(pk, str) and not (pk.isascii() and pk.isdecimal()):
        parsed = parse_number(pk)
        if parsed is None:
            raise Http404
        pk = parsed
    report = reports_for_user(user).filter(pk=pk).first()
    if report is None:
        raise Http404(_("報告が見つかりません。"))
    if write and not roles.can_report_for(user, report.agency):
        raise PermissionDenied(_("この報告を変更する権限がありません。"))
    return report


def incidents_for_user(user: Any) -> QuerySet[Incident]:
    if roles.can_view_situation(user):
        return Incident.objects.select_related("district", "opened_by")
    return Incident.objects.none()


def incident_for_user(user: Any, pk: int, *, write: bool = False) -> Incident:
    incident = incidents_for_user(user).filter(pk=pk).first()
    if incident is None:
        raise Http404(_("インシデントが見つかりません。"))
    if write and not roles.is_hq(user):
        raise PermissionDenied(_("インシデントを変更できるのは本部のみです。"))
    return incident
