"""Scheduled chain work. Thin: each task calls one service."""

from __future__ import annotations

from celery import shared_task
from django.contrib.auth import get_user_model
from django.core.cache import cache

from audit.models import AnchorTrigger
from audit.services import chain_anchor_publish, chain_verify

# One verification at a time: a run reads the whole chain and takes minutes at millions.
_VERIFY_LOCK = "audit:chain-verify:running"
_VERIFY_LOCK_SECONDS = 15 * 60


@shared_task(acks_late=True)
def chain_anchor_publish_task(user_id: int | None = None, force: bool = False) -> int | None:
    """Publish the chain head (beat: hourly; the auditors' button: on demand).

    Idempotent enough for late acks: a second run finds nothing new and does nothing
    (unless ``force``, where a duplicate anchor of the same head is harmless)."""
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    anchor = chain_anchor_publish(
        actor=user,
        trigger=AnchorTrigger.MANUAL if user else AnchorTrigger.SCHEDULE,
        force=force,
    )
    return anchor.pk if anchor else None


@shared_task(
    acks_late=True, time_limit=_VERIFY_LOCK_SECONDS, soft_time_limit=_VERIFY_LOCK_SECONDS - 60
)
def chain_verify_task(user_id: int | None = None) -> int | None:
    """Verify the chain and keep the result; skipped while another run is going."""
    if not cache.add(_VERIFY_LOCK, 1, timeout=_VERIFY_LOCK_SECONDS):
        return None
    try:
        user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
        run = chain_verify(
            user=user, trigger=AnchorTrigger.MANUAL if user else AnchorTrigger.SCHEDULE
        )
        return run.pk
    finally:
        cache.delete(_VERIFY_LOCK)
