"""End to end through the fake LINE WORKS: a member writes in a talk room, the signed callback
reaches the webhook, the bot files the report and its reply is delivered to the fake."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from conftest import login
from lineworks.models import (
    BotDraft,
    Channel,
    ChannelMember,
    DraftStatus,
    InboundEvent,
    InboundStatus,
    OutboundMessage,
)
from lineworks.services import sweep
from lineworks.tests.conftest import reply_texts
from reports.models import (
    Photo,
    Report,
    ReportChannel,
    ReportReview,
    ReportStatus,
    ReviewKind,
    RevisionKind,
)
from reports.review import awaiting_review

pytestmark = pytest.mark.django_db

A_USER, A_ROOM = "lw-a-1", "ch-mabi-shelter"
B_USER, B_ROOM = "lw-b-1", "ch-power"


def test_member_message_files_report_and_confirms_with_receipt_number(talk, reporter_a):
    result = talk.say(A_USER, A_ROOM, "15時現在の避難者数 35名")

    report = Report.objects.get()
    assert report.channel == ReportChannel.LINEWORKS
    assert report.author == reporter_a
    assert report.agency.code == "mabi-shelter"
    assert report.category == "evacuees"
    revision = report.current_revision
    assert revision.fields["count"] == 35
    assert revision.fields["facility"] == "箭田小学校"
    assert revision.source_ref == f"lineworks:inbound:{InboundEvent.objects.get().pk}"
    [reply] = reply_texts(result["replies"])
    assert report.number in reply
    assert "避難者数（人）: 35" in reply
    assert "箭田小学校" in reply
    assert InboundEvent.objects.get().status == InboundStatus.DONE


def test_power_company_outage_message_reads_back_every_area(talk, reporter_b):
    result = talk.say(
        B_USER, B_ROOM, "停電情報 ①真備地区：1,200世帯 ②玉島地区：340世帯 復旧見込みは未定"
    )
    report = Report.objects.get()
    assert report.category == "outage"
    assert report.current_revision.fields["total_households"] == 1540
    [reply] = reply_texts(result["replies"])
    assert "真備地区 1,200世帯、玉島地区 340世帯" in reply
    assert "復旧見込み: 未定" in reply


def test_low_confidence_message_is_filed_for_review_and_read_back(talk, reporter_a):
    result = talk.say(A_USER, A_ROOM, "水位上昇中")

    report = Report.objects.get()
    assert report.category == "water_level"  # filed at once, as the parser read it
    assert report.current_revision.fields["trend"] == "rising"
    [flag] = ReportReview.objects.filter(report=report)
    assert flag.kind == ReviewKind.FLAGGED
    assert flag.reasons == ["low_confidence", "missing_fields"]
    assert flag.missing == ["area"]
    assert flag.confidence < 0.6
    assert list(awaiting_review(Report.objects.all())) == [report]
    assert InboundEvent.objects.get().outcome == "report:review"

    confirmation, buttons = result["replies"]
    [text] = reply_texts([confirmation])
    # The read-back still shows what was understood, so the reporter can correct it.
    assert report.number in text
    assert "分類: 水位" in text
    assert "傾向: 上昇" in text
    assert "【要確認】本部が内容を確認します（信頼度が低い、必須項目なし）。" in text
    assert f"不足している項目: 河川・地区。「訂正 {report.number} 〈内容〉」" in text
    assert buttons["content"]["type"] == "button_template"
    labels = [a["label"] for a in buttons["content"]["actions"]]
    assert labels[0] == "水位" and "火災・避難指示" in labels and labels[-1] == "登録しない"
    assert all(
        a["postback"].startswith("report_category:") and a["postback"].endswith(f":{report.pk}")
        for a in buttons["content"]["actions"]
    )


def test_unsure_report_gets_category_buttons_that_correct_it(talk, reporter_a):
    first = talk.say(A_USER, A_ROOM, "小田川の様子がおかしい")
    report = Report.objects.get()
    assert report.category == "general"
    assert ReportReview.objects.get(report=report).reasons == ["low_confidence"]
    _confirmation, buttons = first["replies"]

    second = talk.press(buttons, "水位", A_USER, A_ROOM)

    report.refresh_from_db()
    revision = report.current_revision
    assert (report.category, revision.number, revision.kind) == ("water_level", 2, "correction")
    assert revision.author == reporter_a
    assert revision.reason == "LINE WORKSでの分類の選択"
    assert report.revisions.get(number=1).text == "小田川の様子がおかしい"
    # The sender's choice does not take it off HQ's queue: HQ still decides.
    assert list(awaiting_review(Report.objects.all())) == [report]
    [text] = reply_texts(second["replies"])
    assert f"{report.number} の分類を「水位」にしました（第2版）。" in text
    assert "不足している項目: 河川・地区" in text  # the river was not named

    # Pressing the same category again changes nothing.
    third = talk.press(buttons, "水位", A_USER, A_ROOM)
    assert report.revisions.count() == 2
    assert "のままです" in reply_texts(third["replies"])[0]


def test_greetings_and_acknowledgements_are_kept_but_not_filed_or_answered(talk, reporter_a):
    for text in (
        "了解です、引き続きよろしくお願いします",
        "お疲れ様です！",
        "ありがとうございます。",
    ):
        result = talk.say(A_USER, A_ROOM, text)
        assert result["replies"] == []
    assert Report.objects.count() == 0
    assert list(InboundEvent.objects.values_list("outcome", flat=True)) == ["chat"] * 3


def test_choosing_not_to_file_withdraws_the_report_and_it_leaves_the_queue(talk, reporter_a):
    first = talk.say(A_USER, A_ROOM, "炊き出しを12時から行います")
    report = Report.objects.get()
    assert list(awaiting_review(Report.objects.all())) == [report]
    _confirmation, buttons = first["replies"]

    second = talk.press(buttons, "登録しない", A_USER, A_ROOM)

    report.refresh_from_db()
    assert report.status == ReportStatus.WITHDRAWN
    assert report.current_revision.reason == "報告者が「登録しない」を選択"
    assert list(awaiting_review(Report.objects.all())) == []
    assert "登録しないことにしました" in reply_texts(second["replies"])[0]
    assert InboundEvent.objects.count() == 2
    third = talk.press(buttons, "水位", A_USER, A_ROOM)
    assert "すでに取り消されています" in reply_texts(third["replies"])[0]


def test_confident_complete_message_is_not_queued(talk, reporter_b):
    result = talk.say(
        B_USER, B_ROOM, "停電情報 ①真備地区：1,200世帯 ②玉島地区：340世帯 復旧見込みは未定"
    )
    assert not ReportReview.objects.exists()
    [reply] = result["replies"]
    assert reply["content"]["type"] == "text"
    assert "要確認" not in reply["content"]["text"]


def test_question_still_open_from_before_is_filed_as_general_and_queued(talk, reporter_a):
    """Questions asked before reports were filed at once: the sweep files them as before,
    and HQ's queue gets them (nobody chose a category)."""
    talk.say(A_USER, A_ROOM, "了解です")  # an event to hang the old question on
    event = InboundEvent.objects.get()
    draft = BotDraft.objects.create(
        inbound_event=event,
        agency=reporter_a.member.agency,
        member=reporter_a.member,
        reply_channel_id=A_ROOM,
        text="小田川の様子がおかしい",
        parsed={"category": "general", "fields": {}, "confidence": 0.2, "missing": []},
        created_at=timezone.now() - timedelta(hours=1),
    )

    since = talk.fake.state.seq
    with talk.capture(execute=True):
        sweep()

    draft.refresh_from_db()
    report = Report.objects.get()
    assert draft.status == DraftStatus.FILED and draft.report == report
    assert report.category == "general"
    assert report.current_revision.text == "小田川の様子がおかしい"
    assert ReportReview.objects.get(report=report).confidence == 0.2
    assert "その他" in reply_texts(talk.fake.messages(channel_id=A_ROOM, since=since))[0]


