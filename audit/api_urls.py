"""/api/v1/audit/ (included by kurashiki_dr/api_urls.py)."""

from __future__ import annotations

from django.urls import path

from audit import api

urlpatterns = [
    path("audit/events/", api.EventListView.as_view(), name="api-audit-events"),
    path("audit/chain/", api.ChainStatusView.as_view(), name="api-audit-chain"),
    path("audit/chain/anchors/", api.AnchorPublishView.as_view(), name="api-audit-anchor"),
]
