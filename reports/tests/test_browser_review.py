"""HQ works through the review queue (要確認) in Chromium: opens it from the menu, fixes a
queued report in one step, and sees it leave the queue.

Screenshots go to test-artifacts/ (the queue on a phone before and after, and on a desktop).
"""

from __future__ import annotations

import re

import pytest

from reports import services
from reports.models import Report, ReportChannel, ReviewKind
from reports.parsing import SenderContext, parse
from reports.review import awaiting_review
from reports.tests.test_browser_reporting import (
    DESKTOP,
    PHONE,
    browser,  # noqa: F401  (the fixture)
    log_in,
    open_page,
    snap,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def from_chat(reporter, text: str) -> Report:
    """File a LINE WORKS message as the bot does: the parser's reading and its confidence."""
    agency = reporter.member.agency
    result = parse(text, context=SenderContext(agency_kind=agency.kind, agency_name=agency.name))
    return services.report_submit(
        agency=agency,
        author=reporter,
        category=result.category,
        fields=result.fields,
        text=text,
        channel=ReportChannel.LINEWORKS,
        require_fields=False,
        check_permission=False,
        parsed_confidence=result.confidence,
    )


def test_hq_fixes_a_queued_report_and_it_leaves_the_queue(
    browser,  # noqa: F811
    live_server,
    hq_user,
    reporter_a,
    reporter_b,
):
    river = from_chat(reporter_a, "水位上昇中、堤防の近くまで来ています")
    odd = from_chat(reporter_b, "小田川の様子がおかしい")
    assert set(awaiting_review(Report.objects.all())) == {river, odd}
    errors: list[str] = []

    page = open_page(browser, PHONE, errors)
    log_in(page, live_server.url, "hq-operator")
    menu = page.locator("a.nav-review")
    assert re.search(r"要確認\s*2", menu.inner_text())
    menu.click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name=re.compile("要確認の報告")).is_visible()
    card = page.locator(f"#review-{river.pk}")
    assert "水位上昇中、堤防の近くまで来ています" in card.locator(".original-text").inner_text()
    reasons = card.locator(".reason-chip").all_inner_texts()
    assert any(r.startswith("信頼度が低い（") for r in reasons)
    assert "必須項目なし: 河川・地区" in reasons
    # oldest first
    ids = page.locator("article.review-item").evaluate_all("els => els.map(e => e.id)")
    assert ids == [f"review-{river.pk}", f"review-{odd.pk}"]
    snap(page, "review-queue-phone.png")

    card.get_by_text("分類・項目を修正して確定").click()
    form = card.locator("form.review-form")
    assert form.get_by_label("分類").input_value() == "water_level"
    # only the chosen category's fields show
    assert form.locator('fieldset[data-category="fire"]').is_hidden()
    form.get_by_label("河川・地区").fill("小田川")
    form.get_by_label("氾濫・浸水").select_option("true")
    snap(page, "review-fix-phone.png")
    form.get_by_role("button", name="修正して確定").click()
    page.wait_for_load_state()

    assert "を修正して確定しました（第2版・本部確認）" in page.locator(".messages").inner_text()
    assert page.locator(f"#review-{river.pk}").count() == 0
    assert page.locator(f"#review-{odd.pk}").count() == 1
    assert re.search(r"要確認\s*1", page.locator("a.nav-review").inner_text())
    snap(page, "review-queue-after-fix-phone.png")

    river.refresh_from_db()
    fixed = river.current_revision
    assert (fixed.number, fixed.reason, fixed.author) == (2, "本部確認", hq_user)
    assert fixed.fields["area"] == "小田川" and fixed.fields["flooding"] is True
    assert river.reviews.last().kind == ReviewKind.FIXED
    assert list(awaiting_review(Report.objects.all())) == [odd]

    desktop = open_page(browser, DESKTOP, errors)
    log_in(desktop, live_server.url, "hq-operator", next_path="/reports/review/")
    desktop.locator(f"#review-{odd.pk}").get_by_role("button", name="このまま確定").click()
    desktop.wait_for_load_state()
    assert "をこのまま確定しました。" in desktop.locator(".messages").inner_text()
    assert "確認待ちの報告はありません。" in desktop.content()
    desktop.goto(f"{live_server.url}/dashboard/")
    tile = desktop.locator("#review-tile .num")
    assert tile.inner_text() == "0"
    # A new unsure message arrives: the tile catches up without a reload.
    from_chat(reporter_a, "避難者がどんどん増えています。毛布が足りません")
    desktop.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    desktop.wait_for_function(
        "() => document.querySelector('#review-tile .num').textContent === '1'", timeout=5000
    )
    assert desktop.locator(".nav-review .count-badge").inner_text() == "1"
    snap(desktop, "review-dashboard-tile-desktop.png")
    desktop.locator("#review-tile").click()
    desktop.wait_for_load_state()
    snap(desktop, "review-queue-desktop.png")
    assert errors == []
