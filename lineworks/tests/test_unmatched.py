"""HQ's page of unregistered LINE WORKS senders (/lineworks/unmatched/): assigning an unknown
id never silently takes a working id away from a member, and a sender who is not in the
directory yet can be registered as a new member in one step. Either way the sender's held
messages are then filed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from agencies.models import Member, Role
from audit.models import AuditEvent
from conftest import login
from lineworks.models import InboundEvent, InboundStatus
from lineworks.tests.conftest import reply_texts
from reports.models import Report

pytestmark = pytest.mark.django_db

A_USER, A_ROOM = "lw-a-1", "ch-mabi-shelter"
NEW_ID = "lw-new-phone"


@pytest.fixture
def held(talk, agency_a):
    """Two messages from an id nobody has, kept for HQ."""
    talk.say(NEW_ID, A_ROOM, "15時現在の避難者数 35名")
    talk.say(NEW_ID, A_ROOM, "16時現在の避難者数 41名")
    assert InboundEvent.objects.filter(status=InboundStatus.UNMATCHED).count() == 2
    return NEW_ID


def _assign(client: Client, talk, **data):
    with talk.capture(execute=True):
        return client.post("/lineworks/unmatched/", {"kind": "user", "user_id": NEW_ID, **data})


def test_assigning_an_id_to_a_member_with_a_working_id_asks_first_and_changes_nothing(
    talk, held, hq_user, reporter_a
):
    talk.say(A_USER, A_ROOM, "14時現在の避難者数 30名")  # the member's id is in use
    member = Member.objects.get(user=reporter_a)

    page = _assign(login(hq_user), talk, member=member.pk)

    assert page.status_code == 200
    html = page.content.decode()
    assert "LINE WORKS ID の置き換え" in html
    assert "lw-a-1" in html and NEW_ID in html
    assert "未登録として保留されます" in html
    assert 'name="replace" value="1"' in html
    member.refresh_from_db()
    assert member.lineworks_user_id == "lw-a-1"
    assert InboundEvent.objects.filter(status=InboundStatus.UNMATCHED).count() == 2
    assert not AuditEvent.objects.filter(action="directory.member_lineworks_id").exists()
    # The real member keeps reporting.
    result = talk.say(A_USER, A_ROOM, "17時現在の避難者数 50名")
    assert "受け付けました" in reply_texts(result["replies"])[0]


def test_the_confirmed_replacement_is_made_audited_and_the_held_messages_are_filed(
    talk, held, hq_user, reporter_a
):
    member = Member.objects.get(user=reporter_a)

    response = _assign(login(hq_user), talk, member=member.pk, replace="1")

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.lineworks_user_id == NEW_ID
    event = AuditEvent.objects.get(action="directory.member_lineworks_id")
    assert event.actor == hq_user
    assert event.payload == {
        "lineworks_user_id": NEW_ID,
        "previous": "lw-a-1",
        "via": "lineworks.unmatched",
    }
    counts = sorted(r.current_revision.fields["count"] for r in Report.objects.all())
    assert counts == [35, 41]
    assert {r.author for r in Report.objects.all()} == {reporter_a}
    assert not InboundEvent.objects.filter(status=InboundStatus.UNMATCHED).exists()


def test_hq_registers_the_sender_as_a_new_member_in_one_step(talk, held, hq_user, agency_a):
    page = login(hq_user).get("/lineworks/unmatched/")
    assert "新しいメンバーとして登録" in page.content.decode()

    with talk.capture(execute=True):
        response = login(hq_user).post(
            "/lineworks/unmatched/",
            {
                "kind": "new_member",
                "user_id": NEW_ID,
                "display_name": "箭田 次郎",
                "agency": agency_a.pk,
                "role": Role.AGENCY_REPORTER,
            },
            follow=True,
        )

    html = response.content.decode()
    assert "メンバー「箭田 次郎" in html and "保留中のメッセージ 2 件を処理します" in html
    member = Member.objects.get(lineworks_user_id=NEW_ID)
    assert member.display_name == "箭田 次郎" and member.agency == agency_a
    assert list(member.user.groups.values_list("name", flat=True)) == [Role.AGENCY_REPORTER]
    assert not member.user.has_usable_password()  # LINE WORKS only
    assert member.user.username == NEW_ID  # made from the LINE WORKS id
    reports = Report.objects.order_by("id")
    assert [r.current_revision.fields["count"] for r in reports] == [35, 41]
    assert all(r.author == member.user and r.agency == agency_a for r in reports)
    event = AuditEvent.objects.get(action="directory.member_create")
    assert event.actor == hq_user
    assert event.payload["lineworks_user_id"] == NEW_ID
    assert event.payload["agency"] == "mabi-shelter"
    assert event.payload["web_login"] is False
    # The bot now answers the new member like any other.
    result = talk.say(NEW_ID, A_ROOM, "18時現在の避難者数 44名")
    assert "受け付けました" in reply_texts(result["replies"])[0]


def test_a_new_member_with_a_web_login_can_sign_in(talk, held, hq_user, agency_a):
    password = "mabi-hinanjo-2018-07"
    with talk.capture(execute=True):
        login(hq_user).post(
            "/lineworks/unmatched/",
            {
                "kind": "new_member",
                "user_id": NEW_ID,
                "display_name": "川辺 三郎",
                "agency": agency_a.pk,
                "role": Role.AGENCY_REPORTER,
                "username": "kawabe-saburo",
                "password": password,
            },
        )
    assert Member.objects.get(lineworks_user_id=NEW_ID).user.username == "kawabe-saburo"
    # Through the sign-in form, as the person would (the lockout counts every attempt).
    web = Client()
    signed_in = web.post("/accounts/login/", {"username": "kawabe-saburo", "password": password})
    assert signed_in.status_code == 302
    assert web.get("/reports/mine/").status_code == 200
    event = AuditEvent.objects.get(action="directory.member_create")
    assert event.payload["web_login"] is True
    assert password not in str(event.payload)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"display_name": ""}, "氏名を入力してください"),
        ({"password": "12345"}, "このパスワードは短すぎます"),
        ({"username": "reporter-a"}, "このユーザー名はすでに使われています"),
        ({"user_id": "lw-a-1"}, "このIDはすでに"),
        ({"role": Role.AUDITOR}, "役割は機関の報告者か本部オペレーター"),
        ({"agency": "²"}, "機関を選んでください"),
    ],
    ids=["no-name", "weak-password", "username-taken", "id-taken", "auditor", "odd-agency"],
)
def test_a_bad_new_member_is_refused_with_the_reason_and_nothing_is_written(
    talk, held, hq_user, reporter_a, agency_a, data, message
):
    users = User.objects.count()
    post = {
        "kind": "new_member",
        "user_id": NEW_ID,
        "display_name": "箭田 次郎",
        "agency": agency_a.pk,
        "role": Role.AGENCY_REPORTER,
        **data,
    }
    response = login(hq_user).post("/lineworks/unmatched/", post, follow=True)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert User.objects.count() == users
    assert InboundEvent.objects.filter(status=InboundStatus.UNMATCHED).count() == 2
    assert not AuditEvent.objects.filter(action="directory.member_create").exists()


def test_only_hq_may_register_or_assign(talk, held, reporter_a, auditor, agency_a):
    for user in (reporter_a, auditor):
        response = login(user).post(
            "/lineworks/unmatched/",
            {"kind": "new_member", "user_id": NEW_ID, "display_name": "x", "agency": agency_a.pk},
        )
        assert response.status_code == 403
    assert not Member.objects.filter(lineworks_user_id=NEW_ID).exists()


def test_an_odd_member_id_is_a_404_not_a_500(talk, held, hq_user):
    for value in ("²", "①", "9" * 40, ""):
        assert _assign(login(hq_user), talk, member=value).status_code == 404


def test_the_confirmation_step_in_english(talk, held, hq_user, reporter_a):
    from django.conf import settings
    from django.utils import translation

    client = login(hq_user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    try:
        page = _assign(client, talk, member=Member.objects.get(user=reporter_a).pk)
        html = page.content.decode()
    finally:
        translation.deactivate()
    for text in ("Replace a LINE WORKS ID", "Current ID", "held as unregistered", "Do not replace"):
        assert text in html
    assert "置き換え" not in html


def test_held_messages_still_unmatched_after_assignment_do_not_repeat_the_notice(
    talk, hq_user, agency_a
):
    """A new person writes in a room nobody has linked yet: after HQ registers the person,
    the messages wait for the room, and the sender is not told a second time."""
    talk.say(NEW_ID, "ch-unlinked-room", "15時現在の避難者数 35名")
    talk.say(NEW_ID, "ch-unlinked-room", "16時現在の避難者数 41名")
    assert len(talk.fake.messages(channel_id="ch-unlinked-room")) == 1

    with talk.capture(execute=True):
        login(hq_user).post(
            "/lineworks/unmatched/",
            {
                "kind": "new_member",
                "user_id": NEW_ID,
                "display_name": "箭田 次郎",
                "agency": agency_a.pk,
                "role": Role.AGENCY_REPORTER,
            },
        )

    events = InboundEvent.objects.all()
    assert {(e.status, e.outcome) for e in events} == {(InboundStatus.UNMATCHED, "unknown_channel")}
    assert len(talk.fake.messages(channel_id="ch-unlinked-room")) == 1
    assert Report.objects.count() == 0

    with talk.capture(execute=True):
        login(hq_user).post(
            "/lineworks/unmatched/",
            {"kind": "channel", "channel_id": "ch-unlinked-room", "agency": agency_a.pk},
        )
    assert Report.objects.count() == 2
