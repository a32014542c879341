"""HTML views for reporters, HQ and auditors. Reads go through ``reports.access``, writes
through ``reports.services``; the views only translate between HTTP and those calls."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from agencies import roles
from agencies.models import District, Facility
from reports import review, services
from reports.access import incidents_for_user, report_for_user, reports_for_user
from reports.categories import CAUSE_LABELS, SCHEMAS, TREND_LABELS, Category
from reports.forms import ReportFilterForm, ReportForm, WithdrawForm
from reports.models import Photo, Report, ReportStatus, ReviewKind, parse_number
from reports.photos import DISPLAY, THUMB, derivative_open, derivatives_discard

PAGE_SIZE = 30
_NONE = "—"
ROLE_REQUIRED = gettext_lazy("このページを開く権限がありません。")


def _role_required(check: Callable[[Any], bool]) -> Callable:
    """Logged in (else to the login page) and passing ``check`` (else 403)."""

    def decorator(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not check(request.user):
                raise PermissionDenied(ROLE_REQUIRED)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _may_report(user: Any) -> bool:
    return roles.is_hq(user) or roles.is_reporter(user)


# --- Summaries in Japanese ------------------------------------------------------------------


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _areas_text(areas: list[dict[str, Any]] | None) -> str:
    parts = []
    for item in areas or []:
        households = item.get("households")
        parts.append(
            f"{item.get('area')} " + _("%(n)s世帯") % {"n": _n(households)}
            if households is not None
            else str(item.get("area"))
        )
    return _("、").join(parts)


def summarise(category: str, fields: dict[str, Any] | None, text: str = "") -> str:
    """A one-line Japanese summary of a report's key fields, e.g. "箭田小学校 120名（45世帯）"."""
    f = fields or {}
    parts: list[str] = []
    if category == Category.EVACUEES:
        line = f"{f.get('facility') or ''} " + _("%(n)s名") % {"n": _n(f.get("count"))}
        if f.get("households") is not None:
            line += _("（%(n)s世帯）") % {"n": _n(f["households"])}
        parts.append(line)
    elif category == Category.OUTAGE:
        parts.append(_areas_text(f.get("areas")))
        if f.get("total_households") is not None and len(f.get("areas") or []) > 1:
            parts.append(_("計%(n)s世帯") % {"n": _n(f["total_households"])})
        if f.get("restoration"):
            parts.append(_("復旧見込み: %(r)s") % {"r": f["restoration"]})
    elif category == Category.ROAD_CLOSURE:
        parts += [f.get("road") or "", f.get("place") or ""]
        if f.get("cause"):
            parts.append(str(CAUSE_LABELS.get(f["cause"], f["cause"])))
        if f.get("passable") is not None:
            parts.append(_("通行可") if f["passable"] else _("通行不可"))
    elif category == Category.WATER_LEVEL:
        parts.append(f.get("area") or "")
        if f.get("trend"):
            parts.append(str(TREND_LABELS.get(f["trend"], f["trend"])))
        if f.get("level_m") is not None:
            parts.append(f"{f['level_m']}m")
        if f.get("flooding") is not None:
            parts.append(_("浸水あり") if f["flooding"] else _("浸水なし"))
    elif category == Category.MEDICAL_CAPACITY:
        parts.append(f.get("facility") or "")
        if f.get("accepting") is not None:
            parts.append(_("受入可") if f["accepting"] else _("受入不可"))
        if f.get("beds_available") is not None:
            parts.append(_("空床%(n)s") % {"n": _n(f["beds_available"])})
        if f.get("injured") is not None:
            parts.append(_("負傷者%(n)s名") % {"n": _n(f["injured"])})
    elif category == Category.FIRE:
        parts.append(f.get("area") or "")
        if f.get("households") is not None:
            parts.append(_("%(n)s世帯") % {"n": _n(f["households"])})
        if f.get("people") is not None:
            parts.append(_("%(n)s名") % {"n": _n(f["people"])})
        if f.get("evacuation_order") is not None:
            parts.append(_("避難指示あり") if f["evacuation_order"] else _("避難指示なし"))
    elif category == Category.DISPATCH:
        line = f.get("role") or ""
        if f.get("count") is not None:
            line += " " + _("%(n)s名") % {"n": _n(f["count"])}
        parts.append(line)
        if f.get("destination"):
            parts.append("→ " + f["destination"])
    summary = " ".join(p for p in parts if p).strip()
    if not summary:
        text = " ".join((text or "").split())
        summary = text[:60] + ("…" if len(text) > 60 else "")
    return summary


