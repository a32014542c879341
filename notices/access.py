"""Access helpers for notices: the only way views and the API fetch them.

HQ and auditors see every notice with every recipient. A reporter sees the notices addressed
to their own agency, with their own agency's row only; anything else is "not found".
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from agencies import roles
from notices.models import DeliveryStatus, Notice, NoticeRecipient


def _with_counts(qs: QuerySet[Notice]) -> QuerySet[Notice]:
    return qs.annotate(
        recipient_count=Count("recipients", distinct=True),
        sent_count=Count(
            "recipients",
            filter=Q(recipients__delivery_status__in=[DeliveryStatus.SENT, DeliveryStatus.EMAILED]),
            distinct=True,
        ),
        failed_count=Count(
            "recipients",
            filter=Q(
                recipients__delivery_status__in=[DeliveryStatus.FAILED, DeliveryStatus.NO_CHANNEL]
            ),
            distinct=True,
        ),
        acknowledged_count=Count(
            "recipients", filter=Q(recipients__acknowledged_at__isnull=False), distinct=True
        ),
    )


def notices_for_user(user: Any) -> QuerySet[Notice]:
    qs = Notice.objects.select_related("created_by", "incident")
    if roles.can_read_all(user):
        return _with_counts(qs)
    agency = roles.user_agency(user)
    if agency is None or not roles.is_reporter(user):
        return qs.none()
    return _with_counts(qs.filter(recipients__agency=agency))


def recipients_for_user(user: Any) -> QuerySet[NoticeRecipient]:
    qs = NoticeRecipient.objects.select_related("agency", "acknowledged_by").order_by(
        "agency__kind", "agency__code"
    )
    if roles.can_read_all(user):
        return qs
    agency = roles.user_agency(user)
    if agency is None or not roles.is_reporter(user):
        return qs.none()
    return qs.filter(agency=agency)


def notice_for_user(user: Any, pk: int | str) -> Notice:
    """One notice with its visible recipients prefetched; Http404 when not visible."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404(_("通知が見つかりません。")) from None
    notice = (
        notices_for_user(user)
        .filter(pk=pk)
        .prefetch_related(
            Prefetch("recipients", queryset=recipients_for_user(user), to_attr="visible")
        )
        .first()
    )
    if notice is None:
        raise Http404(_("通知が見つかりません。"))
    return notice
