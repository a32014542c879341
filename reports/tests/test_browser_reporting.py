"""A reporter reports through the real page in Chromium, on a phone-sized screen and a desktop.

Screenshots go to test-artifacts/ (the report form and the report list, phone and desktop).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections

from conftest import PASSWORD
from reports import services
from reports.models import Report

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture
def browser(chromium_executable) -> Iterator:
    from playwright import sync_api as playwright_api

    ARTIFACTS.mkdir(exist_ok=True)
    # Playwright's sync API keeps an event loop in this thread; the ORM calls in these tests
    # run between browser steps, never concurrently with them.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(
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
        yield instance
        instance.close()
        # Connections opened while Playwright's loop ran would block dropping the test database.
        connections.close_all()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def open_page(browser, viewport: dict[str, int], errors: list[str]):
    context = browser.new_context(viewport=viewport, locale="ja-JP", timezone_id="Asia/Tokyo")
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page


def snap(page, name: str) -> None:
    """A whole-page screenshot with the viewport as tall as the page, so sticky elements sit
    where a reader expects them (at the bottom) rather than mid-page."""
    viewport = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": viewport["width"], "height": max(height, viewport["height"])})
    page.screenshot(path=str(ARTIFACTS / name))
    page.set_viewport_size(viewport)


def log_in(page, base_url: str, username: str, next_path: str = "") -> None:
    page.goto(f"{base_url}/accounts/login/" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("ユーザー名").fill(username)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_load_state()


def more_reports(reporter_a, reporter_b, hq_user, first: Report) -> None:
    """A plausible afternoon around the reporter's first report, for the HQ screenshots."""
    hq = hq_user.member.agency
    submit = services.report_submit
    submit(
        agency=reporter_b.member.agency,
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
    submit(
        agency=hq,
        author=hq_user,
        category="road_closure",
        fields={"road": "国道486号", "place": "箭田付近", "cause": "landslide", "passable": False},
        text="国道486号線付近にて土砂災害発生、通行不可",
    )
    submit(
        agency=hq,
        author=hq_user,
        category="fire",
        fields={"area": "水島地区", "households": 20, "people": 50, "evacuation_order": True},
        text="水島地区にて火災発生。警戒区域を設定し、20世帯50名に退去を命令。",
    )
    dispatch = submit(
        agency=hq,
        author=hq_user,
        category="dispatch",
        fields={
            "role": "保健師",
            "count": 2,
            "destination": "二万小学校",
            "reason": "要配慮者対応",
        },
        text="二万小学校避難所からの要請により、要配慮者対応のため保健師2名を派遣",
    )
    services.report_withdraw(report=dispatch, author=hq_user, reason="重複登録のため")
    services.report_correct(
        report=first,
        author=reporter_a,
        reason="集計漏れ",
        fields={"facility": "箭田小学校", "count": 135, "households": 48},
    )


def test_reporter_reports_evacuees_on_a_phone(
    browser, live_server, reporter_a, reporter_b, hq_user
):
    errors: list[str] = []
    page = open_page(browser, PHONE, errors)
    log_in(page, live_server.url, "reporter-a")
    assert page.url.endswith("/reports/mine/")

    page.get_by_role("link", name="新規報告").first.click()
    page.wait_for_selector(".leaflet-container")
    # Without JS every group would show; with it only the chosen category's group is visible.
    assert not page.locator('[data-category="outage"]').is_visible()
    page.get_by_label("分類").select_option(label="避難者数")
    assert page.locator('[data-category="evacuees"]').is_visible()
    assert not page.locator('[data-category="outage"]').is_visible()
    page.get_by_label("施設", exact=True).select_option(label="箭田小学校")
    assert page.locator('input[name="evacuees__facility"]').input_value() == "箭田小学校"
    page.get_by_label("避難者数（人）").fill("120")
    page.get_by_label("世帯数", exact=True).fill("45")
    page.get_by_label("本文・補足").fill("体育館に避難中。毛布が不足しています。")
    # The facility put the point on the map; a tap moves it.
    assert page.locator('input[name="lat"]').input_value() != ""
    page.locator("#report-map").click(position={"x": 120, "y": 90})
    lat = float(page.locator('input[name="lat"]').input_value())
    assert 33 < lat < 36
    snap(page, "report-form-phone.png")

    page.get_by_role("button", name="報告する").click()
    page.wait_for_load_state()
    message = page.locator(".messages li").inner_text()
    number = re.search(r"R-\d{6}", message).group(0)
    assert "受付番号" in message
    report = Report.objects.get()
    assert report.number == number
    assert report.current_revision.fields == {
        "facility": "箭田小学校",
        "count": 120,
        "households": 45,
    }
    assert abs(report.current_revision.lat - lat) < 1e-6
    assert page.get_by_text("箭田小学校 120名（45世帯）").first.is_visible()

    page.get_by_role("link", name="自機関の報告").first.click()
    page.wait_for_load_state()
    assert page.get_by_role("link", name=number).is_visible()
    snap(page, "report-list-phone.png")
    assert errors == []

    more_reports(reporter_a, reporter_b, hq_user, report)
    desktop = open_page(browser, DESKTOP, errors)
    log_in(desktop, live_server.url, "hq-operator", next_path="/reports/")
    assert desktop.url.endswith("/reports/")
    assert desktop.get_by_role("link", name=number).is_visible()
    snap(desktop, "report-list-desktop.png")
    desktop.goto(f"{live_server.url}/reports/new/")
    desktop.wait_for_selector(".leaflet-container")
    snap(desktop, "report-form-desktop.png")
    desktop.goto(f"{live_server.url}/reports/{report.pk}/")
    desktop.wait_for_selector("#report-location.leaflet-container")
    snap(desktop, "report-detail-desktop.png")
    assert errors == []


def test_chat_text_fills_the_form(browser, live_server, reporter_b):
    """The paste box posts the text to the parser endpoint and fills the outage rows."""
    errors: list[str] = []
    page = open_page(browser, PHONE, errors)
    parsed = {
        "category": "outage",
        "fields": {
            "areas": [
                {"area": "真備地区", "households": 1200},
                {"area": "玉島地区", "households": 340},
            ],
            "total_households": 1540,
            "restoration": "未定",
        },
        "observed_at": "2024-07-06T14:30:00+09:00",
        "missing": [],
        "confidence": 0.9,
    }
    requests: list[dict] = []

    def answer(route):
        requests.append(json.loads(route.request.post_data))
        route.fulfill(status=200, content_type="application/json", body=json.dumps(parsed))

    page.route("**/api/v1/parse/", answer)
    log_in(page, live_server.url, "reporter-b")
    page.goto(f"{live_server.url}/reports/new/")
    page.locator("#paste-box summary").click()
    text = "停電情報 ①真備地区：1,200世帯 ②玉島地区：340世帯 復旧見込みは未定"
    page.locator("#paste-text").fill(text)
    page.get_by_role("button", name="文面から入力").click()
    page.wait_for_function("() => document.getElementById('paste-status').textContent.length > 0")
    assert requests == [{"text": text}]
    assert "停電" in page.locator("#paste-status").inner_text()
    assert page.locator('input[name="outage__areas_1_area"]').input_value() == "玉島地区"
    assert page.locator('input[name="observed_at"]').input_value() == "2024-07-06T14:30"
    page.get_by_role("button", name="報告する").click()
    page.wait_for_load_state()
    assert "受付番号" in page.locator(".messages li").inner_text()
    assert Report.objects.get().current_revision.fields["total_households"] == 1540

    # A failing endpoint leaves the form usable and says so.
    page.unroute("**/api/v1/parse/")
    page.route("**/api/v1/parse/", lambda route: route.fulfill(status=500, body="oops"))
    page.goto(f"{live_server.url}/reports/new/")
    page.locator("#paste-box summary").click()
    page.locator("#paste-text").fill("よくわからない文面")
    page.get_by_role("button", name="文面から入力").click()
    page.wait_for_function("() => document.getElementById('paste-status').textContent.length > 0")
    assert "読み取れませんでした" in page.locator("#paste-status").inner_text()
    assert page.get_by_role("button", name="文面から入力").is_enabled()

    # And the real parser endpoint, through the session and its CSRF token.
    page.unroute("**/api/v1/parse/")
    page.locator("#paste-text").fill(text)
    page.get_by_role("button", name="文面から入力").click()
    page.wait_for_function(
        "() => document.getElementById('paste-status').textContent.includes('停電')"
    )
    assert page.locator('input[name="outage__areas_0_area"]').input_value() == "真備地区"
    assert page.locator('input[name="outage__areas_0_hh"]').input_value() == "1200"
    assert page.locator('select[name="category"]').input_value() == "outage"
    assert errors == []
