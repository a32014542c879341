"""The admin site, discovered without django-leaflet's admin module.

django-leaflet is installed for its vendored Leaflet files only. Its
``leaflet.admin`` module imports ``django.contrib.gis``, which needs the GDAL C library at
import time; the portal stores plain latitude/longitude and never uses GIS, so the stock
``AdminConfig`` (which imports every app's ``admin`` module) would make GDAL a hard
dependency of every ``manage.py`` command. This config discovers the admin modules of every
other app.
"""

from __future__ import annotations

from importlib import import_module

from django.apps import apps
from django.contrib.admin.apps import SimpleAdminConfig
from django.utils.module_loading import module_has_submodule

#: Apps whose ``admin`` module is never imported (see the module docstring).
SKIPPED_ADMIN_MODULES = frozenset({"leaflet"})


class PortalAdminConfig(SimpleAdminConfig):
    """``django.contrib.admin`` with autodiscovery that skips ``SKIPPED_ADMIN_MODULES``."""

    def ready(self) -> None:
        super().ready()
        for app_config in apps.get_app_configs():
            if app_config.name in SKIPPED_ADMIN_MODULES:
                continue
            if module_has_submodule(app_config.module, "admin"):
                import_module(f"{app_config.name}.admin")
