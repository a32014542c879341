"""Onboarding state per agency, for HQ: is the agency reachable and set up to report?

For each active agency: its talk room linked? the bot in it (from ``join``/``joined``
events, kept in ``Channel``)? members with and without LINE WORKS ids, web reporter
accounts, the last message and the last report, whether it is on another LINE WORKS tenant
(the bot cannot be in a room with external users, lineworks-api.md §9.3). Each problem
comes with the next step to take; agencies with problems come first.

A fixed number of queries, whatever the number of agencies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Max
from django.utils.translation import gettext as _

from agencies.models import Agency, Member
from lineworks.models import Channel, ChannelMember, DirectorySyncRun, InboundEvent
from reports.models import Report

PROBLEM, WARNING, OK, INFO = "problem", "warning", "ok", "info"
_ORDER = {PROBLEM: 0, WARNING: 1, OK: 2, INFO: 2}


@dataclass
class Finding:
    level: str
    text: str
    step: str = ""


@dataclass
class AgencyState:
    agency: Agency
    channel: Channel | None
    room_members: int
    members: int
    with_id: int
    without_id: int
    departed: int
    web_accounts: int
    last_message_at: datetime | None
    last_report_at: datetime | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def level(self) -> str:
        level = min((f.level for f in self.findings), key=_ORDER.__getitem__, default=OK)
        return OK if level == INFO else level

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.level in (PROBLEM, WARNING)]

    @property
    def next_step(self) -> str:
        """The step of the first problem (or warning); for a ready agency, an optional one."""
        return next((f.step for f in self.problems if f.step), "") or next(
            (f.step for f in self.findings if f.step), ""
        )

    @property
    def room_linked(self) -> bool:
        return bool(self.agency.lineworks_channel_id)

    @property
    def bot_joined(self) -> bool:
        return self.channel is not None and self.channel.bot_joined


def _assess(state: AgencyState) -> None:
    agency, add = state.agency, state.findings.append
    if agency.external_tenant:
        add(
            Finding(
                PROBLEM,
                _("外部テナントの機関です。ボットはこの機関のトークルームに入れません。"),
                _(
                    "連絡員に市のテナントのアカウントを発行してボットと1対1で報告してもらうか、"
                    "Webフォームで報告してもらってください。"
                ),
            )
        )
        if not state.web_accounts:
            add(
                Finding(
                    PROBLEM,
                    _("Web報告用のアカウントがありません。"),
                    _("報告者アカウントを作成し、パスワード設定の案内を送ってください。"),
                )
            )
        if not agency.contact_email:
            add(
                Finding(
                    WARNING,
                    _("通知用のメールアドレスが未登録です。通知はWebでのみ届きます。"),
                    _("管理画面で機関の連絡用メールアドレスを登録してください。"),
                )
            )
        if agency.lineworks_channel_id:
            add(
                Finding(
                    WARNING,
                    _("外部テナントの機関にトークルームが登録されています。"),
                    _(
                        "ボットは外部ユーザーのいるトークルームに参加できません。登録を外してください。"
                    ),
                )
            )
    else:
        if not agency.lineworks_channel_id:
            add(
                Finding(
                    PROBLEM,
                    _("トークルームが登録されていません。"),
                    _(
                        "LINE WORKSで機関のトークルームを作りボットを招待してから、"
                        "「未登録の送信者」でトークルームをこの機関に割り当ててください。"
                    ),
                )
            )
        elif state.channel is None or (
            state.channel.joined_at is None and not state.channel.bot_joined
        ):
            add(
                Finding(
                    PROBLEM,
                    _("ボットがトークルームに参加した記録がありません。"),
                    _("トークルームのメンバー追加からボットを招待してください。"),
                )
            )
        elif not state.channel.bot_joined:
            add(
                Finding(
                    PROBLEM,
                    _("ボットがトークルームから退出しています。"),
                    _("トークルームにボットをもう一度招待してください。"),
                )
            )
        if not state.with_id:
            add(
                Finding(
                    PROBLEM,
                    _("LINE WORKS IDのあるメンバーがいません。ボットは誰の報告か分かりません。"),
                    _(
                        "機関のLINE WORKSグループを設定してディレクトリ同期を実行するか、"
                        "「未登録の送信者」でIDを割り当ててください。"
                    ),
                )
            )
        if state.without_id:
            add(
                Finding(
                    WARNING,
                    _("LINE WORKS IDのないメンバーが%(n)d名います。") % {"n": state.without_id},
                    _("ディレクトリ同期で、メールアドレスが一致するメンバーにIDが付きます。"),
                )
            )
        if not (agency.lineworks_group_id or agency.lineworks_orgunit_id):
            # Members can also be registered by import or from unmatched senders.
            add(
                Finding(
                    INFO,
                    _("ディレクトリ同期の対象グループが未設定です。"),
                    _("管理画面で機関のLINE WORKSグループIDを登録してください。"),
                )
            )
        if state.last_message_at is None and state.last_report_at is None and state.bot_joined:
            add(
                Finding(
                    WARNING,
                    _("このトークルームからのメッセージがまだありません。"),
                    _("試験として「ヘルプ」と送ってもらい、ボットの返信を確かめてください。"),
                )
            )
    if not state.problems:
        state.findings.insert(0, Finding(OK, _("準備完了です。")))


def onboarding_states() -> list[AgencyState]:
    agencies = list(Agency.objects.filter(active=True).order_by("kind", "code"))
    channel_ids = [a.lineworks_channel_id for a in agencies if a.lineworks_channel_id]
    channels = {c.channel_id: c for c in Channel.objects.filter(channel_id__in=channel_ids)}
    room_counts: dict[str, int] = {}
    for channel_id in ChannelMember.objects.filter(
        channel__channel_id__in=channel_ids, active=True
    ).values_list("channel__channel_id", flat=True):
        room_counts[channel_id] = room_counts.get(channel_id, 0) + 1

    members: dict[int, list[dict[str, Any]]] = {}
    for row in Member.objects.values(
        "agency_id", "lineworks_user_id", "departed_at", "user__is_active", "user__password"
    ):
        members.setdefault(row["agency_id"], []).append(row)
    by_channel = dict(
        InboundEvent.objects.filter(source_channel_id__in=channel_ids)
        .values_list("source_channel_id")
        .annotate(last=Max("received_at"))
        .values_list("source_channel_id", "last")
    )
    lw_ids = [r["lineworks_user_id"] for rows in members.values() for r in rows]
    by_user = dict(
        InboundEvent.objects.filter(source_user_id__in=[i for i in lw_ids if i])
        .values_list("source_user_id")
        .annotate(last=Max("received_at"))
        .values_list("source_user_id", "last")
    )
    last_reports = dict(
        Report.objects.values_list("agency_id").annotate(last=Max("recorded_at")).order_by()
    )

    states = []
    for agency in agencies:
        rows = members.get(agency.pk, [])
        current = [r for r in rows if r["departed_at"] is None and r["user__is_active"]]
        times = [by_channel.get(agency.lineworks_channel_id)] if agency.lineworks_channel_id else []
        times += [by_user.get(r["lineworks_user_id"]) for r in current if r["lineworks_user_id"]]
        times = [t for t in times if t]
        state = AgencyState(
            agency=agency,
            channel=channels.get(agency.lineworks_channel_id),
            room_members=room_counts.get(agency.lineworks_channel_id, 0),
            members=len(current),
            with_id=sum(1 for r in current if r["lineworks_user_id"]),
            without_id=sum(1 for r in current if not r["lineworks_user_id"]),
            departed=len(rows) - len(current),
            web_accounts=sum(
                1
                for r in current
                if r["user__password"] and not r["user__password"].startswith("!")
            ),
            last_message_at=max(times) if times else None,
            last_report_at=last_reports.get(agency.pk),
        )
        _assess(state)
        states.append(state)
    states.sort(key=lambda s: (_ORDER[s.level], s.agency.kind, s.agency.code))
    return states


def last_sync_run() -> DirectorySyncRun | None:
    return DirectorySyncRun.objects.order_by("-started_at", "-id").first()
