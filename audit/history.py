"""A report's history for the auditor: every revision side by side, changes marked, each
revision checked against the audit event that vouches for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from audit.models import AuditEvent
from audit.registry import (
    SourceDocument,
    content_problem,
    has_resolver,
    latest_state,
    record_matches,
    resolve_source,
    state_matches,
)
from audit.services import event_intact
from reports.categories import CAUSE_LABELS, SCHEMAS, TREND_LABELS, Category
from reports.models import (
    Photo,
    Report,
    ReportChannel,
    ReportReview,
    ReportRevision,
    ReviewReason,
    RevisionKind,
)

_CHOICE_LABELS = {"cause": CAUSE_LABELS, "trend": TREND_LABELS}
EMPTY = "—"


def display(name: str, value: Any) -> str:
    """One field value as an auditor reads it (Japanese, thousands separators)."""
    if value is None or value == "" or value == []:
        return EMPTY
    if value is True:
        return _("はい")
    if value is False:
        return _("いいえ")
    if name in _CHOICE_LABELS and isinstance(value, str):
        return str(_CHOICE_LABELS[name].get(value, value))
    if isinstance(value, int):
        return number_format(value, force_grouping=True)
    if isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, dict):
                households = item.get("households")
                suffix = (
                    _("：%(n)s世帯") % {"n": number_format(households, force_grouping=True)}
                    if households is not None
                    else ""
                )
                parts.append(f"{item.get('area') or EMPTY}{suffix}")
            else:
                parts.append(str(item))
        return _("、").join(parts)
    return str(value)


def _when(moment: Any) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else EMPTY


@dataclass
class Cell:
    text: str
    changed: bool = False
    column: RevisionColumn | None = None


@dataclass
class Row:
    key: str
    label: str
    cells: list[Cell]
    kind: str = "text"  # text, source, photos, check

    @property
    def ever_changed(self) -> bool:
        return any(c.changed for c in self.cells)


@dataclass
class RevisionColumn:
    revision: ReportRevision
    event: AuditEvent | None
    event_ok: bool | None
    source: SourceDocument | None
    photos: list[Photo] = field(default_factory=list)

    @property
    def source_missing(self) -> bool:
        """A raw message should be there (an app keeps such messages) but is not."""
        ref = self.revision.source_ref
        return bool(ref) and self.source is None and has_resolver(ref)


@dataclass
class ReviewEntry:
    """One step of HQ's review (要確認, 本部で修正, このまま確定) and its audit check."""

    review: ReportReview
    event: AuditEvent | None
    event_ok: bool | None

    @property
    def reasons(self) -> str:
        labels = dict(ReviewReason.choices)
        return _("、").join(str(labels.get(r, r)) for r in self.review.reasons)


@dataclass
class StateCheck:
    """A row's current state against the last state the audit chain holds for it."""

    event: AuditEvent | None
    ok: bool | None  # None: no audit record


def state_check(obj: Any, events: Any) -> StateCheck:
    found = latest_state(events, obj)
    if found is None:
        return StateCheck(None, None)
    event, record = found
    return StateCheck(event, event_intact(event) and state_matches(obj, record))


def _photo_check(photo: Photo, event: AuditEvent | None) -> None:
    """Marks ``photo`` for the page: ``audit_ok`` (True, False, None = no record) and
    ``audit_problem`` ("missing" or "differs") about the file itself."""
    problem = content_problem(photo)
    photo.audit_event = event
    photo.audit_problem = (
        "" if problem is None else "missing" if "missing" in problem else "differs"
    )
    photo.audit_ok = (
        None
        if event is None
        else event_intact(event) and record_matches(photo, event.payload["record"]) and not problem
    )


@dataclass
class History:
    report: Report
    columns: list[RevisionColumn]
    rows: list[Row]
    events: list[AuditEvent]
    views: int
    reviews: list[ReviewEntry] = field(default_factory=list)
    report_check: StateCheck | None = None
    incident_check: StateCheck | None = None


