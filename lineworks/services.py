"""Write paths of the LINE WORKS integration: store callbacks, process them, the outbox,
the HQ actions (assign an unmatched sender, retry a failed message) and the beat sweep.

Delivery guarantees
-------------------
Inbound: a callback is stored (``InboundEvent``) before the 200 is returned, and processing
(the report, the bot's reply rows, the event's final status) commits in ONE transaction. A
crash anywhere leaves the event ``received`` and the sweep runs it again: every event is
processed exactly once.

Outbound: LINE WORKS has no idempotency key, so delivery is at least once. A message can be
sent twice only if the API accepted it (201) and the worker died, lost its database or hit a
timeout before the single UPDATE that records ``sent`` (or ``parts_sent``) committed; the
row then stays ``sending`` and, after ``SENDING_LEASE``, the sweep sends it again. The same
holds when the request reached LINE WORKS but the answer was lost (read timeout, connection
reset): the message is retried, since a lost disaster message is worse than a repeated one.
To keep that window small, nothing runs between the API's answer and that UPDATE: it is an
autocommit statement issued immediately, with no transaction around the HTTP call.
"""

from __future__ import annotations

import hashlib
import logging
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from agencies.models import Agency, Member
from audit.registry import register_record
from audit.services import audit_record
from kurashiki_dr import safejson
from lineworks.client import LineWorksClient, LineWorksError, get_client
from lineworks.models import (
    ApiCall,
    BotDraft,
    DraftStatus,
    InboundEvent,
    InboundStatus,
    OutboundMessage,
    OutboundStatus,
)

logger = logging.getLogger(__name__)

OUTBOUND_MAX_ATTEMPTS = 10
OUTBOUND_BACKOFF_BASE = 10.0  # seconds; doubles per attempt
OUTBOUND_BACKOFF_CAP = 900.0
# Countdowns on the broker only for short waits; longer ones are picked up by the sweep.
COUNTDOWN_MAX = 120.0
# A row stays `sending` at most this long (the task's hard time limit is 120 s); after that
# the sweep assumes the worker died and sends again (the duplicate-send window above).
# Optional setting LINEWORKS_SENDING_LEASE (seconds): keep it above CELERY_TASK_TIME_LIMIT.
SENDING_LEASE = timedelta(seconds=int(getattr(settings, "LINEWORKS_SENDING_LEASE", 300)))
INBOUND_MAX_ATTEMPTS = 5
# Rows are re-enqueued by the sweep only when their last enqueue is this old: the broker
# normally delivers long before, and a second enqueue would only be a harmless no-op.
ENQUEUE_GRACE = timedelta(seconds=60)
DRAFT_TIMEOUT = timedelta(minutes=30)
API_CALL_RETENTION = timedelta(days=14)


def backoff(attempts: int, *, retry_after: float | None = None) -> float:
    """Seconds before attempt ``attempts + 1``: exponential, capped, with jitter (so a burst
    of failures does not come back as a burst), and never sooner than LINE WORKS asked."""
    delay = min(OUTBOUND_BACKOFF_CAP, OUTBOUND_BACKOFF_BASE * (2 ** max(0, attempts - 1)))
    delay *= random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not security)
    if retry_after:
        delay = max(delay, float(retry_after))
    return delay


def _eager() -> bool:
    from kurashiki_dr.celery import app

    return bool(app.conf.task_always_eager)


# --- inbound ---------------------------------------------------------------------------------


def inbound_snapshot(event: InboundEvent) -> dict[str, Any]:
    """What the audit chain holds for a stored callback: the SHA-256 of the raw body (as it
    is now, so an edited body no longer matches), who sent it and when it came in."""
    return {
        "id": event.pk,
        "sha256": hashlib.sha256(event.body.encode("utf-8")).hexdigest(),
        "digest": event.digest,
        "received_at": event.received_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "event_type": event.event_type,
        "source_user_id": event.source_user_id,
        "source_channel_id": event.source_channel_id,
    }


