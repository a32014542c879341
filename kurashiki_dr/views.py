from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views import defaults
from markdown_it import MarkdownIt

from agencies import roles


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to the page it works in."""
    if roles.is_hq(request.user):
        return redirect("dashboard:index")
    if roles.is_auditor(request.user):
        return redirect("audit:index")
    return redirect("reports:mine")


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404: under /api/ the API's one error shape (an id the URL pattern refuses, an unknown
    path), elsewhere the Japanese page."""
    if request.path.startswith("/api/"):
        body = {"error": {"code": "not_found", "message": _("見つかりません。"), "fields": {}}}
        return JsonResponse(body, status=404, json_dumps_params={"ensure_ascii": False})
    return defaults.page_not_found(request, exception)


# --- Help -------------------------------------------------------------------------------------

GUIDES_DIR = settings.BASE_DIR / "docs"
_HEADING_ID = re.compile(r"\s*\{#([a-z0-9-]+)\}\s*$")


def _render_markdown(text: str) -> str:
    """Markdown to HTML with raw HTML disabled (the guide is ours, but keep it inert);
    a heading ending in ``{#slug}`` gets that id, so pages can link to a section."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(text)
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and index + 1 < len(tokens):
            inline = tokens[index + 1]
            found = _HEADING_ID.search(inline.content)
            if found:
                token.attrSet("id", found.group(1))
                inline.content = inline.content[: found.start()]
                if inline.children:
                    last = inline.children[-1]
                    last.content = _HEADING_ID.sub("", last.content)
    return md.renderer.render(tokens, md.options, {})


@login_required
def help_index(request: HttpRequest) -> HttpResponse:
    """Help for everyone signed in; HQ and administrators also get the operator's guide."""
    return render(
        request,
        "help/index.html",
        {"operator": roles.is_hq(request.user) or request.user.is_superuser},
    )


@login_required
def help_operator(request: HttpRequest) -> HttpResponse:
    if not (roles.is_hq(request.user) or request.user.is_superuser):
        raise PermissionDenied(_("運用ガイドは本部と管理者のみ閲覧できます。"))
    text = (GUIDES_DIR / "operator-guide.md").read_text(encoding="utf-8")
    return render(request, "help/operator.html", {"guide": mark_safe(_render_markdown(text))})  # noqa: S308 (rendered with html disabled)
