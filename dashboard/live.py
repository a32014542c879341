"""Cheap change detection for polling clients (ETag / If-None-Match).

Every change the dashboard shows writes an audit event in its own transaction, so the newest
committed event id is a version of everything: one index probe. "Now" views also depend on the
clock (silence grows with time), so their tag also carries the current minute.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.http import HttpRequest
from django.utils import timezone

from audit.models import AuditEvent


def data_version() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def make_etag(*parts: object, as_of: datetime | None = None, clock: bool = True) -> str:
    """A weak tag for a view of the data. ``clock``: the answer for "now" also changes as
    time passes (silence, observations dated a few minutes ahead), so it carries the minute."""
    if as_of is not None:
        moment = as_of.isoformat()
    else:
        moment = timezone.now().strftime("now-%Y%m%d%H%M") if clock else "now"
    text = "|".join(str(p) for p in (*parts, moment, data_version()))
    return 'W/"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def not_modified(request: HttpRequest, etag: str) -> bool:
    header = request.headers.get("If-None-Match", "")
    if not header:
        return False
    tags = {t.strip() for t in header.split(",")}
    return etag in tags or "*" in tags or etag.removeprefix("W/") in tags
