from __future__ import annotations

from django.urls import path
from django.views.decorators.gzip import gzip_page

from dashboard import api

# JSON for the whole city compresses about tenfold; these answers carry no secrets, so
# compressing them is safe (unlike HTML pages with a CSRF token).
urlpatterns = [
    path("situation/", gzip_page(api.SituationView.as_view()), name="api-situation"),
    path("situation/series/", gzip_page(api.SeriesView.as_view()), name="api-situation-series"),
    path("map/", gzip_page(api.MapView.as_view()), name="api-map"),
    path("map/places/", gzip_page(api.PlacesView.as_view()), name="api-map-places"),
    path("timeline/", gzip_page(api.TimelineView.as_view()), name="api-timeline"),
]
