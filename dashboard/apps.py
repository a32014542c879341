from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = _("本部ダッシュボード")

    def ready(self) -> None:
        from audit.signals import event_recorded
        from dashboard.receivers import audit_event_recorded

        event_recorded.connect(audit_event_recorded, dispatch_uid="dashboard-timeline")
