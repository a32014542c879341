from __future__ import annotations

app_name = "lineworks"

urlpatterns: list = []
