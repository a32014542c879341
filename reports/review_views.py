"""HQ's review queue (要確認) in the browser: the list, the one-step fix and このまま確定.

Reads through ``reports.access`` and ``reports.review``, writes through
``reports.services.report_review_fix`` / ``report_review_confirm``. Only HQ may open or act
(reporters and auditors get 403; the auditor reads the decisions in the report's history).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from agencies import roles
from reports import review, services
from reports.access import report_for_user, reports_for_user
from reports.forms import ReportForm
from reports.views import _role_required, field_rows

PAGE_SIZE = 10


def _form(request: HttpRequest, report: Any, data: Any = None) -> ReportForm:
    return ReportForm(
        data,
        user=request.user,
        mode="review",
        revision=report.current_revision,
        prefix=f"r{report.pk}",
    )


def _render_queue(
    request: HttpRequest, bound: ReportForm | None = None, bound_pk: int | None = None
) -> HttpResponse:
    flags = review.queue(reports_for_user(request.user))
    total = flags.count()
    if bound is not None:  # the fix that did not validate, alone, with its errors
        flags = flags.filter(report_id=bound_pk)
    page = Paginator(flags, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = review.queued_reports(list(page.object_list))
    for report in page.object_list:
        current = report.current_revision
        report.reason_labels = review.reason_labels(report.flag)
        report.rows = field_rows(current.category, current.fields)
        report.form = bound if report.pk == bound_pk else _form(request, report)
    return render(
        request,
        "reports/review_queue.html",
        {
            "page": page,
            "total": total,
            "focused": bound is not None,
            "threshold": review.threshold(),
        },
        status=400 if bound is not None else 200,
    )


@_role_required(roles.is_hq)
def review_queue(request: HttpRequest) -> HttpResponse:
    return _render_queue(request)


@require_POST
@_role_required(roles.is_hq)
def review_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """``action=confirm`` (このまま確定) or ``action=fix`` with the category and fields."""
    report = report_for_user(request.user, pk)
    back = reverse("reports:review")
    if not review.is_pending(report):
        messages.info(request, _("%(n)s はすでに確認済みです。") % {"n": report.number})
        return redirect(back)
    if request.POST.get("action") == "confirm":
        try:
            services.report_review_confirm(report=report, user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("%(n)s をこのまま確定しました。") % {"n": report.number})
        return redirect(back)
    form = _form(request, report, request.POST)
    if form.is_valid():
        try:
            services.report_review_fix(
                report=report,
                user=request.user,
                category=form.cleaned_data["category"],
                fields=form.category_fields(),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(
                request,
                _("%(n)s を修正して確定しました（第%(v)d版・本部確認）。")
                % {"n": report.number, "v": report.current_revision.number},
            )
            return redirect(back)
    return _render_queue(request, bound=form, bound_pk=report.pk)
