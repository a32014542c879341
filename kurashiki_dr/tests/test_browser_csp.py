"""Every page a user can reach, in Chromium, under the real Content-Security-Policy.

A page fails on any CSP violation (the `securitypolicyviolation` event, reported to the test
as it happens, and Chromium's console messages about the policy), any Permissions-Policy
complaint, any uncaught script error, and any script, style, image or fetch that the server
refused. Then the stored-XSS regression: a district and an agency whose names are HTML
imported through `manage.py import_directory` show as literal text on the maps.

Screenshots (dashboard, report form on a phone, report detail) go to test-artifacts/.
"""

from __future__ import annotations

import copy
import io
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from agencies.models import Agency, Facility, FacilityKind
from conftest import PASSWORD
from kurashiki_dr.security import tile_sources
from lineworks.tests.conftest import fake, lw_private_key  # noqa: F401 (fixtures)
from notices.services import notice_send
from reports import services
from reports.models import ReportChannel
from reports.tests.test_browser_reporting import browser  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
XSS_DISTRICT = "<img src=x onerror=window.__xss=1>"
XSS_AGENCY = '<img src=x onerror="window.__xss=2">水島臨海'

# Reported to the test at once, so a violation during a page's unload is not lost either.
WATCH = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.__kdrViolation([e.violatedDirective, e.blockedURI, e.sourceFile + ":" + e.lineNumber,
                         location.pathname].join(" "));
});
"""


def _tile_png() -> bytes:
    """A 256-px map tile: pale land with a grid, so a screenshot shows tiles loaded."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (256, 256), (236, 240, 228))
    draw = ImageDraw.Draw(image)
    for i in range(0, 256, 64):
        draw.line([(i, 0), (i, 255)], fill=(205, 214, 196))
        draw.line([(0, i), (255, i)], fill=(205, 214, 196))
    draw.rectangle([0, 0, 255, 255], outline=(180, 190, 170))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def tile_server(settings) -> Iterator[list[str]]:
    """Map tiles from another origin (127.0.0.1, while the portal is at localhost), as from a
    real tile host: the policy's img-src must name it. Yields the tile paths requested."""
    png = _tile_png()
    served: list[str] = []

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            served.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/tiles/{{z}}/{{x}}/{{y}}.png"
    settings.MAP_TILES_URL = url
    settings.MAP_TILES_ATTRIBUTION = "試験用タイル"
    # What settings.py derives from KDR_MAP_TILES_URL at start-up.
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["img-src"] = ["'self'", "data:", *tile_sources(url)]
    settings.CONTENT_SECURITY_POLICY = policy
    yield served
    server.shutdown()
    server.server_close()


class Watched:
    """A browser context whose every page reports policy violations and errors to `problems`."""

    def __init__(self, browser, viewport: dict[str, int]) -> None:  # noqa: F811
        self.problems: list[str] = []
        self.context = browser.new_context(
            viewport=viewport, locale="ja-JP", timezone_id="Asia/Tokyo"
        )
        self.context.expose_function("__kdrViolation", lambda t: self.problems.append("CSP " + t))
        self.context.add_init_script(WATCH)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.problems.append(f"JS error: {exc}"))
        self.page.on("console", self._console)
        self.page.on("response", self._response)

    def _console(self, message) -> None:
        text = message.text
        if "Content Security Policy" in text or "Permissions-Policy" in text:
            self.problems.append(f"console {message.type}: {text}")

    def _response(self, response) -> None:
        kind = response.request.resource_type
        if kind in {"script", "stylesheet", "image", "font", "fetch", "xhr"} and (
            response.status >= 400
        ):
            self.problems.append(f"{response.status} for {kind} {response.url}")

    def visit(self, url: str, *, wait_for: str | None = None) -> None:
        self.page.goto(url)
        self.page.wait_for_load_state("networkidle")
        if wait_for:
            self.page.wait_for_selector(wait_for)

    def log_in(self, base: str, username: str) -> None:
        self.visit(f"{base}/accounts/login/")
        self.page.fill("[name=username]", username)
        self.page.fill("[name=password]", PASSWORD)
        self.page.click("[type=submit]")
        self.page.wait_for_load_state("networkidle")

    def close(self) -> None:
        self.context.close()


