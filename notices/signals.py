"""Sent by notices.services inside the transaction (see reports/signals.py for the rules)."""

from __future__ import annotations

from django.dispatch import Signal

# kwargs: notice (Notice), recipients (list[NoticeRecipient])
notice_issued = Signal()
