"""``{% map_config %}``: the report maps' settings for static/js/report_map.js.

The map used to be set up by django-leaflet's ``{% leaflet_map %}``, whose inline script the
Content-Security-Policy would have to allow. The page now hands the same settings to the
project's own script as JSON (``json_script`` escapes them), and the script makes the map.
"""

from __future__ import annotations

from django import template
from django.conf import settings
from django.utils.html import json_script
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag
def map_config() -> SafeString:
    leaflet = settings.LEAFLET_CONFIG
    config = {
        "center": list(leaflet["DEFAULT_CENTER"]),
        "zoom": leaflet["DEFAULT_ZOOM"],
        "min_zoom": leaflet["MIN_ZOOM"],
        "max_zoom": leaflet["MAX_ZOOM"],
        "tiles": {"url": settings.MAP_TILES_URL, "attribution": settings.MAP_TILES_ATTRIBUTION},
    }
    return json_script(config, "map-config")
