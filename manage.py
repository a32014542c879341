#!/usr/bin/env python
from __future__ import annotations

import os
import sys


def main() -> None:
    # A developer's machine: the local settings, which read the checkout's .env (make run
    # writes it). A deployment selects kurashiki_dr.settings (production) explicitly.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kurashiki_dr.settings_local")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        settings.INSTALLED_APPS  # noqa: B018 (loads the settings: fail here, and say why)
    except ImproperlyConfigured as exc:
        sys.exit(
            f"Configuration error: {exc}\n"
            f"Settings: {os.environ['DJANGO_SETTINGS_MODULE']}. For local development, "
            "`make run` writes .env (DEBUG on, demo mode); for production see .env.example."
        )
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
