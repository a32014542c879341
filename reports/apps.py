from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = _("報告")

    def ready(self) -> None:
        from django.conf import settings
        from PIL import Image

        # Pillow's own guard against decompression bombs, at the portal's limit: any image
        # opened in this process with more than twice PHOTO_MAX_PIXELS is refused before it
        # is decoded (reports/photos.py refuses more than PHOTO_MAX_PIXELS itself).
        Image.MAX_IMAGE_PIXELS = settings.PHOTO_MAX_PIXELS
