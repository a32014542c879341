"""`make test` without Chromium skips the browser tests only, with one line saying why; CI,
which requires them, fails instead (pytest run as a real process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BROWSER_TEST = "reports/tests/test_api_schema.py::test_docs_render_in_chromium_without_the_internet"
OTHER_TEST = "reports/tests/test_api_schema.py::test_docs_page_has_no_external_urls"


def run_pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CI", "REQUIRE_SERVICES", "KDR_CHROMIUM", "PYTEST_ADDOPTS")
        and not k.startswith("PYTEST_XDIST")
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", BROWSER_TEST, OTHER_TEST],
        cwd=ROOT,
        env={
            **base,
            "KDR_CHROMIUM": str(tmp_path / "no-chromium"),
            # Its own in-memory database and no Redis: never the test database of this run.
            "DATABASE_URL": "sqlite:///:memory:",
            "REDIS_URL": "redis://127.0.0.1:1/0",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_without_chromium_only_browser_tests_are_skipped_with_one_line(tmp_path):
    result = run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 1 skipped" in result.stdout
    reasons = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(reasons) == 1
    assert "browser test skipped: Chromium not found" in reasons[0]
    assert str(tmp_path / "no-chromium") in reasons[0]


def test_ci_fails_when_chromium_is_missing(tmp_path):
    result = run_pytest(tmp_path, CI="true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed, 1 error" in result.stdout
    assert "Chromium not found" in result.stdout
    assert "required when CI or REQUIRE_SERVICES=1" in result.stdout