def test_photo_attaches_to_the_senders_report_of_the_last_30_minutes(talk, reporter_a):
    talk.say(A_USER, A_ROOM, "国道486号線付近にて土砂災害発生、通行不可")
    report = Report.objects.get()
    file_id = talk.fake.add_file(_png(), file_name="IMG_0001.png", content_type="image/png")

    result = talk.send(A_USER, A_ROOM, {"type": "image", "fileId": file_id})

    photo = Photo.objects.get()
    assert photo.report == report
    assert photo.channel == ReportChannel.LINEWORKS
    assert photo.content_type == "image/png"
    assert photo.sha256 and photo.size == len(_png())
    assert f"{report.number} に追加しました" in reply_texts(result["replies"])[0]
    # The download went through the 302 and the bearer token was sent on the second hop.
    assert talk.fake.calls("GET /v1.0/bots/2000001/attachments/")[0]["status"] == 302
    assert talk.fake.calls("GET /_storage/files/")[0]["status"] == 200


def test_photo_without_recent_report_opens_a_general_report(talk, reporter_a):
    old = talk.say(A_USER, A_ROOM, "国道486号線付近にて土砂災害発生、通行不可")
    assert old["replies"]
    Report.objects.update(recorded_at=timezone.now() - timedelta(hours=1))
    file_id = talk.fake.add_file(_png(), file_name="a.png", content_type="image/png")

    result = talk.send(A_USER, A_ROOM, {"type": "image", "fileId": file_id})

    new = Report.objects.order_by("-id").first()
    assert new.category == "general"
    assert Photo.objects.get().report == new
    assert new.number in reply_texts(result["replies"])[0]


