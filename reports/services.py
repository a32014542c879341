"""The write paths for reports and incidents. The web form, the API, the LINE WORKS bot and
the demo seeder all call these functions, so validation, revisions, the situation index and
the audit chain happen in exactly one place.

Every function is atomic; side effects outside the database (LINE WORKS mirrors, live
updates) are attached through ``reports.signals`` receivers, which run inside the transaction
and must only write rows and schedule work with ``transaction.on_commit``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from agencies import roles
from agencies.models import Agency, District, Facility
from audit.registry import register_record, register_state, state_of
from audit.services import audit_record
from reports import review, signals
from reports.categories import Category, validate_fields
from reports.models import (
    Incident,
    IncidentStatus,
    Observation,
    Photo,
    Report,
    ReportChannel,
    ReportReview,
    ReportRevision,
    ReportStatus,
    ReviewKind,
    RevisionKind,
)
from reports.photos import derivatives_store, photo_render
from reports.subjects import observations_for

MAX_TEXT_LENGTH = 5000
_FUTURE_TOLERANCE_SECONDS = 600
_EARLIEST_OBSERVATION = datetime(2000, 1, 1, tzinfo=UTC)


def _utc_iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="microseconds") if moment else None


def revision_snapshot(rev: ReportRevision) -> dict[str, Any]:
    """Everything a revision says; the audit chain holds its digest."""
    return {
        "id": rev.pk,
        "report": rev.report_id,
        "number": rev.number,
        "kind": rev.kind,
        "category": rev.category,
        "fields": rev.fields,
        "text": rev.text,
        "lat": rev.lat,
        "lng": rev.lng,
        "facility": rev.facility_id,
        "district": rev.district_id,
        "observed_at": _utc_iso(rev.observed_at),
        "recorded_at": _utc_iso(rev.recorded_at),
        "author": rev.author_id,
        "channel": rev.channel,
        "reason": rev.reason,
        "source_ref": rev.source_ref,
    }


def photo_snapshot(photo: Photo) -> dict[str, Any]:
    return {
        "id": photo.pk,
        "report": photo.report_id,
        "revision": photo.revision_id,
        "name": photo.image.name,
        "content_type": photo.content_type,
        "size": photo.size,
        "sha256": photo.sha256,
        "uploaded_by": photo.uploaded_by_id,
        "uploaded_at": _utc_iso(photo.uploaded_at),
        "channel": photo.channel,
        "source_ref": photo.source_ref,
    }


def report_snapshot(report: Report) -> dict[str, Any]:
    """A report's workflow state (who it belongs to, where it stands, which revision is
    current, which incident it is linked to). Every change writes it into its audit event."""
    return {
        "id": report.pk,
        "agency": report.agency_id,
        "author": report.author_id,
        "channel": report.channel,
        "category": report.category,
        "incident": report.incident_id,
        "status": report.status,
        "current_revision": report.current_revision_id,
        "recorded_at": _utc_iso(report.recorded_at),
        "observed_at": _utc_iso(report.observed_at),
        "acknowledged_by": report.acknowledged_by_id,
        "acknowledged_at": _utc_iso(report.acknowledged_at),
    }


def incident_snapshot(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.pk,
        "title": incident.title,
        "description": incident.description,
        "status": incident.status,
        "district": incident.district_id,
        "lat": incident.lat,
        "lng": incident.lng,
        "opened_by": incident.opened_by_id,
        "opened_at": _utc_iso(incident.opened_at),
        "updated_at": _utc_iso(incident.updated_at),
        "closed_at": _utc_iso(incident.closed_at),
    }


_PHOTO_CHUNK = 1024 * 1024


def photo_file_problem(photo: Photo) -> str | None:
    """The original file is the evidence (derived copies are not): it must be there and have
    the SHA-256 recorded when it was stored."""
    name = photo.image.name
    try:
        handle = default_storage.open(name, "rb")
    except (FileNotFoundError, OSError):
        return f"the file {name} is missing"
    digest = hashlib.sha256()
    with handle:
        for chunk in iter(lambda: handle.read(_PHOTO_CHUNK), b""):
            digest.update(chunk)
    if digest.hexdigest() != photo.sha256:
        return f"the file {name} differs from the SHA-256 recorded when it was stored"
    return None


register_record(ReportRevision, revision_snapshot)
register_record(ReportReview, review.review_snapshot)
register_record(Photo, photo_snapshot, content_check=photo_file_problem)
register_state(Report, report_snapshot)
register_state(Incident, incident_snapshot)


def _check_observed_at(observed_at: datetime | None, now: datetime) -> datetime:
    if observed_at is None:
        return now
    if timezone.is_naive(observed_at):
        raise ValidationError({"observed_at": _("タイムゾーン付きの日時で指定してください。")})
    # As the API (serializers.EARLIEST_OBSERVATION): a report is about this disaster, and a
    # year-0001 time could not even be converted to UTC for its audit record.
    if observed_at - _EARLIEST_OBSERVATION < timedelta(0):
        raise ValidationError({"observed_at": _("2000年以降の日時を指定してください。")})
    if (observed_at - now).total_seconds() > _FUTURE_TOLERANCE_SECONDS:
        raise ValidationError({"observed_at": _("未来の日時は指定できません。")})
    return observed_at


def _check_location(location: dict[str, float] | None) -> tuple[float | None, float | None]:
    if not location:
        return None, None
    try:
        lat, lng = float(location["lat"]), float(location["lng"])
    except (KeyError, TypeError, ValueError):
        raise ValidationError({"location": _("緯度・経度を数値で指定してください。")}) from None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise ValidationError({"location": _("緯度・経度の範囲が正しくありません。")})
    return lat, lng


def _write_revision(
    *,
    report: Report,
    number: int,
    kind: str,
    category: str,
    fields: dict[str, Any],
    text: str,
    lat: float | None,
    lng: float | None,
    facility: Facility | None,
    district: District | None,
    observed_at: datetime,
    recorded_at: datetime,
    author: Any | None,
    channel: str,
    reason: str,
    source_ref: str,
) -> ReportRevision:
    """Append a revision, supersede the report's earlier statements, index the new ones,
    and record the audit event. Caller holds the transaction (and the report's row lock)."""
    revision = ReportRevision.objects.create(
        report=report,
        number=number,
        kind=kind,
        category=category,
        fields=fields,
        text=text,
        lat=lat,
        lng=lng,
        facility=facility,
        district=district,
        observed_at=observed_at,
        recorded_at=recorded_at,
        author=author,
        channel=channel,
        reason=reason,
        source_ref=source_ref,
    )
    Observation.objects.filter(report=report, superseded_at__isnull=True).update(
        superseded_at=recorded_at
    )
    if kind != RevisionKind.WITHDRAWAL:
        statements = observations_for(category, fields, facility=facility, district=district)
        Observation.objects.bulk_create(
            Observation(
                subject=s.subject,
                report=report,
                revision=revision,
                observed_at=observed_at,
                recorded_at=recorded_at,
                values=s.values,
                closed=s.closed,
            )
            for s in statements
        )
    report.current_revision = revision
    report.category = category
    report.observed_at = observed_at
    audit_record(
        actor=author,
        action=f"report.{kind}",
        obj=revision,
        channel=channel,
        payload={
            "record": revision_snapshot(revision),
            "report_number": report.number,
            # The report as it stands after this revision (the caller saves exactly this).
            "states": [state_of(report)],
        },
        occurred_at=recorded_at,
    )
    return revision


def report_submit(
    *,
    agency: Agency,
    author: Any | None,
    category: str,
    fields: dict[str, Any] | None,
    text: str = "",
    observed_at: datetime | None = None,
    channel: str = ReportChannel.WEB,
    location: dict[str, float] | None = None,
    facility: Facility | None = None,
    district: District | None = None,
    incident: Incident | None = None,
    source_ref: str = "",
    require_fields: bool = True,
    check_permission: bool = True,
    recorded_at: datetime | None = None,
    parsed_confidence: float | None = None,
) -> Report:
    """Record a new report (revision 1). Raises ValidationError naming bad fields, or
    PermissionDenied when ``author`` may not report for ``agency``.

    ``parsed_confidence``: the parser's confidence, given by a channel that read category
    and fields from free text (the LINE WORKS bot). Such a report is marked 要確認 for HQ,
    in the same transaction, when the confidence is low or a required field is missing
    (reports/review.py). None, for fields a person entered, never queues it.

    ``check_permission=False`` is for trusted paths that map the sender themselves (an
    unanswered LINE WORKS question filed by the sweep). Not idempotent: one call, one report.
    ``recorded_at`` backdates the record: only for loading historical records (the demo
    seeder, benchmarks); no user-facing path passes it.
    """
    if check_permission and (author is None or not roles.can_report_for(author, agency)):
        raise PermissionDenied(_("この機関の報告を登録する権限がありません。"))
    if incident is not None and (author is None or not roles.is_hq(author)):
        raise PermissionDenied(_("インシデントとの関連付けは本部のみです。"))
    if not agency.active:
        raise ValidationError({"agency": _("この機関は無効になっています。")})
    if category not in Category.values:
        raise ValidationError({"category": _("不明な分類です: %(c)s") % {"c": category}})
    if len(text or "") > MAX_TEXT_LENGTH:
        raise ValidationError({"text": _("本文が長すぎます。")})
    clean = validate_fields(category, fields or {}, require=require_fields)
    if facility is None and category in (Category.EVACUEES, Category.MEDICAL_CAPACITY):
        from reports.subjects import facility_for

        facility = facility_for(clean.get("facility"))
    if facility is not None and category in (Category.EVACUEES, Category.MEDICAL_CAPACITY):
        clean["facility"] = clean.get("facility") or facility.name
    now = recorded_at or timezone.now()
    observed = _check_observed_at(observed_at, now)
    lat, lng = _check_location(location)
    if lat is None and facility is not None and facility.lat is not None:
        lat, lng = facility.lat, facility.lng
    if lat is None and district is not None:
        lat, lng = district.lat, district.lng

    with transaction.atomic():
        report = Report.objects.create(
            agency=agency,
            author=author,
            channel=channel,
            category=category,
            recorded_at=now,
            observed_at=observed,
        )
        revision = _write_revision(
            report=report,
            number=1,
            kind=RevisionKind.ORIGINAL,
            category=category,
            fields=clean,
            text=text or "",
            lat=lat,
            lng=lng,
            facility=facility,
            district=district,
            observed_at=observed,
            recorded_at=now,
            author=author,
            channel=channel,
            reason="",
            source_ref=source_ref,
        )
        report.save(update_fields=["current_revision", "category", "observed_at"])
        if parsed_confidence is not None:
            assessment = review.assess(category, clean, parsed_confidence)
            if assessment.needs_review:
                _write_review(
                    report=report,
                    revision=revision,
                    kind=ReviewKind.FLAGGED,
                    actor=author,
                    channel=channel,
                    recorded_at=now,
                    assessment=assessment,
                )
        if incident is not None:
            _link_incident(report=report, incident=incident, user=author, channel=channel)
        signals.report_recorded.send(sender=Report, revision=revision)
    return report


def _lock_for_revision(report: Report, author: Any | None, check_permission: bool) -> Report:
    locked = (
        Report.objects.select_for_update(of=("self",))
        .select_related("current_revision", "agency")
        .get(pk=report.pk)
    )
    if check_permission and (author is None or not roles.can_report_for(author, locked.agency)):
        raise PermissionDenied(_("この報告を訂正・取消する権限がありません。"))
    if locked.status == ReportStatus.WITHDRAWN:
        raise ValidationError({"report": _("取り消された報告は訂正できません。")})
    return locked


def report_correct(
    *,
    report: Report,
    author: Any | None,
    reason: str,
    channel: str = ReportChannel.WEB,
    category: str | None = None,
    fields: dict[str, Any] | None = None,
    text: str | None = None,
    observed_at: datetime | None = None,
    location: dict[str, float] | None = None,
    facility: Facility | None = None,
    source_ref: str = "",
    check_permission: bool = True,
    recorded_at: datetime | None = None,
    require_fields: bool = True,
) -> ReportRevision:
    """Append a correction. Arguments left as None keep the current revision's values.
    Every earlier revision stays as it was. ``require_fields=False``: as in report_submit
    (the LINE WORKS path may keep an incomplete report and add to it)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("訂正の理由を入力してください。")})
    with transaction.atomic():
        locked = _lock_for_revision(report, author, check_permission)
        current = locked.current_revision
        new_category = category or current.category
        if fields is None:
            if new_category != current.category:
                raise ValidationError({"fields": _("分類を変える場合は項目も指定してください。")})
            fields = current.fields
        clean = validate_fields(new_category, fields, require=require_fields)
        now = recorded_at or timezone.now()
        observed = _check_observed_at(observed_at, now) if observed_at else current.observed_at
        lat, lng = _check_location(location) if location else (current.lat, current.lng)
        revision = _write_revision(
            report=locked,
            number=current.number + 1,
            kind=RevisionKind.CORRECTION,
            category=new_category,
            fields=clean,
            text=current.text if text is None else text,
            lat=lat,
            lng=lng,
            facility=facility if facility is not None else current.facility,
            district=current.district,
            observed_at=observed,
            recorded_at=now,
            author=author,
            channel=channel,
            reason=reason,
            source_ref=source_ref,
        )
        locked.save(update_fields=["current_revision", "category", "observed_at"])
        signals.report_recorded.send(sender=Report, revision=revision)
    report.refresh_from_db()
    return revision


def report_withdraw(
    *,
    report: Report,
    author: Any | None,
    reason: str,
    channel: str = ReportChannel.WEB,
    source_ref: str = "",
    check_permission: bool = True,
    recorded_at: datetime | None = None,
) -> ReportRevision:
    """取消: a withdrawal revision. The report drops out of the situation from now on; what it
    said before stays in the history and in "as of" views of the past."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("取消の理由を入力してください。")})
    with transaction.atomic():
        locked = _lock_for_revision(report, author, check_permission)
        current = locked.current_revision
        locked.status = ReportStatus.WITHDRAWN  # before the revision: its event holds the state
        revision = _write_revision(
            report=locked,
            number=current.number + 1,
            kind=RevisionKind.WITHDRAWAL,
            category=current.category,
            fields=current.fields,
            text=current.text,
            lat=current.lat,
            lng=current.lng,
            facility=current.facility,
            district=current.district,
            observed_at=current.observed_at,
            recorded_at=recorded_at or timezone.now(),
            author=author,
            channel=channel,
            reason=reason,
            source_ref=source_ref,
        )
        locked.save(update_fields=["current_revision", "category", "observed_at", "status"])
        signals.report_recorded.send(sender=Report, revision=revision)
    report.refresh_from_db()
    return revision


def report_acknowledge(*, report: Report, user: Any) -> Report:
    """HQ marks a report as seen. Safe to call twice (the second call changes nothing)."""
    if not roles.is_hq(user):
        raise PermissionDenied(_("確認できるのは本部のみです。"))
    with transaction.atomic():
        locked = Report.objects.select_for_update().get(pk=report.pk)
        if locked.status != ReportStatus.NEW:
            return locked
        locked.status = ReportStatus.ACKNOWLEDGED
        locked.acknowledged_by = user
        locked.acknowledged_at = timezone.now()
        locked.save(update_fields=["status", "acknowledged_by", "acknowledged_at"])
        audit_record(
            actor=user,
            action="report.acknowledge",
            obj=locked,
            payload={"report_number": locked.number, "states": [state_of(locked)]},
        )
    return locked


def report_link_incident(
    *, report: Report, incident: Incident | None, user: Any, channel: str = ""
) -> Report:
    """Link a report to an incident, or unlink it (``incident=None``). HQ only; every link
    and unlink, through any channel, is an audit event holding the report's new state."""
    if not roles.is_hq(user):
        raise PermissionDenied(_("インシデントとの関連付けは本部のみです。"))
    with transaction.atomic():
        locked = Report.objects.select_for_update().get(pk=report.pk)
        _link_incident(report=locked, incident=incident, user=user, channel=channel)
    return locked


# --- HQ's review of reports read from free text (要確認 → 本部確認) --------------------------


def _write_review(
    *,
    report: Report,
    revision: ReportRevision,
    kind: str,
    actor: Any | None,
    channel: str,
    recorded_at: datetime,
    assessment: review.Assessment | None = None,
) -> ReportReview:
    """Append a review row and its audit event. Caller holds the transaction."""
    row = ReportReview.objects.create(
        report=report,
        revision=revision,
        kind=kind,
        reasons=list(assessment.reasons) if assessment else [],
        missing=list(assessment.missing) if assessment else [],
        confidence=assessment.confidence if assessment else None,
        actor=actor,
        channel=channel,
        recorded_at=recorded_at,
    )
    audit_record(
        actor=actor,
        action=f"report.review_{kind}",
        obj=row,
        channel=channel,
        payload={"record": review.review_snapshot(row), "report_number": report.number},
        occurred_at=recorded_at,
    )
    return row


def _lock_pending(report: Report, user: Any) -> Report:
    """HQ only; the report locked and still awaiting review (two operators deciding at once:
    the second finds it decided)."""
    if not roles.is_hq(user):
        raise PermissionDenied(_("要確認の報告を確定できるのは本部のみです。"))
    locked = (
        Report.objects.select_for_update(of=("self",))
        .select_related("current_revision")
        .get(pk=report.pk)
    )
    if not review.is_pending(locked):
        raise ValidationError({"report": _("この報告は確認待ちではありません。")})
    return locked


def report_review_fix(
    *,
    report: Report,
    user: Any,
    category: str,
    fields: dict[str, Any],
    channel: str = ReportChannel.WEB,
) -> ReportRevision:
    """HQ corrects a queued report in one step: a new revision by ``user`` with the reason
    本部確認 (the original words stay in revision 1) and the ``fixed`` decision, which takes
    the report off the queue. The fields must satisfy the category (required ones given).
    Not idempotent: a second call finds the report decided (ValidationError)."""
    with transaction.atomic():
        locked = _lock_pending(report, user)
        revision = report_correct(
            report=locked,
            author=user,
            reason=review.REVIEW_REASON,
            channel=channel,
            category=category,
            fields=fields,
        )
        _write_review(
            report=locked,
            revision=revision,
            kind=ReviewKind.FIXED,
            actor=user,
            channel=channel,
            recorded_at=revision.recorded_at,
        )
    report.refresh_from_db()
    return revision


def report_review_confirm(
    *, report: Report, user: Any, channel: str = ReportChannel.WEB
) -> ReportReview:
    """HQ confirms a queued report as it is (このまま確定): no new content revision, an
    audited ``confirmed`` decision about the current revision."""
    with transaction.atomic():
        locked = _lock_pending(report, user)
        return _write_review(
            report=locked,
            revision=locked.current_revision,
            kind=ReviewKind.CONFIRMED,
            actor=user,
            channel=channel,
            recorded_at=timezone.now(),
        )


def _link_incident(*, report: Report, incident: Incident | None, user: Any, channel: str) -> None:
    """Caller holds the transaction and the report's row (and has checked the user is HQ)."""
    previous = report.incident_id
    report.incident = incident
    report.save(update_fields=["incident"])
    audit_record(
        actor=user,
        action="report.link_incident",
        obj=report,
        channel=channel,
        payload={
            "report_number": report.number,
            "from": previous,
            "to": incident.pk if incident else None,
            "states": [state_of(report)],
        },
    )


_IMAGE_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def sniff_image_type(head: bytes) -> str | None:
    for signature, content_type in _IMAGE_SIGNATURES:
        if head.startswith(signature):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"heif"):
        return "image/heic"
    return None


