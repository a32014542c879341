"""The onboarding view for HQ: each agency's room, bot, members, accounts, last message and
report, external tenants, with the next step in Japanese and problems first; the demo's
varied states; the operator's guide behind the help page."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from agencies.models import Agency, AgencyKind
from conftest import login, make_user
from kurashiki_dr.tests.test_i18n import english, japanese_ui_text
from lineworks.models import Channel

pytestmark = pytest.mark.django_db

URL = "/lineworks/onboarding/"


def cards(html: str) -> list[tuple[str, str]]:
    """(level, card html) in page order."""
    return re.findall(r'<section class="ob-card (\w+)"(.*?)</section>', html, re.S)


def card_of(html: str, name: str) -> tuple[str, str]:
    return next((level, body) for level, body in cards(html) if name in body)


def test_states_from_join_events_members_and_reports(
    talk, hq_user, reporter_a, reporter_b, agency_a, agency_b, hospital_agency
):
    # The shelter group's room: the bot was invited (join) and members joined.
    talk.event(talk.fake.member_event(user_id="", channel_id="ch-mabi-shelter", kind="join"))
    talk.event(
        talk.fake.member_event(
            user_id="", channel_id="ch-mabi-shelter", kind="joined", members=["lw-a-1"]
        )
    )
    talk.say("lw-a-1", "ch-mabi-shelter", "15時現在の避難者数 35名")
    # The power company's room: the bot joined, then was removed.
    talk.event(talk.fake.member_event(user_id="", channel_id="ch-power", kind="join"))
    talk.event(talk.fake.member_event(user_id="", channel_id="ch-power", kind="leave"))
    # The hospital: a room id, no join event ever; staff without LINE WORKS ids.
    make_user("hosp-web", role="agency_reporter", agency=hospital_agency, name="病院 事務")
    # A national office on its own tenant.
    external = Agency.objects.create(
        code="river-office",
        name="国土交通省 岡山河川事務所",
        kind=AgencyKind.WATERWAY,
        external_tenant=True,
    )
    make_user("river-1", role="agency_reporter", agency=external, name="河川 担当")

    page = login(hq_user).get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    levels = [level for level, _body in cards(html)]
    assert levels == sorted(levels, key=["problem", "warning", "ok"].index)

    level, shelter = card_of(html, "真備地区避難所運営班")
    assert "参加中" in shelter and "メンバー1名" in shelter
    assert "IDあり 1名 · IDなし 0名" in shelter
    assert '<li class="info">ディレクトリ同期の対象グループが未設定です' in shelter
    assert level == "ok" and "準備完了です" in shelter
    last = Channel.objects.get(channel_id="ch-mabi-shelter")
    assert timezone.localtime(last.joined_at).strftime("%-m/%-d") in shelter

    level, power = card_of(html, "中国電力ネットワーク")
    assert level == "problem" and "ボットがトークルームから退出しています" in power
    assert "トークルームにボットをもう一度招待してください" in power

    level, hospital = card_of(html, "まび記念病院")
    assert level == "problem"
    assert "ボットがトークルームに参加した記録がありません" in hospital
    assert "LINE WORKS IDのあるメンバーがいません" in hospital
    assert "次の対応" in hospital and "トークルームのメンバー追加からボットを招待" in hospital
    assert "Webアカウント</dt><dd>1名" in hospital

    level, river = card_of(html, "岡山河川事務所")
    assert level == "problem" and "外部テナント" in river
    assert "ボットはこの機関のトークルームに入れません" in river
    assert "連絡員に市のテナントのアカウントを発行" in river
    assert "通知用のメールアドレスが未登録です" in river

    # The HQ agency: bot not joined in the test setup, but its members have ids.
    assert card_of(html, "倉敷市災害対策本部")[0] == "problem"


def test_the_last_message_and_report_are_shown(talk, hq_user, reporter_a, agency_a):
    talk.event(talk.fake.member_event(user_id="", channel_id="ch-mabi-shelter", kind="join"))
    talk.say("lw-a-1", "ch-mabi-shelter", "14時現在の避難者数 20名")
    html = login(hq_user).get(URL).content.decode()
    _level, shelter = card_of(html, "真備地区避難所運営班")
    stamp = timezone.localtime(timezone.now()).strftime("%-m/%-d")
    assert re.search(rf"最終メッセージ</dt><dd>{stamp} \d+:\d+", shelter)
    assert re.search(rf"最終報告</dt><dd>{stamp} \d+:\d+", shelter)


def test_only_hq_sees_the_onboarding_view(cast):
    for name in ("reporter_a", "auditor", "stranger"):
        assert login(cast[name]).get(URL).status_code == 403, name
    assert login(None).get(URL).status_code == 302


def test_query_count_does_not_grow_with_agencies(
    hq_user, agency_a, agency_b, django_assert_max_num_queries
):
    for i in range(12):
        agency = Agency.objects.create(
            code=f"shelter-{i}", name=f"避難所{i}", kind=AgencyKind.SHELTER_OPERATOR
        )
        make_user(f"user-{i}", role="agency_reporter", agency=agency, lineworks_user_id=f"u{i}")
    client = login(hq_user)
    with django_assert_max_num_queries(16):
        assert client.get(URL).status_code == 200


def test_onboarding_and_sync_pages_in_english(hq_user, agency_a, hospital_agency):
    client = english(hq_user)
    for url in (URL, reverse("lineworks:directory_sync"), reverse("help")):
        html = client.get(url).content.decode()
        assert japanese_ui_text(html) == [], url


def test_help_links_the_operator_guide_for_hq_only(hq_user, reporter_a):
    page = login(hq_user).get(reverse("help")).content.decode()
    assert reverse("help_operator") in page
    guide = login(hq_user).get(reverse("help_operator")).content.decode()
    assert '<h2 id="directory-sync">3. ディレクトリ同期を実行する</h2>' in guide
    assert 'id="rotation"' in guide and "LINEWORKS_BOT_SECRET_PREVIOUS" in guide
    assert "<script" not in guide.split('<article class="guide">')[1]
    assert reverse("help_operator") not in login(reporter_a).get(reverse("help")).content.decode()
    assert login(reporter_a).get(reverse("help_operator")).status_code == 403


def test_seeded_demo_shows_varied_states(settings, db):
    settings.DEMO_MODE = True
    call_command("seed_demo", stdout=StringIO())
    from django.contrib.auth.models import User

    hq = User.objects.get(username="demo-hq")
    html = login(hq).get(URL).content.decode()
    states = {name: level for level, body in cards(html) for name in [_card_name(body)]}
    assert len(states) == Agency.objects.filter(active=True).count()
    level, river = card_of(html, "国土交通省 岡山河川事務所")
    assert level == "problem" and "外部テナント" in river
    assert "kasen-bousai@okayama-river.example.jp" in river
    level, kojima = card_of(html, "児島中央病院")
    assert level == "problem" and "参加した記録がありません" in kojima
    level, mizushima = card_of(html, "水島中央病院")
    assert level == "problem" and "退出" in mizushima
    level, mabi = card_of(html, "真備地区避難所運営班")
    assert level == "warning" and "LINE WORKS IDのないメンバーが1名います" in mabi
    assert "参加中" in mabi
    assert "ok" in states.values()
    # Problems first.
    levels = [level for level, _body in cards(html)]
    assert levels[0] == "problem" and levels[-1] == "ok"
    assert timedelta(0) <= timezone.now() - Channel.objects.latest("updated_at").updated_at


def _card_name(body: str) -> str:
    return re.search(r">([^<]+)<span", body).group(1)