def test_a_file_that_is_not_an_image_is_refused(talk, reporter_a):
    file_id = talk.fake.add_file(b"%PDF-1.4 ...", file_name="a.pdf", content_type="application/pdf")
    result = talk.send(A_USER, A_ROOM, {"type": "file", "fileId": file_id})
    assert Report.objects.count() == 0
    assert "画像" in reply_texts(result["replies"])[0]


def test_location_is_added_to_the_latest_report_as_a_correction(talk, reporter_a):
    talk.say(A_USER, A_ROOM, "国道486号線付近にて土砂災害発生、通行不可")
    report = Report.objects.get()

    result = talk.send(
        A_USER,
        A_ROOM,
        {
            "type": "location",
            "address": "岡山県倉敷市真備町箭田",
            "latitude": 34.6352,
            "longitude": 133.6903,
        },
    )

    report.refresh_from_db()
    revision = report.current_revision
    assert revision.number == 2
    assert revision.kind == RevisionKind.CORRECTION
    assert revision.reason == "位置情報の追加"
    assert (revision.lat, revision.lng) == (34.6352, 133.6903)
    assert revision.fields == report.revisions.get(number=1).fields
    assert f"{report.number} に追加しました" in reply_texts(result["replies"])[0]


def test_location_without_recent_report_opens_a_new_one(talk, reporter_a):
    talk.send(
        A_USER,
        A_ROOM,
        {"type": "location", "address": "倉敷市真備町", "latitude": 34.63, "longitude": 133.69},
    )
    report = Report.objects.get()
    assert report.current_revision.location == {"lat": 34.63, "lng": 133.69}
    assert "倉敷市真備町" in report.current_revision.text


def test_correct_command_appends_a_revision(talk, reporter_a):
    talk.say(A_USER, A_ROOM, "15時現在の避難者数 35名")
    report = Report.objects.get()

    result = talk.say(A_USER, A_ROOM, f"訂正 {report.number} 避難者数 40名")

    report.refresh_from_db()
    assert report.current_revision.number == 2
    assert report.current_revision.kind == RevisionKind.CORRECTION
    assert report.current_revision.fields["count"] == 40
    assert report.current_revision.fields["facility"] == "箭田小学校"
    assert report.revisions.get(number=1).fields["count"] == 35  # history kept
    reply = reply_texts(result["replies"])[0]
    assert "訂正しました（第2版）" in reply and "40" in reply


def test_correct_accepts_full_width_number(talk, reporter_a):
    talk.say(A_USER, A_ROOM, "15時現在の避難者数 35名")
    report = Report.objects.get()
    wide = report.number.translate(str.maketrans("R-0123456789", "Ｒ－０１２３４５６７８９"))
    talk.say(A_USER, A_ROOM, f"訂正　{wide}　避難者数 41名")
    report.refresh_from_db()
    assert report.current_revision.fields["count"] == 41


def test_withdraw_command_withdraws(talk, reporter_a):
    talk.say(A_USER, A_ROOM, "15時現在の避難者数 35名")
    report = Report.objects.get()

    result = talk.say(A_USER, A_ROOM, f"取消 {report.number} 誤送信")

    report.refresh_from_db()
    assert report.status == ReportStatus.WITHDRAWN
    assert report.current_revision.kind == RevisionKind.WITHDRAWAL
    assert report.current_revision.reason == "誤送信"
    assert f"{report.number} を取り消しました" in reply_texts(result["replies"])[0]


def test_member_cannot_correct_or_withdraw_another_agencys_report(talk, reporter_a, reporter_b):
    talk.say(B_USER, B_ROOM, "停電情報 ①真備地区：1,200世帯")
    report = Report.objects.get()

    corrected = talk.say(A_USER, A_ROOM, f"訂正 {report.number} 停電 真備地区 10世帯")
    withdrawn = talk.say(A_USER, A_ROOM, f"取消 {report.number}")

    report.refresh_from_db()
    assert report.current_revision.number == 1
    assert report.status == ReportStatus.NEW
    assert "権限がありません" in reply_texts(corrected["replies"])[0]
    assert "権限がありません" in reply_texts(withdrawn["replies"])[0]


