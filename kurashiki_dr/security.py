"""Security headers: the Content-Security-Policy (django-csp) and the Permissions-Policy.

The policy itself lives in settings (CONTENT_SECURITY_POLICY, PERMISSIONS_POLICY). This module
holds what settings cannot say: where map tiles come from, and the one kind of response that
needs a looser style policy (the DRF browsable API). Settings import it: it must not import
models or anything that reads settings at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from csp.constants import UNSAFE_INLINE
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase


def tile_sources(url_template: str) -> list[str]:
    """The CSP source for a Leaflet tile URL template, e.g.
    ``https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png`` → ``https://*.tile.openstreetmap.org``.

    A label holding a placeholder becomes a wildcard for it and every label to its left (CSP
    allows ``*`` only as the leftmost label). A relative template is served by the portal
    itself ('self'), so it needs no source.
    """
    if not url_template:
        return []
    parts = urlsplit(url_template)
    if not parts.scheme or not parts.netloc:
        return []
    host, _, port = parts.netloc.rpartition("@")[2].partition(":")
    labels = host.split(".")
    templated = [i for i, label in enumerate(labels) if "{" in label]
    if templated:
        labels = ["*", *labels[templated[-1] + 1 :]]
    if "{" in port:
        port = "*"
    return [f"{parts.scheme}://{'.'.join(labels)}" + (f":{port}" if port else "")]


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with one exception: pages of the DRF browsable API.

    Its templates carry style="" attributes and a <style> block (code highlighting) that the
    project does not own; they may apply inline styles. Scripts stay as strict as everywhere.
    """

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        # DRF's BrowsableAPIRenderer (and subclasses) answer to the "api" format.
        renderer = getattr(response, "accepted_renderer", None)
        if getattr(renderer, "format", None) == "api" and parts.update is None:
            parts.update = {"style-src": [UNSAFE_INLINE]}
        return parts


class PermissionsPolicyMiddleware:
    """Sets the Permissions-Policy header from settings.PERMISSIONS_POLICY
    ({feature: [allowlist]}; an empty list switches the feature off)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.header = self.format(settings.PERMISSIONS_POLICY)

    @staticmethod
    def format(policy: Mapping[str, Sequence[str]]) -> str:
        return ", ".join(f"{feature}=({' '.join(allow)})" for feature, allow in policy.items())

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if self.header:
            response.headers.setdefault("Permissions-Policy", self.header)
        return response
