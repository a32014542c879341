"""Directory sync against the fake LINE WORKS: a tenant of 3 groups and 40 users (some of
another tenant, some departed), through the management command, the HQ page and the
nightly task; cursor paging, rate limits and scopes of the Directory API (§9.2, §6.2)."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.urls import reverse

from agencies.models import Member, Role
from audit.models import AuditEvent
from conftest import login, make_user
from lineworks.client import get_directory_client
from lineworks.models import (
    DirectorySyncRun,
    DirectorySyncStatus,
    InboundEvent,
    InboundStatus,
    OutboundKind,
    OutboundMessage,
)
from lineworks.tasks import directory_sync_task
from lineworks.tests.tenant import HOSPITAL_GROUP, POWER_GROUP, SHELTER_GROUP, tenant
from reports import services as report_services
from reports.models import Report

pytestmark = pytest.mark.django_db

A_ROOM = "ch-mabi-shelter"


@pytest.fixture
def directory(fake, settings, hq_user, reporter_a, reporter_b, agency_a, agency_b, hospital_agency):
    """The fake tenant, the three agencies mapped to its groups, and the portal's members
    before the sync: 真備 花子 (lw-a-1, has a report, since deleted in LINE WORKS), a member
    who left without reporting (lw-gone-1), one no longer in the directory at all, one
    suspended, a web-only member whose e-mail matches a LINE WORKS user."""
    fake.set_directory(**tenant())
    agency_a.lineworks_group_id = SHELTER_GROUP
    agency_a.save()
    agency_b.lineworks_group_id = POWER_GROUP
    agency_b.save()
    hospital_agency.lineworks_group_id = HOSPITAL_GROUP
    hospital_agency.save()
    report_services.report_submit(
        agency=agency_a,
        author=reporter_a,
        category="evacuees",
        fields={"facility": "箭田小学校", "count": 35, "households": None},
        text="15時現在の避難者数 35名",
        channel="web",
    )
    role = Role.AGENCY_REPORTER
    for username, name, lw_id in (
        ("gone", "退職 一郎", "lw-gone-1"),
        ("old", "異動 次郎", "lw-shelter-old"),
        ("paused", "休職 三郎", "lw-shelter-13"),
    ):
        make_user(username, role=role, agency=agency_a, name=name, lineworks_user_id=lw_id)
    web = make_user("web-only", role=role, agency=agency_a, name="Web 専用")
    web.email = "lw-shelter-05@kurashiki-city.example"
    web.save()
    return fake


def run(*args: str) -> str:
    out = StringIO()
    call_command("lineworks_directory_sync", *args, stdout=out)
    return out.getvalue()


def counts(output: str) -> tuple[int, int, int]:
    found = re.search(r"追加 (\d+)・変更 (\d+)・離任 (\d+)", output)
    assert found, output
    return tuple(int(n) for n in found.groups())


def test_dry_run_apply_and_a_second_run_through_the_command(directory, reporter_a, reporter_b):
    members_before = set(Member.objects.values_list("pk", "display_name", "lineworks_user_id"))

    dry = run()
    assert counts(dry) == (30, 2, 4)
    assert "ドライラン（変更していません）" in dry
    assert "+ 追加 佐藤 太郎（mabi-shelter）lw-shelter-00" in dry
    assert "name: 電力 次郎 → 電力 次郎丸" in dry
    assert "lineworks_user_id:  → lw-shelter-05" in dry
    assert "- 離任 真備 花子（mabi-shelter）LINE WORKS で削除済み: 無効化" in dry
    assert "- 離任 退職 一郎（mabi-shelter）LINE WORKS で削除済み: 削除" in dry
    assert "- 離任 異動 次郎（mabi-shelter）ディレクトリにいません: 削除" in dry
    assert "- 離任 休職 三郎（mabi-shelter）LINE WORKS で利用停止中: 無効化" in dry
    assert "複数の機関のグループにいます: 兼務 一郎（mabi-hospital, mabi-shelter）" in dry
    # Another tenant's users are never listed by LINE WORKS, so never proposed.
    assert "lw-partner" not in dry
    assert set(Member.objects.values_list("pk", "display_name", "lineworks_user_id")) == (
        members_before
    )
    assert not AuditEvent.objects.filter(action="directory.sync").exists()

    applied = run("--apply")
    assert counts(applied) == (30, 2, 4)
    assert "反映しました" in applied
    new = Member.objects.filter(lineworks_user_id__startswith="lw-power-")
    assert new.count() == 11 and {m.agency.code for m in new} == {"chuden-kurashiki"}
    sato = Member.objects.get(lineworks_user_id="lw-shelter-00")
    assert sato.display_name == "佐藤 太郎" and sato.agency.code == "mabi-shelter"
    assert sato.user.email == "lw-shelter-00@kurashiki-city.example"
    assert list(sato.user.groups.values_list("name", flat=True)) == [Role.AGENCY_REPORTER]
    assert not sato.user.has_usable_password()
    assert Member.objects.get(user=reporter_b).display_name == "電力 次郎丸"
    assert Member.objects.get(user__username="web-only").lineworks_user_id == "lw-shelter-05"
    # The member with a report is deactivated, never deleted; the report keeps its author.
    reporter_a.refresh_from_db()
    assert not reporter_a.is_active and reporter_a.member.departed_at is not None
    assert Report.objects.get().author == reporter_a
    assert not User.objects.get(username="paused").is_active
    assert not User.objects.filter(username__in=["gone", "old"]).exists()
    assert not Member.objects.filter(lineworks_user_id__in=["lw-partner-0", "lw-both-1"]).exists()
    event = AuditEvent.objects.get(action="directory.sync")
    assert event.payload["counts"] == {"added": 30, "changed": 2, "deactivated": 2, "deleted": 2}
    assert {d["outcome"] for d in event.payload["departures"]} == {"deactivated", "deleted"}

    again = run()
    assert counts(again) == (0, 0, 0)
    run("--apply")
    assert AuditEvent.objects.filter(action="directory.sync").count() == 1
    assert DirectorySyncRun.objects.filter(status=DirectorySyncStatus.OK).count() == 4


def test_synced_members_report_through_the_bot_and_departed_ones_wait_for_hq(
    directory, talk, reporter_a
):
    run("--apply")
    result = talk.say("lw-shelter-03", A_ROOM, "16時現在の避難者数 48名")
    assert any("R-" in m["content"].get("text", "") for m in result["replies"])
    report = Report.objects.order_by("-id").first()
    assert report.author.member.lineworks_user_id == "lw-shelter-03"
    assert report.current_revision.fields["count"] == 48

    talk.say("lw-a-1", A_ROOM, "17時現在の避難者数 50名")
    event = InboundEvent.objects.order_by("-id").first()
    assert event.status == InboundStatus.UNMATCHED and event.outcome == "inactive_user"


def test_a_departed_member_who_comes_back_is_reactivated(directory, reporter_a):
    run("--apply")
    data = tenant()
    for user in data["users"]:
        if user["userId"] == "lw-a-1":
            user["isDeleted"] = False
    data["groups"][0]["members"].append({"id": "lw-a-1", "type": "USER"})
    directory.set_directory(**data)
    out = run("--apply")
    assert counts(out) == (0, 1, 0)
    reporter_a.refresh_from_db()
    assert reporter_a.is_active and reporter_a.member.departed_at is None


def test_hq_page_shows_the_dry_run_and_applies_what_was_shown(directory, hq_user):
    client = login(hq_user)
    url = reverse("lineworks:directory_sync")
    assert client.post(url, {"action": "plan"}).status_code == 302
    page = client.get(url).content.decode()
    assert "追加 30名" in page and "変更 2名" in page and "離任 4名" in page
    assert "佐藤 太郎" in page and "無効化（報告あり・削除しません）" in page
    digest = DirectorySyncRun.objects.latest("started_at").summary["digest"]
    assert f'value="{digest}"' in page
    assert Member.objects.filter(lineworks_user_id__startswith="lw-hosp-").count() == 0

    # LINE WORKS changed after the look: the stale plan is not applied.
    data = tenant()
    data["groups"][2]["members"].pop(0)
    directory.set_directory(**data)
    response = client.post(url, {"action": "apply", "digest": digest}, follow=True)
    assert "差分をもう一度確認してください" in response.content.decode()
    assert Member.objects.filter(lineworks_user_id__startswith="lw-hosp-").count() == 0

    client.post(url, {"action": "plan"})
    digest = DirectorySyncRun.objects.latest("started_at").summary["digest"]
    response = client.post(url, {"action": "apply", "digest": digest}, follow=True)
    assert "ディレクトリに反映しました" in response.content.decode()
    assert Member.objects.filter(lineworks_user_id__startswith="lw-hosp-").count() == 6
    assert AuditEvent.objects.get(action="directory.sync").actor == hq_user


def test_only_hq_may_see_or_run_the_sync(directory, reporter_b, auditor):
    url = reverse("lineworks:directory_sync")
    for user in (reporter_b, auditor):
        client = login(user)
        assert client.get(url).status_code == 403
        assert client.post(url, {"action": "apply", "digest": "x"}).status_code == 403
    assert login(None).get(url).status_code == 302
    assert not DirectorySyncRun.objects.exists()


def test_an_unknown_action_or_an_apply_without_a_look_is_refused(directory, hq_user):
    client = login(hq_user)
    url = reverse("lineworks:directory_sync")
    page = client.post(url, {"action": "drop"}, follow=True).content.decode()
    assert "操作が不明です" in page
    page = client.post(url, {"action": "apply"}, follow=True).content.decode()
    assert "先に差分を確認してください" in page
    assert not DirectorySyncRun.objects.exists()


def test_paging_follows_next_cursor_and_url_encodes_it(directory):
    client = get_directory_client()
    users = client.paged("/users", "users", page_size=7)
    assert len(users) == 38  # 40 less the two of another tenant
    assert len({u["userId"] for u in users}) == 38
    assert len(directory.calls("GET /v1.0/users")) == 6
    members = client.paged(
        "/groups/{groupId}/members", "members", {"groupId": POWER_GROUP}, page_size=5
    )
    assert [m["id"] for m in members][:2] == ["lw-b-1", "lw-power-00"]
    assert len(members) == 12


def test_rate_limit_spent_fails_cleanly_and_changes_nothing(directory):
    directory.config.rate_limit = 2  # three groups to read: the third call gets 429
    before = Member.objects.count()
    with pytest.raises(CommandError, match="LINE WORKS の呼び出し上限"):
        run("--apply", "--max-wait", "0")
    assert Member.objects.count() == before
    failed = DirectorySyncRun.objects.get()
    assert failed.status == DirectorySyncStatus.FAILED and not failed.applied


def test_a_token_without_the_directory_scope_is_refused(directory, settings):
    settings.LINEWORKS_DIRECTORY_SCOPE = "bot.message"
    with pytest.raises(CommandError, match="FORBIDDEN"):
        run()


def test_an_agency_whose_group_cannot_be_found_loses_no_member(directory, agency_a):
    agency_a.lineworks_group_id = "grp-typo"
    agency_a.save()
    out = run("--apply")
    assert "グループ grp-typo が見つかりません" in out
    assert Member.objects.filter(agency=agency_a, user__is_active=True).count() == 5
    assert User.objects.filter(username__in=["gone", "old"]).count() == 2


def test_external_agencies_are_not_synced(directory, agency_b):
    agency_b.external_tenant = True
    agency_b.save()
    out = run()
    assert "lw-power-" not in out and "電力 次郎丸" not in out


def test_nightly_task_reports_the_differences_to_hq_and_applies_only_when_told(
    directory, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert directory_sync_task() == DirectorySyncStatus.OK
    message = OutboundMessage.objects.get(to_channel_id="ch-hq", kind=OutboundKind.OTHER)
    assert "LINE WORKS との差分があります（未反映）" in message.preview
    assert "追加 30名・変更 2名・離任 4名・重複 1名" in message.preview
    assert "離任: 真備 花子（mabi-shelter）LINE WORKS で削除済み" in message.preview
    assert not Member.objects.filter(lineworks_user_id__startswith="lw-power-").exists()
    sent = directory.messages(channel_id="ch-hq")
    assert sent and "差分があります" in sent[-1]["content"]["text"]

    settings.LINEWORKS_DIRECTORY_SYNC_APPLY = True
    with django_capture_on_commit_callbacks(execute=True):
        directory_sync_task()
    assert Member.objects.filter(lineworks_user_id__startswith="lw-power-").count() == 11
    latest = OutboundMessage.objects.filter(kind=OutboundKind.OTHER).order_by("-id").first()
    assert "反映しました" in latest.preview


def test_an_org_unit_and_nested_groups_are_expanded(fake, hq_user, agency_a, agency_b):
    """An agency mapped to an org unit gets the users of that unit; a group whose members
    include another group or an org unit gets their users too."""
    from lineworks.tests.tenant import user

    users = [
        user("lw-org-1", 1, orgunit="org-mabi-branch"),
        user("lw-org-2", 2, orgunit="org-mabi-branch"),
        user("lw-org-3", 3, orgunit="org-other"),
        user("lw-sub-1", 4),
    ]
    groups = [
        {
            "groupId": POWER_GROUP,
            "groupName": "中国電力",
            "members": [
                {"id": "grp-sub", "type": "GROUP"},
                {"id": "org-other", "type": "ORGUNIT"},
            ],
        },
        {
            "groupId": "grp-sub",
            "groupName": "配電班",
            "members": [{"id": "lw-sub-1", "type": "USER"}],
        },
    ]
    fake.set_directory(users=users, groups=groups)
    agency_a.lineworks_orgunit_id = "org-mabi-branch"
    agency_a.save()
    agency_b.lineworks_group_id = POWER_GROUP
    agency_b.save()
    run("--apply")
    by_agency = {
        code: sorted(ids)
        for code in ("mabi-shelter", "chuden-kurashiki")
        for ids in [
            Member.objects.filter(agency__code=code).values_list("lineworks_user_id", flat=True)
        ]
    }
    assert by_agency == {
        "mabi-shelter": ["lw-org-1", "lw-org-2"],
        "chuden-kurashiki": ["lw-org-3", "lw-sub-1"],
    }


def test_the_demo_tenant_adds_colleagues_and_never_deactivates_a_demo_login(fake, settings):
    """``make run`` serves the demo tenant: its sync must leave every demo user working."""
    from lineworks.demo_seed import demo_rooms_seed
    from lineworks.fake.tenant import demo_tenant
    from reports.demo import demo_seed

    settings.DEMO_MODE = True
    demo_seed()
    demo_rooms_seed()
    fake.set_directory(**demo_tenant())
    out = run("--apply")
    added, changed, departed = counts(out)
    assert added == 10 and departed == 0
    assert "退職 花子" not in out and "協力 一郎" not in out
    assert not User.objects.filter(username__startswith="demo-", is_active=False).exists()
    assert counts(run()) == (0, 0, 0)
