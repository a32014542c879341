"""The portal in English (the footer's language switch): the main pages of every role render
with English labels and no Japanese UI text. The data stays as entered: names of agencies,
places and facilities, report text and reasons are Japanese in both languages."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone, translation

from agencies.models import Agency, District, Facility, Member
from conftest import login
from lineworks.models import InboundEvent, InboundStatus, OutboundMessage
from notices.models import Notice, NoticeKind
from notices.services import notice_send
from reports import services
from reports.models import Incident, ReportChannel, ReportRevision

pytestmark = pytest.mark.django_db

# Kana and kanji; Japanese punctuation such as 、and （） is not counted.
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def _default_language_afterwards():
    """A request in English leaves English active in this thread; later tests (management
    commands, services called directly) expect the default language."""
    yield
    translation.deactivate()


def english(user) -> Client:
    client = login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


class _VisibleText(HTMLParser):
    """Text nodes plus the attributes a person reads or hears (title, aria-label, alt,
    confirmation prompts). Placeholders are left out: they show Japanese sample input."""

    ATTRIBUTES = {"title", "aria-label", "alt", "data-confirm"}

    def __init__(self) -> None:
        super().__init__()
        self.hidden = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.hidden += 1
        self.parts += [
            v for k, v in attrs if v and (k in self.ATTRIBUTES or k.startswith("data-t-"))
        ]

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden and data.strip():
            self.parts.append(data.strip())


def _data_strings() -> list[str]:
    """Everything users typed or imported, and the chat messages sent to agencies, longest
    first, so it can be blanked out."""
    values: set[str] = {"日本語"}  # the language switch names each language in itself
    values |= set(Agency.objects.values_list("name", flat=True))
    values |= set(Facility.objects.values_list("name", flat=True))
    values |= set(District.objects.values_list("name", flat=True))
    values |= set(Member.objects.values_list("display_name", flat=True))
    for title, description in Incident.objects.values_list("title", "description"):
        values |= {title, description}
    for title, body in Notice.objects.values_list("title", "body"):
        values |= {title, body}

    def walk(value):
        if isinstance(value, str):
            values.add(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for text, reason, fields in ReportRevision.objects.values_list("text", "reason", "fields"):
        values |= {text, reason}
        walk(fields)
    for (body,) in InboundEvent.objects.values_list("body"):
        walk(json.loads(body))
    for (contents,) in OutboundMessage.objects.values_list("contents"):
        walk(contents)  # chat messages to agencies are written in Japanese on purpose
    return sorted((v for v in values if v and JAPANESE.search(v)), key=len, reverse=True)


def japanese_ui_text(html: str) -> list[str]:
    """Visible text that is still Japanese once the data strings are blanked out."""
    parser = _VisibleText()
    parser.feed(html)
    data = _data_strings()
    left = []
    for part in parser.parts:
        for value in data:
            part = part.replace(value, "◆")
        if JAPANESE.search(part):
            left.append(part)
    return left


def page(client: Client, url: str, *, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.content.decode()


@pytest.fixture
def scene(hq_user, reporter_a, reporter_b, agency_a, agency_b, districts):
    """A small event: a shelter report that came in through LINE WORKS and was corrected, a
    power outage, an incident with the report linked, a notice acknowledged by the shelter
    group, and a message from a LINE WORKS user the portal does not know."""
    now = timezone.now()
    raw = {
        "type": "message",
        "source": {"userId": "lw-a-1", "channelId": "ch-mabi-shelter"},
        "content": {"type": "text", "text": "15時現在の避難者数 120名"},
    }
    body = json.dumps(raw, ensure_ascii=False)
    inbound = InboundEvent.objects.create(
        digest=hashlib.sha256(body.encode()).hexdigest(),
        body=body,
        received_at=now - timedelta(hours=2),
        event_type="message",
        source_user_id="lw-a-1",
        source_channel_id="ch-mabi-shelter",
        status=InboundStatus.DONE,
    )
    shelter = services.report_submit(
        agency=agency_a,
        author=reporter_a,
        category="evacuees",
        fields={"facility": "箭田小学校", "count": 120, "households": None},
        text="15時現在の避難者数 120名",
        channel=ReportChannel.LINEWORKS,
        source_ref=f"lineworks:inbound:{inbound.pk}",
        observed_at=now - timedelta(hours=2),
    )
    services.report_correct(
        report=shelter,
        author=reporter_a,
        reason="集計誤り（体育館分を二重計上）",
        fields={"facility": "箭田小学校", "count": 135, "households": 48},
    )
    outage = services.report_submit(
        agency=agency_b,
        author=reporter_b,
        category="outage",
        fields={
            "areas": [
                {"area": "真備地区", "households": 4600},
                {"area": "船穂地区", "households": 200},
            ],
            "restoration": "未定",
        },
        text="停電情報 ①真備地区：4,600世帯 ②船穂地区：200世帯 復旧見込みは未定",
    )
    incident = services.incident_open(
        user=hq_user, title="小田川決壊 真備地区浸水", district=districts["mabi"]
    )
    services.report_link_incident(report=shelter, incident=incident, user=hq_user)
    notice = notice_send(
        user=hq_user,
        kind=NoticeKind.MUSTER,
        title="第2配備への移行",
        body="各機関は第2配備体制に移行してください。",
        agencies=[agency_a, agency_b],
    )
    english(reporter_a).post(f"/notices/{notice.pk}/acknowledge/")
    stray = json.dumps(
        {
            "type": "message",
            "source": {"userId": "lw-unknown-7", "channelId": "ch-unknown"},
            "content": {"type": "text", "text": "避難所の状況を報告します"},
        },
        ensure_ascii=False,
    )
    InboundEvent.objects.create(
        digest=hashlib.sha256(stray.encode()).hexdigest(),
        body=stray,
        received_at=now,
        event_type="message",
        source_user_id="lw-unknown-7",
        source_channel_id="ch-unknown",
        status=InboundStatus.UNMATCHED,
    )
    shelter.refresh_from_db()
    return {"shelter": shelter, "outage": outage, "incident": incident, "notice": notice}


def _assert_english(html: str, present: list[str], absent: list[str]) -> None:
    for label in present:
        assert label in html, label
    for label in absent:
        assert label not in html, label
    assert japanese_ui_text(html) == []


def test_japanese_stays_the_default(hq_user, scene):
    html = page(login(hq_user), "/dashboard/")
    assert "本部ダッシュボード" in html
    assert "HQ dashboard" not in html


def test_the_footer_switch_turns_the_portal_english(hq_user, scene):
    client = login(hq_user)
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/dashboard/"})
    assert response.status_code == 302
    html = page(client, "/dashboard/")
    assert '<html lang="en">' in html
    assert "HQ dashboard" in html
    assert "本部ダッシュボード" not in html


def test_hq_pages_in_english(hq_user, scene):
    client = english(hq_user)
    shelter, incident, notice = scene["shelter"], scene["incident"], scene["notice"]
    dashboard = page(client, "/dashboard/")
    _assert_english(
        dashboard,
        ["HQ dashboard", "Chronology", "Silent agencies", "Evacuees", "Incidents", "Send notice"],
        ["本部ダッシュボード", "クロノロジー", "沈黙している機関"],
    )
    config = json.loads(re.search(r'id="dashboard-config"[^>]*>(.*?)</script>', dashboard).group(1))
    assert not JAPANESE.search(json.dumps(config["text"], ensure_ascii=False))
    assert [c["glyph"] for c in config["categories"]][:3] == ["E", "P", "R"]
    assert config["text"]["yes"] == "Yes"

    _assert_english(
        page(client, "/dashboard/print/"),
        [
            "Kurashiki City Disaster Response Headquarters",
            "Power outage",
            "Road closures and damage",
        ],
        ["状況報告書", "避難者数", "通行止め"],
    )
    _assert_english(
        page(client, "/dashboard/incidents/"), ["Incidents", "Open an incident"], ["インシデント"]
    )
    _assert_english(
        page(client, f"/dashboard/incidents/{incident.pk}/"),
        ["Linked reports", "Close incident", "Chronology", "Correction"],
        ["関連する報告", "インシデントを終了", "年"],
    )
    _assert_english(
        page(client, "/reports/"),
        ["All reports", "Receipt number", "Clear filters", "4,600 households, 船穂地区"],
        ["報告一覧", "受付番号", "世帯"],
    )
    _assert_english(
        page(client, f"/reports/{shelter.pk}/"),
        ["History (all revisions)", "Acknowledge", "Reason for correction", "Rev. 2"],
        ["履歴", "訂正理由", "第2版"],
    )
    _assert_english(
        page(client, "/reports/new/"), ["New report", "Send report"], ["新規報告", "報告する"]
    )
    _assert_english(page(client, "/notices/"), ["Notices", "Mobilization order"], ["参集命令"])
    _assert_english(
        page(client, f"/notices/{notice.pk}/"),
        ["Status by agency", "Delivery", "Acknowledged", "Not acknowledged"],
        ["機関ごとの状況", "未了解", "年"],
    )
    _assert_english(page(client, "/notices/new/"), ["Send to all agencies"], ["全機関へ送る"])
    _assert_english(
        page(client, "/lineworks/outbox/"),
        ["LINE WORKS outbox", "Recent API calls", "Attempts"],
        ["送信状況", "試行"],
    )
    _assert_english(
        page(client, "/lineworks/unmatched/"),
        ["Unregistered senders and channels", "Assign user", "Assign channel", "lw-unknown-7"],
        ["未登録の送信者", "割り当て"],
    )


def test_reporter_pages_in_english(reporter_a, scene):
    client = english(reporter_a)
    shelter, notice = scene["shelter"], scene["notice"]
    _assert_english(
        page(client, "/reports/mine/"),
        ["My agency's reports", "+ New report", "Evacuees"],
        ["自機関の報告", "避難者数"],
    )
    _assert_english(
        page(client, "/reports/new/"),
        [
            "Kind of report",
            "Fill in from a chat message",
            "Photos and text",
            "Send report",
            'data-filled="Filled in as “%(category)s”. Please check the entries."',
        ],
        ["報告の種類", "写真・本文"],
    )
    _assert_english(
        page(client, f"/reports/{shelter.pk}/correct/"),
        ["Record correction", "Reason for correction"],
        ["訂正を記録する"],
    )
    _assert_english(
        page(client, f"/reports/{shelter.pk}/withdraw/"), ["Withdraw", "Cancel"], ["取り消す"]
    )
    _assert_english(
        page(client, f"/notices/{notice.pk}/"), ["Acknowledged", "Status by agency"], ["了解済み"]
    )
    denied = page(client, "/audit/", status=403)
    _assert_english(denied, ["Permission denied"], ["権限がありません"])
    assert "available to auditors and HQ only" in denied


def test_auditor_pages_in_english(auditor, scene):
    client = english(auditor)
    shelter = scene["shelter"]
    _assert_english(
        page(client, "/audit/"),
        ["Search reports (all agencies, all time)", "Export all reports:", "Rev. 2"],
        ["報告の検索", "第2版"],
    )
    history = page(client, f"/audit/reports/{shelter.pk}/")
    _assert_english(
        history,
        ["All revisions (original on the left)", "Original message", "Sender", "Channel", "Match"],
        ["すべての版", "元のメッセージ", "送信者", "一致"],
    )
    assert "LINE WORKS message #" in history
    _assert_english(
        page(client, "/audit/events/"),
        ["Audit log (newest first)", "Row check", "report.correction"],
        ["監査ログ", "行の検証"],
    )
    _assert_english(
        page(client, "/audit/chain/"),
        ["Tamper check", "Not checked yet.", "Publish head hash now", "Click to copy"],
        ["改ざん検証", "まだ検証していません。"],
    )
    _assert_english(
        page(client, "/audit/exports/"),
        ["Exports", "Evidence bundle (zip)", "CAP 1.2 (notices and evacuation orders)"],
        ["データ出力", "証拠パッケージ"],
    )
    _assert_english(
        page(client, "/reports/"), ["All reports", "Power outage"], ["報告一覧", "停電"]
    )


def test_messages_to_agencies_stay_japanese_when_hq_works_in_english(hq_user, agency_b, scene):
    """A reminder from the dashboard goes out to the agency's LINE WORKS talk: it is written in
    Japanese whatever language the HQ operator reads the portal in."""
    response = english(hq_user).post(f"/dashboard/silence/{agency_b.code}/remind/")
    assert response.status_code == 302
    reminder = Notice.objects.get(kind=NoticeKind.REMINDER)
    assert reminder.title == "状況報告のお願い"
    assert reminder.body.startswith(f"{agency_b.name} 御中")


def test_reporter_of_another_agency_acknowledges_in_english(reporter_b, scene):
    client = english(reporter_b)
    notice = scene["notice"]
    _assert_english(
        page(client, f"/notices/{notice.pk}/"),
        ["Mobilization order", '<button type="submit" class="btn primary">Acknowledge</button>'],
        ["了解"],
    )
    response = client.post(f"/notices/{notice.pk}/acknowledge/", follow=True)
    assert "Your acknowledgement was sent to HQ." in response.content.decode()


def test_error_pages_in_english(reporter_b, scene):
    client = english(reporter_b)
    _assert_english(
        page(client, f"/reports/{scene['shelter'].pk}/", status=404),
        ["Page not found", "Back to the home page"],
        ["ページが見つかりません"],
    )
