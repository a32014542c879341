"""The bot's side of the conversation: what a callback means and what to answer.

``handle(event_row, payload, prefetched)`` runs inside the processing transaction (see
lineworks.services.inbound_process): it writes reports through reports.services, the replies
through the outbox, and returns the event's outcome. It never calls the network; the one
thing that needs it (a photo's bytes) is fetched before, by ``prefetch``.

Who is speaking: ``source.userId`` → agencies.Member.lineworks_user_id (the report's author)
and ``source.channelId`` → Agency.lineworks_channel_id (the reporting agency; in a 1:1 talk,
the member's own agency). An unknown user or room is stored as ``unmatched`` for HQ.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from agencies import roles
from agencies.models import Agency, Member
from lineworks import content
from lineworks.client import Download, LineWorksClient, LineWorksError, get_client
from lineworks.models import (
    BotDraft,
    Channel,
    ChannelMember,
    DraftStatus,
    InboundEvent,
    InboundStatus,
    OutboundKind,
)
from lineworks.services import outbound_create
from reports.categories import CAUSE_LABELS, SCHEMAS, TREND_LABELS, Category
from reports.models import Report, ReportChannel, ReportStatus, parse_number

logger = logging.getLogger(__name__)

LOW_CONFIDENCE = 0.5
ATTACH_WINDOW = timedelta(minutes=30)
FUTURE_TOLERANCE = timedelta(minutes=5)

_HELP_WORDS = {"ヘルプ", "へるぷ", "help", "使い方", "つかいかた", "?", "？"}
_SITUATION_WORDS = {"状況", "状況確認", "現況"}
_CORRECT_RE = re.compile(
    r"^訂正\s*[:：]?\s*(?P<number>R-?\d{1,12}|\d{1,12})(?:\s+|\s*[:：]\s*)(?P<body>.+)$",
    re.IGNORECASE | re.DOTALL,
)
_CORRECT_BARE_RE = re.compile(r"^訂正(?:\s|$)")
_WITHDRAW_RE = re.compile(
    r"^(?:取消|取り消し|取消し)\s*[:：]?\s*(?P<number>R-?\d{1,12}|\d{1,12})(?:\s+(?P<reason>.+))?$",
    re.IGNORECASE | re.DOTALL,
)
_WITHDRAW_BARE_RE = re.compile(r"^(?:取消|取り消し|取消し)(?:\s|$)")
# Talk between people in the room (greetings, acknowledgements) is not a report: it is kept
# as an InboundEvent (the chronology) but the bot neither files nor answers it.
_CHAT_RE = re.compile(
    r"了解|承知|お疲れ|おつかれ|ありがと|有難う|よろしく|宜しく|おはよう|こんにちは|こんばんは"
    r"|失礼します|すみません|わかりました|分かりました|^(?:OK|ok|はい)[!！。]*$"
)
_CHAT_MAX = 40


@dataclass
class Result:
    status: str
    outcome: str
    report: Report | None = None


@dataclass
class Sender:
    user_id: str
    channel_id: str
    member: Member | None
    channel_agency: Agency | None

    @property
    def matched(self) -> bool:
        if self.member is None or not self.member.user.is_active:
            return False
        return not self.channel_id or self.channel_agency is not None

    @property
    def agency(self) -> Agency:
        assert self.member is not None
        return self.channel_agency or self.member.agency

    @property
    def user(self) -> Any:
        assert self.member is not None
        return self.member.user

    def destination(self) -> dict[str, str]:
        if self.channel_id:
            return {"channel_id": self.channel_id}
        return {"user_id": self.user_id}


@dataclass(frozen=True)
class Prefetched:
    download: Download | None = None
    error: str = ""


def _source(payload: dict[str, Any]) -> dict[str, Any]:
    source = payload.get("source")
    return source if isinstance(source, dict) else {}


def _content(payload: dict[str, Any]) -> dict[str, Any]:
    value = payload.get("content")
    return value if isinstance(value, dict) else {}


def prefetch(payload: dict[str, Any], *, client: LineWorksClient | None = None) -> Prefetched:
    """Network work before the transaction: download a sent image or file. A transient
    failure raises (the event is retried); a permanent one is handed to ``handle``."""
    if payload.get("type") != "message":
        return Prefetched()
    body = _content(payload)
    if body.get("type") not in ("image", "file") or not body.get("fileId"):
        return Prefetched()
    if not Member.objects.filter(lineworks_user_id=str(_source(payload).get("userId") or "")):
        return Prefetched()  # unmatched: download later, once HQ has assigned the sender
    try:
        download = (client or get_client()).download_attachment(str(body["fileId"]))
    except LineWorksError as exc:
        if not exc.permanent:
            raise
        return Prefetched(error=str(exc))
    return Prefetched(download=download)


def resolve_sender(payload: dict[str, Any]) -> Sender:
    source = _source(payload)
    user_id = str(source.get("userId") or "")
    channel_id = str(source.get("channelId") or "")
    member = (
        Member.objects.select_related("user", "agency").filter(lineworks_user_id=user_id).first()
        if user_id
        else None
    )
    agency = Agency.objects.filter(lineworks_channel_id=channel_id).first() if channel_id else None
    return Sender(user_id, channel_id, member, agency)


def handle(event: InboundEvent, payload: dict[str, Any], prefetched: Prefetched) -> Result:
    with translation.override("ja"):
        kind = payload.get("type")
        if kind in ("join", "leave", "joined", "left", "begin", "end"):
            return _membership(kind, payload)
        if kind not in ("message", "postback"):
            return Result(InboundStatus.IGNORED, f"ignored:{str(kind)[:40]}")
        sender = resolve_sender(payload)
        if not sender.matched:
            return _unmatched(event, sender)
        bot = Conversation(event, sender, payload)
        if kind == "postback":
            return bot.postback(str(payload.get("data") or ""))
        return bot.message(_content(payload), prefetched)


def _unmatched(event: InboundEvent, sender: Sender) -> Result:
    """Keep the message for HQ; tell the sender once (per user and room) that it waits."""
    earlier = (
        InboundEvent.objects.filter(
            status=InboundStatus.UNMATCHED,
            source_user_id=sender.user_id,
            source_channel_id=sender.channel_id,
        )
        .exclude(pk=event.pk)
        .exists()
    )
    if not earlier and sender.user_id:
        outbound_create(
            kind=OutboundKind.REPLY,
            contents=[
                content.text(
                    _(
                        "このアカウント（またはトークルーム）はまだ災害情報ポータルに登録"
                        "されていません。メッセージは保存しました。本部が登録を確認したあと"
                        "に受け付けます。"
                    )
                )
            ],
            inbound_event=event,
            **sender.destination(),
        )
    reason = "unknown_user" if sender.member is None else "unknown_channel"
    if sender.member is not None and not sender.member.user.is_active:
        reason = "inactive_user"
    return Result(InboundStatus.UNMATCHED, reason)


def _membership(kind: str, payload: dict[str, Any]) -> Result:
    """join/leave (the bot), joined/left (members), begin/end (a 1:1 talk)."""
    source = _source(payload)
    channel_id = str(source.get("channelId") or "")[:128]
    if not channel_id:
        return Result(InboundStatus.IGNORED, f"{kind}:no_channel")
    now = timezone.now()
    channel, _created = Channel.objects.get_or_create(
        channel_id=channel_id, defaults={"updated_at": now, "joined_at": now}
    )
    raw_members = payload.get("members")
    members = [str(m)[:128] for m in raw_members if m] if isinstance(raw_members, list) else []
    if kind in ("begin", "end"):
        channel.channel_type = "SINGLE_USER"
        if source.get("userId"):
            members = [str(source["userId"])[:128]]
    if kind in ("join", "begin"):
        channel.bot_joined, channel.joined_at, channel.left_at = True, now, None
    elif kind in ("leave", "end"):
        channel.bot_joined, channel.left_at = False, now
    channel.updated_at = now
    channel.save()
    active = kind in ("joined", "begin")
    for user_id in members:
        ChannelMember.objects.update_or_create(
            channel=channel, user_id=user_id, defaults={"active": active, "updated_at": now}
        )
    if kind == "leave":
        ChannelMember.objects.filter(channel=channel).update(active=False, updated_at=now)
    if kind == "join":
        from django.db import transaction

        from lineworks.tasks import sync_channel_task

        transaction.on_commit(lambda: _safe_delay(sync_channel_task, channel.pk))
    return Result(InboundStatus.DONE, kind)


def _safe_delay(task: Any, *args: Any) -> None:
    try:
        task.apply_async(args, retry=False)
    except Exception:
        logger.warning("lineworks: could not enqueue %s", task.name, exc_info=True)


def channel_sync(channel_pk: int, *, client: LineWorksClient | None = None) -> None:
    """Read a room's title, type and member list from LINE WORKS (after the bot joined)."""
    channel = Channel.objects.filter(pk=channel_pk).first()
    if channel is None or not channel.bot_joined:
        return
    client = client or get_client()
    info = client.get_channel(channel.channel_id)
    members = client.channel_members(channel.channel_id)
    now = timezone.now()
    channel_type = info.get("channelType") or {}
    Channel.objects.filter(pk=channel_pk).update(
        title=str(info.get("title") or "")[:1000],
        channel_type=str(channel_type.get("type") or "")[:32]
        if isinstance(channel_type, dict)
        else "",
        updated_at=now,
    )
    ChannelMember.objects.filter(channel_id=channel_pk).exclude(user_id__in=members).update(
        active=False, updated_at=now
    )
    for user_id in members:
        ChannelMember.objects.update_or_create(
            channel_id=channel_pk,
            user_id=user_id[:128],
            defaults={"active": True, "updated_at": now},
        )


