"""A LINE WORKS sender acts as the member their user id maps to (design.md §8), whatever room
they write in: reports are filed for the member's own agency, and a correction, withdrawal,
photo, location or category choice touches only what that member may change. Every refusal is
answered in Japanese and says why."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agencies.models import Role
from conftest import login, make_user
from lineworks.models import BotDraft, InboundEvent, InboundStatus
from lineworks.tests.conftest import reply_texts
from reports.models import Photo, Report, ReportStatus

pytestmark = pytest.mark.django_db

A_USER, A_ROOM = "lw-a-1", "ch-mabi-shelter"  # 真備地区避難所運営班
B_USER, B_ROOM = "lw-b-1", "ch-power"  # 中国電力ネットワーク
HQ_USER, HQ_ROOM = "lw-hq-1", "ch-hq"


def _png() -> bytes:
    from lineworks.fake.server import sample_png

    return sample_png(16, 16)


@pytest.fixture
def shelter_report(talk, reporter_a) -> Report:
    talk.say(A_USER, A_ROOM, "15時現在の箭田小学校の避難者数 35名")
    return Report.objects.get(agency__code="mabi-shelter")


def test_a_report_written_in_another_agencys_room_is_filed_for_the_senders_own_agency(
    talk, reporter_a, reporter_b, agency_a, agency_b
):
    result = talk.say(B_USER, A_ROOM, "停電情報 ①真備地区：1,200世帯 復旧見込みは未定")

    report = Report.objects.get()
    assert report.agency == agency_b  # not the shelter group whose room it was
    assert report.author == reporter_b
    assert report.category == "outage"
    [reply] = reply_texts(result["replies"])
    assert report.number in reply
    assert "このトークルームは「真備地区避難所運営班」のもの" in reply
    assert "所属機関「中国電力ネットワーク 倉敷ネットワークセンター」の報告として登録" in reply
    # The shelter group's own page of reports stays its own.
    assert report.number not in login(reporter_a).get("/reports/mine/").content.decode()


def test_a_member_cannot_withdraw_another_agencys_report_from_that_agencys_room(
    talk, shelter_report, reporter_b
):
    result = talk.say(B_USER, A_ROOM, f"取消 {shelter_report.number} 誤報")

    shelter_report.refresh_from_db()
    assert shelter_report.status != ReportStatus.WITHDRAWN
    assert shelter_report.current_revision.number == 1
    [reply] = reply_texts(result["replies"])
    assert f"報告 {shelter_report.number} が見つからないか、取消する権限がありません" in reply
    assert "所属機関（中国電力ネットワーク 倉敷ネットワークセンター）の報告のみ" in reply
    assert InboundEvent.objects.order_by("-id").first().outcome == "withdraw:not_found"


def test_a_member_cannot_correct_another_agencys_report_from_that_agencys_room(
    talk, shelter_report, reporter_b
):
    result = talk.say(B_USER, A_ROOM, f"訂正 {shelter_report.number} 避難者数 350名")

    shelter_report.refresh_from_db()
    assert shelter_report.current_revision.number == 1
    assert shelter_report.current_revision.fields["count"] == 35
    [reply] = reply_texts(result["replies"])
    assert "訂正する権限がありません" in reply
    assert "所属機関（中国電力ネットワーク 倉敷ネットワークセンター）の報告のみ" in reply


def test_hq_may_still_correct_any_agencys_report(talk, shelter_report, hq_user):
    result = talk.say(HQ_USER, HQ_ROOM, f"訂正 {shelter_report.number} 避難者数 40名")

    shelter_report.refresh_from_db()
    assert shelter_report.current_revision.number == 2
    assert shelter_report.current_revision.fields["count"] == 40
    assert shelter_report.current_revision.author == hq_user
    assert "を訂正しました（第2版）" in reply_texts(result["replies"])[0]


def test_a_location_from_another_agencys_room_never_lands_on_that_agencys_report(
    talk, shelter_report, reporter_b, agency_b
):
    talk.say(B_USER, A_ROOM, "停電情報 ①真備地区：1,200世帯")
    own = Report.objects.get(agency=agency_b)

    result = talk.send(
        B_USER,
        A_ROOM,
        {
            "type": "location",
            "address": "倉敷市真備町箭田",
            "latitude": 34.6352,
            "longitude": 133.69,
        },
    )

    shelter_report.refresh_from_db()
    own.refresh_from_db()
    assert shelter_report.current_revision.number == 1
    assert shelter_report.current_revision.lat != 34.6352
    assert own.current_revision.location == {"lat": 34.6352, "lng": 133.69}
    assert f"{own.number} に追加しました" in reply_texts(result["replies"])[0]


def test_a_photo_from_another_agencys_room_opens_a_report_of_the_senders_agency(
    talk, shelter_report, reporter_b, agency_b
):
    file_id = talk.fake.add_file(_png(), file_name="IMG_0002.png", content_type="image/png")

    result = talk.send(B_USER, A_ROOM, {"type": "image", "fileId": file_id})

    photo = Photo.objects.get()
    assert photo.report.agency == agency_b
    assert photo.report != shelter_report
    [reply] = reply_texts(result["replies"])
    assert "写真を新しい報告として受け付けました" in reply
    assert "所属機関「中国電力ネットワーク 倉敷ネットワークセンター」の報告として登録" in reply


def _filed_unsure(talk, user_id: str, room: str) -> tuple[Report, dict]:
    """An unsure message is filed at once; the reply's button template lets the room choose
    another category for it."""
    first = talk.say(user_id, room, "小田川の様子がおかしい")
    [buttons] = [r for r in first["replies"] if r["content"]["type"] == "button_template"]
    return Report.objects.get(), buttons


def test_another_agencys_member_cannot_answer_a_category_question(talk, reporter_a, reporter_b):
    report, buttons = _filed_unsure(talk, A_USER, A_ROOM)
    before = report.current_revision_id

    pressed = talk.press(buttons, "水位", B_USER, A_ROOM)

    report.refresh_from_db()
    assert report.current_revision_id == before  # no correction by another agency
    assert report.category == "general"
    [reply] = reply_texts(pressed["replies"])
    assert "あなたの所属機関（中国電力ネットワーク 倉敷ネットワークセンター）の報告の確認" in reply
    assert "報告した機関のメンバーのみ" in reply
    assert report.number not in reply

    # The writer still can.
    talk.press(buttons, "水位", A_USER, A_ROOM)
    report.refresh_from_db()
    assert report.category == "water_level" and report.agency.code == "mabi-shelter"


def test_a_colleague_of_the_same_agency_may_answer_the_question(talk, reporter_a, agency_a):
    make_user("reporter-a2", role=Role.AGENCY_REPORTER, agency=agency_a, lineworks_user_id="lw-a-2")
    report, buttons = _filed_unsure(talk, A_USER, A_ROOM)

    talk.press(buttons, "水位", "lw-a-2", A_ROOM)

    report.refresh_from_db()
    assert report.agency == agency_a and report.category == "water_level"
    assert report.current_revision.author.username == "reporter-a2"


@pytest.mark.parametrize("role", [Role.AUDITOR, None])
def test_a_member_whose_role_may_not_report_is_refused_with_the_reason(talk, agency_a, role):
    make_user("kansa", role=role, agency=agency_a, name="監査 三郎", lineworks_user_id="lw-kansa")

    filed = talk.say("lw-kansa", A_ROOM, "15時現在の避難者数 35名")
    located = talk.send(
        "lw-kansa", A_ROOM, {"type": "location", "latitude": 34.63, "longitude": 133.69}
    )

    assert Report.objects.count() == 0
    for result in (filed, located):
        [reply] = reply_texts(result["replies"])
        assert "報告を登録できませんでした" in reply
        assert "報告を登録する権限がありません" in reply
        assert "報告できるのは機関の報告者と本部のメンバーです" in reply
    assert set(InboundEvent.objects.values_list("outcome", flat=True)) == {"report:denied"}


def test_a_member_whose_role_may_not_report_cannot_withdraw_either(talk, shelter_report, agency_a):
    make_user("kansa", role=Role.AUDITOR, agency=agency_a, lineworks_user_id="lw-kansa")

    result = talk.say("lw-kansa", A_ROOM, f"取消 {shelter_report.number}")

    shelter_report.refresh_from_db()
    assert shelter_report.status != ReportStatus.WITHDRAWN
    [reply] = reply_texts(result["replies"])
    assert "取消する権限がありません" in reply and "監査担当" in reply


def test_the_situation_command_stays_for_hq_even_in_the_hq_room(talk, reporter_b, hq_user):
    denied = talk.say(B_USER, HQ_ROOM, "状況")
    assert "本部のメンバーのみ" in reply_texts(denied["replies"])[0]


def test_an_unanswered_question_from_before_is_filed_for_the_members_own_agency(
    talk, reporter_b, agency_a, agency_b
):
    """A draft stored when the room decided the agency names the room's agency; the sweep
    files it for the member's own agency instead."""
    from lineworks.services import sweep

    talk.say(B_USER, B_ROOM, "了解です")  # an event to hang the old question on
    BotDraft.objects.create(
        inbound_event=InboundEvent.objects.get(),
        agency=agency_a,
        member=reporter_b.member,
        reply_channel_id=B_ROOM,
        text="電柱の様子がおかしい",
        parsed={"category": "general", "fields": {}, "confidence": 0.2, "missing": []},
        created_at=timezone.now() - timedelta(hours=1),
    )

    with talk.capture(execute=True):
        sweep()

    assert Report.objects.get().agency == agency_b


def test_odd_postback_ids_are_ignored_not_failed(talk, reporter_a):
    for data in ("category:water_level:²", "notice_ack:①", "category:water_level:" + "9" * 30):
        talk.event(
            talk.fake.member_event(user_id=A_USER, channel_id=A_ROOM, kind="postback", data=data)
        )
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {InboundStatus.IGNORED}
