"""Notice pages: the list, the form HQ sends from, and the page that shows each agency's
delivery and 了解 live (it polls /api/v1/notices/<id>/)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agencies import roles
from notices.access import notice_for_user, notices_for_user
from notices.forms import NoticeForm
from notices.services import notice_acknowledge, notice_send


def _require_viewer(request: HttpRequest) -> None:
    if not roles.can_view_situation(request.user):
        raise PermissionDenied(_("通知を閲覧する権限がありません。"))


@login_required
@require_GET
def notice_list(request: HttpRequest) -> HttpResponse:
    _require_viewer(request)
    notices = notices_for_user(request.user).order_by("-created_at", "-id")[:200]
    return render(request, "notices/list.html", {"notices": notices})


@login_required
@require_http_methods(["GET", "POST"])
def notice_new(request: HttpRequest) -> HttpResponse:
    if not roles.is_hq(request.user):
        raise PermissionDenied(_("通知を送信できるのは本部のみです。"))
    initial = {"kind": request.GET.get("kind") or "info"}
    form = NoticeForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            notice = notice_send(
                user=request.user,
                kind=form.cleaned_data["kind"],
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                agencies=form.cleaned_data["agencies"],
                incident=form.cleaned_data["incident"],
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, _("通知を発信しました。"))
            return redirect("notices:detail", pk=notice.pk)
    return render(request, "notices/new.html", {"form": form})


@login_required
@require_GET
def notice_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require_viewer(request)
    notice = notice_for_user(request.user, pk)
    own = roles.user_agency(request.user) if roles.is_reporter(request.user) else None
    own_row = next((r for r in notice.visible if own and r.agency_id == own.pk), None)
    return render(
        request,
        "notices/detail.html",
        {
            "notice": notice,
            "recipients": notice.visible,
            "own_row": own_row,
            "api_url": reverse("api-notice-detail", args=[notice.pk]),
            "notice_text": {"ack": _("了解"), "unack": _("未了解")},
        },
    )


@login_required
@require_POST
def notice_ack(request: HttpRequest, pk: int) -> HttpResponse:
    """The web 了解 of a recipient agency's reporter (same record as the LINE WORKS button)."""
    agency = roles.user_agency(request.user)
    if agency is None or not roles.is_reporter(request.user):
        raise PermissionDenied(_("了解できるのはあて先機関の報告者のみです。"))
    notice = notice_for_user(request.user, pk)
    if notice_acknowledge(notice=notice, agency=agency, user=request.user, via="web"):
        messages.success(request, _("了解を本部へ伝えました。"))
    return redirect("notices:detail", pk=pk)