def field_rows(category: str, fields: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(label, value) for every field of the category, in schema order, for the detail page."""
    f = fields or {}
    rows = []
    for spec in SCHEMAS.get(category, ()):
        value = f.get(spec.name)
        if value is None or value == []:
            shown = _NONE
        elif spec.kind == "areas":
            shown = _areas_text(value)
        elif spec.kind == "bool":
            shown = _("はい") if value else _("いいえ")
        elif spec.name == "cause":
            shown = str(CAUSE_LABELS.get(value, value))
        elif spec.name == "trend":
            shown = str(TREND_LABELS.get(value, value))
        else:
            shown = _n(value)
        rows.append((str(spec.label), shown))
    return rows


def _with_summaries(reports: Any) -> Any:
    for report in reports:
        revision = report.current_revision
        report.summary = (
            summarise(revision.category, revision.fields, revision.text) if revision else ""
        )
    return reports


# --- Report form ----------------------------------------------------------------------------


def _districts_json() -> list[dict[str, Any]]:
    return [
        {"name": d.name, "lat": d.lat, "lng": d.lng, "boundary": d.boundary}
        for d in District.objects.order_by("code")
    ]


def _map_context() -> dict[str, Any]:
    """Reference points for the location map: district centres and located facilities."""
    return {
        "map_districts": _districts_json(),
        "map_facilities": {
            str(f.pk): {"name": f.name, "lat": f.lat, "lng": f.lng}
            for f in Facility.objects.filter(active=True, lat__isnull=False, lng__isnull=False)
        },
        "map_tiles": bool(settings.MAP_TILES_URL),
    }


def _read_upload(upload: Any) -> bytes:
    # One byte over the limit is enough for report_add_photo to refuse it.
    return upload.read(settings.PHOTO_MAX_BYTES + 1)


def _add_photos(report: Report, uploads: list, user: Any, saved: list[Photo]) -> None:
    for upload in uploads:
        try:
            saved.append(
                services.report_add_photo(
                    report=report, data=_read_upload(upload), filename=upload.name, user=user
                )
            )
        except ValidationError as exc:
            message = " ".join(exc.messages)
            raise ValidationError(
                {
                    "photo": _("写真「%(name)s」: %(message)s")
                    % {"name": upload.name, "message": message}
                }
            ) from None


def _discard_files(photos: list[Photo]) -> None:
    """After a rollback, remove files already written for the rolled-back photos."""
    for photo in photos:
        photo.image.storage.delete(photo.image.name)
        derivatives_discard(photo.image.storage, photo.image.name)


@_role_required(_may_report)
def report_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = ReportForm(request.POST, request.FILES, user=request.user)
        if form.is_valid():
            saved: list[Photo] = []
            try:
                with transaction.atomic():
                    report = services.report_submit(
                        agency=form.cleaned_data["agency"],
                        author=request.user,
                        category=form.cleaned_data["category"],
                        fields=form.category_fields(),
                        text=form.cleaned_data["text"],
                        observed_at=form.cleaned_data["observed_at"],
                        location=form.location(),
                        facility=form.cleaned_data["facility"],
                        district=form.cleaned_data.get("district"),
                    )
                    _add_photos(report, form.cleaned_data["photos"], request.user, saved)
            except ValidationError as exc:
                _discard_files(saved)
                form.add_service_errors(exc)
            else:
                messages.success(
                    request, _("報告を受け付けました。受付番号: %(n)s") % {"n": report.number}
                )
                return redirect("reports:detail", pk=report.pk)
    else:
        form = ReportForm(user=request.user)
    # The chat-text parser reads a message as if sent by the chosen agency (HQ only chooses).
    agency_codes = (
        {str(pk): code for pk, code in form.fields["agency"].queryset.values_list("pk", "code")}
        if roles.is_hq(request.user)
        else {}
    )
    return render(
        request,
        "reports/form.html",
        {"form": form, "mode": "new", "agency_codes": agency_codes, **_map_context()},
    )


@login_required
def report_correct(request: HttpRequest, pk: int) -> HttpResponse:
    report = report_for_user(request.user, pk, write=True)
    if report.status == ReportStatus.WITHDRAWN:
        messages.error(request, _("取り消された報告は訂正できません。"))
        return redirect("reports:detail", pk=report.pk)
    current = report.current_revision
    if request.method == "POST":
        form = ReportForm(
            request.POST, request.FILES, user=request.user, mode="correct", revision=current
        )
        if form.is_valid():
            data = form.cleaned_data
            observed = data["observed_at"]
            unchanged = observed is None or observed == current.observed_at.replace(
                second=0, microsecond=0
            )
            saved: list[Photo] = []
            try:
                with transaction.atomic():
                    services.report_correct(
                        report=report,
                        author=request.user,
                        reason=data["reason"],
                        category=data["category"],
                        fields=form.category_fields(),
                        text=data["text"],
                        observed_at=None if unchanged else observed,
                        location=form.location(),
                        facility=data["facility"],
                    )
                    _add_photos(report, data["photos"], request.user, saved)
            except ValidationError as exc:
                _discard_files(saved)
                form.add_service_errors(exc)
            else:
                messages.success(
                    request,
                    _("%(n)s を訂正しました（第%(v)d版）。")
                    % {
                        "n": report.number,
                        "v": report.current_revision.number,
                    },
                )
                return redirect("reports:detail", pk=report.pk)
    else:
        form = ReportForm(user=request.user, mode="correct", revision=current)
    return render(
        request,
        "reports/form.html",
        {"form": form, "mode": "correct", "report": report, **_map_context()},
    )


@login_required
def report_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    report = report_for_user(request.user, pk, write=True)
    if report.status == ReportStatus.WITHDRAWN:
        messages.info(request, _("この報告はすでに取り消されています。"))
        return redirect("reports:detail", pk=report.pk)
    form = WithdrawForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.report_withdraw(
                report=report, author=request.user, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error(None, message)
        else:
            messages.success(request, _("%(n)s を取り消しました。") % {"n": report.number})
            return redirect("reports:detail", pk=report.pk)
    return render(
        request,
        "reports/withdraw.html",
        {
            "form": form,
            "report": report,
            "summary": summarise(
                report.current_revision.category,
                report.current_revision.fields,
                report.current_revision.text,
            ),
        },
    )


@require_POST
@login_required
def report_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    report = report_for_user(request.user, pk)
    services.report_acknowledge(report=report, user=request.user)
    messages.success(request, _("%(n)s を確認済みにしました。") % {"n": report.number})
    return redirect("reports:detail", pk=report.pk)


# --- Lists ----------------------------------------------------------------------------------


def _page(request: HttpRequest, queryset: Any) -> Any:
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    _with_summaries(page.object_list)
    return page


@_role_required(lambda user: roles.is_reporter(user) or roles.can_read_all(user))
def my_reports(request: HttpRequest) -> HttpResponse:
    if roles.can_read_all(request.user):
        return redirect("reports:list")
    page = _page(request, reports_for_user(request.user))
    return render(request, "reports/mine.html", {"page": page})


@_role_required(lambda user: roles.is_reporter(user) or roles.can_read_all(user))
def report_list(request: HttpRequest) -> HttpResponse:
    if not roles.can_read_all(request.user):
        return redirect("reports:mine")
    form = ReportFilterForm(request.GET or None, incidents=incidents_for_user(request.user))
    reports = reports_for_user(request.user)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        for key in ("category", "agency", "incident", "channel", "status"):
            if data.get(key):
                reports = reports.filter(**{key: data[key]})
        if data.get("since"):
            reports = reports.filter(observed_at__gte=data["since"])
        if data.get("until"):
            reports = reports.filter(observed_at__lte=data["until"])
        query = (data.get("q") or "").strip()
        if query:
            number = parse_number(query) if query.upper().startswith("R") else None
            if number is not None:
                reports = reports.filter(pk=number)
            else:
                reports = reports.filter(current_revision__text__icontains=query)
    elif form.is_bound:
        reports = reports.none()
    page = _page(request, reports)
    return render(request, "reports/list.html", {"page": page, "form": form})


# --- Detail and photos ----------------------------------------------------------------------


@login_required
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = report_for_user(request.user, pk)
    revisions = list(
        report.revisions.select_related("author__member", "facility", "district").order_by("number")
    )
    for revision in revisions:
        revision.rows = field_rows(revision.category, revision.fields)
    photos = list(report.photos.select_related("revision").order_by("uploaded_at", "id"))
    current = report.current_revision
    reviews = list(report.reviews.select_related("actor", "revision").order_by("id"))
    review_info = review.review_state(reviews, report)
    if review_info is not None:
        flag = [r for r in reviews if r.kind == ReviewKind.FLAGGED][-1]
        review_info["labels"] = review.reason_labels(flag)
    can_write = (
        roles.can_report_for(request.user, report.agency)
        and report.status != ReportStatus.WITHDRAWN
    )
    return render(
        request,
        "reports/detail.html",
        {
            "report": report,
            "current": current,
            "summary": summarise(current.category, current.fields, current.text),
            "revisions": revisions,
            "photos": photos,
            "can_write": can_write,
            "can_acknowledge": roles.is_hq(request.user) and report.status == ReportStatus.NEW,
            "can_read_all": roles.can_read_all(request.user),
            "map_tiles": bool(settings.MAP_TILES_URL),
            "map_districts": _districts_json() if current.lat is not None else None,
            "review": review_info,
        },
    )


def _photo_for_user(user: Any, pk: int) -> Photo:
    """The photo, if ``user`` may see its report; one check for the original and the
    derivatives alike (never a public media URL)."""
    photo = (
        Photo.objects.filter(pk=pk, report__in=reports_for_user(user).values("pk"))
        .select_related("report")
        .first()
    )
    if photo is None:
        raise Http404(_("写真が見つかりません。"))
    return photo


@login_required
def report_photo(request: HttpRequest, pk: int) -> HttpResponse:
    """The original as it was received: the evidence, byte for byte (EXIF and GPS
    included), as a download. Pages show the derivatives below."""
    photo = _photo_for_user(request.user, pk)
    try:
        handle = photo.image.open("rb")
    except FileNotFoundError:
        raise Http404(_("写真が見つかりません。")) from None
    extension = photo.image.name.rsplit(".", 1)[-1] if "." in photo.image.name else "bin"
    response = FileResponse(
        handle,
        content_type=photo.content_type,
        as_attachment=True,
        filename=f"{photo.report.number}-{photo.pk}.{extension}",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _derivative_response(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    photo = _photo_for_user(request.user, pk)
    handle = derivative_open(photo, kind)
    if handle is None:
        raise Http404(_("この写真はプレビューできません。原本をダウンロードしてください。"))
    response = FileResponse(handle, content_type="image/jpeg")
    response["X-Content-Type-Options"] = "nosniff"
    # A photo never changes (a new one is a new row), so the browser may keep it.
    response["Cache-Control"] = "private, max-age=86400"
    response["Content-Disposition"] = "inline"
    return response


@login_required
def report_photo_display(request: HttpRequest, pk: int) -> HttpResponse:
    """The display copy (long side 1600 px, no EXIF) that pages open."""
    return _derivative_response(request, pk, DISPLAY)


@login_required
def report_photo_thumb(request: HttpRequest, pk: int) -> HttpResponse:
    """The thumbnail (long side 320 px, no EXIF) that pages embed."""
    return _derivative_response(request, pk, THUMB)
