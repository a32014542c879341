"""HQ pages for bringing agencies on board: the onboarding overview and the directory sync
(dry run, then apply). Both are HQ only."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from agencies import roles
from lineworks.conf import lineworks_settings
from lineworks.directory import REASON_LABELS, directory_sync_run
from lineworks.models import DirectorySyncRun, DirectorySyncStatus
from lineworks.onboarding import OK, PROBLEM, last_sync_run, onboarding_states


def _require_hq(request: HttpRequest) -> None:
    if not roles.is_hq(request.user):
        raise PermissionDenied(_("本部のみ利用できます。"))


@login_required
@require_GET
def onboarding(request: HttpRequest) -> HttpResponse:
    _require_hq(request)
    states = onboarding_states()
    context = {
        "states": states,
        "problem_count": sum(1 for s in states if s.level == PROBLEM),
        "ready_count": sum(1 for s in states if s.level == OK),
        "last_run": last_sync_run(),
        "configured": lineworks_settings().can_send,
    }
    return render(request, "lineworks/onboarding.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def directory_sync(request: HttpRequest) -> HttpResponse:
    _require_hq(request)
    if request.method == "POST":
        action = request.POST.get("action")
        if action not in ("plan", "apply"):
            messages.error(request, _("操作が不明です。"))
            return redirect("lineworks:directory_sync")
        digest = request.POST.get("digest", "")
        if action == "apply" and not digest:
            messages.error(request, _("先に差分を確認してください。"))
            return redirect("lineworks:directory_sync")
        run = directory_sync_run(
            trigger="web",
            apply=action == "apply",
            actor=request.user,
            expected_digest=digest,
            max_wait=0,
        )
        if run.status != DirectorySyncStatus.OK or run.error:
            messages.error(request, run.error)
        elif run.applied:
            messages.success(request, _("ディレクトリに反映しました。"))
        return redirect("lineworks:directory_sync")
    run = DirectorySyncRun.objects.select_related("actor").order_by("-started_at", "-id").first()
    summary = run.summary if run else {}
    departures = [
        {**d, "reason_label": str(REASON_LABELS.get(d["reason"], d["reason"]))}
        for d in summary.get("departures", [])
    ]
    context = {
        "run": run,
        "summary": summary,
        "departures": departures,
        "has_changes": bool(
            summary.get("additions") or summary.get("changes") or summary.get("departures")
        ),
        "history": DirectorySyncRun.objects.select_related("actor").order_by("-started_at")[:10],
        "configured": lineworks_settings().can_send,
    }
    return render(request, "lineworks/directory_sync.html", context)
