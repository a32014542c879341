"""The portal's settings with the bare-ingest URLconf: the baseline of ``bench.ingest_bench``
runs under the same settings, middleware and gunicorn flags as the webhook."""

from __future__ import annotations

from kurashiki_dr.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bare_urls"