# --- reading back ------------------------------------------------------------------------------


def _value(kind: str, name: str, value: Any) -> str | None:
    if value is None or value == []:
        return None
    if isinstance(value, bool):
        return _("はい") if value else _("いいえ")
    if name == "cause":
        return str(CAUSE_LABELS.get(value, value))
    if name == "trend":
        return str(TREND_LABELS.get(value, value))
    if kind == "areas":
        parts = []
        for item in value:
            households = item.get("households")
            suffix = (
                _("%(n)s世帯") % {"n": number_format(households, force_grouping=True)}
                if households is not None
                else ""
            )
            parts.append(f"{item.get('area')} {suffix}".strip())
        return "、".join(parts)
    if isinstance(value, int):
        return number_format(value, force_grouping=True)
    return str(value)


def fields_read_back(category: str, fields: dict[str, Any]) -> list[str]:
    lines = [_("分類: %(c)s") % {"c": Category(category).label}]
    for field in SCHEMAS.get(category, ()):
        shown = _value(field.kind, field.name, fields.get(field.name))
        lines.append(f"{field.label}: {shown if shown is not None else _('（不明）')}")
    return lines


def missing_required(category: str, fields: dict[str, Any]) -> list[str]:
    return [
        str(f.label)
        for f in SCHEMAS.get(category, ())
        if f.required and fields.get(f.name) in (None, [], "")
    ]


