"""Reports, their revisions, photos, incidents, and the subject registry behind the situation.

Content is append-only: a Report holds identity and workflow state (status, incident link,
pointer to its current revision); everything a reporter said lives in ReportRevision rows,
which are never updated or deleted. See reports/services.py for the only write paths.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from agencies.models import Agency, District, Facility
from reports.categories import Category


class ReportChannel(models.TextChoices):
    WEB = "web", _("Web")
    LINEWORKS = "lineworks", _("LINE WORKS")
    API = "api", _("API")


class ReportStatus(models.TextChoices):
    NEW = "new", _("新規")
    ACKNOWLEDGED = "acknowledged", _("確認済み")
    CLOSED = "closed", _("完了")
    WITHDRAWN = "withdrawn", _("取消")


class RevisionKind(models.TextChoices):
    ORIGINAL = "original", _("初報")
    CORRECTION = "correction", _("訂正")
    WITHDRAWAL = "withdrawal", _("取消")


class ReviewKind(models.TextChoices):
    FLAGGED = "flagged", _("要確認")
    FIXED = "fixed", _("本部で修正")
    CONFIRMED = "confirmed", _("このまま確定")


class ReviewReason(models.TextChoices):
    LOW_CONFIDENCE = "low_confidence", _("信頼度が低い")
    MISSING_FIELDS = "missing_fields", _("必須項目なし")


class IncidentStatus(models.TextChoices):
    OPEN = "open", _("対応中")
    MONITORING = "monitoring", _("監視中")
    CLOSED = "closed", _("終了")


class Incident(models.Model):
    title = models.CharField(_("件名"), max_length=200)
    description = models.TextField(_("概要"), blank=True, default="")
    status = models.CharField(
        _("状態"), max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.OPEN
    )
    district = models.ForeignKey(
        District, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("地区")
    )
    lat = models.FloatField(_("緯度"), null=True, blank=True)
    lng = models.FloatField(_("経度"), null=True, blank=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    opened_at = models.DateTimeField(_("開始"))
    updated_at = models.DateTimeField(_("更新"))
    closed_at = models.DateTimeField(_("終了"), null=True, blank=True)

    class Meta:
        verbose_name = _("インシデント")
        verbose_name_plural = _("インシデント")
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["status", "-opened_at"])]

    def __str__(self) -> str:
        return f"I-{self.pk:04d} {self.title}"


class Subject(models.Model):
    """What a situation figure is about: a shelter, a district's power, a road, a gauge.

    One row per (category, key). The situation query walks this registry and takes the
    latest observation of each subject through an index (a loose index scan), which stays
    fast at millions of reports.
    """

    category = models.CharField(max_length=32, choices=Category.choices)
    key = models.CharField(max_length=300)
    label = models.CharField(max_length=300)
    facility = models.ForeignKey(Facility, null=True, blank=True, on_delete=models.PROTECT)
    district = models.ForeignKey(District, null=True, blank=True, on_delete=models.PROTECT)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["category", "key"], name="subject_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.category}:{self.label}"


class Report(models.Model):
    agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="reports", verbose_name=_("機関")
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reports",
        verbose_name=_("報告者"),
    )
    channel = models.CharField(_("経路"), max_length=16, choices=ReportChannel.choices)
    # Mirrors the current revision, so lists and filters need no join.
    category = models.CharField(_("分類"), max_length=32, choices=Category.choices)
    incident = models.ForeignKey(
        Incident,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reports",
        verbose_name=_("インシデント"),
    )
    status = models.CharField(
        _("状態"), max_length=16, choices=ReportStatus.choices, default=ReportStatus.NEW
    )
    current_revision = models.OneToOneField(
        "ReportRevision", null=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(_("受付日時"))
    observed_at = models.DateTimeField(_("発生・確認日時"))
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("報告")
        verbose_name_plural = _("報告")
        ordering = ["-recorded_at", "-id"]
        indexes = [
            models.Index(fields=["agency", "-recorded_at"]),
            models.Index(fields=["category", "-recorded_at"]),
            models.Index(fields=["-recorded_at", "-id"]),
            models.Index(fields=["incident", "-recorded_at"]),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def number(self) -> str:
        """The receipt number people quote (R-000123): stable, derived from the id."""
        return format_number(self.pk)


def format_number(pk: int) -> str:
    return f"R-{pk:06d}"


# Full-width digits, R and hyphens as typed on a Japanese keyboard (not other digit forms).
_FULL_WIDTH = str.maketrans("０１２３４５６７８９Ｒｒ－‐−", "0123456789Rr---")


def parse_number(value: str) -> int | None:
    """A receipt number (``R-000123``, ``r123``, ``123``, full-width ``Ｒ－０００１２３``) as the
    report id, or None. Only ASCII digits count once full-width ones are read as such:
    ``str.isdigit`` also accepts ``²`` and ``①``, which ``int`` refuses."""
    value = value.translate(_FULL_WIDTH).strip().upper().removeprefix("R-").removeprefix("R")
    if not (value.isascii() and value.isdecimal()) or len(value) > 12:
        return None
    return int(value)


class ReportRevision(models.Model):
    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="revisions")
    number = models.PositiveIntegerField(_("版"))
    kind = models.CharField(_("種別"), max_length=16, choices=RevisionKind.choices)
    category = models.CharField(_("分類"), max_length=32, choices=Category.choices)
    fields = models.JSONField(_("項目"), default=dict)
    text = models.TextField(_("本文"), blank=True, default="")
    lat = models.FloatField(_("緯度"), null=True, blank=True)
    lng = models.FloatField(_("経度"), null=True, blank=True)
    facility = models.ForeignKey(Facility, null=True, blank=True, on_delete=models.PROTECT)
    district = models.ForeignKey(District, null=True, blank=True, on_delete=models.PROTECT)
    observed_at = models.DateTimeField(_("発生・確認日時"))
    recorded_at = models.DateTimeField(_("記録日時"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    channel = models.CharField(_("経路"), max_length=16, choices=ReportChannel.choices)
    reason = models.TextField(_("訂正・取消の理由"), blank=True, default="")
    # Where the revision came from outside the portal, e.g. "lineworks:inbound:123".
    source_ref = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        verbose_name = _("報告の版")
        verbose_name_plural = _("報告の版")
        ordering = ["report_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["report", "number"], name="revision_unique_number")
        ]

    def __str__(self) -> str:
        return f"{format_number(self.report_id)} v{self.number}"

    @property
    def location(self) -> dict[str, float] | None:
        if self.lat is None or self.lng is None:
            return None
        return {"lat": self.lat, "lng": self.lng}


class Observation(models.Model):
    """One revision's statement about one subject: the rows the situation query reads.

    Written with the revision in one transaction. ``superseded_at`` is set (once) when a later
    revision of the same report replaces this statement, so "as of T" sees exactly the
    revisions that were current at T. ``closed`` marks an all-clear, which drops the subject
    out of the situation.
    """

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="observations")
    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="+")
    revision = models.ForeignKey(ReportRevision, on_delete=models.PROTECT, related_name="+")
    observed_at = models.DateTimeField()
    recorded_at = models.DateTimeField()
    superseded_at = models.DateTimeField(null=True, blank=True)
    values = models.JSONField(default=dict)
    closed = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["subject", "-observed_at", "-id"], name="observation_latest_idx"),
            models.Index(fields=["report"], name="observation_report_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.subject_id}@{self.observed_at:%Y-%m-%d %H:%M}"


def photo_path(instance: Photo, filename: str) -> str:
    return f"photos/{instance.report_id}/{instance.sha256[:16]}{_ext(filename)}"


def _ext(filename: str) -> str:
    dot = filename.rfind(".")
    ext = filename[dot:].lower() if dot >= 0 else ""
    return ext if ext in {".jpg", ".jpeg", ".png", ".webp", ".gif", ".heic"} else ".bin"


#: Formats the portal decodes to make the display copy and thumbnail (reports/photos.py).
#: HEIC is kept as sent but not decoded: its pages offer the original for download only.
PREVIEWABLE_PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


class Photo(models.Model):
    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="photos")
    revision = models.ForeignKey(
        ReportRevision, null=True, blank=True, on_delete=models.PROTECT, related_name="photos"
    )
    image = models.FileField(_("写真"), upload_to=photo_path)
    content_type = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField()
    channel = models.CharField(max_length=16, choices=ReportChannel.choices)
    source_ref = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        verbose_name = _("写真")
        verbose_name_plural = _("写真")
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.image.name

    @property
    def has_preview(self) -> bool:
        return self.content_type in PREVIEWABLE_PHOTO_TYPES


class ReportReview(models.Model):
    """One step of HQ's review of a report read from free text (要確認 → 本部確認).

    Append-only, like revisions: ``flagged`` is written with the report when the parser was
    unsure or the category's required fields are missing; ``fixed`` (with the correction
    revision HQ wrote) or ``confirmed`` (content left as it is) records HQ's decision. A
    report awaits review while its latest step is ``flagged``. Every row is an audited record
    (its snapshot's digest is in the audit chain), so ``verify_audit_chain`` notices a row
    edited, deleted or inserted by SQL.
    """

    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="reviews")
    revision = models.ForeignKey(ReportRevision, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("種別"), max_length=16, choices=ReviewKind.choices)
    # Why it was queued (flagged only): ReviewReason values, and the missing field names.
    reasons = models.JSONField(default=list)
    missing = models.JSONField(default=list)
    confidence = models.FloatField(_("信頼度"), null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    channel = models.CharField(_("経路"), max_length=16, choices=ReportChannel.choices)
    recorded_at = models.DateTimeField(_("記録日時"))

    class Meta:
        verbose_name = _("本部確認")
        verbose_name_plural = _("本部確認")
        ordering = ["report_id", "id"]
        indexes = [
            models.Index(fields=["report", "-id"], name="review_latest_idx"),
            models.Index(
                fields=["recorded_at"],
                name="review_flagged_idx",
                condition=models.Q(kind="flagged"),
            ),
        ]

    def __str__(self) -> str:
        return f"{format_number(self.report_id)} {self.kind}"