def snap(page, name: str) -> None:
    viewport = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": viewport["width"], "height": max(height, viewport["height"])})
    page.screenshot(path=str(ARTIFACTS / name))
    page.set_viewport_size(viewport)


@pytest.fixture
def afternoon(hq_user, reporter_a, reporter_b, agency_a, agency_b, auditor, districts):
    """A few hours of the 2018 flood pattern: shelters filling, power out, a road closed."""
    hq = hq_user.member.agency
    incident = services.incident_open(user=hq_user, title="小田川 決壊（真備地区 浸水）")
    shelter = services.report_submit(
        agency=agency_a,
        author=reporter_a,
        category="evacuees",
        fields={"facility": "箭田小学校", "count": 120, "households": 45},
        text="体育館に避難中。毛布が不足しています。",
        location={"lat": 34.6371, "lng": 133.6921},
        observed_at=timezone.now() - timedelta(hours=1),
        channel=ReportChannel.WEB,
    )
    # Two more shelters a few hundred metres away: one cluster on the dashboard map.
    for name, count, lat, lng in (
        ("真備東中学校", 85, 34.6402, 133.7051),
        ("岡田小学校", 42, 34.6330, 133.6990),
    ):
        services.report_submit(
            agency=agency_a,
            author=reporter_a,
            category="evacuees",
            fields={"facility": name, "count": count, "households": None},
            text=f"{name} 避難者数 {count}名",
            location={"lat": lat, "lng": lng},
        )
    services.report_submit(
        agency=agency_b,
        author=reporter_b,
        category="outage",
        fields={
            "areas": [
                {"area": "真備地区", "households": 1200},
                {"area": "玉島地区", "households": 340},
            ],
            "restoration": "未定",
        },
        text="停電情報 ①真備地区：1,200世帯 ②玉島地区：340世帯 復旧見込みは未定",
    )
    services.report_submit(
        agency=hq,
        author=hq_user,
        category="road_closure",
        fields={"road": "国道486号", "place": "箭田付近", "cause": "landslide", "passable": False},
        text="国道486号線付近にて土砂災害発生、通行不可",
        location={"lat": 34.628, "lng": 133.705},
        incident=incident,
    )
    notice = notice_send(
        user=hq_user,
        kind="muster",
        title="第1次参集",
        body="真備支所に18時までに参集してください。",
        agencies=[agency_a, agency_b],
    )
    User.objects.create_superuser("city-admin", password=PASSWORD)
    return {
        "report": shelter,
        "incident": incident,
        "notice": notice,
        "district": districts["mabi"],
    }


def assert_clean(watched: Watched, where: str) -> None:
    assert watched.problems == [], f"{where}: " + "\n".join(watched.problems)


