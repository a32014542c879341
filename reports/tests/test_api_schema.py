"""The OpenAPI schema is valid and tells the truth: real responses, including the error bodies,
match it; the Swagger UI page works without the internet."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client
from django.utils import timezone

from conftest import login
from reports import services
from reports.models import ReportChannel

ROOT = Path(settings.BASE_DIR)
API = "/api/v1"


def test_spectacular_validate_fail_on_warn_passes(tmp_path):
    """The command a reviewer runs: any warning (an untyped field, an enum clash) fails it."""
    env = {**os.environ, "DJANGO_DEBUG": "1", "DJANGO_SETTINGS_MODULE": "kurashiki_dr.settings"}
    out = tmp_path / "schema.yaml"
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn"]
        + ["--file", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stderr
    assert out.read_text(encoding="utf-8").startswith("openapi: 3.")


# --- The schema, as served ----------------------------------------------------------------


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return json.loads(response.content)


OPERATIONS = [
    ("/api/v1/reports/", "get"),
    ("/api/v1/reports/", "post"),
    ("/api/v1/reports/{id}/", "get"),
    ("/api/v1/reports/{id}/revisions/", "get"),
    ("/api/v1/reports/{id}/corrections/", "post"),
    ("/api/v1/reports/{id}/withdrawal/", "post"),
    ("/api/v1/reports/{id}/acknowledge/", "post"),
    ("/api/v1/reports/{id}/incident/", "post"),
    ("/api/v1/incidents/", "get"),
    ("/api/v1/incidents/", "post"),
    ("/api/v1/incidents/{id}/", "get"),
    ("/api/v1/incidents/{id}/", "patch"),
    ("/api/v1/parse/", "post"),
]


def test_schema_is_openapi3_with_every_operation(schema):
    assert schema["openapi"].startswith("3.")
    for path, method in OPERATIONS:
        assert method in schema["paths"][path], (path, method)
    report_ops = schema["paths"]["/api/v1/reports/{id}/"]
    assert set(report_ops) - {"parameters"} == {"get"}  # no PUT/PATCH/DELETE on reports
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])


def test_every_error_response_is_the_error_component(schema):
    for path, method in OPERATIONS:
        responses = schema["paths"][path][method]["responses"]
        assert "401" in responses and "403" in responses, (path, method)
        if "{id}" in path:
            assert "404" in responses, (path, method)
        if method in ("post", "patch") and not path.endswith("acknowledge/"):
            assert "400" in responses, (path, method)
        for code, response in responses.items():
            if code.startswith("4"):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error", (path, method, code)
    error = schema["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"code", "message", "fields"}


def test_report_list_documents_its_filters(schema):
    params = {p["name"]: p for p in schema["paths"]["/api/v1/reports/"]["get"]["parameters"]}
    expected = {"category", "agency", "incident", "since", "until", "channel", "status", "page"}
    assert expected <= set(params)
    assert params["since"]["schema"]["format"] == "date-time"
    assert "observed_at" in params["since"]["description"]
    assert set(params["category"]["schema"]["enum"]) >= {"evacuees", "outage", "general"}


# --- Real responses against the schema ----------------------------------------------------


def _json_schema(node: Any, components: dict[str, Any]) -> Any:
    """OpenAPI 3.0 schema → JSON Schema: inline $refs, turn ``nullable`` into a null type."""
    if isinstance(node, list):
        return [_json_schema(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _json_schema(components[node["$ref"].rsplit("/", 1)[1]], components)
    out = {}
    for key, value in node.items():
        if key in ("nullable", "readOnly", "writeOnly", "example", "description"):
            continue
        if key == "properties":
            out[key] = {name: _json_schema(v, components) for name, v in value.items()}
        else:
            out[key] = _json_schema(value, components)
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _check(schema: dict, path: str, method: str, response) -> None:
    operation = schema["paths"][path][method]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"{method.upper()} {path} {response.status_code} undocumented"
    assert response["Content-Type"].startswith("application/json")
    body_schema = documented["content"]["application/json"]["schema"]
    jsonschema.validate(response.json(), _json_schema(body_schema, schema["components"]["schemas"]))


@pytest.mark.django_db
def test_responses_match_the_schema(
    schema, hq_user, reporter_a, reporter_b, auditor, agency_a, agency_b, stranger
):
    hq, a = login(hq_user), login(reporter_a)

    def send(client, method, path, body=None, params=None, **ids):
        url = path.format(**ids)
        if method == "get":
            response = client.get(url, params or {})
        else:
            response = getattr(client, method)(
                url, json.dumps(body or {}), content_type="application/json"
            )
        _check(schema, path, method, response)
        return response

    created = send(
        a,
        "post",
        "/api/v1/reports/",
        {
            "category": "evacuees",
            "fields": {"facility": "箭田小学校", "count": 87, "households": 30},
            "text": "箭田小学校 避難者87名 30世帯",
        },
    )
    assert created.status_code == 201
    rid = created.json()["id"]
    services.report_submit(
        agency=agency_b,
        author=reporter_b,
        category="road_closure",
        fields={"road": "県道278号", "place": "真備町尾崎", "cause": "landslide"},
        observed_at=timezone.now(),
        channel=ReportChannel.LINEWORKS,
    )
    incident = send(hq, "post", "/api/v1/incidents/", {"title": "真備町尾崎 土砂崩れ"})
    iid = incident.json()["id"]

    checks = [
        (hq, "get", "/api/v1/reports/", None, {"category": "evacuees"}),
        (hq, "get", "/api/v1/reports/", None, {"since": "昨日"}),  # 400
        (hq, "get", "/api/v1/reports/", None, {"page": 40}),  # 404
        (Client(), "get", "/api/v1/reports/", None, None),  # 401
        (login(stranger), "get", "/api/v1/reports/", None, None),  # 403
        (a, "post", "/api/v1/reports/", {"category": "evacuees", "fields": {"count": -1}}, None),
        (login(reporter_b), "post", "/api/v1/reports/", {"agency": "mabi-shelter"}, None),
        (hq, "get", "/api/v1/reports/{id}/", None, None),
        (login(reporter_b), "get", "/api/v1/reports/{id}/", None, None),  # 404
        (hq, "get", "/api/v1/reports/{id}/revisions/", None, None),
        (
            a,
            "post",
            "/api/v1/reports/{id}/corrections/",
            {"reason": "再集計", "text": "訂正"},
            None,
        ),
        (a, "post", "/api/v1/reports/{id}/corrections/", {"text": "理由なし"}, None),  # 400
        (login(auditor), "post", "/api/v1/reports/{id}/corrections/", {"reason": "x"}, None),
        (a, "post", "/api/v1/reports/{id}/acknowledge/", None, None),  # 403
        (hq, "post", "/api/v1/reports/{id}/acknowledge/", None, None),
        (hq, "post", "/api/v1/reports/{id}/incident/", {"incident": iid}, None),
        (hq, "get", "/api/v1/reports/{id}/revisions/", None, None),
        (a, "post", "/api/v1/reports/{id}/withdrawal/", {"reason": "重複"}, None),
        (hq, "get", "/api/v1/incidents/", None, None),
        (hq, "get", "/api/v1/incidents/", None, {"status": "nope"}),  # 400
        (a, "get", "/api/v1/incidents/{id}/", None, None),
        (hq, "patch", "/api/v1/incidents/{id}/", {"status": "monitoring"}, None),
        (a, "patch", "/api/v1/incidents/{id}/", {"status": "closed"}, None),  # 403
        (hq, "get", "/api/v1/incidents/{id}/", None, None),
    ]
    for client, method, path, body, params in checks:
        pk = iid if path.startswith("/api/v1/incidents/{id}") else rid
        send(client, method, path, body, params, id=pk)
    send(hq, "get", "/api/v1/incidents/{id}/", id=999999)  # 404

    try:
        import reports.parsing  # noqa: F401
    except ImportError:
        return
    send(a, "post", "/api/v1/parse/", {"text": "箭田小学校 避難者35名 14時現在"})
    send(a, "post", "/api/v1/parse/", {"text": ""})  # 400


# --- Swagger UI, offline ------------------------------------------------------------------


@pytest.mark.django_db
def test_docs_page_has_no_external_urls():
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"https?://|(src|href)=[\"']//", html), "the docs page loads from outside"
    # Swagger UI's settings come in a script file (no inline script under the CSP).
    script = Client().get(re.search(r'<script src="(/api/docs/\?script=[^"]*)"', html).group(1))
    assert script.status_code == 200
    assert '"validatorUrl": null' in script.content.decode()  # no badge from validator.swagger.io
    assets = re.findall(r"(?:src|href)=\"/static/([^\"]+)\"", html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    for asset in assets:
        assert finders.find(asset), f"missing static file {asset}"


@pytest.mark.browser
def test_docs_render_in_chromium_without_the_internet(
    live_server, transactional_db, chromium_executable
):
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    server = urlparse(live_server.url).netloc
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_executable,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})

            def guard(route):
                if urlparse(route.request.url).netloc != server:
                    outside.append(route.request.url)
                    route.abort()
                else:
                    route.continue_()

            page.route("**/*", guard)
            page.goto(f"{live_server.url}/api/docs/")
            page.wait_for_selector("text=/api/v1/reports/{id}/revisions/", timeout=15_000)
            assert page.locator(".opblock").count() >= len(OPERATIONS)
            artifacts = ROOT / "test-artifacts"
            artifacts.mkdir(exist_ok=True)
            page.screenshot(path=str(artifacts / "api-docs.png"), full_page=False)
        finally:
            browser.close()
    assert outside == []
