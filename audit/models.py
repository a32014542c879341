"""The append-only, hash-chained audit log.

Each event's ``hash`` is SHA-256 over ``prev_hash`` and the event's canonical JSON (see
``audit.chain.canonical``), so editing, deleting or reordering any row breaks the chain from
that row on. Rows are written only by ``audit.services.audit_record`` inside the transaction
of the change they record.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(_("日時"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("実行者"),
    )
    # A snapshot, so the record stays readable if the user is later renamed.
    actor_label = models.CharField(_("実行者名"), max_length=200, blank=True, default="")
    action = models.CharField(_("操作"), max_length=64, db_index=True)
    object_type = models.CharField(_("対象種別"), max_length=64, blank=True, default="")
    object_id = models.CharField(_("対象ID"), max_length=64, blank=True, default="")
    channel = models.CharField(_("経路"), max_length=16, blank=True, default="")
    payload = models.JSONField(_("内容"), default=dict)
    payload_digest = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name = _("監査イベント")
        verbose_name_plural = _("監査イベント")
        ordering = ["id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.object_type}:{self.object_id}"


class AnchorTrigger(models.TextChoices):
    SCHEDULE = "schedule", _("定時")
    MANUAL = "manual", _("手動")
    COMMAND = "command", _("コマンド")


class ChainAnchor(models.Model):
    """A published chain head: "event #N had hash H". Append-only.

    The same text goes to HQ's LINE WORKS talk (through the outbox), where the portal's
    database cannot change it. Kept here, in a table apart from the events, so that
    ``verify_audit_chain`` can compare: rewriting the whole chain (recomputing every hash)
    makes the head at #N differ from the hash published for #N. Someone who can write to the
    database can rewrite this table too; the copy in LINE WORKS is what they cannot reach.
    """

    head_id = models.BigIntegerField(_("対象イベント番号"), db_index=True)
    head_hash = models.CharField(_("先頭ハッシュ"), max_length=64)
    created_at = models.DateTimeField(_("公開日時"), db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("実行者"),
    )
    trigger = models.CharField(
        _("契機"), max_length=16, choices=AnchorTrigger.choices, default=AnchorTrigger.SCHEDULE
    )
    text = models.TextField(_("公開文"))

    class Meta:
        verbose_name = _("公開ハッシュ")
        verbose_name_plural = _("公開ハッシュ")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"#{self.head_id} {self.head_hash[:12]}"


class ChainVerification(models.Model):
    """One run of the chain verification (command, schedule or an auditor's button)."""

    started_at = models.DateTimeField(_("開始"), db_index=True)
    finished_at = models.DateTimeField(_("終了"), null=True, blank=True)
    ok = models.BooleanField(_("結果"), null=True)
    events = models.BigIntegerField(_("イベント数"), default=0)
    head_id = models.BigIntegerField(_("検証済み先頭"), null=True, blank=True)
    head_hash = models.CharField(_("先頭ハッシュ"), max_length=64, blank=True, default="")
    anchors_checked = models.IntegerField(_("照合した公開ハッシュ"), default=0)
    records_checked = models.BigIntegerField(_("照合した記録"), default=0)
    problem_event_id = models.BigIntegerField(null=True, blank=True)
    problem = models.TextField(_("問題"), blank=True, default="")
    trigger = models.CharField(
        _("契機"), max_length=16, choices=AnchorTrigger.choices, default=AnchorTrigger.SCHEDULE
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("実行者"),
    )

    class Meta:
        verbose_name = _("改ざん検証")
        verbose_name_plural = _("改ざん検証")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} {'OK' if self.ok else 'NG'}"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
