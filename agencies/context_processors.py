from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from agencies import roles as _roles


def roles_context(request: HttpRequest) -> dict:
    user = request.user
    return {
        "is_hq": _roles.is_hq(user),
        "is_auditor": _roles.is_auditor(user),
        "is_reporter": _roles.is_reporter(user),
        "user_agency": _roles.user_agency(user),
        "role_label": _roles.role_label(user),
        "demo_mode": settings.DEMO_MODE,
    }
