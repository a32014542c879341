"""HTML views: the outbox and unmatched senders for HQ, and the demo conversation page.

The webhook itself is in lineworks/webhook.py.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Max
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from agencies import roles
from agencies.models import Agency, Member, Role
from agencies.services import MEMBER_ROLES, WouldReplace
from lineworks import bot, services
from lineworks.conf import fake_control_url, lineworks_settings
from lineworks.models import (
    ApiCall,
    InboundEvent,
    InboundStatus,
    OutboundMessage,
    OutboundStatus,
)

logger = logging.getLogger(__name__)


def _require_hq(request: HttpRequest) -> None:
    if not roles.is_hq(request.user):
        raise PermissionDenied(_("本部のみ利用できます。"))


# --- outbox ------------------------------------------------------------------------------------


@login_required
@require_GET
def outbox(request: HttpRequest) -> HttpResponse:
    _require_hq(request)
    status = request.GET.get("status", "")
    rows = OutboundMessage.objects.all()
    if status in OutboundStatus.values:
        rows = rows.filter(status=status)
    counts = dict(OutboundMessage.objects.values_list("status").annotate(n=Count("id")).order_by())
    context = {
        "messages_list": rows.order_by("-created_at", "-id")[:100],
        "status": status,
        "statuses": [
            (value, label, counts.get(value, 0)) for value, label in OutboundStatus.choices
        ],
        "failed_inbound": InboundEvent.objects.filter(status=InboundStatus.FAILED)[:50],
        "api_calls": ApiCall.objects.all()[:30],
        "configured": lineworks_settings().can_send,
        "demo_mode": settings.DEMO_MODE,
    }
    return render(request, "lineworks/outbox.html", context)


@login_required
@require_POST
def outbox_retry(request: HttpRequest, pk: int) -> HttpResponse:
    _require_hq(request)
    message = get_object_or_404(OutboundMessage, pk=pk)
    if services.outbound_retry(message=message, user=request.user):
        messages.success(request, _("再送を予約しました。"))
    else:
        messages.error(request, _("送信失敗のメッセージのみ再送できます。"))
    return redirect("lineworks:outbox")


@login_required
@require_POST
def inbound_retry(request: HttpRequest, pk: int) -> HttpResponse:
    _require_hq(request)
    queued = services.inbound_requeue(
        InboundEvent.objects.filter(pk=pk, status=InboundStatus.FAILED)
    )
    if queued:
        messages.success(request, _("受信メッセージを再処理します。"))
    return redirect("lineworks:outbox")


# --- unmatched senders ---------------------------------------------------------------------------


@login_required
def unmatched(request: HttpRequest) -> HttpResponse:
    _require_hq(request)
    if request.method == "POST":
        return _assign(request)
    context = {
        "senders": bot.unmatched_summary(),
        "channels": bot.unlinked_channels(),
        "members": Member.objects.select_related("agency", "user").order_by(
            "agency__kind", "agency__code", "display_name"
        ),
        "agencies": Agency.objects.filter(active=True).order_by("kind", "code"),
        "roles": [(role, Role(role).label) for role in MEMBER_ROLES],
    }
    return render(request, "lineworks/unmatched.html", context)


def _assign(request: HttpRequest) -> HttpResponse:
    kind = request.POST.get("kind")
    try:
        if kind == "user":
            member = get_object_or_404(Member, pk=_pk(request.POST.get("member")))
            user_id = request.POST.get("user_id", "")
            try:
                queued = services.unmatched_assign_user(
                    user_id=user_id,
                    member=member,
                    by=request.user,
                    replace=request.POST.get("replace") == "1",
                )
            except WouldReplace as exc:
                return _confirm_replace(request, exc)
        elif kind == "new_member":
            agency = Agency.objects.filter(pk=_pk(request.POST.get("agency")), active=True).first()
            if agency is None:
                raise ValidationError({"agency": _("機関を選んでください。")})
            member, queued = services.unmatched_create_member(
                user_id=request.POST.get("user_id", ""),
                display_name=request.POST.get("display_name", ""),
                agency=agency,
                role=request.POST.get("role", ""),
                username=request.POST.get("username", ""),
                password=request.POST.get("password", ""),
                by=request.user,
            )
            messages.success(
                request,
                _("メンバー「%(m)s」（ユーザー名 %(u)s）を登録しました。")
                % {"m": member, "u": member.user.get_username()},
            )
        elif kind == "channel":
            agency = get_object_or_404(Agency, pk=_pk(request.POST.get("agency")))
            queued = services.unmatched_assign_channel(
                channel_id=request.POST.get("channel_id", ""), agency=agency, by=request.user
            )
        else:
            raise Http404
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("lineworks:unmatched")
    messages.success(
        request, _("割り当てました。保留中のメッセージ %(n)d 件を処理します。") % {"n": queued}
    )
    return redirect("lineworks:unmatched")


def _pk(raw: str | None) -> int:
    """A primary key from a form field; anything else is 0 (matches no row)."""
    raw = (raw or "").strip()
    return int(raw) if raw.isascii() and raw.isdecimal() and len(raw) <= 18 else 0


def _confirm_replace(request: HttpRequest, exc: WouldReplace) -> HttpResponse:
    """The confirmation step before a member's working LINE WORKS id is replaced: what the
    old id has sent lately, and what happens to its messages afterwards."""
    recent = InboundEvent.objects.filter(source_user_id=exc.current)
    context = {
        "member": exc.member,
        "current": exc.current,
        "new": exc.new,
        "recent_count": recent.count(),
        "recent_last": recent.aggregate(last=Max("received_at"))["last"],
        "held_count": InboundEvent.objects.filter(
            status=InboundStatus.UNMATCHED, source_user_id=exc.new
        ).count(),
    }
    return render(request, "lineworks/unmatched_confirm.html", context)


# --- demo ----------------------------------------------------------------------------------------


def _require_demo(request: HttpRequest) -> str:
    """The fake's control URL, for HQ or admins in demo mode; 404 for everyone else."""
    if not settings.DEMO_MODE:
        raise Http404
    if not (roles.is_hq(request.user) or request.user.is_superuser):
        raise PermissionDenied(_("本部または管理者のみ利用できます。"))
    fake = fake_control_url()
    if fake is None:
        raise Http404
    return fake


