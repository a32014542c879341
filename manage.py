#!/usr/bin/env python
from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kurashiki_dr.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        settings.INSTALLED_APPS  # noqa: B018 (loads the settings: fail here, and say why)
    except ImproperlyConfigured as exc:
        sys.exit(
            f"Configuration error: {exc}\n"
            "For local development set DJANGO_DEBUG=1 (make run does), or see .env.example."
        )
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
