"""Settings for manage.py on a developer's machine (manage.py's default).

The checkout's `.env` (``make run`` writes it: DEBUG on, demo mode, a generated secret key)
is read first, without overriding the environment; DEBUG then defaults to on, and LINE WORKS
to the demo's fake server once `make run` has made its keys. Everything else is
``kurashiki_dr/settings.py``, unchanged.

Production never uses this module: the deployment selects ``kurashiki_dr.settings``
explicitly (the Dockerfile, docker-compose.yml and .env.example set
DJANGO_SETTINGS_MODULE), and those settings refuse to start without a secret key, allowed
hosts and PostgreSQL. gunicorn (``kurashiki_dr.wsgi``) and Celery default to them as well.
"""

from __future__ import annotations

import os

from kurashiki_dr import local_env

local_env.load()
os.environ.setdefault("DJANGO_DEBUG", "1")
local_env.use_demo_lineworks()

from kurashiki_dr.settings import *  # noqa: E402,F403
