"""Settings of the fault-injection suite: the production settings (DJANGO_DEBUG off, read from
the environment like any deployment), with two timings shortened so that a send interrupted
by a killed worker is retried within the suite's few minutes instead of after five.

The sending lease must stay above the task's hard time limit (lineworks/services.py): a row
can only be taken back from a worker that can no longer be running.
"""

from __future__ import annotations

from kurashiki_dr.settings import *  # noqa: F403

CELERY_TASK_TIME_LIMIT = 60
CELERY_TASK_SOFT_TIME_LIMIT = 50
LINEWORKS_SENDING_LEASE = 90
