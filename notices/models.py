"""Notices: orders and information HQ sends out (参集命令, 派遣要請, 周知, reminders).

A notice is not a report. It goes to agencies' LINE WORKS talks through the outbox; each
recipient agency's delivery and acknowledgement (了解) is tracked on NoticeRecipient.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from agencies.models import Agency


class NoticeKind(models.TextChoices):
    MUSTER = "muster", _("参集命令")
    DISPATCH_REQUEST = "dispatch_request", _("派遣要請")
    INFO = "info", _("周知")
    REMINDER = "reminder", _("報告督促")


class Notice(models.Model):
    kind = models.CharField(_("種別"), max_length=32, choices=NoticeKind.choices)
    title = models.CharField(_("件名"), max_length=200)
    body = models.TextField(_("本文"))
    incident = models.ForeignKey(
        "reports.Incident", null=True, blank=True, on_delete=models.PROTECT, related_name="notices"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("発信日時"), db_index=True)

    class Meta:
        verbose_name = _("通知")
        verbose_name_plural = _("通知")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.title}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("送信待ち")
    SENT = "sent", _("送信済み")
    FAILED = "failed", _("送信失敗")
    NO_CHANNEL = "no_channel", _("連絡先なし")
    EMAILED = "emailed", _("メール送信済み")


class NoticeRecipient(models.Model):
    notice = models.ForeignKey(Notice, on_delete=models.PROTECT, related_name="recipients")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+")
    delivery_status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivery_error = models.CharField(max_length=500, blank=True, default="")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_via = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["notice", "agency"], name="notice_unique_recipient")
        ]
        ordering = ["agency__kind", "agency__code"]

    def __str__(self) -> str:
        return f"{self.notice_id}→{self.agency_id}"