@pytest.mark.usefixtures("fake")
def test_every_page_runs_under_the_policy(
    browser,  # noqa: F811 (the fixture)
    live_server,
    afternoon,
    settings,
    tile_server,
):
    settings.DEMO_MODE = True  # as in `make run`: the LINE WORKS demo page and its fake server
    base = live_server.url
    report = afternoon["report"]
    incident = afternoon["incident"]
    notice = afternoon["notice"]

    # Anonymous: the login page, a missing page, the API docs.
    anon = Watched(browser, DESKTOP)
    anon.visit(f"{base}/accounts/login/")
    anon.visit(f"{base}/no-such-page/")
    assert "ページが見つかりません" in anon.page.content()
    anon.visit(f"{base}/api/docs/", wait_for=".opblock")
    assert_clean(anon, "anonymous")
    anon.close()

    # HQ operator: every page of the menu, the maps worked with, the browsable API.
    hq = Watched(browser, DESKTOP)
    hq.log_in(base, "hq-operator")
    hq.visit(f"{base}/dashboard/", wait_for=".leaflet-marker-icon")
    hq.page.wait_for_selector("#chart-evacuees")
    hq.page.wait_for_function(
        "() => document.querySelectorAll('#timeline-list .entry').length >= 3"
    )
    # The three shelters are one cluster, drawn in the category's colour (set through CSSOM).
    cluster = hq.page.locator("#map .cluster-icon span").first
    cluster.wait_for()
    assert cluster.inner_text().endswith("3")
    assert cluster.evaluate("n => n.style.getPropertyValue('--c')") != ""
    hq.page.wait_for_selector("#map .leaflet-tile-loaded")
    hq.page.screenshot(path=str(ARTIFACTS / "csp-dashboard.png"), full_page=True)
    hq.page.locator(".leaflet-marker-icon[title='玉島']").dispatch_event("click")
    hq.page.wait_for_selector(".leaflet-popup-content .popup")
    hq.page.wait_for_timeout(400)  # the popup's fade-in
    hq.page.locator("#map").screenshot(path=str(ARTIFACTS / "csp-dashboard-popup.png"))
    for path, wait_for in [
        ("/dashboard/print/", None),
        ("/dashboard/incidents/", None),
        (f"/dashboard/incidents/{incident.pk}/", None),
        ("/reports/", None),
        ("/reports/review/", None),
        ("/reports/new/", "#report-map.leaflet-container"),
        (f"/reports/{report.pk}/", "#report-location.leaflet-container"),
        ("/notices/", None),
        ("/notices/new/", None),
        (f"/notices/{notice.pk}/", None),
        ("/lineworks/outbox/", None),
        ("/lineworks/unmatched/", None),
        ("/lineworks/onboarding/", None),
        ("/lineworks/directory/", None),
        ("/help/", None),
        ("/help/operator/", None),
        ("/lineworks/demo/", "#demo-talk"),
        ("/audit/", None),
        ("/api/v1/", None),
        ("/api/v1/reports/", None),
        ("/api/docs/", ".opblock"),
    ]:
        hq.visit(base + path, wait_for=wait_for)
    hq.page.set_viewport_size(DESKTOP)
    hq.visit(f"{base}/reports/{report.pk}/", wait_for="#report-location .leaflet-tooltip")
    snap(hq.page, "csp-report-detail.png")
    assert_clean(hq, "HQ operator")
    hq.close()

    # A reporter on a phone: their own reports, the form (map tap), a correction, a notice.
    phone = Watched(browser, PHONE)
    phone.log_in(base, "reporter-a")
    phone.visit(f"{base}/reports/mine/")
    phone.visit(f"{base}/reports/new/", wait_for="#report-map.leaflet-container")
    phone.page.wait_for_selector("#report-map .leaflet-tile-loaded")
    phone.page.locator("#report-map").click(position={"x": 150, "y": 120})
    assert phone.page.locator('input[name="lat"]').input_value() != ""
    phone.page.locator("#report-map").scroll_into_view_if_needed()
    snap(phone.page, "csp-report-form-phone.png")
    for path in (
        f"/reports/{report.pk}/",
        f"/reports/{report.pk}/correct/",
        f"/reports/{report.pk}/withdraw/",
        f"/notices/{notice.pk}/",
        "/dashboard/",  # 403: the Japanese error page
    ):
        phone.visit(base + path)
    assert "権限がありません" in phone.page.content()
    assert_clean(phone, "reporter")
    phone.close()

    # Auditor: the audit workspace and the report history.
    aud = Watched(browser, DESKTOP)
    aud.log_in(base, "auditor")
    for path in (
        "/audit/",
        "/audit/events/",
        "/audit/chain/",
        "/audit/exports/",
        f"/audit/reports/{report.pk}/",
        "/reports/",
        f"/reports/{report.pk}/",
    ):
        aud.visit(base + path)
    assert_clean(aud, "auditor")
    assert any(path.startswith("/tiles/") for path in tile_server)
    aud.close()

    # The city's administrator in the Django admin: lists, a change form, an add form.
    admin = Watched(browser, DESKTOP)
    admin.visit(f"{base}/admin/login/")
    admin.page.fill("[name=username]", "city-admin")
    admin.page.fill("[name=password]", PASSWORD)
    admin.page.click("[type=submit]")
    admin.page.wait_for_load_state("networkidle")
    district = afternoon["district"]
    for path in (
        "/admin/",
        "/admin/agencies/district/",
        f"/admin/agencies/district/{district.pk}/change/",
        "/admin/agencies/facility/add/",
        "/admin/reports/report/",
    ):
        admin.visit(base + path)
        assert admin.page.locator("#site-name").count() == 1, path
    assert_clean(admin, "admin")
    admin.close()


