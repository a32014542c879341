from __future__ import annotations

from django.http import HttpRequest

from agencies import roles


def review_queue(request: HttpRequest) -> dict:
    """``review_count`` for HQ's menu badge (one COUNT per HQ page rendered)."""
    if not roles.is_hq(request.user):
        return {}
    from reports.review import review_count

    return {"review_count": review_count()}
