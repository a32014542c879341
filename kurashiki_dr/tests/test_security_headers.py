"""The Content-Security-Policy and Permissions-Policy headers, through HTTP.

Every page and API answer carries both; scripts may come only from the portal itself; the
pages hand the browser no inline script, event handler or style attribute for the policy to
block. The browser side (no violation on any page) is test_browser_csp.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.template import loader

from conftest import login
from kurashiki_dr.security import tile_sources
from notices.services import notice_send
from reports import services

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def policy(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def assert_strict(response) -> dict[str, list[str]]:
    csp = policy(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"]
    assert "data:" in csp["img-src"] and "'self'" in csp["img-src"]
    assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"]
    permissions = response.headers["Permissions-Policy"]
    assert "geolocation=(self)" in permissions
    for feature in ("camera", "microphone", "payment", "usb"):
        assert f"{feature}=()" in permissions
    return csp


@pytest.fixture
def located_report(reporter_a, agency_a):
    return services.report_submit(
        agency=agency_a,
        author=reporter_a,
        category="evacuees",
        fields={"facility": "箭田小学校", "count": 120, "households": 45},
        text="体育館に避難中。毛布が不足しています。",
        location={"lat": 34.6371, "lng": 133.6921},
    )


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        ("anonymous", "/accounts/login/", 200),
        ("anonymous", "/no-such-page/", 404),
        ("anonymous", "/api/v1/reports/", 401),
        ("hq", "/dashboard/", 200),
        ("hq", "/dashboard/print/", 200),
        ("hq", "/reports/new/", 200),
        ("hq", "/api/v1/situation/", 200),
        ("reporter_a", "/reports/mine/", 200),
        ("reporter_a", "/dashboard/", 403),
        ("reporter_a", "/api/v1/reports/", 200),
        ("auditor", "/audit/", 200),
    ],
)
def test_pages_and_api_answers_carry_both_policies(cast, role, path, status):
    response = login(cast[role]).get(path)
    assert response.status_code == status
    csp = assert_strict(response)
    assert csp["style-src"] == ["'self'"]


def test_browsable_api_may_style_inline_but_scripts_stay_strict(hq_user):
    response = login(hq_user).get("/api/v1/reports/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert "text/html" in response.headers["Content-Type"]
    csp = assert_strict(response)
    assert "'unsafe-inline'" in csp["style-src"]
    # The same endpoint as JSON keeps the strict style policy.
    as_json = login(hq_user).get("/api/v1/reports/", HTTP_ACCEPT="application/json")
    assert policy(as_json)["style-src"] == ["'self'"]


def test_docs_page_has_no_inline_script():
    from django.test import Client

    response = Client().get("/api/docs/")
    csp = assert_strict(response)
    assert "'unsafe-inline'" in csp["style-src"]  # Swagger UI's <style> block, this page only
    html = response.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)


def _inline_problems(html: str) -> list[str]:
    problems = []
    for tag in re.findall(r"<script\b[^>]*>", html):
        if "src=" not in tag and 'type="application/json"' not in tag:
            problems.append(tag)
    problems += re.findall(r"<style\b[^>]*>", html)
    problems += re.findall(r"<[a-z][^>]*\sstyle=[^>]*>", html)
    problems += re.findall(r"<[a-z][^>]*\son[a-z]+=[^>]*>", html)
    return problems


def test_pages_hold_no_inline_script_handler_or_style(
    hq_user, reporter_a, agency_a, agency_b, auditor, located_report, settings
):
    settings.DEMO_MODE = True
    incident = services.incident_open(user=hq_user, title="小田川 決壊（真備地区 浸水）")
    notice = notice_send(
        user=hq_user,
        kind="muster",
        title="第1次参集",
        body="真備支所に18時までに参集してください。",
        agencies=[agency_a, agency_b],
    )
    pk = located_report.pk
    pages = {
        hq_user: [
            "/dashboard/",
            "/dashboard/print/",
            "/dashboard/incidents/",
            f"/dashboard/incidents/{incident.pk}/",
            "/reports/",
            "/reports/new/",
            f"/reports/{pk}/",
            "/notices/",
            "/notices/new/",
            f"/notices/{notice.pk}/",
            "/lineworks/outbox/",
            "/lineworks/unmatched/",
        ],
        reporter_a: ["/reports/mine/", f"/reports/{pk}/correct/", f"/reports/{pk}/withdraw/"],
        auditor: ["/audit/", "/audit/events/", "/audit/chain/", f"/audit/reports/{pk}/"],
        None: ["/accounts/login/", "/no-such-page/"],
    }
    for user, paths in pages.items():
        client = login(user)
        for path in paths:
            response = client.get(path)
            assert response.status_code in (200, 404), path
            assert _inline_problems(response.content.decode()) == [], path
    # The server-error page is rendered without a request context.
    assert _inline_problems(loader.render_to_string("500.html")) == []


def test_report_map_settings_reach_the_script_as_json(hq_user, located_report, settings):
    settings.MAP_TILES_URL = "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png"
    settings.MAP_TILES_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/">OSM</a>'
    html = login(hq_user).get(f"/reports/{located_report.pk}/").content.decode()
    raw = html.split('<script id="map-config" type="application/json">')[1].split("</script>")[0]
    config = json.loads(raw)
    assert config["tiles"]["url"] == settings.MAP_TILES_URL
    assert config["tiles"]["attribution"] == settings.MAP_TILES_ATTRIBUTION
    assert config["center"] == [34.585, 133.772]
    assert "<a" not in raw  # json_script escapes markup inside the JSON


@pytest.mark.parametrize(
    ("template", "sources"),
    [
        (
            "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png",
            ["https://*.tile.openstreetmap.org"],
        ),
        (
            "https://cyberjapandata.gsi.go.jp/xyz/std/{z}/{x}/{y}.png",
            ["https://cyberjapandata.gsi.go.jp"],
        ),
        (
            "https://tile{s}.maps.example.jp:8443/{z}/{x}/{y}.png",
            ["https://*.maps.example.jp:8443"],
        ),
        ("http://127.0.0.1:8081/tiles/{z}/{x}/{y}.png", ["http://127.0.0.1:8081"]),
        ("/tiles/{z}/{x}/{y}.png", []),
        ("", []),
    ],
)
def test_tile_sources(template, sources):
    assert tile_sources(template) == sources


def _header_in_a_fresh_process(env_changes: dict[str, str]) -> dict[str, str]:
    """Start the portal's settings as a deployment would and ask the API anonymously (an
    answer that needs neither the database nor collected static files)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    env.update(env_changes)
    env["DJANGO_SETTINGS_MODULE"] = "kurashiki_dr.settings"
    code = (
        "import django, json; django.setup()\n"
        "from django.test import Client\n"
        "r = Client().get('/api/v1/reports/', secure=True, HTTP_HOST='bousai.example.jp')\n"
        "print(json.dumps({'status': r.status_code,"
        " 'csp': r.headers.get('Content-Security-Policy'),"
        " 'pp': r.headers.get('Permissions-Policy')}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "mode",
    [
        {"DJANGO_DEBUG": "1", "DATABASE_URL": "sqlite:///:memory:"},  # make run
        {
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "a-long-random-secret-for-the-test-0123456789abcdefghijklmnop",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/kurashiki",
        },
    ],
    ids=["debug", "production"],
)
def test_policy_is_on_in_every_mode_and_allows_the_tile_host(mode, tmp_path):
    answer = _header_in_a_fresh_process(
        {
            **mode,
            "DJANGO_ALLOWED_HOSTS": "bousai.example.jp",
            "KDR_VAR_DIR": str(tmp_path),
            "KDR_MAP_TILES_URL": "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png",
        }
    )
    assert answer["status"] == 401
    assert "script-src 'self'" in answer["csp"]
    assert "img-src 'self' data: https://*.tile.openstreetmap.org" in answer["csp"]
    assert "geolocation=(self)" in answer["pp"]
