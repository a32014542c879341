"""The bot's side of the conversation: what a callback means and what to answer.

``handle(event_row, payload, prefetched)`` runs inside the processing transaction (see
lineworks.services.inbound_process): it writes reports through reports.services, the replies
through the outbox, and returns the event's outcome. It never calls the network; the one
thing that needs it (a photo's bytes) is fetched before, by ``prefetch``.

Who is speaking: ``source.userId`` → agencies.Member.lineworks_user_id. The sender acts as
that member (design.md §8): reports are filed for the member's OWN agency, whatever room they
write in, and only when the member's role may report for it (``roles.can_report_for``); a
correction, withdrawal, photo or location changes a report only when the member may change
that report (own agency, or HQ). ``source.channelId`` must be a room the portal knows
(Agency.lineworks_channel_id), but it never decides whose report it is; a member writing in
another agency's room is told that the report was filed for their own agency. An unknown user
or room is stored as ``unmatched`` for HQ.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
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
from reports import review
from reports.categories import (
    CAUSE_LABELS,
    FIELD_NAMES,
    SCHEMAS,
    TREND_LABELS,
    Category,
    validate_fields,
)
from reports.categories import missing_required as missing_field_names
from reports.models import Report, ReportChannel, ReportStatus, ReviewReason, parse_number

logger = logging.getLogger(__name__)

# A correction whose text reads as another category changes the report's category only
# when the parser is at least this sure.
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
        """The agency the sender reports for: their own, never the room's."""
        assert self.member is not None
        return self.member.agency

    @property
    def in_other_agencys_room(self) -> bool:
        assert self.member is not None
        return self.channel_agency is not None and self.channel_agency.pk != self.member.agency_id

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


_UNMATCHED_REASONS = ("unknown_user", "unknown_channel", "inactive_user")


