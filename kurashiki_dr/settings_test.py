"""Settings for the test suite: the real settings, pointed at the local services.

PostgreSQL and Redis are used when they answer (as in CI, where REQUIRE_SERVICES=1 turns their
absence into an error); otherwise the suite falls back to SQLite and in-memory stand-ins.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1
        ):
            return True
    except OSError:
        return False


_require = os.environ.get("REQUIRE_SERVICES") == "1"
_pg = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kurashiki")
_redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")

if _pg.startswith("postgres") and _reachable(_pg, 5432):
    os.environ["DATABASE_URL"] = _pg
elif _require:
    raise RuntimeError(f"REQUIRE_SERVICES=1 but PostgreSQL does not answer at {_pg}")
else:
    os.environ["DATABASE_URL"] = "sqlite:///:memory:"

if _reachable(_redis, 6379):
    os.environ["REDIS_URL"] = _redis
elif _require:
    raise RuntimeError(f"REQUIRE_SERVICES=1 but Redis does not answer at {_redis}")
else:
    os.environ.pop("REDIS_URL", None)

os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault(
    "KDR_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test")
)
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")

from kurashiki_dr.settings import *  # noqa: E402,F403
from kurashiki_dr.settings import REDIS_URL  # noqa: E402

SERVICES = {
    "postgresql": DATABASES["default"]["ENGINE"].endswith("postgresql"),  # noqa: F405
    "redis": bool(REDIS_URL),
}
# Unit tests run tasks in-process; integration tests start a real worker and flip this off.
CELERY_TASK_ALWAYS_EAGER = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = os.path.join(os.environ["KDR_VAR_DIR"], "media")
