"""manage.py on a developer's checkout: the local settings and the `.env` that `make run`
writes; a deployment selects production explicitly (run as real processes, clean environment).
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kurashiki_dr import local_env

ROOT = Path(__file__).resolve().parents[2]
PRINT_SETTINGS = (
    "from django.conf import settings as s; "
    "print(s.SETTINGS_MODULE, s.DEBUG, s.DEMO_MODE, s.SECRET_KEY, s.DATABASES['default']['ENGINE'])"
)


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """What a developer's shell has: no DJANGO_*, no DATABASE_URL, nothing of the test run."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "KDR_ENV_FILE": str(tmp_path / ".env"),
        "KDR_VAR_DIR": str(tmp_path / "var"),
        **extra,
    }


def manage(env: dict[str, str], *args: str, stdin: str | None = None):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_env_file(path: Path) -> subprocess.CompletedProcess:
    """What `make run` does: python -m kurashiki_dr.local_env PATH."""
    return subprocess.run(
        [sys.executable, "-m", "kurashiki_dr.local_env", str(path)],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_make_run_env_file_has_debug_demo_and_a_generated_secret(tmp_path):
    path = tmp_path / ".env"
    assert "written" in write_env_file(path).stdout
    text = path.read_text(encoding="utf-8")
    assert "DJANGO_DEBUG=1" in text
    assert "KDR_DEMO_MODE=1" in text
    secret = re.search(r"^DJANGO_SECRET_KEY=(\S+)$", text, re.M).group(1)
    assert len(secret) >= 50
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds a secret
    # Written once: a second `make run` keeps the developer's file (and its sessions' key).
    assert "left as it is" in write_env_file(path).stdout
    assert path.read_text(encoding="utf-8") == text
    other = tmp_path / "other.env"
    write_env_file(other)
    assert secret not in other.read_text(encoding="utf-8")


def test_manage_py_reads_the_env_file_without_exporting_anything(tmp_path):
    write_env_file(tmp_path / ".env")
    secret = re.search(
        r"^DJANGO_SECRET_KEY=(\S+)$", (tmp_path / ".env").read_text(encoding="utf-8"), re.M
    ).group(1)
    env = clean_env(tmp_path)
    result = manage(env, "shell", "-c", PRINT_SETTINGS)
    assert result.returncode == 0, result.stderr
    module, debug, demo, key, engine = result.stdout.strip().splitlines()[-1].split()
    assert (module, debug, demo) == ("kurashiki_dr.settings_local", "True", "True")
    assert key == secret
    assert engine.endswith("sqlite3")
    check = manage(env, "check")
    assert check.returncode == 0, check.stderr
    assert "no issues" in check.stdout


def test_readme_commands_run_on_a_local_checkout(tmp_path):
    """The README's command table, as written, after `make run` (migrate, seed_demo)."""
    write_env_file(tmp_path / ".env")
    env = clean_env(tmp_path)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Commands", 1)[1]
    commands = re.findall(r"^\| `\.venv/bin/python manage\.py (\w+)", table, re.M)
    assert len(commands) >= 7, commands
    assert manage(env, "migrate", "--noinput").returncode == 0
    seeded = manage(env, "seed_demo", "--once")
    assert seeded.returncode == 0, seeded.stderr
    for command in commands:
        result = manage(env, command, "--help")
        assert result.returncode == 0, f"{command}: {result.stderr}"
    parsed = manage(env, "parse_report", stdin="箭田小学校 避難者数 214名\n")
    assert parsed.returncode == 0, parsed.stderr
    assert "214" in parsed.stdout
    verified = manage(env, "verify_audit_chain")
    assert verified.returncode == 0, verified.stderr + verified.stdout
    token = manage(env, "drf_create_token", "demo-hq")
    assert token.returncode == 0, token.stderr
    assert re.search(r"[0-9a-f]{40}", token.stdout)
    # make run's demo LINE WORKS keys; then the fake runs as written, nothing exported.
    assert manage(env, "lineworks_demo_keys").returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fake = subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "run_fake_lineworks", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(  # noqa: S310 (the fake on 127.0.0.1)
                    f"http://127.0.0.1:{port}/_fake/health", timeout=2
                ) as response:
                    assert json.loads(response.read())["ok"]
                    break
            except OSError:
                assert fake.poll() is None, fake.stdout.read().decode()
                assert time.monotonic() < deadline, "the fake LINE WORKS did not answer"
                time.sleep(0.2)
    finally:
        fake.terminate()
        fake.wait(timeout=10)


def test_the_environment_wins_over_the_env_file(tmp_path):
    write_env_file(tmp_path / ".env")
    result = manage(clean_env(tmp_path, DJANGO_DEBUG="0"), "check")
    assert result.returncode != 0
    assert "DJANGO_ALLOWED_HOSTS must be set" in result.stderr


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY must be set"),
        ("DJANGO_ALLOWED_HOSTS", "DJANGO_ALLOWED_HOSTS must be set"),
        ("DATABASE_URL", "requires PostgreSQL"),
    ],
)
def test_production_settings_ignore_the_env_file_and_refuse(tmp_path, missing, message):
    """A deployment that selects production is not rescued by a developer's .env."""
    write_env_file(tmp_path / ".env")
    production = {
        "DJANGO_SETTINGS_MODULE": "kurashiki_dr.settings",
        "DJANGO_SECRET_KEY": "a-long-random-secret-for-the-test-0123456789abcdefghijklmnop",
        "DJANGO_ALLOWED_HOSTS": "bousai.city.kurashiki.okayama.jp",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/kurashiki",
    }
    del production[missing]
    result = manage(clean_env(tmp_path, **production), "check")
    assert result.returncode != 0
    assert message in result.stderr
    assert "kurashiki_dr.settings." in result.stderr  # says which settings refused


def test_wsgi_and_celery_default_to_production(tmp_path):
    """gunicorn and Celery started without DJANGO_SETTINGS_MODULE get production, which
    refuses to start without a secret key, even beside a developer's .env."""
    write_env_file(tmp_path / ".env")
    for snippet in (
        "import kurashiki_dr.wsgi",
        "from kurashiki_dr.celery import app; print(app.conf.broker_url)",
    ):
        result = subprocess.run(
            [sys.executable, "-c", snippet],
            cwd=ROOT,
            env=clean_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode != 0, snippet
        assert "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off" in result.stderr


def test_deployment_files_select_production_explicitly():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"DJANGO_SETTINGS_MODULE=kurashiki_dr\.settings\b(?!_)", dockerfile)
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert re.search(r"DJANGO_SETTINGS_MODULE: kurashiki_dr\.settings\s*$", compose, re.M)
    assert re.search(r'DJANGO_DEBUG: "0"', compose)
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert re.search(r"^DJANGO_SETTINGS_MODULE=kurashiki_dr\.settings$", example, re.M)
    assert re.search(r"^DJANGO_DEBUG=0$", example, re.M)


def test_env_file_location_follows_kdr_env_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KDR_ENV_FILE", str(tmp_path / "elsewhere.env"))
    assert local_env.env_file() == tmp_path / "elsewhere.env"
    monkeypatch.delenv("KDR_ENV_FILE")
    assert local_env.env_file() == ROOT / ".env"
