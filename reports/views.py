"""HTML views for reporters and HQ."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from reports.access import reports_for_user


@login_required
def my_reports(request: HttpRequest) -> HttpResponse:
    reports = reports_for_user(request.user)[:100]
    return render(request, "reports/mine.html", {"reports": reports})