def _when(moment: datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local.month}/{local.day} {local:%H:%M}"


def _confirmation(report: Report, *, heading: str | None = None) -> str:
    revision = report.current_revision
    lines = [heading or _("受け付けました。受付番号 %(n)s") % {"n": report.number}]
    lines += fields_read_back(revision.category, revision.fields)
    lines.append(_("確認日時: %(t)s") % {"t": _when(revision.observed_at)})
    if revision.lat is not None:
        lines.append(_("位置: %(lat).5f, %(lng).5f") % {"lat": revision.lat, "lng": revision.lng})
    missing = missing_required(revision.category, revision.fields)
    if missing:
        lines.append(
            _("不足している項目: %(f)s。「訂正 %(n)s 〈内容〉」で補足してください。")
            % {"f": "、".join(missing), "n": report.number}
        )
    else:
        lines.append(
            _("訂正は「訂正 %(n)s 〈内容〉」、取消は「取消 %(n)s」と送ってください。")
            % {"n": report.number}
        )
    return "\n".join(lines)


def help_text() -> str:
    return "\n".join(
        [
            _("【災害情報ポータル ボットの使い方】"),
            _("・報告はそのまま書いて送ってください（例: 15時現在の避難者数 35名）。"),
            _("・写真や位置情報を送ると、30分以内のあなたの直前の報告に追加されます。"),
            _("・訂正 R-000123 〈内容〉 … 報告を訂正します。"),
            _("・取消 R-000123 〈理由〉 … 報告を取り消します。"),
            _("・状況 … 現在の状況の要約（本部のみ）。"),
            _("・ヘルプ … この説明を表示します。"),
        ]
    )


