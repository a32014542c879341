"""Signal receivers: web/API reports, notices and audit anchors go out through the outbox.

They run inside the sender's transaction (reports/signals.py): they only write outbox rows;
delivery is enqueued on commit by ``outbound_create``.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from audit.models import AuditEvent
from audit.registry import record_matches
from audit.services import event_intact
from lineworks import content
from lineworks.models import OutboundKind
from lineworks.services import outbound_create

_NOTICE_INLINE_MAX = 900


def _hq_channel() -> str:
    return settings.LINEWORKS_HQ_CHANNEL_ID or ""


def on_report_recorded(sender: Any, revision: Any, **kwargs: Any) -> None:
    """Mirror web and API reports (and their corrections) to HQ's talk room."""
    from lineworks.bot import fields_read_back
    from reports.models import ReportChannel, RevisionKind

    channel = _hq_channel()
    if not channel or revision.channel not in (ReportChannel.WEB, ReportChannel.API):
        return
    report = revision.report
    with translation.override("ja"):
        origin = _("Web") if revision.channel == ReportChannel.WEB else _("API")
        if revision.kind == RevisionKind.WITHDRAWAL:
            heading = _("【取消・%(o)s】%(n)s（%(a)s）") % {
                "o": origin,
                "n": report.number,
                "a": report.agency.name,
            }
            lines = [heading, _("理由: %(r)s") % {"r": revision.reason}]
        else:
            label = _("訂正") if revision.kind == RevisionKind.CORRECTION else _("報告")
            heading = _("【%(l)s・%(o)s】%(n)s（%(a)s）") % {
                "l": label,
                "o": origin,
                "n": report.number,
                "a": report.agency.name,
            }
            lines = [heading, *fields_read_back(revision.category, revision.fields)]
            if revision.text:
                lines.append(_("本文: %(t)s") % {"t": revision.text[:500]})
            if revision.reason:
                lines.append(_("訂正理由: %(r)s") % {"r": revision.reason})
        contents = [content.text("\n".join(lines))]
        site = getattr(settings, "SITE_URL", "")
        if site:
            contents.append(
                content.link(
                    _("ポータルで確認"),
                    report.number,
                    f"{site.rstrip('/')}/reports/{report.pk}/",
                )
            )
    outbound_create(kind=OutboundKind.MIRROR, contents=contents, channel_id=channel, report=report)


def on_notice_issued(sender: Any, notice: Any, recipients: list[Any], **kwargs: Any) -> None:
    """One message per recipient agency with a talk room, with a 了解 button that comes back
    as ``notice_ack:<notice id>``."""
    with translation.override("ja"):
        heading = f"【{notice.get_kind_display()}】{notice.title}"
        full = f"{heading}\n{notice.body}"
        ack = content.message_action(_("了解"), postback=f"notice_ack:{notice.pk}")
        if len(full) <= _NOTICE_INLINE_MAX:
            contents = [content.button_template(full, [ack])]
        else:
            contents = [
                content.text(full),
                content.button_template(
                    _("%(h)s\n確認したら「了解」を押してください。") % {"h": heading}, [ack]
                ),
            ]
    for recipient in recipients:
        channel = recipient.agency.lineworks_channel_id
        if not channel or recipient.agency.external_tenant:
            continue
        outbound_create(
            kind=OutboundKind.NOTICE,
            contents=contents,
            channel_id=channel,
            notice_recipient=recipient,
        )


def on_chain_anchored(sender: Any, text: str, anchor: Any = None, **kwargs: Any) -> None:
    channel = _hq_channel()
    if channel and text:
        outbound_create(kind=OutboundKind.ANCHOR, contents=[content.text(text)], channel_id=channel)


def resolve_inbound(ref: str) -> Any:
    """The raw LINE WORKS callback behind a revision (``lineworks:inbound:<id>``), for the
    auditor's history page and the evidence bundle."""
    from audit.registry import SourceDocument
    from lineworks.models import InboundEvent

    try:
        pk = int(ref.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None
    event = InboundEvent.objects.filter(pk=pk).first()
    if event is None:
        return None
    try:
        text = (json.loads(event.body).get("content") or {}).get("text") or ""
    except (ValueError, AttributeError):
        text = ""
    summary = {_("送信者"): event.source_user_id, _("トーク"): event.source_channel_id}
    if text:
        summary[_("本文")] = text
    return SourceDocument(
        ref=ref,
        label=_("LINE WORKS 受信 #%(n)s") % {"n": event.pk},
        body=event.body,
        content_type="application/json",
        received_at=event.received_at,
        summary=summary,
        intact=_inbound_intact(event),
    )


def _inbound_intact(event: Any) -> bool | None:
    """The stored callback against the audit event written when it was processed."""
    audited = (
        AuditEvent.objects.filter(
            object_type=event._meta.label_lower, object_id=str(event.pk), payload__has_key="record"
        )
        .order_by("-id")
        .first()
    )
    if audited is None:
        return None
    return event_intact(audited) and record_matches(event, audited.payload["record"])
