"""/api/v1/: each app contributes its own router module."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("reports.api.urls")),
    path("", include("dashboard.api_urls")),
    path("", include("notices.api_urls")),
    path("", include("audit.api_urls")),
]
