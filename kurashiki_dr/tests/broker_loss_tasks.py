"""A task for the broker-loss test only (imported into its worker with ``--include``)."""

from __future__ import annotations

import time

from kurashiki_dr.celery import app


@app.task(name="tests.broker_loss.busy")
def busy(seconds: float) -> float:
    """Keep the worker busy, so that its ack falls in the Redis outage."""
    time.sleep(seconds)
    return seconds