def test_situation_command_is_for_hq_members_only(talk, hq_user, reporter_a):
    talk.say(A_USER, A_ROOM, "15時現在の避難者数 35名")

    denied = talk.say(A_USER, A_ROOM, "状況")
    allowed = talk.say("lw-hq-1", "ch-hq", "状況")

    assert "本部のメンバーのみ" in reply_texts(denied["replies"])[0]
    summary = reply_texts(allowed["replies"])[0]
    assert "避難者: 合計 35名（1施設）" in summary
    assert Report.objects.count() == 1  # commands are not reports


def test_help_command(talk, reporter_a):
    result = talk.say(A_USER, A_ROOM, "ヘルプ")
    assert "訂正 R-000123" in reply_texts(result["replies"])[0]
    assert Report.objects.count() == 0


def test_duplicate_callback_is_stored_once_and_files_one_report(talk, reporter_a):
    event = talk.fake.member_event(
        user_id=A_USER, channel_id=A_ROOM, content={"type": "text", "text": "避難者数 35名"}
    )
    body, headers = talk.fake.signed(event)

    first = talk.post(body, headers)
    second = talk.post(body, headers)

    assert first.status_code == second.status_code == 200
    assert InboundEvent.objects.count() == 1
    assert Report.objects.count() == 1
    assert OutboundMessage.objects.count() == 1
    assert len(talk.fake.messages(channel_id=A_ROOM)) == 1


def test_processing_twice_does_nothing_the_second_time(talk, reporter_a):
    from lineworks.services import inbound_process

    talk.say(A_USER, A_ROOM, "避難者数 35名")
    event = InboundEvent.objects.get()
    assert inbound_process(event.pk) == "skipped"
    assert Report.objects.count() == 1


def test_one_to_one_message_is_answered_to_the_user(talk, reporter_b):
    result = talk.say(B_USER, "", "停電情報 ①玉島地区：340世帯")
    report = Report.objects.get()
    assert report.agency.code == "chuden-kurashiki"
    [reply] = result["replies"]
    assert reply["userId"] == B_USER and "channelId" not in reply


def test_stickers_are_stored_and_ignored(talk, reporter_a):
    result = talk.send(A_USER, A_ROOM, {"type": "sticker", "packageId": "1", "stickerId": "2"})
    assert InboundEvent.objects.get().status == InboundStatus.IGNORED
    assert result["replies"] == []
    assert Report.objects.count() == 0


def test_unknown_sender_is_kept_for_hq_and_processed_after_assignment(
    talk, hq_user, agency_a, django_capture_on_commit_callbacks
):
    from agencies.models import Member
    from conftest import make_user

    first = talk.say("lw-new-person", A_ROOM, "15時現在の避難者数 35名")
    talk.say("lw-new-person", A_ROOM, "15時現在の避難者数 36名")

    assert Report.objects.count() == 0
    assert InboundEvent.objects.filter(status=InboundStatus.UNMATCHED).count() == 2
    assert "登録されていません" in reply_texts(first["replies"])[0]
    assert OutboundMessage.objects.count() == 1  # told once, not per message

    page = login(hq_user).get("/lineworks/unmatched/")
    assert page.status_code == 200
    assert "lw-new-person" in page.content.decode()

    user = make_user("reporter-new", role="agency_reporter", agency=agency_a, name="新人 一郎")
    member = Member.objects.get(user=user)
    with django_capture_on_commit_callbacks(execute=True):
        response = login(hq_user).post(
            "/lineworks/unmatched/",
            {"kind": "user", "user_id": "lw-new-person", "member": member.pk},
        )
    assert response.status_code == 302

    member.refresh_from_db()
    assert member.lineworks_user_id == "lw-new-person"
    counts = sorted(r.current_revision.fields["count"] for r in Report.objects.all())
    assert counts == [35, 36]
    assert all(r.author == user for r in Report.objects.all())
    assert not InboundEvent.objects.filter(status=InboundStatus.UNMATCHED).exists()


