"""Celery tasks of notices: thin, take ids, idempotent."""

from __future__ import annotations

from celery import shared_task

from notices.email import notice_email_deliver


@shared_task(name="notices.email", ignore_result=True)
def notice_email_task(recipient_id: int) -> str:
    return notice_email_deliver(recipient_id)