# The webhook stores a callback with one INSERT and no audit event (its 200 must not wait
# on the chain's lock); the transaction that processes the row writes the event. Rows not
# yet processed, or whose processing failed and rolled back, have none yet.
register_record(
    InboundEvent,
    inbound_snapshot,
    unvouched=Q(status__in=[InboundStatus.RECEIVED, InboundStatus.FAILED]),
)


def inbound_store(
    *,
    body: bytes,
    digest: str,
    event: dict[str, Any],
    headers: dict[str, str],
    rejected: str = "",
) -> tuple[InboundEvent | None, bool]:
    """Store a verified callback. Returns (event, created); a body stored before gives
    (None, False) and is not processed again. Runs in autocommit: one INSERT.

    ``rejected``: the body is kept but never processed; it is stored ``ignored`` with this
    outcome (e.g. ``invalid:json_too_deep``)."""
    source = event.get("source") if isinstance(event.get("source"), dict) else {}
    now = timezone.now()

    def column(value: Any, size: int) -> str:
        # A lone surrogate or NUL (valid JSON escapes) cannot be stored in a text column.
        return safejson.scrub_text(str(value or ""))[:size]

    stored = InboundEvent(
        digest=digest,
        body=body.decode("utf-8"),
        headers=headers,
        received_at=now,
        enqueued_at=None if rejected else now,  # enqueued after commit, else by the sweep
        event_type=column(event.get("type"), 32),
        source_user_id=column(source.get("userId"), 128),
        source_channel_id=column(source.get("channelId"), 128),
    )
    if rejected:
        stored.status, stored.outcome, stored.processed_at = InboundStatus.IGNORED, rejected, now
    stored.pk = _insert_unless_duplicate(stored)
    if stored.pk is None:
        return None, False
    if not rejected:
        transaction.on_commit(lambda: inbound_enqueue(stored.pk, mark=False))
    return stored, True


