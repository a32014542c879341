"""Notices by e-mail, for agencies the bot cannot reach (an agency on another LINE WORKS
tenant, or one without a talk room) that have a contact address.

Such a recipient is ``no_channel`` when the notice is sent; it always sees the notice on the
portal's notice pages (and acknowledges there). With e-mail configured
(``NOTICE_EMAIL_ENABLED``: an ``EMAIL_HOST`` or ``EMAIL_BACKEND`` in the environment) it is
also mailed to ``Agency.contact_email`` after commit and marked ``emailed``; a failure is
``failed`` with the error, shown on the notice page. The message is sent before the row is
marked, so a crash in between can repeat an e-mail but never lose one.
"""

from __future__ import annotations

import logging
import smtplib
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from notices.models import DeliveryStatus, NoticeRecipient

logger = logging.getLogger(__name__)


def email_enabled() -> bool:
    return bool(getattr(settings, "NOTICE_EMAIL_ENABLED", False))


def on_notice_issued(sender: Any, notice: Any, recipients: list[Any], **kwargs: Any) -> None:
    """Runs inside notice_send's transaction: schedule one e-mail per reachable recipient."""
    if not email_enabled():
        return
    for recipient in recipients:
        if (
            recipient.delivery_status == DeliveryStatus.NO_CHANNEL
            and recipient.agency.contact_email
        ):
            transaction.on_commit(lambda pk=recipient.pk: _enqueue(pk))


def _enqueue(recipient_id: int) -> None:
    from notices.tasks import notice_email_task

    try:
        notice_email_task.apply_async((recipient_id,), retry=False)
    except Exception:
        # The broker is down: send now rather than not at all.
        logger.warning("notices: could not enqueue the e-mail; sending inline", exc_info=True)
        notice_email_deliver(recipient_id)


def _body(recipient: NoticeRecipient) -> tuple[str, str]:
    notice = recipient.notice
    with translation.override("ja"):
        subject = f"【{notice.get_kind_display()}】{notice.title}"
        lines = [
            _("%(a)s 御中") % {"a": recipient.agency.name},
            "",
            notice.body,
            "",
            _("倉敷市災害対策本部 %(t)s 発信")
            % {"t": timezone.localtime(notice.created_at).strftime("%Y/%m/%d %H:%M")},
        ]
        site = getattr(settings, "SITE_URL", "")
        if site:
            url = site.rstrip("/") + reverse("notices:detail", args=[notice.pk])
            lines += ["", _("確認したらポータルで「了解」を押してください: %(u)s") % {"u": url}]
        else:
            lines += ["", _("確認したらポータルの通知ページで「了解」を押してください。")]
        lines += [_("このメールは送信専用です。")]
    return subject[:200], "\n".join(lines)


def notice_email_deliver(recipient_id: int) -> str:
    """Mail one recipient. Safe to call twice: a recipient already mailed is skipped."""
    recipient = (
        NoticeRecipient.objects.select_related("notice", "agency").filter(pk=recipient_id).first()
    )
    if recipient is None or recipient.delivery_status != DeliveryStatus.NO_CHANNEL:
        return "skipped"
    address = recipient.agency.contact_email
    if not address:
        return "no_address"
    subject, body = _body(recipient)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address])
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning("notices: e-mail to agency %s failed: %s", recipient.agency.code, exc)
        NoticeRecipient.objects.filter(
            pk=recipient.pk, delivery_status=DeliveryStatus.NO_CHANNEL
        ).update(
            delivery_status=DeliveryStatus.FAILED,
            delivery_error=_("メールを送信できませんでした: %(e)s") % {"e": type(exc).__name__},
        )
        return "failed"
    NoticeRecipient.objects.filter(
        pk=recipient.pk, delivery_status=DeliveryStatus.NO_CHANNEL
    ).update(delivery_status=DeliveryStatus.EMAILED, delivered_at=timezone.now())
    return "emailed"