def _demo_agencies() -> list[dict[str, Any]]:
    agencies = []
    members = Member.objects.exclude(lineworks_user_id="").select_related("agency")
    by_agency: dict[int, list[dict[str, Any]]] = {}
    for member in members.order_by("display_name"):
        by_agency.setdefault(member.agency_id, []).append(
            {"id": member.pk, "name": str(member.display_name or member.lineworks_user_id)}
        )
    for agency in Agency.objects.filter(active=True).exclude(lineworks_channel_id=""):
        if agency.pk in by_agency:
            agencies.append(
                {
                    "code": agency.code,
                    "name": agency.name,
                    "channel": agency.lineworks_channel_id,
                    "members": by_agency[agency.pk],
                }
            )
    return agencies


@login_required
@require_GET
def demo(request: HttpRequest) -> HttpResponse:
    _require_demo(request)
    context = {
        "agencies": _demo_agencies(),
        "send_url": reverse("lineworks:demo_send"),
        "feed_url": reverse("lineworks:demo_feed"),
    }
    return render(request, "lineworks/demo.html", context)


def _fake(method: str, url: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, url, timeout=(3, 30), **kwargs)


@login_required
@require_POST
def demo_send(request: HttpRequest) -> JsonResponse:
    """Play a member: ask the fake LINE WORKS to post a signed callback to this portal."""
    fake = _require_demo(request)
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": _("不正なリクエストです。")}, status=400)
    member = (
        Member.objects.select_related("agency")
        .exclude(lineworks_user_id="")
        .filter(pk=data.get("member") or 0)
        .first()
    )
    agency = Agency.objects.filter(code=str(data.get("agency") or "")).first()
    if member is None or agency is None or not agency.lineworks_channel_id:
        return JsonResponse({"error": _("機関とメンバーを選んでください。")}, status=400)
    kind = data.get("kind", "text")
    if kind == "text":
        text = str(data.get("text") or "").strip()[:2000]
        if not text:
            return JsonResponse({"error": _("メッセージを入力してください。")}, status=400)
        content: dict[str, Any] = {"type": "text", "text": text}
        if data.get("postback"):
            content["postback"] = str(data["postback"])[:300]
    elif kind == "location":
        try:
            lat, lng = float(data["lat"]), float(data["lng"])
        except (KeyError, TypeError, ValueError):
            return JsonResponse({"error": _("緯度・経度を入力してください。")}, status=400)
        content = {
            "type": "location",
            "address": str(data.get("address") or "")[:100],
            "latitude": lat,
            "longitude": lng,
        }
    elif kind == "image":
        image = str(data.get("image") or "")
        if image and len(image) > 8 * 1024 * 1024:
            return JsonResponse({"error": _("画像が大きすぎます。")}, status=400)
        content = {"type": "image", "fileName": str(data.get("fileName") or "photo.png")[:100]}
        if image:
            try:
                base64.b64decode(image, validate=True)
            except ValueError:
                return JsonResponse({"error": _("画像を読み込めません。")}, status=400)
            content["data"] = image
            content["contentType"] = str(data.get("contentType") or "image/jpeg")[:60]
    else:
        return JsonResponse({"error": _("不明な種類です。")}, status=400)
    payload = {
        "userId": member.lineworks_user_id,
        "channelId": agency.lineworks_channel_id,
        "content": content,
        "callbackUrl": request.build_absolute_uri(reverse("lineworks:callback")),
    }
    try:
        response = _fake("POST", f"{fake}/_fake/play", json=payload)
        result = response.json()
    except (requests.RequestException, ValueError):
        logger.warning("lineworks demo: the fake LINE WORKS server does not answer at %s", fake)
        return JsonResponse({"error": _("疑似LINE WORKSサーバーに接続できません。")}, status=502)
    return JsonResponse({"status": result.get("status")})


