"""HQ's review queue (要確認): reports read from free text that a person should look at.

A report is queued when the channel that filed it read its content from free text (the
LINE WORKS bot parses every message; the web form and the API take fields a person or an
agency system entered one by one, so they are never queued) and either the parser's
confidence is below ``settings.REPORT_REVIEW_CONFIDENCE`` or a field the category requires
(``reports.categories.missing_required``) is empty.

The state lives in ``ReportReview`` rows, append-only and audited (see the model): a report
awaits review while its latest review row is ``flagged`` and it has not been withdrawn. HQ's
decision is a new row, ``fixed`` (with the 本部確認 revision) or ``confirmed``. The writes are
in ``reports.services`` (``report_submit(parsed_confidence=...)``, ``report_review_fix``,
``report_review_confirm``); this module decides and reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext as _

from reports.categories import SCHEMAS, missing_required
from reports.models import (
    Report,
    ReportReview,
    ReportRevision,
    ReportStatus,
    ReviewKind,
    ReviewReason,
    RevisionKind,
)

REVIEW_REASON = "本部確認"  # the reason of HQ's correction revision (kept in Japanese: data)


@dataclass(frozen=True)
class Assessment:
    reasons: tuple[str, ...]
    missing: tuple[str, ...]
    confidence: float | None

    @property
    def needs_review(self) -> bool:
        return bool(self.reasons)


def threshold() -> float:
    return settings.REPORT_REVIEW_CONFIDENCE


def assess(category: str, fields: dict[str, Any] | None, confidence: float | None) -> Assessment:
    """Should a report read from free text wait for HQ? ``confidence`` is the parser's
    (None: the fields were not parsed, so only missing required fields count)."""
    reasons: list[str] = []
    if confidence is not None and confidence < threshold():
        reasons.append(ReviewReason.LOW_CONFIDENCE)
    missing = missing_required(category, fields)
    if missing:
        reasons.append(ReviewReason.MISSING_FIELDS)
    return Assessment(tuple(reasons), tuple(missing), confidence)


def review_snapshot(review: ReportReview) -> dict[str, Any]:
    """Everything a review row says; the audit chain holds its digest."""
    return {
        "id": review.pk,
        "report": review.report_id,
        "revision": review.revision_id,
        "kind": review.kind,
        "reasons": list(review.reasons),
        "missing": list(review.missing),
        "confidence": review.confidence,
        "actor": review.actor_id,
        "channel": review.channel,
        "recorded_at": review.recorded_at.astimezone(UTC).isoformat(timespec="microseconds"),
    }


# --- Reads ----------------------------------------------------------------------------------


def pending_flags() -> QuerySet[ReportReview]:
    """The ``flagged`` rows still open: no later review row for the report, and the report
    not withdrawn (a withdrawn report needs no decision). Both are read from audited rows
    (reviews, revisions), not from a mutable column, so the queue cannot be emptied by SQL
    without ``verify_audit_chain`` noticing."""
    later = ReportReview.objects.filter(report_id=OuterRef("report_id"), pk__gt=OuterRef("pk"))
    withdrawn = ReportRevision.objects.filter(
        report_id=OuterRef("report_id"), kind=RevisionKind.WITHDRAWAL
    )
    return (
        ReportReview.objects.filter(kind=ReviewKind.FLAGGED)
        .exclude(Exists(later))
        .exclude(Exists(withdrawn))
    )


def awaiting_review(queryset: QuerySet[Report], value: bool = True) -> QuerySet[Report]:
    """Narrow ``queryset`` to the reports awaiting review (or, ``value=False``, the rest)."""
    pending = pending_flags().filter(report_id=OuterRef("pk"))
    return queryset.filter(Exists(pending)) if value else queryset.exclude(Exists(pending))


def review_count() -> int:
    return pending_flags().count()


def is_pending(report: Report) -> bool:
    return pending_flags().filter(report_id=report.pk).exists()


def queue(reports: QuerySet[Report]) -> QuerySet[ReportReview]:
    """The open flags of ``reports``, oldest first, with what the queue page shows."""
    return (
        pending_flags()
        .filter(report__in=reports.values("pk"))
        .select_related(
            "report__agency",
            "report__author__member",
            "report__current_revision__facility",
            "revision",
        )
        .order_by("recorded_at", "id")
    )


def queued_reports(flags: list[ReportReview]) -> list[Report]:
    """The reports of a page of ``queue``, each with ``flag`` (its open ReportReview) and
    ``original`` (revision 1: the words as they arrived). One query for the originals."""
    originals = {
        r.report_id: r
        for r in ReportRevision.objects.filter(report_id__in=[f.report_id for f in flags], number=1)
    }
    result = []
    for flag in flags:
        report = flag.report
        report.flag = flag
        report.original = originals.get(report.pk)
        result.append(report)
    return result


def review_state(reviews: list[ReportReview], report: Report) -> dict[str, Any] | None:
    """The review of one report as the API and the pages show it, or None (never queued).

    ``state`` is ``pending`` (要確認), ``fixed`` or ``confirmed``."""
    flags = [r for r in reviews if r.kind == ReviewKind.FLAGGED]
    if not flags:
        return None
    flag = flags[-1]
    decision = next((r for r in reviews if r.pk > flag.pk), None)
    if decision is None:
        state = "withdrawn" if report.status == ReportStatus.WITHDRAWN else "pending"
    else:
        state = decision.kind
    return {
        "state": state,
        "reasons": list(flag.reasons),
        "missing": list(flag.missing),
        "confidence": flag.confidence,
        "flagged_at": flag.recorded_at,
        "decided_by": decision.actor.get_username() if decision and decision.actor else None,
        "decided_at": decision.recorded_at if decision else None,
    }


def reason_labels(flag: ReportReview) -> list[str]:
    """Why a report is queued, in words: 信頼度が低い（0.42）, 必須項目なし: 施設、避難者数（人）
    (the fields of the category it was filed under)."""
    category = flag.revision.category
    labels = []
    for reason in flag.reasons:
        if reason == ReviewReason.LOW_CONFIDENCE:
            labels.append(
                _("信頼度が低い（%(c)s）") % {"c": f"{flag.confidence:.2f}"}
                if flag.confidence is not None
                else str(ReviewReason.LOW_CONFIDENCE.label)
            )
        elif reason == ReviewReason.MISSING_FIELDS:
            specs = {f.name: f.label for f in SCHEMAS.get(category, ())}
            names = "、".join(str(specs.get(name, name)) for name in flag.missing)
            labels.append(_("必須項目なし: %(f)s") % {"f": names})
    return labels
