"""Production mode refuses to start on nonsense (run as a real process, as a deploy would)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "a-long-random-secret-for-the-test-0123456789abcdefghijklmnop",
    "DJANGO_ALLOWED_HOSTS": "bousai.city.kurashiki.okayama.jp",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/kurashiki",
}


def run_check(env_changes: dict[str, str | None], *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    env.update({k: v for k, v in {**GOOD, **env_changes}.items() if v is not None})
    env["DJANGO_SETTINGS_MODULE"] = "kurashiki_dr.settings"
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_ALLOWED_HOSTS": None}, "DJANGO_ALLOWED_HOSTS must be set"),
        ({"DATABASE_URL": None}, "requires PostgreSQL"),
        ({"DATABASE_URL": "sqlite:////tmp/x.sqlite3"}, "requires PostgreSQL"),
        ({"DJANGO_DEBUG": "maybe"}, "is not a boolean"),
        ({"KDR_PHOTO_MAX_BYTES": "ten"}, "is not an integer"),
        ({"DATABASE_URL": "mysql-ish://nonsense"}, "DATABASE_URL"),
        ({"KDR_TRUSTED_PROXIES": "-1"}, "KDR_TRUSTED_PROXIES=-1 must be at least 0"),
        ({"KDR_CLIENT_IP_HEADER": "X-Forwarded-For: 1.2.3.4"}, "is not an HTTP header name"),
        ({"KDR_PHOTO_MAX_PIXELS": "40MP"}, "is not an integer"),
    ],
)
def test_production_refuses_to_start(changes, message):
    result = run_check(changes)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_settings_pass_the_deploy_check():
    result = run_check({}, "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_secret_can_come_from_a_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("file-based-secret-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG\n")
    result = run_check({"DJANGO_SECRET_KEY": None, "DJANGO_SECRET_KEY_FILE": str(secret)})
    assert result.returncode == 0, result.stderr