def _insert_unless_duplicate(event: InboundEvent) -> int | None:
    """INSERT … ON CONFLICT (digest) DO NOTHING RETURNING id: one round trip, and a duplicate
    neither raises nor spoils an enclosing transaction."""
    quote = connection.ops.quote_name
    fields = [f for f in InboundEvent._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(quote(f.column) for f in fields)
    values = [f.get_db_prep_save(f.pre_save(event, add=True), connection) for f in fields]
    sql = (
        f"INSERT INTO {quote(InboundEvent._meta.db_table)} ({columns}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({quote('digest')}) DO NOTHING RETURNING {quote('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    return row[0] if row else None


def inbound_enqueue(event_id: int, *, mark: bool = True) -> None:
    """Hand the event to a worker. A broker failure is logged, not raised: the row is safe
    and the sweep enqueues it again. ``mark=False``: ``enqueued_at`` is already set (the
    webhook writes it with the row, saving a statement on the hot path)."""
    from lineworks.tasks import process_inbound_task

    if mark:
        InboundEvent.objects.filter(pk=event_id).update(enqueued_at=timezone.now())
    try:
        process_inbound_task.apply_async((event_id,), retry=False)
    except Exception:  # broker down: the sweep retries
        logger.warning("lineworks: could not enqueue inbound event %s", event_id, exc_info=True)


def inbound_process(event_id: int, *, client: LineWorksClient | None = None) -> str:
    """Process one stored callback (the body of ``process_inbound_task``). Safe to call any
    number of times, concurrently: only a ``received`` row is processed, under its row lock.

    1. Fetch what needs the network (a photo's bytes) outside any transaction.
    2. In one transaction: lock the row (skip if another worker holds it), run the bot,
       write the report / reply rows, mark the event done.
    3. On an unexpected error, roll back, count the attempt and leave the row for the sweep
       (failed after INBOUND_MAX_ATTEMPTS, listed for HQ).
    """
    from lineworks import bot

    event_row = InboundEvent.objects.filter(pk=event_id, status=InboundStatus.RECEIVED).first()
    if event_row is None:
        return "skipped"
    try:
        # The body is stored as received; what the bot reads has lone surrogates replaced
        # (U+FFFD) and NULs dropped, so such a text is filed instead of failing for ever.
        payload = safejson.scrub_text(safejson.loads(event_row.body))
        if not isinstance(payload, dict):
            raise ValueError("the stored body is not a JSON object")
        prefetched = bot.prefetch(payload, client=client)
        with transaction.atomic():
            locked = (
                InboundEvent.objects.select_for_update(skip_locked=True)
                .filter(pk=event_id, status=InboundStatus.RECEIVED)
                .first()
            )
            if locked is None:
                return "skipped"
            result = bot.handle(locked, payload, prefetched)
            audit_record(
                actor=None,
                action="lineworks.inbound",
                obj=locked,
                channel="lineworks",
                payload={"record": inbound_snapshot(locked), "outcome": result.outcome[:64]},
            )
            locked.status = result.status
            locked.outcome = result.outcome[:64]
            locked.report = result.report
            locked.attempts = F("attempts") + 1
            locked.processed_at = timezone.now()
            locked.last_error = ""
            locked.save(
                update_fields=[
                    "status",
                    "outcome",
                    "report",
                    "attempts",
                    "processed_at",
                    "last_error",
                ]
            )
        return result.outcome
    except Exception as exc:
        logger.exception("lineworks: processing inbound event %s failed", event_id)
        _inbound_failed(event_id, exc)
        return "error"


def _inbound_failed(event_id: int, exc: Exception) -> None:
    row = InboundEvent.objects.filter(pk=event_id).values("attempts").first()
    if row is None:
        return
    attempts = row["attempts"] + 1
    permanent = isinstance(exc, LineWorksError) and exc.permanent
    InboundEvent.objects.filter(pk=event_id, status=InboundStatus.RECEIVED).update(
        enqueued_at=None,  # the task is over: the sweep may pick it up at next_attempt_at
        attempts=attempts,
        last_error=f"{type(exc).__name__}: {exc}"[:2000],
        next_attempt_at=timezone.now() + timedelta(seconds=backoff(attempts)),
        status=InboundStatus.FAILED
        if permanent or attempts >= INBOUND_MAX_ATTEMPTS
        else InboundStatus.RECEIVED,
    )


def inbound_requeue(queryset: Any) -> int:
    """Put unmatched (or failed) events back to be processed, oldest first, after commit."""
    ids = list(queryset.order_by("received_at", "id").values_list("id", flat=True))
    InboundEvent.objects.filter(pk__in=ids).update(
        status=InboundStatus.RECEIVED, next_attempt_at=None, last_error=""
    )
    for event_id in ids:
        transaction.on_commit(lambda event_id=event_id: inbound_enqueue(event_id))
    return len(ids)


# --- outbound --------------------------------------------------------------------------------


def outbound_create(
    *,
    kind: str,
    contents: list[dict[str, Any]],
    user_id: str = "",
    channel_id: str = "",
    inbound_event: InboundEvent | None = None,
    report: Any | None = None,
    notice_recipient: Any | None = None,
) -> OutboundMessage:
    """Queue a message. Call inside the transaction of the change it reports: the row
    commits with it, and delivery is enqueued only after commit."""
    if bool(user_id) == bool(channel_id):
        raise ValueError("give exactly one of user_id, channel_id")
    if not contents:
        raise ValueError("a message needs at least one content")
    now = timezone.now()
    message = OutboundMessage.objects.create(
        kind=kind,
        to_user_id=user_id,
        to_channel_id=channel_id,
        contents=contents,
        created_at=now,
        next_attempt_at=now,
        inbound_event=inbound_event,
        report=report,
        notice_recipient=notice_recipient,
    )
    transaction.on_commit(lambda: outbound_enqueue(message.pk))
    return message


def outbound_enqueue(message_id: int, *, countdown: float | None = None) -> None:
    from lineworks.tasks import deliver_outbound_task

    at = timezone.now() + timedelta(seconds=countdown or 0)
    OutboundMessage.objects.filter(pk=message_id).update(enqueued_at=at)
    try:
        if countdown:
            deliver_outbound_task.apply_async((message_id,), countdown=countdown, retry=False)
        else:
            deliver_outbound_task.apply_async((message_id,), retry=False)
    except Exception:  # broker down: the sweep retries
        logger.warning(
            "lineworks: could not enqueue outbound message %s", message_id, exc_info=True
        )


def _claim(message_id: int, now: datetime) -> uuid.UUID | None:
    """pending → sending, atomically: of any number of concurrent callers, one wins."""
    token = uuid.uuid4()
    won = OutboundMessage.objects.filter(
        pk=message_id, status=OutboundStatus.PENDING, next_attempt_at__lte=now
    ).update(
        status=OutboundStatus.SENDING,
        claimed_at=now,
        claim_token=token,
        attempts=F("attempts") + 1,
    )
    return token if won else None


def _resolve_uploads(content: dict[str, Any], client: LineWorksClient) -> dict[str, Any]:
    upload = content.get("upload")
    if content.get("type") != "image" or not isinstance(upload, dict):
        return content
    from reports.services import sniff_image_type

    with default_storage.open(upload["storage_name"], "rb") as handle:
        data = handle.read()
    content_type = sniff_image_type(data[:16]) or "application/octet-stream"
    file_id = client.upload_attachment(
        file_name=upload.get("file_name") or "photo.jpg", data=data, content_type=content_type
    )
    return {"type": "image", "fileId": file_id}


def outbound_deliver(
    message_id: int, *, client: LineWorksClient | None = None, now: datetime | None = None
) -> str:
    """Deliver one outbox row (the body of ``deliver_outbound_task``). Idempotent: a row that
    is not pending and due is left alone.

    1. Claim the row with a conditional UPDATE (pending → sending, attempts + 1).
    2. Send the contents not yet accepted, in order; after each 201, record it at once
       (the last one together with `sent`).
    3. Transient error: back to pending with an exponential, jittered ``next_attempt_at``
       (failed after OUTBOUND_MAX_ATTEMPTS). Permanent error: failed, shown to HQ.
    4. Run the delivery hook (a notice's delivery status) for a final state.
    """
    now = now or timezone.now()
    token = _claim(message_id, now)
    if token is None:
        return "skipped"
    message = OutboundMessage.objects.get(pk=message_id)
    mine = OutboundMessage.objects.filter(pk=message_id, claim_token=token)
    client = client or get_client()
    total = len(message.contents)
    try:
        for index in range(message.parts_sent, total):
            content = _resolve_uploads(message.contents[index], client)
            client.send_message(
                content, user_id=message.to_user_id, channel_id=message.to_channel_id
            )
            # ---- duplicate-send window: from the 201 above to the commit of this UPDATE ----
            if index + 1 == total:
                mine.update(
                    parts_sent=total,
                    status=OutboundStatus.SENT,
                    sent_at=timezone.now(),
                    last_error="",
                    last_status_code=201,
                    claim_token=None,
                )
            else:
                mine.update(parts_sent=index + 1)
    except LineWorksError as exc:
        return _delivery_failed(message, mine, exc, now)
    except Exception as exc:  # a bug or a broken row must not stay `sending` forever
        logger.exception("lineworks: delivering outbound message %s failed", message_id)
        error = LineWorksError(f"{type(exc).__name__}: {exc}", permanent=True, code="INTERNAL")
        return _delivery_failed(message, mine, error, now)
    if message.notice_recipient_id:  # the only delivery hook so far
        outbound_finalize(message_id)
    return "sent"


def _delivery_failed(
    message: OutboundMessage, mine: Any, exc: LineWorksError, now: datetime
) -> str:
    attempts = message.attempts
    # A locally refused call (rate limit already known to be spent) did not reach LINE WORKS.
    if exc.code == "RATE_LIMITED_LOCALLY":
        attempts -= 1
    give_up = exc.permanent or attempts >= OUTBOUND_MAX_ATTEMPTS
    if give_up:
        mine.update(
            status=OutboundStatus.FAILED,
            attempts=attempts,
            last_error=str(exc)[:2000],
            last_status_code=exc.status,
            claim_token=None,
        )
        logger.warning("lineworks: outbound message %s failed for good: %s", message.pk, exc)
        if message.notice_recipient_id:
            outbound_finalize(message.pk)
        return "failed"
    delay = backoff(attempts, retry_after=exc.retry_after)
    updated = mine.update(
        status=OutboundStatus.PENDING,
        attempts=attempts,
        last_error=str(exc)[:2000],
        last_status_code=exc.status,
        next_attempt_at=now + timedelta(seconds=delay),
        claim_token=None,
        enqueued_at=None,  # the sweep takes it at next_attempt_at unless a countdown does
    )
    logger.info("lineworks: outbound message %s retry in %.0f s: %s", message.pk, delay, exc)
    if updated and delay <= COUNTDOWN_MAX and not _eager():
        outbound_enqueue(message.pk, countdown=delay)
    return "retry"


def outbound_finalize(message_id: int) -> None:
    """Report a final state (sent or failed) to whoever waits for it. Safe to call twice;
    the sweep calls it for rows whose worker died in between."""
    message = (
        OutboundMessage.objects.filter(
            pk=message_id,
            finalized=False,
            status__in=[OutboundStatus.SENT, OutboundStatus.FAILED],
        )
        .only("id", "status", "sent_at", "last_error", "notice_recipient_id")
        .first()
    )
    if message is None:
        return
    if message.notice_recipient_id:
        from notices.services import notice_mark_delivery

        notice_mark_delivery(
            recipient_id=message.notice_recipient_id,
            delivered=message.status == OutboundStatus.SENT,
            error=message.last_error,
            at=message.sent_at,
        )
    OutboundMessage.objects.filter(pk=message_id).update(finalized=True)


def outbound_retry(*, message: OutboundMessage, user: Any) -> bool:
    """HQ sends a failed message again (e.g. after the bot was added back to the room)."""
    with transaction.atomic():
        updated = OutboundMessage.objects.filter(
            pk=message.pk, status=OutboundStatus.FAILED
        ).update(
            status=OutboundStatus.PENDING,
            attempts=0,
            next_attempt_at=timezone.now(),
            finalized=False,
        )
        if not updated:
            return False
        audit_record(
            actor=user,
            action="lineworks.outbound_retry",
            obj=message,
            payload={"destination": message.destination, "last_error": message.last_error},
        )
        transaction.on_commit(lambda: outbound_enqueue(message.pk))
    return True


# --- HQ: unmatched senders -------------------------------------------------------------------


def unmatched_assign_user(*, user_id: str, member: Member, by: Any, replace: bool = False) -> int:
    """HQ links a LINE WORKS user id to a member; that sender's stored messages are then
    processed, oldest first. Returns how many events were queued again.

    A member who already has another id keeps it unless ``replace`` (the page's confirmation
    step): agencies.services.WouldReplace says what would be replaced. The write and its
    audit event are the directory's (``member_set_lineworks_id``)."""
    from agencies.services import member_set_lineworks_id

    with transaction.atomic():
        member_set_lineworks_id(
            member=member,
            lineworks_user_id=user_id,
            actor=by,
            replace=replace,
            via="lineworks.unmatched",
        )
        return _requeue_sender(member.lineworks_user_id)


def unmatched_create_member(
    *,
    user_id: str,
    display_name: str,
    agency: Agency,
    role: str,
    by: Any,
    username: str = "",
    password: str = "",
) -> tuple[Member, int]:
    """HQ registers an unknown sender as a new member (agencies.services.member_create, one
    audited write), then the sender's stored messages are processed. Returns (member, queued)."""
    from agencies.services import member_create

    if not (user_id or "").strip():
        raise ValidationError({"lineworks_user_id": _("LINE WORKS ユーザーIDがありません。")})
    with transaction.atomic():
        member = member_create(
            display_name=display_name,
            agency=agency,
            role=role,
            actor=by,
            lineworks_user_id=user_id,
            username=username,
            password=password,
            via="lineworks.unmatched",
        )
        return member, _requeue_sender(member.lineworks_user_id)


def _requeue_sender(user_id: str) -> int:
    return inbound_requeue(
        InboundEvent.objects.filter(status=InboundStatus.UNMATCHED, source_user_id=user_id)
    )


def unmatched_assign_channel(*, channel_id: str, agency: Agency, by: Any) -> int:
    """HQ links a talk room to an agency; the room's stored messages are then processed."""
    channel_id = channel_id.strip()
    if not channel_id:
        raise ValidationError({"channel_id": _("トークルームIDがありません。")})
    with transaction.atomic():
        taken = Agency.objects.filter(lineworks_channel_id=channel_id).exclude(pk=agency.pk).first()
        if taken is not None:
            raise ValidationError(
                {
                    "channel_id": _("このトークルームはすでに %(a)s に割り当てられています。")
                    % {"a": taken}
                }
            )
        locked = Agency.objects.select_for_update().get(pk=agency.pk)
        previous = locked.lineworks_channel_id
        locked.lineworks_channel_id = channel_id
        locked.save(update_fields=["lineworks_channel_id", "updated_at"])
        audit_record(
            actor=by,
            action="lineworks.assign_channel",
            obj=locked,
            payload={"lineworks_channel_id": channel_id, "previous": previous},
        )
        return inbound_requeue(
            InboundEvent.objects.filter(
                status=InboundStatus.UNMATCHED, source_channel_id=channel_id
            )
        )


# --- the beat sweep ----------------------------------------------------------------------------


def sweep(*, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Re-enqueue what the broker lost or what waits for a retry; recover dead workers'
    claims; file unanswered drafts; prune old API call records. Safe to run concurrently
    with workers and with itself (every step ends in an atomic claim)."""
    from lineworks import bot

    now = now or timezone.now()
    stale = now - ENQUEUE_GRACE
    counts = {"inbound": 0, "outbound": 0, "recovered": 0, "finalized": 0, "drafts": 0}

    inbound = InboundEvent.objects.filter(status=InboundStatus.RECEIVED).filter(
        Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale)
    )
    inbound = inbound.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    for event_id in inbound.order_by("received_at", "id").values_list("id", flat=True)[:limit]:
        inbound_enqueue(event_id)
        counts["inbound"] += 1

    # Workers that died while sending: their rows go back to pending (see the module
    # docstring: this is where a duplicate send can come from).
    counts["recovered"] = OutboundMessage.objects.filter(
        status=OutboundStatus.SENDING, claimed_at__lt=now - SENDING_LEASE
    ).update(
        status=OutboundStatus.PENDING,
        claim_token=None,
        next_attempt_at=now,
        last_error="送信中に処理が中断されました（再送します）",
    )

    due = OutboundMessage.objects.filter(
        status=OutboundStatus.PENDING, next_attempt_at__lte=now
    ).filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale))
    for message_id in due.order_by("next_attempt_at", "id").values_list("id", flat=True)[:limit]:
        outbound_enqueue(message_id)
        counts["outbound"] += 1

    for message_id in OutboundMessage.objects.filter(
        finalized=False,
        status__in=[OutboundStatus.SENT, OutboundStatus.FAILED],
        notice_recipient__isnull=False,
    ).values_list("id", flat=True)[:limit]:
        outbound_finalize(message_id)
        counts["finalized"] += 1

    for draft_id in BotDraft.objects.filter(
        status=DraftStatus.OPEN, created_at__lt=now - DRAFT_TIMEOUT
    ).values_list("id", flat=True)[:limit]:
        if bot.draft_expire(draft_id):
            counts["drafts"] += 1

    ApiCall.objects.filter(at__lt=now - API_CALL_RETENTION).delete()
    return counts
