"""The dashboard and the notice page in Debian's Chromium (Playwright), against a live server.

Screenshots go to test-artifacts/. Data is created through reports.services and the web
forms, like real reports; tasks run in-process.
"""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from agencies.models import Facility, FacilityKind
from conftest import PASSWORD
from dashboard.tests import helpers
from notices.models import Notice
from notices.services import notice_acknowledge
from reports import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LIVE_SECONDS = 5


@pytest.fixture(scope="module")
def browser(chromium_executable):
    # Playwright's sync API runs its own event loop; Django must allow ORM calls beside it
    # (only while these tests run).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=chromium_executable, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def new_page(browser, *, width: int = 1600, height: int = 1000):
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale="ja-JP", timezone_id="Asia/Tokyo"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    return page


def log_in(page, live_server, username: str, next_url: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/?next={next_url}")
    page.fill("[name=username]", username)
    page.fill("[name=password]", PASSWORD)
    page.click("[type=submit]")
    page.wait_for_url(f"**{next_url}")


def shot(page, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)


def tile_number(page, key: str) -> str:
    return page.inner_text(f'[data-tile="{key}"] .num')


@pytest.fixture
def seeded(hq_user, reporter_a, agency_a, reporter_b, agency_b, hospital_agency, districts):
    """An evening in Mabi: a shelter with 120 people two hours ago, 1,540 households dark."""
    two_hours_ago = timezone.now() - timedelta(hours=2)
    services.incident_open(user=hq_user, title="小田川 決壊（真備地区 浸水）")
    helpers.evacuees(
        reporter_a, agency_a, 120, observed_at=two_hours_ago, recorded_at=two_hours_ago
    )
    helpers.outage(reporter_b, agency_b, {"真備地区": 1200, "玉島地区": 340})
    helpers.medical(hq_user, hospital_agency, accepting=True, beds=12)
    helpers.road(
        hq_user, agency_a, "国道486号線", "真備町箭田", location={"lat": 34.628, "lng": 133.705}
    )
    Facility.objects.create(
        code="mabi-higashi-jhs",
        name="真備東中学校",
        kind=FacilityKind.SHELTER,
        agency=agency_a,
        district=districts["mabi"],
        lat=34.6402,
        lng=133.7051,
        capacity=300,
    )
    return {"before_new_report": timezone.now()}


def test_dashboard_tiles_live_report_and_as_of(browser, live_server, seeded, hq_user, reporter_a):
    hq = new_page(browser)
    log_in(hq, live_server, hq_user.username, "/dashboard/")
    hq.wait_for_function(
        "() => document.querySelector('[data-tile=\"evacuees\"] .num').textContent === '120'"
    )
    assert tile_number(hq, "outage") == "1,540"
    assert tile_number(hq, "medical_capacity") == "1"
    assert tile_number(hq, "road_closure") == "1"
    assert "報告 1 件" in hq.inner_text('[data-tile="evacuees"] .tile-meta')
    hq.wait_for_function("() => window.kdrDashboard.subjects().length === 5")
    hq.wait_for_function("() => document.querySelectorAll('#timeline-list .entry').length >= 5")
    hq.wait_for_function("() => document.getElementById('last-updated').textContent !== '--:--:--'")
    shot(hq, "dashboard-seeded.png")

    # A reporter of the shelter team reports through the web form, in another browser.
    reporter = new_page(browser, width=420, height=900)
    log_in(reporter, live_server, reporter_a.username, "/reports/new/")
    reporter.select_option("#id_category", "evacuees")
    reporter.select_option("#id_facility", label="真備東中学校")
    reporter.fill("#id_evacuees__facility", "真備東中学校")
    reporter.fill("#id_evacuees__count", "35")
    reporter.fill("#id_text", "15時現在の避難者数 35名")
    reporter.click("#report-form button[type=submit]")
    reporter.wait_for_url("**/reports/*/")
    submitted = time.monotonic()
    shot(reporter, "reporter-submitted.png")

    hq.wait_for_function(
        "() => window.kdrDashboard.subjects().includes('evacuees:真備東中学校')",
        timeout=LIVE_SECONDS * 1000,
    )
    hq.wait_for_function(
        "() => Array.from(document.querySelectorAll('#timeline-list .entry.is-new'))"
        ".some(e => e.textContent.includes('真備東中学校'))",
        timeout=LIVE_SECONDS * 1000,
    )
    hq.wait_for_function(
        "() => document.querySelector('[data-tile=\"evacuees\"] .num').textContent === '155'",
        timeout=LIVE_SECONDS * 1000,
    )
    assert time.monotonic() - submitted < LIVE_SECONDS
    shot(hq, "dashboard-live-new-report.png")

    # As of a moment before the new report: the earlier figure, map and timeline.
    before = timezone.localtime(seeded["before_new_report"] - timedelta(minutes=1))
    hq.fill("#asof-input", before.strftime("%Y-%m-%dT%H:%M"))
    hq.dispatch_event("#asof-input", "change")
    hq.wait_for_function(
        "() => document.querySelector('[data-tile=\"evacuees\"] .num').textContent === '120'"
    )
    hq.wait_for_function("() => !window.kdrDashboard.subjects().includes('evacuees:真備東中学校')")
    assert hq.is_visible("#asof-banner")
    assert "ライブ更新は停止中" in hq.inner_text("#asof-banner")
    hq.wait_for_function(
        "() => !document.getElementById('timeline-list').textContent.includes('真備東中学校')"
    )
    assert "箭田小学校 / 避難者数（人）: 120" in hq.inner_text("#timeline-list")
    shot(hq, "dashboard-as-of.png")

    hq.click("#asof-now")
    hq.wait_for_function(
        "() => document.querySelector('[data-tile=\"evacuees\"] .num').textContent === '155'"
    )
    assert hq.js_errors == []
    assert reporter.js_errors == []


def test_dashboard_on_a_phone(browser, live_server, seeded, hq_user):
    phone = new_page(browser, width=390, height=844)
    log_in(phone, live_server, hq_user.username, "/dashboard/")
    phone.wait_for_function(
        "() => document.querySelector('[data-tile=\"evacuees\"] .num').textContent === '120'"
    )
    # Nothing wider than the screen.
    phone.wait_for_function(
        "() => document.getElementById('last-updated').textContent !== '--:--:--'"
    )
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1
    shot(phone, "dashboard-phone.png")
    assert phone.js_errors == []


def test_print_report_fits_one_page(browser, live_server, seeded, hq_user):
    page = new_page(browser, width=1000, height=1400)
    log_in(page, live_server, hq_user.username, "/dashboard/print/")
    assert "状況報告書" in page.inner_text("h1")
    shot(page, "situation-report-print.png")
    page.emulate_media(media="print")
    pdf = page.pdf(format="A4", print_background=True)
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == 1


def test_notice_acknowledgement_appears_without_reload(
    browser, live_server, hq_user, reporter_a, agency_a, agency_b
):
    page = new_page(browser, width=1200, height=900)
    log_in(page, live_server, hq_user.username, "/notices/new/")
    page.check("input[name=kind][value=muster]")
    page.fill("#id_title", "全職員参集")
    page.fill("#id_body", "倉敷市で震度5強を観測したため、全職員はあらかじめ決められた場所へ参集")
    page.check(f"input[name=agencies][value='{agency_a.pk}']")
    page.check(f"input[name=agencies][value='{agency_b.pk}']")
    page.click("#notice-form button[type=submit]")
    page.wait_for_url("**/notices/*/")
    notice = Notice.objects.get()
    row_a = 'tr[data-agency="mabi-shelter"] td.ack'
    assert "未了解" in page.inner_text(row_a)
    page.evaluate("window.__marker = 'same page'")

    # The shelter team taps 了解 in LINE WORKS: the bot records it through the service.
    notice_acknowledge(notice=notice, agency=agency_a, user=reporter_a, via="lineworks")
    page.wait_for_function(
        f"() => document.querySelector('{row_a}').textContent.includes('了解') && "
        f"!document.querySelector('{row_a}').textContent.includes('未了解')",
        timeout=LIVE_SECONDS * 1000,
    )
    assert page.evaluate("window.__marker") == "same page"
    assert "未了解" in page.inner_text('tr[data-agency="chuden-kurashiki"] td.ack')
    assert page.inner_text('[data-count="acknowledged"]') == "1"
    shot(page, "notice-acknowledged.png")
    assert page.js_errors == []
