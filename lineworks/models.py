"""LINE WORKS rows: what came in (InboundEvent), what goes out (OutboundMessage), every API call
(ApiCall), the talk rooms the bot is in (Channel, ChannelMember) and the bot's open questions
(BotDraft).

Inbound and outbound rows are the durable queue: Celery only carries their ids, and the beat
sweep (lineworks.services.sweep) re-enqueues anything the broker lost.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class InboundStatus(models.TextChoices):
    RECEIVED = "received", _("未処理")
    DONE = "done", _("処理済み")
    UNMATCHED = "unmatched", _("送信者不明")
    IGNORED = "ignored", _("対象外")
    FAILED = "failed", _("処理失敗")


class InboundEvent(models.Model):
    """One verified callback, stored byte-for-byte before anything else happens.

    ``digest`` (SHA-256 of the raw body) is unique: LINE WORKS never resends, so an identical
    body is a replay or a proxy's duplicate and is stored once and processed once.
    """

    digest = models.CharField(max_length=64, unique=True)
    body = models.TextField(_("受信内容"))
    headers = models.JSONField(default=dict)
    received_at = models.DateTimeField(_("受信日時"))
    event_type = models.CharField(_("イベント"), max_length=32, blank=True, default="")
    source_user_id = models.CharField(max_length=128, blank=True, default="")
    source_channel_id = models.CharField(max_length=128, blank=True, default="")
    status = models.CharField(
        _("状態"), max_length=16, choices=InboundStatus.choices, default=InboundStatus.RECEIVED
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    outcome = models.CharField(_("処理結果"), max_length=64, blank=True, default="")
    report = models.ForeignKey(
        "reports.Report", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("LINE WORKS 受信イベント")
        verbose_name_plural = _("LINE WORKS 受信イベント")
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["status", "received_at"], name="lw_inbound_status_idx"),
            models.Index(fields=["source_user_id", "received_at"], name="lw_inbound_user_idx"),
        ]

    def __str__(self) -> str:
        return f"in#{self.pk} {self.event_type} {self.status}"


class OutboundStatus(models.TextChoices):
    PENDING = "pending", _("送信待ち")
    SENDING = "sending", _("送信中")
    SENT = "sent", _("送信済み")
    FAILED = "failed", _("送信失敗")


class OutboundKind(models.TextChoices):
    REPLY = "reply", _("ボットの返信")
    MIRROR = "mirror", _("本部への転送")
    NOTICE = "notice", _("通知")
    ANCHOR = "anchor", _("監査ログの公開")
    OTHER = "other", _("その他")


class OutboundMessage(models.Model):
    """A message to one user or one talk room: one or more content objects sent in order.

    pending → sending (claimed by one worker) → sent | failed; a transient failure goes back to
    pending with ``next_attempt_at``. ``parts_sent`` counts contents already accepted (201), so
    a retry continues where the last attempt stopped.
    """

    kind = models.CharField(_("種別"), max_length=16, choices=OutboundKind.choices)
    to_user_id = models.CharField(_("宛先ユーザー"), max_length=128, blank=True, default="")
    to_channel_id = models.CharField(_("宛先トークルーム"), max_length=128, blank=True, default="")
    contents = models.JSONField(_("内容"), default=list)
    parts_sent = models.PositiveIntegerField(default=0)
    status = models.CharField(
        _("状態"), max_length=16, choices=OutboundStatus.choices, default=OutboundStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("試行回数"), default=0)
    created_at = models.DateTimeField(_("作成日時"))
    next_attempt_at = models.DateTimeField(_("次の試行"))
    enqueued_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    sent_at = models.DateTimeField(_("送信日時"), null=True, blank=True)
    last_error = models.TextField(_("最後のエラー"), blank=True, default="")
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    # The delivery hook (e.g. the notice's delivery status) ran for the final state.
    finalized = models.BooleanField(default=False)
    inbound_event = models.ForeignKey(
        InboundEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="replies"
    )
    report = models.ForeignKey(
        "reports.Report", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    notice_recipient = models.ForeignKey(
        "notices.NoticeRecipient",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = _("LINE WORKS 送信メッセージ")
        verbose_name_plural = _("LINE WORKS 送信メッセージ")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="lw_outbound_due_idx"),
            models.Index(fields=["to_channel_id", "created_at"], name="lw_outbound_channel_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(to_user_id="") & ~Q(to_channel_id=""))
                | (~Q(to_user_id="") & Q(to_channel_id="")),
                name="lw_outbound_one_destination",
            )
        ]

    def __str__(self) -> str:
        return f"out#{self.pk} {self.kind} {self.status}"

    @property
    def destination(self) -> str:
        return f"channel:{self.to_channel_id}" if self.to_channel_id else f"user:{self.to_user_id}"

    @property
    def preview(self) -> str:
        for content in self.contents:
            text = content.get("text") or content.get("contentText") or content.get("altText")
            if text:
                return str(text)
        return str(self.contents[0].get("type", "")) if self.contents else ""


class ApiCall(models.Model):
    """One HTTP call to LINE WORKS: the endpoint template, never the token or the body."""

    at = models.DateTimeField(db_index=True)
    method = models.CharField(max_length=8)
    endpoint = models.CharField(max_length=200)
    status = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("LINE WORKS API呼び出し")
        verbose_name_plural = _("LINE WORKS API呼び出し")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.method} {self.endpoint} {self.status}"


class Channel(models.Model):
    """A talk room the bot is (or was) in, kept current from join/leave/joined/left/begin/end.

    The agency a room belongs to is ``Agency.lineworks_channel_id``; this row only records
    what LINE WORKS told us.
    """

    channel_id = models.CharField(_("トークルームID"), max_length=128, unique=True)
    title = models.CharField(_("名称"), max_length=1000, blank=True, default="")
    channel_type = models.CharField(_("種類"), max_length=32, blank=True, default="")
    bot_joined = models.BooleanField(_("ボット参加中"), default=True)
    joined_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = _("トークルーム")
        verbose_name_plural = _("トークルーム")
        ordering = ["channel_id"]

    def __str__(self) -> str:
        return self.title or self.channel_id


class ChannelMember(models.Model):
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="members")
    user_id = models.CharField(max_length=128)
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "user_id"], name="lw_channel_member_unique")
        ]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.user_id}"


class DraftStatus(models.TextChoices):
    OPEN = "open", _("確認待ち")
    FILED = "filed", _("登録済み")
    DISCARDED = "discarded", _("登録しない")


class BotDraft(models.Model):
    """A message the bot could not file with confidence: it asked the sender for the category
    and waits for a button press (``category:<code>:<draft id>``). The beat sweep files drafts
    nobody answered as ``general``, so a message is never lost."""

    inbound_event = models.OneToOneField(
        InboundEvent, on_delete=models.PROTECT, related_name="draft"
    )
    agency = models.ForeignKey("agencies.Agency", on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey("agencies.Member", on_delete=models.PROTECT, related_name="+")
    reply_user_id = models.CharField(max_length=128, blank=True, default="")
    reply_channel_id = models.CharField(max_length=128, blank=True, default="")
    text = models.TextField()
    parsed = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=DraftStatus.choices, default=DraftStatus.OPEN)
    created_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    report = models.ForeignKey(
        "reports.Report", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"], name="lw_draft_open_idx")]

    def __str__(self) -> str:
        return f"draft#{self.pk} {self.status}"


class DirectorySyncStatus(models.TextChoices):
    OK = "ok", _("成功")
    FAILED = "failed", _("失敗")


class DirectorySyncRun(models.Model):
    """One run of the directory sync (lineworks.directory): what LINE WORKS said and what the
    portal would change (``applied`` False: a dry run) or changed. HQ reads the latest one on
    the sync page; the nightly run reports its differences to HQ's talk room."""

    started_at = models.DateTimeField(_("開始日時"))
    finished_at = models.DateTimeField(_("終了日時"), null=True, blank=True)
    trigger = models.CharField(_("実行元"), max_length=16)  # command, web, beat
    applied = models.BooleanField(_("反映"), default=False)
    status = models.CharField(_("結果"), max_length=16, choices=DirectorySyncStatus.choices)
    summary = models.JSONField(_("差分"), default=dict)
    error = models.TextField(_("エラー"), blank=True, default="")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("ディレクトリ同期")
        verbose_name_plural = _("ディレクトリ同期")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"directory-sync#{self.pk} {self.status}"
