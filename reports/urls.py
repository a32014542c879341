from __future__ import annotations

from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("mine/", views.my_reports, name="mine"),
]
