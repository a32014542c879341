from __future__ import annotations

from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("", views.index, name="index"),
    path("reports/<int:pk>/", views.report_detail, name="report"),
    path("photos/<int:pk>/", views.photo, name="photo"),
    path("events/", views.events, name="events"),
    path("chain/", views.chain_status, name="chain"),
    path("chain/anchor/", views.anchor_publish, name="anchor_publish"),
    path("chain/verify/", views.chain_verify, name="chain_verify"),
    path("exports/", views.exports_page, name="exports"),
    path("exports/reports.csv", views.export_csv, name="export_csv"),
    path("exports/reports.jsonl", views.export_jsonl, name="export_jsonl"),
    path("exports/situation.geojson", views.export_geojson, name="export_geojson"),
    path("exports/cap.zip", views.export_cap, name="export_cap"),
    path("exports/cap/notices/<int:pk>.xml", views.cap_notice, name="cap_notice"),
    path("exports/cap/reports/<int:pk>.xml", views.cap_report, name="cap_report"),
    path("exports/bundle.zip", views.export_bundle, name="export_bundle"),
]