def situation_text() -> str:
    from reports.queries import situation_summary

    s = situation_summary()

    def n(value: int | None) -> str:
        return number_format(value or 0, force_grouping=True)

    lines = [_("【現在の状況】%(t)s 時点") % {"t": _when(s["as_of"])}]
    lines.append(
        _("避難者: 合計 %(total)s名（%(n)s施設）")
        % {"total": n(s["evacuees"]["total"]), "n": n(s["evacuees"]["reports"])}
    )
    lines.append(
        _("停電: %(h)s世帯（%(n)s地区）")
        % {"h": n(s["outage"]["total_households"]), "n": n(s["outage"]["reports"])}
    )
    lines.append(_("通行止め: %(n)s件") % {"n": n(s["road_closure"]["closed"])})
    lines.append(
        _("水位: 上昇 %(r)s地点、氾濫・浸水 %(f)s地点")
        % {"r": n(s["water_level"]["rising"]), "f": n(s["water_level"]["flooding"])}
    )
    medical = s["medical_capacity"]
    lines.append(
        _("医療機関: 受入可 %(a)s、受入不可 %(na)s、空き病床 %(b)s")
        % {
            "a": n(medical["accepting"]),
            "na": n(medical["not_accepting"]),
            "b": n(medical["beds_available"]),
        }
    )
    lines.append(
        _("火災: %(n)s件（避難指示 %(o)s件）")
        % {"n": n(s["fire"]["active"]), "o": n(s["fire"]["evacuation_orders"])}
    )
    lines.append(_("対応中のインシデント: %(n)s件") % {"n": n(s["incidents"]["open"])})
    silent = s["silent_agencies"]
    if silent:
        names = "、".join(a["name"] for a in silent[:5])
        more = _(" ほか%(n)s機関") % {"n": len(silent) - 5} if len(silent) > 5 else ""
        lines.append(
            _("報告が途絶えている機関: %(names)s%(more)s") % {"names": names, "more": more}
        )
    return "\n".join(lines)


def _only_facility(agency: Agency) -> str | None:
    names = list(agency.facilities.filter(active=True).values_list("name", flat=True)[:2])
    return names[0] if len(names) == 1 else None


def sent_at(payload: dict[str, Any], received_at: datetime) -> datetime:
    """``issuedTime`` (ISO 8601 UTC, with or without milliseconds), trusted only when it is
    close to when the portal received the event (clocks and replays)."""
    issued = _aware(str(payload.get("issuedTime") or "").replace("Z", "+00:00"))
    if issued is None or not (
        received_at - timedelta(days=1) <= issued <= received_at + FUTURE_TOLERANCE
    ):
        return received_at
    return min(issued, received_at)