def test_unknown_room_is_assigned_to_an_agency(talk, hq_user, reporter_b, agency_b):
    from agencies.models import Agency

    talk.say(B_USER, "ch-new-room", "停電情報 ①児島地区：50世帯")
    assert InboundEvent.objects.get().status == InboundStatus.UNMATCHED

    Agency.objects.filter(pk=agency_b.pk).update(lineworks_channel_id="")
    with talk.capture(execute=True):
        login(hq_user).post(
            "/lineworks/unmatched/",
            {"kind": "channel", "channel_id": "ch-new-room", "agency": agency_b.pk},
        )
    report = Report.objects.get()
    assert report.agency == agency_b
    assert talk.fake.messages(channel_id="ch-new-room")[-1]["content"]["text"].startswith(
        "受け付けました"
    )


def test_unmatched_page_is_for_hq_only(reporter_a, auditor):
    assert login(reporter_a).get("/lineworks/unmatched/").status_code == 403
    assert login(auditor).get("/lineworks/unmatched/").status_code == 403
    assert login(None).get("/lineworks/unmatched/").status_code == 302


def test_membership_events_keep_channel_records(talk):
    talk.fake.add_channel("ch-river", title="小田川 水位監視", members=["u1", "u2", "u3"])
    join = talk.fake.member_event(user_id="", channel_id="ch-river", kind="join")
    assert talk.event(join).status_code == 200

    channel = Channel.objects.get(channel_id="ch-river")
    assert channel.bot_joined
    assert channel.title == "小田川 水位監視"  # read from the channel API after the join
    assert set(channel.members.filter(active=True).values_list("user_id", flat=True)) == {
        "u1",
        "u2",
        "u3",
    }

    talk.event(
        talk.fake.member_event(user_id="", channel_id="ch-river", kind="joined", members=["u4"])
    )
    talk.event(
        talk.fake.member_event(user_id="", channel_id="ch-river", kind="left", members=["u1"])
    )
    assert ChannelMember.objects.get(channel=channel, user_id="u4").active
    assert not ChannelMember.objects.get(channel=channel, user_id="u1").active

    talk.event(talk.fake.member_event(user_id="", channel_id="ch-river", kind="leave"))
    channel.refresh_from_db()
    assert not channel.bot_joined and channel.left_at is not None


def test_begin_and_end_of_a_one_to_one_talk(talk):
    talk.event(talk.fake.member_event(user_id="lw-a-1", channel_id="dm-1", kind="begin"))
    channel = Channel.objects.get(channel_id="dm-1")
    assert channel.channel_type == "SINGLE_USER" and channel.bot_joined
    talk.event(talk.fake.member_event(user_id="lw-a-1", channel_id="dm-1", kind="end"))
    channel.refresh_from_db()
    assert not channel.bot_joined
    assert not ChannelMember.objects.get(channel=channel, user_id="lw-a-1").active


def test_unknown_event_types_are_stored_and_ignored(talk):
    response = talk.event({"type": "reaction", "source": {"userId": "x"}, "issuedTime": "x"})
    assert response.status_code == 200
    assert InboundEvent.objects.get().status == InboundStatus.IGNORED


def _png() -> bytes:
    from lineworks.fake.server import sample_png

    return sample_png(16, 16)


def test_a_message_processed_late_keeps_the_time_it_was_sent(talk, reporter_a):
    sent = timezone.now() - timedelta(minutes=40)  # e.g. the worker was down
    event = talk.fake.member_event(
        user_id=A_USER, channel_id=A_ROOM, content={"type": "text", "text": "避難者数 35名"}
    )
    event["issuedTime"] = (
        sent.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
    talk.event(event)
    report = Report.objects.get()
    assert abs((report.observed_at - sent).total_seconds()) < 0.01
    assert report.recorded_at > sent + timedelta(minutes=39)


def test_an_implausible_issued_time_is_not_trusted(talk, reporter_a):
    event = talk.fake.member_event(
        user_id=A_USER, channel_id=A_ROOM, content={"type": "text", "text": "避難者数 35名"}
    )
    event["issuedTime"] = "2031-01-01T00:00:00Z"
    talk.event(event)
    report = Report.objects.get()
    assert abs((report.observed_at - InboundEvent.objects.get().received_at).total_seconds()) < 1


def test_auditor_sees_the_raw_line_works_message_behind_a_revision(talk, reporter_a, auditor):
    talk.say(A_USER, A_ROOM, "箭田小学校 避難者数 120名（45世帯）")
    report = Report.objects.get()
    page = login(auditor).get(f"/audit/reports/{report.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"LINE WORKS 受信 #{InboundEvent.objects.get().pk}" in html
    assert "箭田小学校 避難者数 120名（45世帯）" in html
