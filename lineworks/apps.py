from __future__ import annotations

from celery.schedules import crontab
from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# The sweep re-enqueues stuck inbound/outbound rows and retries that are due (see
# lineworks.services.sweep). Added to settings.CELERY_BEAT_SCHEDULE in ready().
BEAT_SCHEDULE = {
    "lineworks-sweep": {"task": "lineworks.sweep", "schedule": 30.0},
    # Nightly at 03:15 (TIME_ZONE, Asia/Tokyo): directory differences to HQ.
    "lineworks-directory-sync": {
        "task": "lineworks.directory_sync",
        "schedule": crontab(hour=3, minute=15),
    },
}


class LineworksConfig(AppConfig):
    name = "lineworks"
    verbose_name = _("LINE WORKS連携")

    def ready(self) -> None:
        from django.conf import settings

        from audit.registry import register_source_resolver
        from audit.signals import chain_anchored
        from lineworks import receivers
        from notices.signals import notice_issued
        from reports.signals import report_recorded

        report_recorded.connect(receivers.on_report_recorded, dispatch_uid="lineworks.mirror")
        notice_issued.connect(receivers.on_notice_issued, dispatch_uid="lineworks.notice")
        chain_anchored.connect(receivers.on_chain_anchored, dispatch_uid="lineworks.anchor")
        register_source_resolver("lineworks:inbound:", receivers.resolve_inbound)
        # The same dict object Celery reads (config_from_object keeps a reference to it).
        for name, entry in BEAT_SCHEDULE.items():
            settings.CELERY_BEAT_SCHEDULE.setdefault(name, entry)