def report_add_photo(
    *,
    report: Report,
    data: bytes,
    filename: str,
    user: Any | None,
    channel: str = ReportChannel.WEB,
    source_ref: str = "",
    check_permission: bool = True,
) -> Photo:
    """Attach a photo to a report (to its current revision). Checks the bytes, not the name."""
    if check_permission and (user is None or not roles.can_report_for(user, report.agency)):
        raise PermissionDenied(_("この報告に写真を追加する権限がありません。"))
    if len(data) > settings.PHOTO_MAX_BYTES:
        raise ValidationError(
            {
                "photo": _("写真が大きすぎます（上限 %(mb)d MB）。")
                % {"mb": settings.PHOTO_MAX_BYTES // (1024 * 1024)}
            }
        )
    content_type = sniff_image_type(data[:16])
    if content_type is None:
        raise ValidationError({"photo": _("JPEG・PNG・GIF・WebP・HEIC の画像を送ってください。")})
    # Refuses a decompression bomb or an undecodable image before anything is stored, and
    # makes what pages show (no EXIF), outside the transaction: no lock is held meanwhile.
    rendered = photo_render(data, content_type)
    with transaction.atomic():
        locked = Report.objects.select_for_update().get(pk=report.pk)
        photo = Photo(
            report=locked,
            revision_id=locked.current_revision_id,
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            uploaded_by=user,
            uploaded_at=timezone.now(),
            channel=channel,
            source_ref=source_ref,
        )
        photo.image.save(filename, ContentFile(data), save=False)  # the evidence, as sent
        derivatives_store(photo.image.storage, photo.image.name, rendered)
        photo.save()
        audit_record(
            actor=user,
            action="report.photo",
            obj=photo,
            channel=channel,
            payload={"record": photo_snapshot(photo), "report_number": locked.number},
        )
    return photo


# --- Incidents ------------------------------------------------------------------------------


def _incident_payload(incident: Incident) -> dict[str, Any]:
    return {
        "title": incident.title,
        "description": incident.description,
        "status": incident.status,
        "district": incident.district_id,
        "lat": incident.lat,
        "lng": incident.lng,
    }


def incident_open(
    *,
    user: Any,
    title: str,
    description: str = "",
    district: District | None = None,
    location: dict[str, float] | None = None,
    opened_at: datetime | None = None,
) -> Incident:
    """``opened_at`` backdates the incident: only for loading historical records (the demo
    seeder); no user-facing path passes it."""
    if not roles.is_hq(user):
        raise PermissionDenied(_("インシデントを登録できるのは本部のみです。"))
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": _("件名を入力してください。")})
    lat, lng = _check_location(location)
    if lat is None and district is not None:
        lat, lng = district.lat, district.lng
    now = opened_at or timezone.now()
    with transaction.atomic():
        incident = Incident.objects.create(
            title=title[:200],
            description=description,
            district=district,
            lat=lat,
            lng=lng,
            opened_by=user,
            opened_at=now,
            updated_at=now,
        )
        audit_record(
            actor=user,
            action="incident.open",
            obj=incident,
            payload={**_incident_payload(incident), "states": [state_of(incident)]},
            occurred_at=now,
        )
        signals.incident_changed.send(sender=Incident, incident=incident, action="open")
    return incident


def incident_update(
    *,
    incident: Incident,
    user: Any,
    title: str | None = None,
    description: str | None = None,
    status: str | None = None,
) -> Incident:
    """Change an incident's text or status (open → monitoring → closed; reopening allowed)."""
    if not roles.is_hq(user):
        raise PermissionDenied(_("インシデントを更新できるのは本部のみです。"))
    if status is not None and status not in IncidentStatus.values:
        raise ValidationError({"status": _("不明な状態です。")})
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        if title is not None:
            if not title.strip():
                raise ValidationError({"title": _("件名を入力してください。")})
            locked.title = title.strip()[:200]
        if description is not None:
            locked.description = description
        if status is not None:
            locked.status = status
            locked.closed_at = timezone.now() if status == IncidentStatus.CLOSED else None
        locked.updated_at = timezone.now()
        locked.save()
        action = "incident.close" if status == IncidentStatus.CLOSED else "incident.update"
        audit_record(
            actor=user,
            action=action,
            obj=locked,
            payload={**_incident_payload(locked), "states": [state_of(locked)]},
        )
        signals.incident_changed.send(sender=Incident, incident=locked, action=action)
    return locked


def incident_close(*, incident: Incident, user: Any) -> Incident:
    return incident_update(incident=incident, user=user, status=IncidentStatus.CLOSED)
