"""Celery tasks of the LINE WORKS integration: thin, take ids, idempotent.

Each task reloads its row and calls a service that claims it atomically, so a task delivered
twice (late ack, sweep re-enqueue) does nothing the second time. Retries are rows with a
``next_attempt_at`` that the sweep re-enqueues, not Celery retries.
"""

from __future__ import annotations

import logging

from celery import shared_task

from lineworks import services

logger = logging.getLogger(__name__)


@shared_task(name="lineworks.process_inbound", acks_late=True, ignore_result=True)
def process_inbound_task(event_id: int) -> str:
    return services.inbound_process(event_id)


@shared_task(name="lineworks.deliver_outbound", acks_late=True, ignore_result=True)
def deliver_outbound_task(message_id: int) -> str:
    return services.outbound_deliver(message_id)


@shared_task(name="lineworks.sync_channel", ignore_result=True)
def sync_channel_task(channel_pk: int) -> None:
    from lineworks.bot import channel_sync
    from lineworks.client import LineWorksError

    try:
        channel_sync(channel_pk)
    except LineWorksError as exc:
        # Room details are a convenience; the join event itself is already recorded.
        logger.warning("lineworks: could not read room %s: %s", channel_pk, exc)


@shared_task(name="lineworks.sweep", ignore_result=True)
def sweep_task() -> dict[str, int]:
    return services.sweep()


@shared_task(name="lineworks.directory_sync", ignore_result=True)
def directory_sync_task() -> str:
    """Nightly (beat): compare the directory with LINE WORKS and tell HQ what differs.
    Applies the differences only when ``LINEWORKS_DIRECTORY_SYNC_APPLY`` is on; otherwise
    HQ reviews them on the directory sync page."""
    from django.conf import settings

    from lineworks.directory import directory_sync_run, report_to_hq

    apply = bool(getattr(settings, "LINEWORKS_DIRECTORY_SYNC_APPLY", False))
    run = directory_sync_run(trigger="beat", apply=apply)
    report_to_hq(run)
    return run.status
