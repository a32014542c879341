from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LineworksConfig(AppConfig):
    name = "lineworks"
    verbose_name = _("LINE WORKS連携")