@login_required
@require_GET
def demo_feed(request: HttpRequest) -> JsonResponse:
    """The conversation in one room: the members' callbacks and the bot's messages."""
    fake = _require_demo(request)
    channel = request.GET.get("channel", "")
    if not Agency.objects.filter(lineworks_channel_id=channel).exists():
        return JsonResponse({"error": _("不明なトークルームです。")}, status=400)
    try:
        sent = _fake("GET", f"{fake}/_fake/messages", params={"channelId": channel}).json()
        received = _fake("GET", f"{fake}/_fake/callbacks").json()
    except (requests.RequestException, ValueError):
        return JsonResponse({"error": _("疑似LINE WORKSサーバーに接続できません。")}, status=502)
    names = dict(
        Member.objects.exclude(lineworks_user_id="").values_list(
            "lineworks_user_id", "display_name"
        )
    )
    items = []
    for entry in received.get("callbacks", []):
        event = entry.get("event") or {}
        source = event.get("source") or {}
        if source.get("channelId") != channel or event.get("type") != "message":
            continue
        items.append(
            {
                "seq": entry.get("seq", 0),
                "at": event.get("issuedTime"),
                "from": "member",
                "name": names.get(source.get("userId"), source.get("userId")),
                "content": _shown(event.get("content") or {}),
                "status": entry.get("status"),
            }
        )
    for message in sent.get("messages", []):
        items.append(
            {
                "seq": message["seq"],
                "at": message["at"],
                "from": "bot",
                "content": _shown(message.get("content") or {}),
            }
        )
    items.sort(key=lambda item: item["seq"])
    return JsonResponse({"items": items[-200:], "situation": _situation_tiles()})


def _shown(body: dict[str, Any]) -> dict[str, Any]:
    """What the demo page shows of a content (no file bytes, only the documented keys)."""
    keys = ("type", "text", "contentText", "actions", "address", "latitude", "longitude")
    return {k: body[k] for k in keys if k in body}


def _situation_tiles() -> dict[str, Any]:
    from reports.queries import situation_summary

    s = situation_summary()
    return {
        "evacuees": s["evacuees"]["total"],
        "outage": s["outage"]["total_households"],
        "roads": s["road_closure"]["closed"],
        "fires": s["fire"]["active"],
    }
