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
