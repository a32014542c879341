"""/api/v1/ routes of the reports app (included by kurashiki_dr/api_urls.py).

Ids are matched as any path segment and checked by the views, so ``/reports/abc/`` is a JSON
404 in the one error shape rather than Django's HTML page."""

from __future__ import annotations

from django.urls import path

from reports.api import views

app_name = "reports_api"

urlpatterns = [
    path("reports/", views.ReportListView.as_view(), name="report-list"),
    path("reports/<str:id>/", views.ReportDetailView.as_view(), name="report-detail"),
    path(
        "reports/<str:id>/revisions/",
        views.ReportRevisionsView.as_view(),
        name="report-revisions",
    ),
    path(
        "reports/<str:id>/corrections/",
        views.ReportCorrectionView.as_view(),
        name="report-corrections",
    ),
    path(
        "reports/<str:id>/withdrawal/",
        views.ReportWithdrawalView.as_view(),
        name="report-withdrawal",
    ),
    path("reports/<str:id>/photos/", views.ReportPhotosView.as_view(), name="report-photos"),
    path(
        "reports/<str:id>/acknowledge/",
        views.ReportAcknowledgeView.as_view(),
        name="report-acknowledge",
    ),
    path("reports/<str:id>/incident/", views.ReportIncidentView.as_view(), name="report-incident"),
    path("reports/<str:id>/review/", views.ReportReviewView.as_view(), name="report-review"),
    path("incidents/", views.IncidentListView.as_view(), name="incident-list"),
    path("incidents/<str:id>/", views.IncidentDetailView.as_view(), name="incident-detail"),
    path("parse/", views.ParseView.as_view(), name="parse"),
]
