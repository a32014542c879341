from __future__ import annotations

from django.urls import path

from notices import api

urlpatterns = [
    path("notices/", api.NoticeListView.as_view(), name="api-notices"),
    path("notices/<int:pk>/", api.NoticeDetailView.as_view(), name="api-notice-detail"),
    path(
        "notices/<int:pk>/acknowledge/",
        api.NoticeAcknowledgeView.as_view(),
        name="api-notice-acknowledge",
    ),
]
