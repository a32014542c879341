"""Data for the auditor's tests: a corrected shelter report that came in through LINE WORKS,
a power outage, a fire with an evacuation order, a notice, and a stand-in for the LINE WORKS
app's raw-message resolver."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from audit import registry
from audit.registry import SourceDocument, register_source_resolver, unregister_source_resolver
from reports import services
from reports.models import ReportChannel

# A 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

INBOUND = {
    "lineworks:inbound:501": {
        "type": "message",
        "source": {"userId": "lw-a-1", "channelId": "ch-mabi-shelter"},
        "issuedTime": "2018-07-07T06:00:00.000Z",
        "content": {"type": "text", "text": "15時現在の避難者数 120名"},
    }
}


@pytest.fixture
def inbound_resolver():
    """What the LINE WORKS app registers in its ready(): ref -> the raw callback body."""

    def resolve(ref: str) -> SourceDocument | None:
        body = INBOUND.get(ref)
        if body is None:
            return None
        return SourceDocument(
            ref=ref,
            label=f"LINE WORKS 受信 #{ref.rsplit(':', 1)[-1]}",
            body=json.dumps(body, ensure_ascii=False),
            received_at=timezone.now(),
            summary={
                "送信者": "lw-a-1",
                "トーク": "ch-mabi-shelter",
                "本文": body["content"]["text"],
            },
        )

    previous = registry._RESOLVERS.get("lineworks:inbound:")
    register_source_resolver("lineworks:inbound:", resolve)
    yield INBOUND
    unregister_source_resolver("lineworks:inbound:")
    if previous is not None:  # the LINE WORKS app's own resolver, registered in its ready()
        register_source_resolver("lineworks:inbound:", previous)


@pytest.fixture
def corrected_report(reporter_a, agency_a):
    """箭田小学校: 120名 by LINE WORKS, corrected to 135名 (48世帯) on the web."""
    report = services.report_submit(
        agency=agency_a,
        author=reporter_a,
        category="evacuees",
        fields={"facility": "箭田小学校", "count": 120, "households": None},
        text="15時現在の避難者数 120名",
        channel=ReportChannel.LINEWORKS,
        source_ref="lineworks:inbound:501",
        observed_at=timezone.now() - timedelta(hours=2),
    )
    services.report_correct(
        report=report,
        author=reporter_a,
        reason="集計誤り（体育館分を二重計上）",
        fields={"facility": "箭田小学校", "count": 135, "households": 48},
    )
    report.refresh_from_db()
    return report


@pytest.fixture
def outage_report(reporter_b, agency_b):
    return services.report_submit(
        agency=agency_b,
        author=reporter_b,
        category="outage",
        fields={
            "areas": [{"area": "真備", "households": 1200}, {"area": "玉島", "households": 340}],
            "total_households": 1540,
            "restoration": "未定",
        },
        text="停電情報 ①真備地区：1,200世帯 ②玉島地区：340世帯 復旧見込みは未定",
        channel=ReportChannel.API,
    )


@pytest.fixture
def fire_report(hq_user, hq_agency, districts):
    """水島: an evacuation order, then the number corrected, then the order lifted."""
    report = services.report_submit(
        agency=hq_agency,
        author=hq_user,
        category="fire",
        fields={"area": "水島", "households": 20, "people": 50, "evacuation_order": True},
        text="水島地区にて火災発生。警戒区域を設定し、20世帯50名に退去を命令。",
        district=districts["mizushima"],
    )
    services.report_correct(
        report=report,
        author=hq_user,
        reason="対象人数の訂正",
        fields={"area": "水島", "households": 22, "people": 57, "evacuation_order": True},
    )
    services.report_correct(
        report=report,
        author=hq_user,
        reason="鎮火のため退去命令を解除",
        fields={"area": "水島", "households": 22, "people": 57, "evacuation_order": False},
    )
    report.refresh_from_db()
    return report


@pytest.fixture
def photo(corrected_report, reporter_a):
    return services.report_add_photo(
        report=corrected_report, data=PNG, filename="taiikukan.png", user=reporter_a
    )


@pytest.fixture
def notice(hq_user, agency_a, agency_b):
    from notices.services import notice_send

    return notice_send(
        user=hq_user,
        kind="muster",
        title="全職員参集",
        body="倉敷市で震度5強を観測したため、全職員はあらかじめ決められた場所へ参集してください。",
        agencies=[agency_a, agency_b],
    )
