from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect

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
