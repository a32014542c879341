from __future__ import annotations

from django.urls import path

from lineworks import onboarding_views, views, webhook

app_name = "lineworks"

urlpatterns = [
    path("callback", webhook.callback, name="callback"),
    path("outbox/", views.outbox, name="outbox"),
    path("outbox/<int:pk>/retry", views.outbox_retry, name="outbox_retry"),
    path("inbound/<int:pk>/retry", views.inbound_retry, name="inbound_retry"),
    path("unmatched/", views.unmatched, name="unmatched"),
    path("onboarding/", onboarding_views.onboarding, name="onboarding"),
    path("directory/", onboarding_views.directory_sync, name="directory_sync"),
    path("demo/", views.demo, name="demo"),
    path("demo/send", views.demo_send, name="demo_send"),
    path("demo/feed", views.demo_feed, name="demo_feed"),
]
