"""A report page with a phone photo in Chromium: what the browser really transfers, and the
lockout page a person sees. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re

import pytest

from reports import services
from reports.tests.images import phone_jpeg
from reports.tests.test_browser_reporting import (  # noqa: F401 (the browser fixture)
    PHONE,
    browser,
    log_in,
    open_page,
    snap,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_report_page_with_a_phone_photo_transfers_kilobytes(
    browser,  # noqa: F811
    live_server,
    reporter_a,
    agency_a,
    settings,
    tmp_path,
):
    settings.MEDIA_ROOT = str(tmp_path)
    original = phone_jpeg()  # 4000×3000, ~4.3 MB
    report = services.report_submit(
        agency=agency_a,
        author=reporter_a,
        category="general",
        fields={},
        text="小田川の堤防付近、道路が冠水しています",
    )
    services.report_add_photo(
        report=report, data=original, filename="IMG_2041.JPG", user=reporter_a
    )

    errors: list[str] = []
    page = open_page(browser, PHONE, errors)
    log_in(page, live_server.url, "reporter-a")
    transferred: dict[str, int] = {}

    def record(response) -> None:
        try:
            transferred[response.url] = len(response.body())
        except Exception:  # noqa: BLE001 (a redirect has no body)
            transferred[response.url] = 0

    page.on("response", record)
    page.goto(f"{live_server.url}/reports/{report.pk}/")
    page.wait_for_load_state("networkidle")
    thumb = page.locator(".photos img")
    assert thumb.evaluate("img => img.complete && img.naturalWidth") == 240  # upright
    assert page.get_by_role("link", name="原本をダウンロード").count() == 1
    snap(page, "report-detail-photo-phone.png")

    total = sum(transferred.values())
    assert len(original) > 4_000_000
    assert total < 400_000, transferred  # HTML, CSS, JS and the thumbnail
    assert not any(re.search(r"/reports/photos/\d+/$", url) for url in transferred)  # original
    print(f"report page with one {len(original):,}-byte photo: {total:,} bytes transferred")
    assert errors == []


def test_lockout_page_after_ten_wrong_passwords(browser, live_server, reporter_a):  # noqa: F811
    errors: list[str] = []
    page = open_page(browser, PHONE, errors)
    for _ in range(10):
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("ユーザー名").fill("reporter-a")
        page.get_by_label("パスワード").fill("まちがい")
        page.get_by_role("button", name="ログイン").click()
        page.wait_for_load_state()
    assert page.get_by_role("heading", name="ログインを一時停止しています").is_visible()
    assert page.get_by_text("15分後にもう一度お試しください。").is_visible()
    snap(page, "login-lockout-phone.png")
    assert errors == []
