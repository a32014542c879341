from __future__ import annotations

from kurashiki_dr.celery import app as celery_app

__all__ = ["celery_app"]
