from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = _("本部ダッシュボード")

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from audit.models import AuditEvent
        from dashboard.receivers import audit_event_saved

        post_save.connect(audit_event_saved, sender=AuditEvent, dispatch_uid="dashboard-timeline")
