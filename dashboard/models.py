"""The timeline (クロノロジー) read model.

One row per audit event that HQ follows in time order: reports, corrections, withdrawals,
photos, acknowledgements, incident changes, notices and their 了解. The audit log stays the
record; this table only copies what the timeline filters and shows (agency, category,
incident, a short summary), so a page is one indexed query at millions of reports. Rows are
written in the transaction of the audit event (see ``dashboard.timeline.project_event``).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from agencies.models import Agency
from audit.models import AuditEvent


class TimelineEntry(models.Model):
    # No database constraint: the audit log must stay verifiable on its own, including
    # when a verifier test or an investigator removes an event by SQL.
    event = models.OneToOneField(
        AuditEvent,
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    occurred_at = models.DateTimeField(_("日時"))
    action = models.CharField(_("操作"), max_length=64)
    actor_label = models.CharField(max_length=200, blank=True, default="")
    channel = models.CharField(max_length=16, blank=True, default="")
    agency = models.ForeignKey(
        Agency, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    category = models.CharField(max_length=32, blank=True, default="")
    report = models.ForeignKey(
        "reports.Report",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    revision_number = models.PositiveIntegerField(null=True, blank=True)
    incident = models.ForeignKey(
        "reports.Incident",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    notice = models.ForeignKey(
        "notices.Notice",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    # What the entry shows: a text excerpt, fields, title, status, reason (small).
    data = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("クロノロジー")
        verbose_name_plural = _("クロノロジー")
        ordering = ["-occurred_at", "-event_id"]
        indexes = [
            models.Index(fields=["-occurred_at", "-event"], name="timeline_time_idx"),
            models.Index(fields=["agency", "-occurred_at", "-event"], name="timeline_agency_idx"),
            models.Index(
                fields=["category", "-occurred_at", "-event"], name="timeline_category_idx"
            ),
            models.Index(
                fields=["incident", "-occurred_at", "-event"], name="timeline_incident_idx"
            ),
            models.Index(fields=["report"], name="timeline_report_idx"),
            models.Index(fields=["notice"], name="timeline_notice_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.action}"