def report_history(report: Report) -> History:
    revisions = list(
        report.revisions.select_related("author", "facility", "district").order_by("number")
    )
    photos = list(report.photos.select_related("uploaded_by").order_by("uploaded_at", "id"))
    reviews = list(report.reviews.select_related("actor", "revision").order_by("id"))
    rev_ids = [str(r.pk) for r in revisions]
    photo_ids = [str(p.pk) for p in photos]
    review_ids = [str(r.pk) for r in reviews]
    events = list(
        AuditEvent.objects.filter(
            Q(object_type="reports.reportrevision", object_id__in=rev_ids)
            | Q(object_type="reports.photo", object_id__in=photo_ids)
            | Q(object_type="reports.reportreview", object_id__in=review_ids)
            | (
                Q(object_type="reports.report", object_id=str(report.pk))
                & ~Q(action__startswith="audit.")
            )
        ).order_by("id")
    )
    by_revision = {
        e.object_id: e
        for e in events
        if e.object_type == "reports.reportrevision" and "record" in (e.payload or {})
    }
    views = (
        AuditEvent.objects.filter(object_type="reports.report", object_id=str(report.pk))
        .filter(action__startswith="audit.")
        .count()
    )

    by_photo = {
        e.object_id: e
        for e in events
        if e.object_type == "reports.photo" and "record" in (e.payload or {})
    }
    for p in photos:
        _photo_check(p, by_photo.get(str(p.pk)))
    state_events = AuditEvent.objects.filter(
        Q(object_type="reports.report", object_id=str(report.pk))
        | Q(object_type="reports.reportrevision", object_id__in=rev_ids),
        payload__has_key="states",
    ).order_by("id")
    report_check = state_check(report, state_events)
    incident_check = None
    if report.incident_id is not None:
        incident_check = state_check(
            report.incident,
            AuditEvent.objects.filter(
                object_type="reports.incident",
                object_id=str(report.incident_id),
                payload__has_key="states",
            ).order_by("id"),
        )

    columns = []
    for rev in revisions:
        event = by_revision.get(str(rev.pk))
        ok = None
        if event is not None:
            ok = event_intact(event) and record_matches(rev, event.payload["record"])
        columns.append(
            RevisionColumn(
                revision=rev,
                event=event,
                event_ok=ok,
                source=resolve_source(rev.source_ref) if rev.source_ref else None,
                photos=[p for p in photos if p.revision_id == rev.pk],
            )
        )

    def row(key: str, label: str, values: list[str], kind: str = "text") -> Row:
        cells = [
            Cell(v, changed=i > 0 and v != values[i - 1], column=columns[i])
            for i, v in enumerate(values)
        ]
        return Row(key, label, cells, kind)

    channel_labels = dict(ReportChannel.choices)
    kind_labels = dict(RevisionKind.choices)
    category_labels = dict(Category.choices)
    rows = [
        row("kind", _("種別"), [str(kind_labels.get(r.kind, r.kind)) for r in revisions]),
        row(
            "category",
            _("分類"),
            [str(category_labels.get(r.category, r.category)) for r in revisions],
        ),
    ]
    categories = []
    for rev in revisions:
        if rev.category not in categories:
            categories.append(rev.category)
    for category in categories:
        for spec in SCHEMAS.get(category, ()):
            values = [
                display(spec.name, (r.fields or {}).get(spec.name))
                if r.category == category
                else ""
                for r in revisions
            ]
            label = str(spec.label)
            if len(categories) > 1:
                label = f"{category_labels.get(category, category)}: {label}"
            rows.append(row(f"{category}.{spec.name}", label, values))
    rows += [
        row("text", _("本文"), [r.text or EMPTY for r in revisions]),
        row(
            "location",
            _("位置"),
            [f"{r.lat:.5f}, {r.lng:.5f}" if r.lat is not None else EMPTY for r in revisions],
        ),
        row(
            "facility",
            _("登録施設"),
            [r.facility.name if r.facility else EMPTY for r in revisions],
        ),
        row(
            "district",
            _("登録地区"),
            [r.district.name if r.district else EMPTY for r in revisions],
        ),
        row("observed_at", _("発生・確認日時"), [_when(r.observed_at) for r in revisions]),
        row("recorded_at", _("記録日時"), [_when(r.recorded_at) for r in revisions]),
        row(
            "author",
            _("入力者"),
            [r.author.get_username() if r.author else _("（不明な送信者）") for r in revisions],
        ),
        row(
            "channel",
            _("経路"),
            [str(channel_labels.get(r.channel, r.channel)) for r in revisions],
        ),
        row("reason", _("訂正・取消の理由"), [r.reason or EMPTY for r in revisions]),
        row("source", _("元のメッセージ"), [r.source_ref or EMPTY for r in revisions], "source"),
        row(
            "photos",
            _("写真"),
            [str(len(c.photos)) if c.photos else EMPTY for c in columns],
            "photos",
        ),
        row("check", _("監査記録との照合"), ["" for _r in revisions], "check"),
    ]
    review_events = {
        e.object_id: e
        for e in events
        if e.object_type == "reports.reportreview" and "record" in (e.payload or {})
    }
    entries = []
    for item in reviews:
        event = review_events.get(str(item.pk))
        ok = None
        if event is not None:
            ok = event_intact(event) and record_matches(item, event.payload["record"])
        entries.append(ReviewEntry(item, event, ok))
    return History(
        report,
        columns,
        rows,
        events,
        views,
        reviews=entries,
        report_check=report_check,
        incident_check=incident_check,
    )
