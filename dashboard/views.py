"""The HQ dashboard pages: the live board, the print report, incidents, and HQ actions.

HQ operators and auditors read every page; only HQ acts. The board itself renders an empty
frame and reads the same API endpoints other clients use (dashboard/api.py).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agencies import roles
from agencies.models import Agency
from dashboard import styles
from dashboard.forms import IncidentOpenForm, IncidentUpdateForm, LinkIncidentForm, LinkReportForm
from dashboard.links import report_url
from dashboard.situation import event_start
from dashboard.timeline import TimelineFilters, entry_json, parse_moment, timeline_page
from notices.models import NoticeKind
from notices.services import notice_send
from reports import services
from reports.access import incident_for_user, incidents_for_user, report_for_user
from reports.models import IncidentStatus, format_number
from reports.queries import situation_summary


def _entries_for_template(entries) -> list[dict[str, Any]]:
    return [
        {**entry_json(e), "at_dt": e.occurred_at, "css": e.action.replace(".", "-")}
        for e in entries
    ]


def _require_reader(request: HttpRequest) -> None:
    if not roles.can_read_all(request.user):
        raise PermissionDenied(_("本部ダッシュボードを閲覧できるのは本部と監査担当のみです。"))


def _require_hq(request: HttpRequest) -> None:
    if not roles.is_hq(request.user):
        raise PermissionDenied(_("この操作ができるのは本部のみです。"))


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(fallback)


def _error_json(message: str, fields: dict[str, list[str]] | None = None, status: int = 400):
    code = {400: "invalid", 403: "permission_denied", 404: "not_found"}.get(status, "error")
    return JsonResponse(
        {"error": {"code": code, "message": message, "fields": fields or {}}}, status=status
    )


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    _require_reader(request)
    context: dict[str, Any] = {
        "agencies": Agency.objects.filter(active=True).exclude(kind="hq").order_by("kind", "code"),
        "incidents": incidents_for_user(request.user).order_by("-opened_at")[:50],
        "categories": styles.category_styles(),
        "tile_labels": [
            ("evacuees", _("避難者数")),
            ("outage", _("停電世帯")),
            ("road_closure", _("通行止め")),
            ("water_level", _("水位")),
            ("medical_capacity", _("医療機関")),
            ("fire", _("火災・避難指示")),
            ("incidents", pgettext("plural", "インシデント")),
            ("silent", _("沈黙")),
        ],
        "config": {
            "urls": {
                "situation": reverse("api-situation"),
                "map": reverse("api-map"),
                "places": reverse("api-map-places"),
                "series": reverse("api-situation-series"),
                "timeline": reverse("api-timeline"),
                "remind": reverse("dashboard:remind", args=["__agency__"]),
                "acknowledge": reverse("dashboard:report_acknowledge", args=[0]),
                "link": reverse("dashboard:report_link", args=[0]),
                "incident": reverse("dashboard:incident_detail", args=[0]),
                "incidents": reverse("dashboard:incidents"),
                "print": reverse("dashboard:print"),
            },
            "is_hq": roles.is_hq(request.user),
            "poll_ms": 3000,
            "event_start": timezone.localtime(event_start(timezone.now())).isoformat(),
            "tiles": {
                "url": settings.MAP_TILES_URL,
                "attribution": settings.MAP_TILES_ATTRIBUTION,
            },
            "center": list(settings.LEAFLET_CONFIG["DEFAULT_CENTER"]),
            "zoom": settings.LEAFLET_CONFIG["DEFAULT_ZOOM"],
            "categories": styles.category_styles(),
            "facility_kinds": styles.facility_styles(),
            "fields": styles.field_labels(),
            "text": styles.ui_text(),
            "incidents": [
                {"id": i.pk, "label": str(i)}
                for i in incidents_for_user(request.user)
                .exclude(status=IncidentStatus.CLOSED)
                .order_by("-opened_at")[:50]
            ],
        },
    }
    return render(request, "dashboard/index.html", context)


@login_required
@require_GET
def print_report(request: HttpRequest) -> HttpResponse:
    """状況報告書: one printable page of the situation, now or as of ``?as_of=``."""
    _require_reader(request)
    try:
        as_of = parse_moment(request.GET.get("as_of"), "as_of")
    except ValidationError:
        as_of = None
        messages.error(request, _("日時の指定が正しくないため、現在の状況を表示しています。"))
    moment = as_of or timezone.now()
    situation = situation_summary(moment)
    entries, _next = timeline_page(TimelineFilters(until=moment), limit=12)
    return render(
        request,
        "dashboard/print.html",
        {
            "situation": situation,
            "as_of": moment,
            "printed_at": timezone.now(),
            "timeline": _entries_for_template(entries),
            "categories": {c["code"]: c for c in styles.category_styles()},
        },
    )


# --- HQ actions on reports ------------------------------------------------------------------


@login_required
@require_POST
def report_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    _require_hq(request)
    report = report_for_user(request.user, pk)
    report = services.report_acknowledge(report=report, user=request.user)
    if _wants_json(request):
        return JsonResponse({"report": report.pk, "status": report.status})
    messages.success(request, _("%(n)s を確認済みにしました。") % {"n": report.number})
    return _back(request, report_url(report.pk) or reverse("dashboard:index"))


@login_required
@require_POST
def report_link(request: HttpRequest, pk: int) -> HttpResponse:
    _require_hq(request)
    report = report_for_user(request.user, pk)
    form = LinkIncidentForm(request.POST)
    if not form.is_valid():
        if _wants_json(request):
            return _error_json(_("入力内容に誤りがあります。"), form.errors)
        messages.error(request, _("インシデントを選び直してください。"))
        return _back(request, reverse("dashboard:index"))
    incident = form.cleaned_data["incident"]
    services.report_link_incident(
        report=report, incident=incident, user=request.user, channel="web"
    )
    if _wants_json(request):
        return JsonResponse({"report": report.pk, "incident": incident.pk if incident else None})
    messages.success(request, _("%(n)s の関連付けを更新しました。") % {"n": report.number})
    return _back(request, reverse("dashboard:index"))


# --- Silence watch --------------------------------------------------------------------------


@login_required
@require_POST
def remind(request: HttpRequest, code: str) -> HttpResponse:
    """One click: a 報告督促 notice to a silent agency, out through its LINE WORKS talk."""
    _require_hq(request)
    agency = get_object_or_404(Agency, code=code, active=True)
    with translation.override("ja"):  # the agency reads it in its LINE WORKS talk
        notice = notice_send(
            user=request.user,
            kind=NoticeKind.REMINDER,
            title=_("状況報告のお願い"),
            body=_(
                "%(name)s 御中\n本部では貴機関からの最新の状況報告を確認できていません。"
                "現在の状況（避難者数・被害・受入可否など）を報告してください。"
                "変化がない場合も「変化なし」とお知らせください。"
            )
            % {"name": agency.name},
            agencies=[agency],
        )
    if _wants_json(request):
        return JsonResponse(
            {"notice": notice.pk, "url": reverse("notices:detail", args=[notice.pk])}, status=201
        )
    messages.success(request, _("%(name)s へ報告督促を送りました。") % {"name": agency.name})
    return _back(request, reverse("dashboard:index"))


# --- Incidents ------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def incident_list(request: HttpRequest) -> HttpResponse:
    _require_reader(request)
    form = IncidentOpenForm(request.POST or None)
    if request.method == "POST":
        _require_hq(request)
        if form.is_valid():
            try:
                incident = services.incident_open(
                    user=request.user,
                    title=form.cleaned_data["title"],
                    description=form.cleaned_data["description"],
                    district=form.cleaned_data["district"],
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, _("インシデントを登録しました。"))
                return redirect("dashboard:incident_detail", pk=incident.pk)
    incidents = incidents_for_user(request.user).order_by("status", "-opened_at")
    return render(request, "dashboard/incidents.html", {"incidents": incidents, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def incident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require_reader(request)
    incident = incident_for_user(request.user, pk)
    form = IncidentUpdateForm(
        request.POST if request.POST.get("form") == "update" else None,
        initial={
            "title": incident.title,
            "description": incident.description,
            "status": incident.status,
        },
    )
    link_form = LinkReportForm(request.POST if request.POST.get("form") == "link" else None)
    if request.method == "POST":
        incident = incident_for_user(request.user, pk, write=True)
        action = request.POST.get("form")
        if action == "update" and form.is_valid():
            services.incident_update(
                incident=incident,
                user=request.user,
                title=form.cleaned_data["title"],
                description=form.cleaned_data["description"],
                status=form.cleaned_data["status"],
            )
            messages.success(request, _("インシデントを更新しました。"))
            return redirect("dashboard:incident_detail", pk=pk)
        if action == "close":
            services.incident_close(incident=incident, user=request.user)
            messages.success(request, _("インシデントを終了しました。"))
            return redirect("dashboard:incident_detail", pk=pk)
        if action == "link" and link_form.is_valid():
            try:
                report = report_for_user(request.user, link_form.cleaned_data["number"])
            except Http404:
                link_form.add_error("number", _("その受付番号の報告は見つかりません。"))
            else:
                services.report_link_incident(
                    report=report, incident=incident, user=request.user, channel="web"
                )
                messages.success(
                    request,
                    _("%(n)s をこのインシデントに関連付けました。") % {"n": report.number},
                )
                return redirect("dashboard:incident_detail", pk=pk)
    reports = list(
        incident.reports.select_related("agency", "current_revision").order_by("-recorded_at")[:200]
    )
    entries, _next = timeline_page(TimelineFilters(incident=incident.pk), limit=50)
    return render(
        request,
        "dashboard/incident_detail.html",
        {
            "incident": incident,
            "form": form,
            "link_form": link_form,
            "reports": [
                {"report": r, "number": format_number(r.pk), "url": report_url(r.pk)}
                for r in reports
            ],
            "timeline": _entries_for_template(entries),
        },
    )