def _aware(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = parse_datetime(value)
    if moment is None or timezone.is_naive(moment):
        return None
    return moment


# --- the conversation --------------------------------------------------------------------------


class Conversation:
    """One event from a known member: commands, reports, buttons, photos, locations."""

    def __init__(self, event: InboundEvent, sender: Sender, payload: dict[str, Any]) -> None:
        self.event = event
        self.sender = sender
        self.source_ref = f"lineworks:inbound:{event.pk}"
        # When the member wrote it: a message processed late (worker down) still reports
        # the time it was sent, not the time it was processed.
        self.sent_at = sent_at(payload, event.received_at)

    def reply(self, *contents: dict[str, Any], report: Report | None = None) -> None:
        outbound_create(
            kind=OutboundKind.REPLY,
            contents=list(contents),
            inbound_event=self.event,
            report=report,
            **self.sender.destination(),
        )

    def done(self, outcome: str, report: Report | None = None) -> Result:
        return Result(InboundStatus.DONE, outcome, report)

    # --- dispatch ---

    def message(self, body: dict[str, Any], prefetched: Prefetched) -> Result:
        postback = body.get("postback")
        if isinstance(postback, str) and postback:
            handled = self.postback(postback, fallback=False)
            if handled is not None:
                return handled
        kind = body.get("type")
        if kind == "text":
            return self.text(str(body.get("text") or ""))
        if kind in ("image", "file"):
            return self.photo(prefetched)
        if kind == "location":
            return self.location(body)
        return Result(InboundStatus.IGNORED, f"ignored:{str(kind)[:40]}")

    def postback(self, data: str, *, fallback: bool = True) -> Result | None:
        """``category:<code>:<draft>`` and ``notice_ack:<notice>``. Unknown data: ignored
        for a postback event, handled as the message's text for a message action."""
        parts = data.split(":")
        if parts[0] == "category" and len(parts) == 3 and parts[2].isdigit():
            return self.choose_category(parts[1], int(parts[2]))
        if parts[0] == "notice_ack" and len(parts) == 2 and parts[1].isdigit():
            return self.acknowledge_notice(int(parts[1]))
        if fallback:
            return Result(InboundStatus.IGNORED, "ignored:postback")
        return None

    def text(self, raw: str) -> Result:
        text = unicodedata.normalize("NFKC", raw).strip()
        if not text:
            return Result(InboundStatus.IGNORED, "ignored:empty")
        if text.lower() in _HELP_WORDS:
            self.reply(content.text(help_text()))
            return self.done("command:help")
        if text in _SITUATION_WORDS:
            return self.situation()
        match = _CORRECT_RE.match(text)
        if match:
            return self.correct(match["number"], match["body"].strip())
        if _CORRECT_BARE_RE.match(text):
            self.reply(
                content.text(_("訂正は「訂正 R-000123 〈正しい内容〉」の形で送ってください。"))
            )
            return self.done("command:correct_usage")
        match = _WITHDRAW_RE.match(text)
        if match:
            return self.withdraw(match["number"], (match["reason"] or "").strip())
        if _WITHDRAW_BARE_RE.match(text):
            self.reply(content.text(_("取消は「取消 R-000123 〈理由〉」の形で送ってください。")))
            return self.done("command:withdraw_usage")
        return self.report(raw.strip())

    # --- reports ---

    def _parse(self, text: str) -> Any:
        from reports.parsing import SenderContext, parse

        agency = self.sender.agency
        context = SenderContext(
            agency_kind=agency.kind, agency_name=agency.name, facility=_only_facility(agency)
        )
        return parse(text, context=context, now=timezone.localtime(self.sent_at))

    def _file(
        self,
        *,
        category: str,
        fields: dict[str, Any],
        text: str,
        observed_at: datetime | None,
        location: dict[str, float] | None = None,
    ) -> tuple[Report, bool]:
        """Create the report; if the fields do not validate, keep the words as ``general``
        rather than lose them. Returns (report, filed_as_asked)."""
        from reports.services import report_submit

        if observed_at is None or observed_at > self.sent_at + FUTURE_TOLERANCE:
            observed_at = self.sent_at  # no time given, or "15時現在" sent at 14:55
        common = {
            "agency": self.sender.agency,
            "author": self.sender.user,
            "text": text[:5000],
            "channel": ReportChannel.LINEWORKS,
            "source_ref": self.source_ref,
            "require_fields": False,
            "check_permission": False,
            "location": location,
        }
        try:
            report = report_submit(
                category=category, fields=fields, observed_at=observed_at, **common
            )
            return report, True
        except ValidationError:
            logger.info("lineworks: parsed fields did not validate; filing as general")
            report = report_submit(
                category=Category.GENERAL, fields={}, observed_at=observed_at, **common
            )
            return report, False

    def report(self, text: str) -> Result:
        result = self._parse(text)
        if (
            result.category == Category.GENERAL
            and len(text) <= _CHAT_MAX
            and not re.search(r"\d", unicodedata.normalize("NFKC", text))
            and _CHAT_RE.search(text)
        ):
            return self.done("chat")
        if result.confidence < LOW_CONFIDENCE or result.missing:
            return self.ask_category(text, result)
        report, as_asked = self._file(
            category=result.category,
            fields=result.fields,
            text=text,
            observed_at=result.observed_at,
        )
        heading = None
        if not as_asked:
            heading = _(
                "受け付けました。受付番号 %(n)s（内容を読み取れなかったため「その他」として登録"
                "しました）"
            ) % {"n": report.number}
        self.reply(content.text(_confirmation(report, heading=heading)), report=report)
        return self.done("report", report)

    def ask_category(self, text: str, result: Any) -> Result:
        draft = BotDraft.objects.create(
            inbound_event=self.event,
            agency=self.sender.agency,
            member=self.sender.member,
            reply_user_id="" if self.sender.channel_id else self.sender.user_id,
            reply_channel_id=self.sender.channel_id,
            text=text[:5000],
            parsed=result.to_json(),
            created_at=timezone.now(),
        )
        if result.missing and result.confidence >= LOW_CONFIDENCE:
            labels = [
                str(f.label) for f in SCHEMAS.get(result.category, ()) if f.name in result.missing
            ]
            question = _(
                "「%(c)s」の報告として読みましたが、%(f)s が読み取れませんでした。"
                "分類を選んでください（書き直して送り直すこともできます）。"
            ) % {"c": Category(result.category).label, "f": "、".join(labels)}
        else:
            question = _("報告の分類を判断できませんでした。分類を選んでください。")
        order = [result.category] + [c for c in Category.values if c != result.category]
        actions = [
            content.message_action(
                str(Category(code).label), postback=f"category:{code}:{draft.pk}"
            )
            for code in order
        ]
        actions.append(
            content.message_action(_("登録しない"), postback=f"category:none:{draft.pk}")
        )
        self.reply(content.button_template(question, actions))
        return self.done("question")

    def choose_category(self, code: str, draft_id: int) -> Result:
        draft = BotDraft.objects.select_for_update().filter(pk=draft_id).first()
        if draft is None or (
            draft.member_id != self.sender.member.pk and draft.agency_id != self.sender.agency.pk
        ):
            self.reply(content.text(_("この確認は見つかりませんでした。")))
            return self.done("draft:not_found")
        if draft.status != DraftStatus.OPEN:
            if draft.report_id:
                message = _("この報告はすでに登録されています（%(n)s）。") % {
                    "n": draft.report.number
                }
            else:
                message = _("この確認はすでに処理されています。")
            self.reply(content.text(message))
            return self.done("draft:already_resolved", draft.report)
        now = timezone.now()
        if code == "none":
            draft.status, draft.resolved_at = DraftStatus.DISCARDED, now
            draft.save(update_fields=["status", "resolved_at"])
            self.reply(
                content.text(_("登録しませんでした。メッセージは記録として保存しています。"))
            )
            return self.done("draft:discarded")
        if code not in Category.values:
            self.reply(content.text(_("不明な分類です。")))
            return self.done("draft:bad_category")
        parsed = draft.parsed or {}
        fields = (parsed.get("fields") or {}) if parsed.get("category") == code else {}
        report, _as_asked = self._file(
            category=code,
            fields=fields,
            text=draft.text,
            observed_at=_aware(parsed.get("observed_at")),
        )
        draft.status, draft.resolved_at, draft.report = DraftStatus.FILED, now, report
        draft.save(update_fields=["status", "resolved_at", "report"])
        self.reply(content.text(_confirmation(report)), report=report)
        return self.done("draft:filed", report)

    # --- photos and locations ---

    def _latest_report(self) -> Report | None:
        return (
            Report.objects.select_related("current_revision")
            .filter(
                author=self.sender.user,
                agency=self.sender.agency,
                recorded_at__gte=self.sent_at - ATTACH_WINDOW,
            )
            .exclude(status=ReportStatus.WITHDRAWN)
            .order_by("-recorded_at", "-id")
            .first()
        )

    def photo(self, prefetched: Prefetched) -> Result:
        from django.conf import settings

        from reports.photos import photo_check
        from reports.services import report_add_photo, sniff_image_type

        if prefetched.download is None:
            self.reply(content.text(_("写真を受け取れませんでした。もう一度送ってください。")))
            return self.done("photo:download_failed")
        data = prefetched.download.data
        content_type = sniff_image_type(data[:16])
        if content_type is None or len(data) > settings.PHOTO_MAX_BYTES:
            self.reply(
                content.text(_("受け付けられるのは画像（JPEG・PNG・GIF・WebP・HEIC）のみです。"))
            )
            return self.done("photo:not_image")
        try:
            photo_check(data, content_type)  # before a new report is opened for it
        except ValidationError as exc:
            self.reply(content.text(" ".join(exc.messages)))
            return self.done("photo:rejected")
        report = self._latest_report()
        created = report is None
        if report is None:
            report, _ok = self._file(
                category=Category.GENERAL, fields={}, text=_("（写真）"), observed_at=None
            )
        try:
            report_add_photo(
                report=report,
                data=prefetched.download.data,
                filename=prefetched.download.file_name,
                user=self.sender.user,
                channel=ReportChannel.LINEWORKS,
                source_ref=self.source_ref,
                check_permission=False,
            )
        except ValidationError as exc:
            self.reply(content.text(" ".join(exc.messages)))
            return self.done("photo:rejected", report)
        if created:
            message = _(
                "写真を新しい報告として受け付けました。受付番号 %(n)s\n"
                "説明は「訂正 %(n)s 〈内容〉」で追加できます。"
            ) % {"n": report.number}
        else:
            message = _("写真を %(n)s に追加しました。") % {"n": report.number}
        self.reply(content.text(message), report=report)
        return self.done("photo", report)

    def location(self, body: dict[str, Any]) -> Result:
        from reports.services import report_correct

        try:
            point = {"lat": float(body["latitude"]), "lng": float(body["longitude"])}
        except (KeyError, TypeError, ValueError):
            self.reply(content.text(_("位置情報を読み取れませんでした。")))
            return self.done("location:invalid")
        address = str(body.get("address") or body.get("title") or "")[:200]
        report = self._latest_report()
        if report is not None:
            try:
                report_correct(
                    report=report,
                    author=self.sender.user,
                    reason="位置情報の追加",
                    channel=ReportChannel.LINEWORKS,
                    location=point,
                    source_ref=self.source_ref,
                    check_permission=False,
                    require_fields=False,
                )
            except ValidationError as exc:
                self.reply(content.text(" ".join(exc.messages)))
                return self.done("location:rejected", report)
            message = _("位置情報を %(n)s に追加しました。") % {"n": report.number}
        else:
            report, _ok = self._file(
                category=Category.GENERAL,
                fields={},
                text=_("位置情報: %(a)s") % {"a": address} if address else _("（位置情報）"),
                observed_at=None,
                location=point,
            )
            message = _(
                "位置情報を新しい報告として受け付けました。受付番号 %(n)s\n"
                "内容は「訂正 %(n)s 〈内容〉」で追加できます。"
            ) % {"n": report.number}
        self.reply(content.text(message), report=report)
        return self.done("location", report)

    # --- commands ---

    def _report_by_number(self, number: str) -> Report | None:
        """The report, if this sender may change it (own agency, or HQ)."""
        pk = parse_number(number)
        report = (
            Report.objects.select_related("current_revision", "agency").filter(pk=pk).first()
            if pk
            else None
        )
        if report is None:
            return None
        own = {self.sender.agency.pk, self.sender.member.agency_id}
        if report.agency_id in own or roles.is_hq(self.sender.user):
            return report
        return None

    def correct(self, number: str, body: str) -> Result:
        from reports.services import report_correct

        report = self._report_by_number(number)
        if report is None:
            self.reply(
                content.text(
                    _("報告 %(n)s が見つからないか、訂正する権限がありません。")
                    % {"n": number.upper()}
                )
            )
            return self.done("correct:not_found")
        current = report.current_revision
        result = self._parse(body)
        if result.category == current.category:
            fields = {**current.fields}
            fields.update({k: v for k, v in result.fields.items() if v not in (None, [], "")})
            category = current.category
        elif result.category != Category.GENERAL and result.confidence >= LOW_CONFIDENCE:
            category, fields = result.category, result.fields
        else:
            category, fields = current.category, current.fields
        observed_at = result.observed_at
        if observed_at is not None and observed_at > self.sent_at + FUTURE_TOLERANCE:
            observed_at = None
        try:
            report_correct(
                report=report,
                author=self.sender.user,
                reason="LINE WORKSからの訂正",
                channel=ReportChannel.LINEWORKS,
                category=category,
                fields=fields,
                text=body,
                observed_at=observed_at,
                source_ref=self.source_ref,
                check_permission=False,
                require_fields=False,
            )
        except (ValidationError, PermissionDenied) as exc:
            messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            self.reply(content.text(_("訂正できませんでした: %(e)s") % {"e": " ".join(messages)}))
            return self.done("correct:rejected", report)
        report.refresh_from_db()
        heading = _("%(n)s を訂正しました（第%(v)s版）。") % {
            "n": report.number,
            "v": report.current_revision.number,
        }
        self.reply(content.text(_confirmation(report, heading=heading)), report=report)
        return self.done("correct", report)

    def withdraw(self, number: str, reason: str) -> Result:
        from reports.services import report_withdraw

        report = self._report_by_number(number)
        if report is None:
            self.reply(
                content.text(
                    _("報告 %(n)s が見つからないか、取り消す権限がありません。")
                    % {"n": number.upper()}
                )
            )
            return self.done("withdraw:not_found")
        try:
            report_withdraw(
                report=report,
                author=self.sender.user,
                reason=reason or "LINE WORKSから取消",
                channel=ReportChannel.LINEWORKS,
                source_ref=self.source_ref,
                check_permission=False,
            )
        except (ValidationError, PermissionDenied) as exc:
            messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            self.reply(content.text(_("取り消せませんでした: %(e)s") % {"e": " ".join(messages)}))
            return self.done("withdraw:rejected", report)
        self.reply(
            content.text(_("%(n)s を取り消しました。") % {"n": report.number}), report=report
        )
        return self.done("withdraw", report)

    def situation(self) -> Result:
        if not roles.is_hq(self.sender.user):
            self.reply(content.text(_("「状況」は本部のメンバーのみ利用できます。")))
            return self.done("command:situation_denied")
        self.reply(content.text(situation_text()))
        return self.done("command:situation")

    def acknowledge_notice(self, notice_id: int) -> Result:
        from notices.models import Notice
        from notices.services import notice_acknowledge

        notice = Notice.objects.filter(pk=notice_id).first()
        recipient = None
        if notice is not None:
            recipient = notice_acknowledge(
                notice=notice,
                agency=self.sender.member.agency,
                user=self.sender.user,
                via="lineworks",
            )
        if recipient is None:
            self.reply(
                content.text(_("この通知の宛先機関のメンバーではないため、記録できません。"))
            )
            return self.done("notice_ack:not_recipient")
        self.reply(
            content.text(
                _("「%(t)s」の了解を記録しました（%(a)s）。")
                % {"t": notice.title, "a": self.sender.member.agency.name}
            )
        )
        return self.done("notice_ack")


def draft_expire(draft_id: int) -> bool:
    """File a draft nobody answered as ``general`` (its words must reach HQ). Called by the
    sweep; safe to call twice."""
    from django.db import transaction

    from reports.services import report_submit

    with transaction.atomic(), translation.override("ja"):
        draft = (
            BotDraft.objects.select_for_update(skip_locked=True)
            .select_related("member__user", "agency", "inbound_event")
            .filter(pk=draft_id, status=DraftStatus.OPEN)
            .first()
        )
        if draft is None:
            return False
        event = draft.inbound_event
        report = report_submit(
            agency=draft.agency,
            author=draft.member.user,
            category=Category.GENERAL,
            fields={},
            text=draft.text,
            observed_at=sent_at(json.loads(event.body), event.received_at),
            channel=ReportChannel.LINEWORKS,
            source_ref=f"lineworks:inbound:{draft.inbound_event_id}",
            require_fields=False,
            check_permission=False,
        )
        draft.status, draft.resolved_at, draft.report = (
            DraftStatus.FILED,
            timezone.now(),
            report,
        )
        draft.save(update_fields=["status", "resolved_at", "report"])
        destination = (
            {"channel_id": draft.reply_channel_id}
            if draft.reply_channel_id
            else {"user_id": draft.reply_user_id}
        )
        outbound_create(
            kind=OutboundKind.REPLY,
            contents=[
                content.text(
                    _(
                        "分類の選択がなかったため「その他」として登録しました。受付番号 %(n)s\n"
                        "「訂正 %(n)s 〈内容〉」で訂正できます。"
                    )
                    % {"n": report.number}
                )
            ],
            inbound_event=draft.inbound_event,
            report=report,
            **destination,
        )
    return True


def unmatched_summary() -> list[dict[str, Any]]:
    """Unmatched senders for HQ: one row per (user, room), with counts and the last text."""
    from django.db.models import Count, Max, Min

    rows = (
        InboundEvent.objects.filter(status=InboundStatus.UNMATCHED)
        .values("source_user_id", "source_channel_id")
        .annotate(count=Count("id"), first=Min("received_at"), last=Max("received_at"))
        .order_by("-last")
    )
    result = []
    for row in rows[:200]:
        sample = (
            InboundEvent.objects.filter(
                status=InboundStatus.UNMATCHED,
                source_user_id=row["source_user_id"],
                source_channel_id=row["source_channel_id"],
            )
            .order_by("-received_at")
            .values_list("body", flat=True)
            .first()
        )
        result.append({**row, "sample": _sample_text(sample)})
    return result


def _sample_text(body: str | None) -> str:
    try:
        payload = json.loads(body or "{}")
    except ValueError:
        return ""
    body_content = _content(payload)
    kind = body_content.get("type")
    if kind == "text":
        return str(body_content.get("text") or "")[:200]
    return f"[{kind or payload.get('type')}]"


def unlinked_channels() -> list[Channel]:
    """Rooms the bot is in that no agency claims."""
    linked = Agency.objects.exclude(lineworks_channel_id="").values("lineworks_channel_id")
    return list(
        Channel.objects.filter(bot_joined=True)
        .exclude(Q(channel_id__in=linked) | Q(channel_type="SINGLE_USER"))
        .order_by("-updated_at")[:100]
    )
