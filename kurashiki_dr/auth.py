"""Sign-in protection (django-axes): who the client is behind the TLS proxy, and the page a
locked-out client sees.

Failures are counted per username *and* client address (``AXES_LOCKOUT_PARAMETERS``), in the
database, so ten wrong passwords for one account from one place lock only that account from
that place: nobody can lock HQ out of the portal by guessing at every account from one
address, or at one account from everywhere. The same counter covers ``/admin/login/``
because axes hooks ``django.contrib.auth.authenticate`` itself.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, as the trusted proxies saw it.

    With ``KDR_TRUSTED_PROXIES=0`` (no proxy) it is ``REMOTE_ADDR`` and forwarding headers are
    ignored: a client could write anything into them. With N trusted proxies, each of which
    appends the address it received the request from to ``KDR_CLIENT_IP_HEADER``
    (X-Forwarded-For by default), the client is the N-th entry from the right; everything to
    its left was written by the client and is not trusted. A header with fewer entries than
    that, or an entry that is not an IP address, means the request did not come through the
    proxies as configured, and the peer address is used instead.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    header = request.META.get(settings.CLIENT_IP_META_KEY, "")
    hops = [hop.strip() for hop in header.split(",") if hop.strip()]
    if len(hops) < proxies:
        return remote
    candidate = hops[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any = None
) -> HttpResponse:
    """The lockout page (429), in the visitor's language, for the portal and the admin alike."""
    minutes = max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    return render(
        request,
        "registration/lockout.html",
        {"minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=429,
    )
