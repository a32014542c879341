"""Write paths for notices: send, record delivery, acknowledge."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from agencies import roles
from agencies.models import Agency
from audit.registry import register_record, register_state, state_of
from audit.services import audit_record
from notices import signals
from notices.models import DeliveryStatus, Notice, NoticeKind, NoticeRecipient


def _utc_iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="microseconds") if moment else None


def notice_snapshot(notice: Notice) -> dict[str, Any]:
    """Everything a notice says; it never changes after it is sent."""
    return {
        "id": notice.pk,
        "kind": notice.kind,
        "title": notice.title,
        "body": notice.body,
        "incident": notice.incident_id,
        "created_by": notice.created_by_id,
        "created_at": _utc_iso(notice.created_at),
    }


def recipient_snapshot(recipient: NoticeRecipient) -> dict[str, Any]:
    """Who a notice went to and whether (when, by whom, how) they acknowledged it. Delivery
    progress is the outbox's bookkeeping, not part of the audited state."""
    return {
        "id": recipient.pk,
        "notice": recipient.notice_id,
        "agency": recipient.agency_id,
        "acknowledged_at": _utc_iso(recipient.acknowledged_at),
        "acknowledged_by": recipient.acknowledged_by_id,
        "acknowledged_via": recipient.acknowledged_via,
    }


register_record(Notice, notice_snapshot)
register_state(NoticeRecipient, recipient_snapshot)


def notice_send(
    *,
    user: Any,
    kind: str,
    title: str,
    body: str,
    agencies: Iterable[Agency],
    incident: Any | None = None,
) -> Notice:
    """HQ sends a notice to agencies. Recipient rows are written with the notice; the LINE
    WORKS outbox rows are written by the ``notice_issued`` receiver in the same transaction."""
    if not roles.is_hq(user):
        raise PermissionDenied(_("通知を送信できるのは本部のみです。"))
    if kind not in NoticeKind.values:
        raise ValidationError({"kind": _("不明な種別です。")})
    title, body = (title or "").strip(), (body or "").strip()
    errors = {}
    if not title:
        errors["title"] = _("件名を入力してください。")
    if not body:
        errors["body"] = _("本文を入力してください。")
    if len(body) > 1500:
        errors["body"] = _("本文は1500文字以内で入力してください。")
    targets = sorted({a.pk: a for a in agencies if a.active}.values(), key=lambda a: a.code)
    if not targets:
        errors["agencies"] = _("送信先の機関を選んでください。")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        notice = Notice.objects.create(
            kind=kind,
            title=title[:200],
            body=body,
            incident=incident,
            created_by=user,
            created_at=timezone.now(),
        )
        recipients = NoticeRecipient.objects.bulk_create(
            NoticeRecipient(
                notice=notice,
                agency=agency,
                # The bot cannot be in a room with another tenant's users (§9.3): such an
                # agency gets the notice on the web (and by e-mail, notices/email.py).
                delivery_status=DeliveryStatus.PENDING
                if agency.lineworks_channel_id and not agency.external_tenant
                else DeliveryStatus.NO_CHANNEL,
            )
            for agency in targets
        )
        audit_record(
            actor=user,
            action="notice.send",
            obj=notice,
            payload={
                "kind": kind,
                "title": notice.title,
                "body": body,
                "agencies": [a.code for a in targets],
                "record": notice_snapshot(notice),
                "states": [state_of(r) for r in recipients],
            },
        )
        signals.notice_issued.send(sender=Notice, notice=notice, recipients=recipients)
    return notice


def notice_mark_delivery(
    *, recipient_id: int, delivered: bool, error: str = "", at: datetime | None = None
) -> None:
    """Called by the LINE WORKS outbox when the message to one agency was sent or failed for
    good. Safe to call twice."""
    NoticeRecipient.objects.filter(pk=recipient_id).update(
        delivery_status=DeliveryStatus.SENT if delivered else DeliveryStatus.FAILED,
        delivered_at=(at or timezone.now()) if delivered else None,
        delivery_error=error[:500],
    )


def notice_acknowledge(
    *, notice: Notice, agency: Agency, user: Any | None, via: str
) -> NoticeRecipient | None:
    """An agency's 了解. The first acknowledgement counts; later ones change nothing.
    Returns None when the agency was not a recipient."""
    with transaction.atomic():
        recipient = (
            NoticeRecipient.objects.select_for_update().filter(notice=notice, agency=agency).first()
        )
        if recipient is None or recipient.acknowledged_at is not None:
            return recipient
        recipient.acknowledged_at = timezone.now()
        recipient.acknowledged_by = user
        recipient.acknowledged_via = via
        recipient.save(update_fields=["acknowledged_at", "acknowledged_by", "acknowledged_via"])
        audit_record(
            actor=user,
            action="notice.acknowledge",
            obj=recipient,
            channel=via,
            payload={
                "notice": notice.pk,
                "agency": agency.code,
                "states": [state_of(recipient)],
            },
        )
    return recipient