def _unmatched(event: InboundEvent, sender: Sender) -> Result:
    """Keep the message for HQ; tell the sender once (per user and room) that it waits."""
    # Told already: an earlier message of this user in this room waits, or is being processed
    # again after HQ assigned the user (or the room) and still cannot be matched.
    earlier = (
        InboundEvent.objects.filter(
            Q(status=InboundStatus.UNMATCHED)
            | Q(status=InboundStatus.RECEIVED, outcome__in=_UNMATCHED_REASONS),
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
    """Labels of the category's required fields left empty (reports.categories decides)."""
    labels = {f.name: str(f.label) for f in SCHEMAS.get(category, ())}
    return [labels[name] for name in missing_field_names(category, fields)]


def _review_note(report: Report) -> str | None:
    """The line telling the sender HQ will check the report, while it awaits review."""
    flag = review.pending_flags().filter(report_id=report.pk).first()
    if flag is None:
        return None
    reasons = "、".join(str(ReviewReason(r).label) for r in flag.reasons if r in ReviewReason)
    return _("【要確認】本部が内容を確認します（%(r)s）。") % {"r": reasons}


def _carry_fields(fields: dict[str, Any], category: str) -> dict[str, Any]:
    """The values of ``fields`` that ``category`` has too (an area stays the area when a
    water-level report becomes a fire report); none if they do not fit."""
    carried = {k: v for k, v in (fields or {}).items() if k in FIELD_NAMES.get(category, ())}
    try:
        return validate_fields(category, carried, require=False)
    except ValidationError:
        return {}


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
    note = _review_note(report)
    if note:
        lines.append(note)
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


def _row_id(text: str) -> int | None:
    """A row id in a postback: ASCII digits within bigint (``str.isdigit`` also accepts
    ``²`` and ``①``, which ``int`` refuses)."""
    if not (text.isascii() and text.isdecimal()) or len(text) > 18:
        return None
    return int(text)


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

    # --- who may do what (design.md §8: the sender acts as their member) ---

    def may_report(self) -> bool:
        """The member's role may file reports for the member's own agency."""
        return roles.can_report_for(self.sender.user, self.sender.agency)

    def _role(self) -> str:
        return roles.role_label(self.sender.user) or _("役割なし")

    def refuse_report(self) -> Result:
        self.reply(
            content.text(
                _(
                    "報告を登録できませんでした。あなたのアカウント（%(a)s・%(r)s）には報告を"
                    "登録する権限がありません。報告できるのは機関の報告者と本部のメンバーです。"
                    "本部に登録内容の確認を依頼してください。"
                )
                % {"a": self.sender.agency.name, "r": self._role()}
            )
        )
        return self.done("report:denied")

    def room_note(self) -> str:
        """Said with every filing from another agency's room: whose report it became."""
        if not self.sender.in_other_agencys_room:
            return ""
        return "\n" + _(
            "※このトークルームは「%(room)s」のものですが、報告はあなたの所属機関"
            "「%(own)s」の報告として登録しました。報告は常に送信者の所属機関の名義になります。"
        ) % {"room": self.sender.channel_agency.name, "own": self.sender.agency.name}

    def confirm(self, report: Report, *, heading: str | None = None) -> None:
        self.reply(
            content.text(_confirmation(report, heading=heading) + self.room_note()), report=report
        )

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
        if parts[0] == "report_category" and len(parts) == 3 and _row_id(parts[2]) is not None:
            return self.choose_report_category(parts[1], _row_id(parts[2]))
        if parts[0] == "category" and len(parts) == 3 and _row_id(parts[2]) is not None:
            return self.choose_category(parts[1], _row_id(parts[2]))
        if parts[0] == "notice_ack" and len(parts) == 2 and _row_id(parts[1]) is not None:
            return self.acknowledge_notice(_row_id(parts[1]))
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

    def _parse(self, text: str, agency: Agency | None = None) -> Any:
        from reports.parsing import SenderContext, parse

        agency = agency or self.sender.agency
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
        confidence: float | None = None,
        agency: Agency | None = None,
    ) -> tuple[Report, bool]:
        """Create the report for the sender's own agency (or ``agency``, which the caller has
        checked); if the fields do not validate, keep the words as ``general`` rather than
        lose them. Returns (report, filed_as_asked). report_submit checks the permission
        again and raises PermissionDenied if the sender may not report for the agency.

        ``confidence``: the parser's, when category and fields were read from the text (the
        report may be queued for HQ's review); None when a person chose them or there was
        no text to read (a photo, a location)."""
        from reports.services import report_submit

        if observed_at is None or observed_at > self.sent_at + FUTURE_TOLERANCE:
            observed_at = self.sent_at  # no time given, or "15時現在" sent at 14:55
        common = {
            "agency": agency or self.sender.agency,
            "author": self.sender.user,
            "text": text[:5000],
            "channel": ReportChannel.LINEWORKS,
            "source_ref": self.source_ref,
            "require_fields": False,
            "check_permission": True,
            "location": location,
        }
        try:
            report = report_submit(
                category=category,
                fields=fields,
                observed_at=observed_at,
                parsed_confidence=confidence,
                **common,
            )
            return report, True
        except ValidationError:
            logger.info("lineworks: parsed fields did not validate; filing as general")
            # What was read could not be stored: HQ reads the words (queued as unsure).
            report = report_submit(
                category=Category.GENERAL,
                fields={},
                observed_at=observed_at,
                parsed_confidence=None if confidence is None else 0.0,
                **common,
            )
            return report, False

    def report(self, text: str) -> Result:
        """File what the message says at once, so HQ sees it now. When the parser was unsure
        or a required field is missing, the report is marked 要確認 for HQ; the reply still
        reads back what was understood, and an unsure reading also gets buttons to pick the
        category (which correct the filed report)."""
        result = self._parse(text)
        if (
            result.category == Category.GENERAL
            and len(text) <= _CHAT_MAX
            and not re.search(r"\d", unicodedata.normalize("NFKC", text))
            and _CHAT_RE.search(text)
        ):
            return self.done("chat")
        if not self.may_report():
            return self.refuse_report()
        report, as_asked = self._file(
            category=result.category,
            fields=result.fields,
            text=text,
            observed_at=result.observed_at,
            confidence=result.confidence,
        )
        heading = None
        if not as_asked:
            heading = _(
                "受け付けました。受付番号 %(n)s（内容を読み取れなかったため「その他」として登録"
                "しました）"
            ) % {"n": report.number}
        contents = [content.text(_confirmation(report, heading=heading) + self.room_note())]
        unsure = not as_asked or result.confidence < settings.REPORT_REVIEW_CONFIDENCE
        if unsure:
            contents.append(self._category_buttons(report))
        self.reply(*contents, report=report)
        return self.done("report:review" if review.is_pending(report) else "report", report)

    def _category_buttons(self, report: Report) -> dict[str, Any]:
        """分類の選び直し: ``report_category:<code>:<report id>``, the filed category first."""
        current = report.current_revision.category
        order = [current] + [c for c in Category.values if c != current]
        actions = [
            content.message_action(
                str(Category(code).label), postback=f"report_category:{code}:{report.pk}"
            )
            for code in order
        ]
        actions.append(
            content.message_action(_("登録しない"), postback=f"report_category:none:{report.pk}")
        )
        question = _(
            "%(n)s は「%(c)s」として登録しました。分類が違う場合は選んでください。"
            "報告でなければ「登録しない」を押してください。"
        ) % {"n": report.number, "c": Category(current).label}
        return content.button_template(question, actions)

    def not_your_question(self, outcome: str) -> Result:
        """Category buttons are shown to the whole room: only the reporting agency's members
        (or HQ) may answer, and another agency learns nothing about the report."""
        self.reply(
            content.text(
                _(
                    "この確認は見つからないか、あなたの所属機関（%(a)s）の報告の確認では"
                    "ありません。分類を選べるのは、報告した機関のメンバーのみです。"
                )
                % {"a": self.sender.agency.name}
            )
        )
        return self.done(outcome)

    def choose_report_category(self, code: str, report_id: int) -> Result:
        """The sender picked a category for a report filed as unsure: a correction by the
        sender (HQ's review still decides), or 登録しない: a withdrawal."""
        from reports.services import report_correct, report_withdraw

        report = self._report_by_number(str(report_id))
        if report is None:
            return self.not_your_question("report_category:not_found")
        if report.status == ReportStatus.WITHDRAWN:
            self.reply(content.text(_("%(n)s はすでに取り消されています。") % {"n": report.number}))
            return self.done("report_category:withdrawn", report)
        if code == "none":
            report_withdraw(
                report=report,
                author=self.sender.user,
                reason="報告者が「登録しない」を選択",
                channel=ReportChannel.LINEWORKS,
                source_ref=self.source_ref,
                check_permission=True,
            )
            self.reply(
                content.text(
                    _(
                        "%(n)s を登録しないことにしました（取消）。"
                        "メッセージは記録として保存しています。"
                    )
                    % {"n": report.number}
                ),
                report=report,
            )
            return self.done("report_category:none", report)
        if code not in Category.values:
            self.reply(content.text(_("不明な分類です。")))
            return self.done("report_category:bad_category", report)
        current = report.current_revision
        if code == current.category:
            heading = _("%(n)s の分類は「%(c)s」のままです。") % {
                "n": report.number,
                "c": Category(code).label,
            }
            self.reply(content.text(_confirmation(report, heading=heading)), report=report)
            return self.done("report_category:same", report)
        report_correct(
            report=report,
            author=self.sender.user,
            reason="LINE WORKSでの分類の選択",
            channel=ReportChannel.LINEWORKS,
            category=code,
            fields=_carry_fields(current.fields, code),
            source_ref=self.source_ref,
            check_permission=True,
            require_fields=False,
        )
        report.refresh_from_db()
        heading = _("%(n)s の分類を「%(c)s」にしました（第%(v)s版）。") % {
            "n": report.number,
            "c": Category(code).label,
            "v": report.current_revision.number,
        }
        self.reply(content.text(_confirmation(report, heading=heading)), report=report)
        return self.done("report_category", report)

    def choose_category(self, code: str, draft_id: int) -> Result:
        """A button of a question asked before reports were filed at once (``category:<code>:
        <draft>``): drafts still open are filed as the sender chooses."""
        draft = (
            BotDraft.objects.select_for_update(of=("self",))
            .select_related("agency")
            .filter(pk=draft_id)
            .first()
        )
        # The question is answered by whoever wrote the message, or a colleague of the same
        # agency (the buttons are shown to the whole room); never by another agency's member.
        if draft is None or (
            draft.member_id != self.sender.member.pk
            and draft.agency_id != self.sender.member.agency_id
        ):
            return self.not_your_question("draft:not_found")
        if draft.status == DraftStatus.OPEN and not roles.can_report_for(
            self.sender.user, draft.agency
        ):
            return self.refuse_report()
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
        # The sender chose the category: only missing required fields can queue it.
        report, _as_asked = self._file(
            category=code,
            fields=fields,
            text=draft.text,
            observed_at=_aware(parsed.get("observed_at")),
            confidence=None if code == Category.GENERAL else 1.0,
            agency=draft.agency,
        )
        draft.status, draft.resolved_at, draft.report = DraftStatus.FILED, now, report
        draft.save(update_fields=["status", "resolved_at", "report"])
        self.confirm(report)
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

        if not self.may_report():
            return self.refuse_report()
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
                check_permission=True,
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
        self.reply(content.text(message + (self.room_note() if created else "")), report=report)
        return self.done("photo", report)

    def location(self, body: dict[str, Any]) -> Result:
        from reports.services import report_correct

        if not self.may_report():
            return self.refuse_report()
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
                    check_permission=True,
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
            message += self.room_note()
        self.reply(content.text(message), report=report)
        return self.done("location", report)

    # --- commands ---

    def _report_by_number(self, number: str) -> Report | None:
        """The report, if this sender may change it: the member's role may report for the
        report's agency (a reporter: their own agency only; HQ: any). The room the command
        was written in plays no part."""
        pk = parse_number(number)
        report = (
            Report.objects.select_related("current_revision", "agency").filter(pk=pk).first()
            if pk
            else None
        )
        if report is None or not roles.can_report_for(self.sender.user, report.agency):
            return None
        return report

    def _refuse_change(self, number: str, verb: str, outcome: str) -> Result:
        """Why a 訂正 or 取消 was refused. A report of another agency and a report that does
        not exist get the same answer, so a number tells nobody what another agency sent."""
        values = {"n": number.upper(), "v": verb, "a": self.sender.agency.name}
        if roles.is_hq(self.sender.user):
            message = _("報告 %(n)s が見つかりません。") % values
        elif not self.may_report():
            message = _(
                "報告 %(n)s を%(v)sする権限がありません。訂正・取消ができるのは機関の報告者と"
                "本部のメンバーです（あなたの役割: %(r)s）。"
            ) % {**values, "r": self._role()}
        else:
            message = (
                _(
                    "報告 %(n)s が見つからないか、%(v)sする権限がありません。"
                    "訂正・取消ができるのは、あなたの所属機関（%(a)s）の報告のみです。"
                )
                % values
            )
        self.reply(content.text(message))
        return self.done(outcome)

    def correct(self, number: str, body: str) -> Result:
        from reports.services import report_correct

        report = self._report_by_number(number)
        if report is None:
            return self._refuse_change(number, _("訂正"), "correct:not_found")
        current = report.current_revision
        result = self._parse(body, report.agency)
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
                check_permission=True,
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
            return self._refuse_change(number, _("取消"), "withdraw:not_found")
        try:
            report_withdraw(
                report=report,
                author=self.sender.user,
                reason=reason or "LINE WORKSから取消",
                channel=ReportChannel.LINEWORKS,
                source_ref=self.source_ref,
                check_permission=True,
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
        # The member's own agency; a draft kept from before reports followed the sender
        # rather than the room may name the room's agency, which the member cannot report for.
        agency = draft.agency
        if not roles.can_report_for(draft.member.user, agency):
            agency = draft.member.agency
        report = report_submit(
            agency=agency,
            author=draft.member.user,
            category=Category.GENERAL,
            fields={},
            text=draft.text,
            observed_at=sent_at(json.loads(event.body), event.received_at),
            channel=ReportChannel.LINEWORKS,
            source_ref=f"lineworks:inbound:{draft.inbound_event_id}",
            require_fields=False,
            check_permission=False,
            # nobody chose a category: HQ reads the words
            parsed_confidence=float((draft.parsed or {}).get("confidence") or 0.0),
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
    from kurashiki_dr import safejson

    try:
        payload = safejson.scrub_text(safejson.loads(body or "{}"))
    except ValueError:
        return ""
    if not isinstance(payload, dict):
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
