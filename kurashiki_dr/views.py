from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views import defaults

from agencies import roles


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to the page it works in."""
    if roles.is_hq(request.user):
        return redirect("dashboard:index")
    if roles.is_auditor(request.user):
        return redirect("audit:index")
    return redirect("reports:mine")


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404: under /api/ the API's one error shape (an id the URL pattern refuses, an unknown
    path), elsewhere the Japanese page."""
    if request.path.startswith("/api/"):
        body = {"error": {"code": "not_found", "message": _("見つかりません。"), "fields": {}}}
        return JsonResponse(body, status=404, json_dumps_params={"ensure_ascii": False})
    return defaults.page_not_found(request, exception)