def test_html_in_directory_names_shows_as_text(
    browser,  # noqa: F811 (the fixture)
    live_server,
    hq_user,
    reporter_a,
    tmp_path,
):
    """Stored XSS regression: names from the directory never become markup on any map."""
    directory = {
        "districts": [
            {"code": "evil", "name": XSS_DISTRICT, "lat": 34.6300, "lng": 133.7100},
        ],
        "agencies": [
            {
                "code": "evil-agency",
                "name": XSS_AGENCY,
                "kind": "shelter_operator",
                "lineworks_channel_id": "ch-evil",
            }
        ],
        "facilities": [
            {
                "code": "evil-shelter",
                "name": "<b>二万小学校</b>",
                "kind": "shelter",
                "agency": "evil-agency",
                "district": "evil",
                "lat": 34.6210,
                "lng": 133.7210,
                "capacity": 200,
            }
        ],
    }
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(directory, ensure_ascii=False), encoding="utf-8")
    call_command("import_directory", str(path))
    agency = Agency.objects.get(code="evil-agency")
    assert Facility.objects.get(code="evil-shelter").kind == FacilityKind.SHELTER
    services.report_submit(
        agency=agency,
        author=hq_user,
        category="evacuees",
        fields={"facility": "<b>二万小学校</b>", "count": 80, "households": 30},
        text="<script>window.__xss=3</script>体育館に避難中",
        location={"lat": 34.6210, "lng": 133.7210},
    )

    # The reporter's form: the district label is the literal name.
    phone = Watched(browser, PHONE)
    phone.log_in(live_server.url, "reporter-a")
    phone.visit(f"{live_server.url}/reports/new/", wait_for=".district-label")
    labels = phone.page.locator("#report-map .district-label").all_inner_texts()
    assert XSS_DISTRICT in labels
    assert phone.page.locator("#report-map img[src='x']").count() == 0
    assert phone.page.evaluate("window.__xss") is None
    phone.close()

    # The dashboard: district labels, the agency in the timeline and in the marker's popup.
    hq = Watched(browser, DESKTOP)
    hq.log_in(live_server.url, "hq-operator")
    hq.visit(f"{live_server.url}/dashboard/", wait_for=".leaflet-marker-icon")
    hq.page.wait_for_function(
        "() => document.querySelectorAll('#timeline-list .entry').length >= 1"
    )
    assert XSS_DISTRICT in hq.page.locator("#map .district-label").all_inner_texts()
    assert XSS_AGENCY in hq.page.locator("#timeline-list .agency").all_inner_texts()
    hq.page.locator(".leaflet-marker-icon[title='<b>二万小学校</b>']").dispatch_event("click")
    popup = hq.page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert "<b>二万小学校</b>" in popup.inner_text()
    assert XSS_AGENCY in popup.inner_text()
    assert popup.locator("b").count() == 0
    assert hq.page.evaluate("window.__xss") is None
    assert hq.page.locator("img[src='x']").count() == 0
    assert_clean(hq, "dashboard with HTML names")
    hq.close()
    assert phone.problems == []
