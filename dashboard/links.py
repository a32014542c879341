"""Detail links for timeline entries and map popups.

A map can carry thousands of links, so each URL pattern is reversed once and filled in by
string replacement. A view that is not installed gives no link (None) instead of an error.
"""

from __future__ import annotations

from functools import lru_cache

from django.urls import NoReverseMatch, reverse

_SENTINEL = 987654321


@lru_cache(maxsize=16)
def _template(name: str) -> str | None:
    try:
        return reverse(name, args=[_SENTINEL])
    except NoReverseMatch:
        return None


def url_for(name: str, pk: int | None) -> str | None:
    template = _template(name)
    if template is None or pk is None:
        return None
    return template.replace(str(_SENTINEL), str(pk))


def report_url(pk: int | None) -> str | None:
    return url_for("reports:detail", pk)


def photo_url(pk: int | None) -> str | None:
    # The display copy (no EXIF, ≤ 1600 px): the map popup embeds it.
    return url_for("reports:photo_display", pk)


def notice_url(pk: int | None) -> str | None:
    return url_for("notices:detail", pk)


def incident_url(pk: int | None) -> str | None:
    return url_for("dashboard:incident_detail", pk)
