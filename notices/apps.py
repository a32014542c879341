from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NoticesConfig(AppConfig):
    name = "notices"
    verbose_name = _("通知")

    def ready(self) -> None:
        from notices import email
        from notices.signals import notice_issued

        notice_issued.connect(email.on_notice_issued, dispatch_uid="notices.email")
