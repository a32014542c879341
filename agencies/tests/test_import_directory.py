"""import_directory: the directory file of design.md §9, idempotent, all-or-nothing."""

from __future__ import annotations

import copy
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import CommandError

from agencies.models import Agency, District, Facility, Member, Role
from audit.models import AuditEvent
from audit.services import verify_chain

pytestmark = pytest.mark.django_db

GOOD: dict[str, Any] = {
    "districts": [
        {"code": "yata", "name": "箭田", "lat": 34.6368, "lng": 133.6915, "parent": "mabi"},
        {"code": "mabi", "name": "真備", "lat": 34.6350, "lng": 133.6960},
        {"code": "tamashima", "name": "玉島", "lat": 34.5480, "lng": 133.6720},
    ],
    "agencies": [
        {"code": "hq", "name": "倉敷市災害対策本部", "kind": "hq", "lineworks_channel_id": "ch-hq"},
        {
            "code": "mabi-shelter",
            "name": "真備地区避難所運営班",
            "kind": "shelter_operator",
            "lineworks_channel_id": "ch-mabi",
        },
        {
            "code": "mabi-hospital",
            "name": "まび記念病院",
            "kind": "medical",
            "lineworks_channel_id": "ch-mabi-hospital",
        },
    ],
    "facilities": [
        {
            "code": "yata-es",
            "name": "箭田小学校",
            "kind": "shelter",
            "agency": "mabi-shelter",
            "district": "yata",
            "lat": 34.6371,
            "lng": 133.6921,
            "capacity": 400,
        },
        {
            "code": "mabi-kinen",
            "name": "まび記念病院",
            "kind": "hospital",
            "agency": "mabi-hospital",
            "lat": 34.6390,
            "lng": 133.6990,
            "capacity": 80,
        },
        {
            "code": "gauge-yakage",
            "name": "小田川 矢掛観測所",
            "kind": "water_gauge",
            "agency": "hq",
            "lat": 34.6290,
            "lng": 133.5870,
            "capacity": None,
        },
    ],
    "members": [
        {
            "username": "yamamoto",
            "name": "山本 一郎",
            "agency": "hq",
            "role": "hq_operator",
            "lineworks_user_id": "lw-yamamoto",
        },
        {
            "username": "matsumoto",
            "name": "松本 花子",
            "agency": "mabi-shelter",
            "role": "agency_reporter",
            "lineworks_user_id": "lw-matsumoto",
        },
        {"username": "takahashi", "name": "高橋 監査", "role": "auditor"},
    ],
}


def write(tmp_path: Path, data: Any, name: str = "directory.json") -> Path:
    path = tmp_path / name
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    return path


def run_import(path: Path, *args: str) -> str:
    out = StringIO()
    call_command("import_directory", str(path), *args, stdout=out)
    return out.getvalue()


def snapshot() -> dict[str, Any]:
    """Everything an import may touch, to prove a failed import touched nothing."""
    return {
        "agencies": list(Agency.objects.order_by("code").values()),
        "facilities": list(Facility.objects.order_by("code").values()),
        "districts": list(District.objects.order_by("code").values()),
        "users": list(User.objects.order_by("username").values("username", "password")),
        "members": list(Member.objects.order_by("id").values()),
        "groups": sorted(User.groups.through.objects.values_list("user_id", "group_id")),
        "audit": AuditEvent.objects.count(),
    }


def test_good_file_creates_every_record(tmp_path):
    out = run_import(write(tmp_path, GOOD))

    assert "機関 (agencies): 新規 3 / 更新 0 / 変更なし 0" in out
    assert "メンバー (members): 新規 3" in out
    shelter = Facility.objects.select_related("agency", "district").get(code="yata-es")
    assert (shelter.name, shelter.kind, shelter.capacity) == ("箭田小学校", "shelter", 400)
    assert shelter.agency.code == "mabi-shelter"
    assert shelter.district.name == "箭田"
    assert District.objects.get(code="yata").parent.code == "mabi"
    assert Agency.objects.get(code="mabi-hospital").lineworks_channel_id == "ch-mabi-hospital"
    assert Facility.objects.get(code="gauge-yakage").capacity is None

    reporter = User.objects.get(username="matsumoto")
    assert list(reporter.groups.values_list("name", flat=True)) == [Role.AGENCY_REPORTER]
    assert not reporter.has_usable_password()
    assert reporter.member.agency.code == "mabi-shelter"
    assert reporter.member.display_name == "松本 花子"
    assert reporter.member.lineworks_user_id == "lw-matsumoto"
    hq = User.objects.get(username="yamamoto")
    assert hq.groups.get().name == Role.HQ_OPERATOR
    auditor = User.objects.get(username="takahashi")
    assert auditor.groups.get().name == Role.AUDITOR
    assert not Member.objects.filter(user=auditor).exists()

    event = AuditEvent.objects.get(action="directory.import")
    assert event.payload["counts"]["facilities"] == {"created": 3, "updated": 0, "unchanged": 0}
    assert event.payload["source"].endswith("directory.json")
    assert verify_chain().ok


def test_reimport_updates_instead_of_duplicating(tmp_path):
    run_import(write(tmp_path, GOOD))
    changed = copy.deepcopy(GOOD)
    changed["facilities"][0]["capacity"] = 450
    changed["agencies"][1]["name"] = "真備地区避難所運営班（第2班）"
    changed["districts"][0]["parent"] = "tamashima"
    # matsumoto moves to the hospital, becomes HQ, and gets a new LINE WORKS id.
    changed["members"][1].update(
        agency="mabi-hospital", role="hq_operator", lineworks_user_id="lw-matsumoto-2"
    )

    out = run_import(write(tmp_path, changed))

    assert "施設 (facilities): 新規 0 / 更新 1 / 変更なし 2" in out
    assert "地区 (districts): 新規 0 / 更新 1 / 変更なし 2" in out
    assert "メンバー (members): 新規 0 / 更新 1 / 変更なし 2" in out
    assert Facility.objects.count() == 3
    assert Agency.objects.count() == 3
    assert User.objects.count() == 3
    assert Member.objects.count() == 2
    assert Facility.objects.get(code="yata-es").capacity == 450
    assert Agency.objects.get(code="mabi-shelter").name == "真備地区避難所運営班（第2班）"
    assert District.objects.get(code="yata").parent.code == "tamashima"
    moved = User.objects.get(username="matsumoto")
    assert list(moved.groups.values_list("name", flat=True)) == [Role.HQ_OPERATOR]
    assert (moved.member.agency.code, moved.member.lineworks_user_id) == (
        "mabi-hospital",
        "lw-matsumoto-2",
    )
    assert AuditEvent.objects.filter(action="directory.import").count() == 2


def test_same_file_twice_changes_nothing(tmp_path):
    path = write(tmp_path, GOOD)
    run_import(path)
    before = snapshot()

    out = run_import(path)

    assert "変更はありません" in out
    assert "機関 (agencies): 新規 0 / 更新 0 / 変更なし 3" in out
    assert snapshot() == before


def test_reimport_keeps_a_password_the_member_has_set(tmp_path):
    path = write(tmp_path, GOOD)
    run_import(path)
    user = User.objects.get(username="matsumoto")
    user.set_password("mabi-2018-tsuyu")
    user.save()

    run_import(path)

    user.refresh_from_db()
    assert user.check_password("mabi-2018-tsuyu")


def test_lineworks_ids_can_swap_between_records(tmp_path):
    run_import(write(tmp_path, GOOD))
    swapped = copy.deepcopy(GOOD)
    swapped["agencies"][1]["lineworks_channel_id"] = "ch-mabi-hospital"
    swapped["agencies"][2]["lineworks_channel_id"] = "ch-mabi"
    swapped["members"][0]["lineworks_user_id"] = "lw-matsumoto"
    swapped["members"][1]["lineworks_user_id"] = "lw-yamamoto"

    run_import(write(tmp_path, swapped))

    assert Agency.objects.get(code="mabi-shelter").lineworks_channel_id == "ch-mabi-hospital"
    assert Agency.objects.get(code="mabi-hospital").lineworks_channel_id == "ch-mabi"
    assert Member.objects.get(user__username="yamamoto").lineworks_user_id == "lw-matsumoto"


def test_partial_record_keeps_what_it_does_not_mention(tmp_path):
    run_import(write(tmp_path, GOOD))
    partial = {
        "agencies": [{"code": "mabi-shelter", "name": "真備地区避難所", "kind": "shelter_operator"}]
    }

    run_import(write(tmp_path, partial))

    agency = Agency.objects.get(code="mabi-shelter")
    assert agency.name == "真備地区避難所"
    assert agency.lineworks_channel_id == "ch-mabi"


def test_dry_run_writes_nothing(tmp_path):
    before = snapshot()

    out = run_import(write(tmp_path, GOOD), "--dry-run")

    assert "新規 3" in out
    assert "何も変更していません" in out
    assert snapshot() == before


def _bad(mutate) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    # Valid changes next to the bad record: none of them may be applied either.
    data["facilities"][0]["capacity"] = 999
    data["agencies"][0]["name"] = "名称変更されてはならない"
    mutate(data)
    return data


BAD_FILES = {
    "unknown agency kind": (
        lambda d: d["agencies"][1].update(kind="shelter"),
        'agencies[1] (code=mabi-shelter): kind "shelter" は不明な種別です',
    ),
    "unknown facility kind": (
        lambda d: d["facilities"][1].update(kind="clinic"),
        'facilities[1] (code=mabi-kinen): kind "clinic" は不明な種別です',
    ),
    "facility of an unknown agency": (
        lambda d: d["facilities"].append(
            {"code": "niman-es", "name": "二万小学校", "kind": "shelter", "agency": "xxx"}
        ),
        'facilities[3] (code=niman-es): agency "xxx" が見つかりません',
    ),
    "latitude out of range (lat/lng swapped)": (
        lambda d: d["facilities"][0].update(lat=133.6921, lng=34.6371),
        "facilities[0] (code=yata-es): lat 133.6921 が範囲外です",
    ),
    "latitude as text": (
        lambda d: d["districts"][2].update(lat="34.5度"),
        "districts[2] (code=tamashima): lat '34.5度' は数値で指定してください",
    ),
    "district without coordinates": (
        lambda d: d["districts"][1].pop("lng"),
        "districts[1] (code=mabi): lng がありません",
    ),
    "duplicate facility code": (
        lambda d: d["facilities"].append({**d["facilities"][0], "name": "箭田小学校 体育館"}),
        'facilities[3] (code=yata-es): code "yata-es" が重複しています（facilities[0] と同じ）',
    ),
    "duplicate username": (
        lambda d: d["members"].append({**d["members"][0], "lineworks_user_id": "lw-other"}),
        'members[3] (username=yamamoto): username "yamamoto" が重複しています',
    ),
    "unknown role": (
        lambda d: d["members"][1].update(role="admin"),
        'members[1] (username=matsumoto): role "admin" は不明な役割です',
    ),
    "member of an unknown agency": (
        lambda d: d["members"][1].update(agency="mabi-shelter-2"),
        'members[1] (username=matsumoto): agency "mabi-shelter-2" が見つかりません',
    ),
    "reporter without agency": (
        lambda d: d["members"][1].pop("agency"),
        "members[1] (username=matsumoto): agency がありません",
    ),
    "lineworks user id twice in the file": (
        lambda d: d["members"][1].update(lineworks_user_id="lw-yamamoto"),
        'members[1] (username=matsumoto): lineworks_user_id "lw-yamamoto" が重複しています',
    ),
    "channel id twice in the file": (
        lambda d: d["agencies"][2].update(lineworks_channel_id="ch-hq"),
        'agencies[2] (code=mabi-hospital): lineworks_channel_id "ch-hq" が重複しています',
    ),
    "unknown parent district": (
        lambda d: d["districts"][0].update(parent="okayama"),
        'districts[0] (code=yata): parent "okayama" が見つかりません',
    ),
    "district that is its own ancestor": (
        lambda d: d["districts"][1].update(parent="yata"),
        "districts[0] (code=yata): parent をたどると循環しています",
    ),
    "negative capacity": (
        lambda d: d["facilities"][0].update(capacity=-5),
        "facilities[0] (code=yata-es): capacity は0以上の整数で指定してください",
    ),
    "code with spaces": (
        lambda d: d["agencies"][1].update(code="mabi shelter"),
        'agencies[1] (code=mabi shelter): code "mabi shelter" は半角英数字',
    ),
    "misspelt field": (
        lambda d: d["facilities"][0].update(capasity=400),
        "facilities[0] (code=yata-es): 不明な項目があります: capasity",
    ),
    "record that is not an object": (
        lambda d: d["members"].append("suzuki"),
        "members[3]: オブジェクトで指定してください",
    ),
    "unknown section": (
        lambda d: d.update(shelters=[]),
        "最上位: 不明なキーがあります: shelters",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_bad_file_names_the_record_and_changes_nothing(tmp_path, case):
    run_import(write(tmp_path, GOOD, "first.json"))
    before = snapshot()
    mutate, message = BAD_FILES[case]

    with pytest.raises(CommandError) as excinfo:
        run_import(write(tmp_path, _bad(mutate)))

    assert message in str(excinfo.value)
    assert "何も変更していません" in str(excinfo.value)
    assert snapshot() == before


def test_lineworks_id_used_by_a_member_outside_the_file_is_refused(tmp_path, reporter_a):
    # reporter_a (not in the file) already uses lw-a-1.
    data = copy.deepcopy(GOOD)
    data["members"][1]["lineworks_user_id"] = "lw-a-1"
    before = snapshot()

    with pytest.raises(CommandError) as excinfo:
        run_import(write(tmp_path, data))

    assert (
        'members[1] (username=matsumoto): lineworks_user_id "lw-a-1" は既に別のメンバー'
        "（reporter-a）が使っています" in str(excinfo.value)
    )
    assert snapshot() == before


def test_channel_id_used_by_an_agency_outside_the_file_is_refused(tmp_path, agency_b):
    data = copy.deepcopy(GOOD)
    data["agencies"][1]["lineworks_channel_id"] = agency_b.lineworks_channel_id
    before = snapshot()

    with pytest.raises(CommandError) as excinfo:
        run_import(write(tmp_path, data))

    assert (
        'agencies[1] (code=mabi-shelter): lineworks_channel_id "ch-power" は既に別の機関'
        "（chuden-kurashiki）が使っています" in str(excinfo.value)
    )
    assert snapshot() == before


def test_facility_may_belong_to_an_agency_already_in_the_database(tmp_path, agency_b):
    data = {
        "facilities": [
            {"code": "power-center", "name": "倉敷ネットワークセンター", "kind": "welfare",
             "agency": agency_b.code, "lat": 34.59, "lng": 133.77}
        ]
    }  # fmt: skip

    run_import(write(tmp_path, data))

    assert Facility.objects.get(code="power-center").agency == agency_b


def test_every_problem_is_listed_at_once(tmp_path):
    data = copy.deepcopy(GOOD)
    data["agencies"][1]["kind"] = "shelter"
    data["members"][2]["role"] = "viewer"
    data["facilities"][1]["agency"] = "mabi-byoin"

    with pytest.raises(CommandError) as excinfo:
        run_import(write(tmp_path, data))

    text = str(excinfo.value)
    assert "3件の問題" in text
    assert "agencies[1] (code=mabi-shelter): kind" in text
    assert "members[2] (username=takahashi): role" in text
    assert 'facilities[1] (code=mabi-kinen): agency "mabi-byoin" が見つかりません' in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"agencies": [', "JSON の形式が正しくありません（1行"),
        ("[1, 2]", "ファイルの最上位は JSON オブジェクトにしてください"),
        ('{"agencies": {"code": "hq"}}', "agencies: 配列で指定してください"),
    ],
)
def test_malformed_file_is_refused(tmp_path, text, message):
    before = snapshot()

    with pytest.raises(CommandError) as excinfo:
        run_import(write(tmp_path, text))

    assert message in str(excinfo.value)
    assert snapshot() == before


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="ファイルを読めません"):
        run_import(tmp_path / "nai.json")


def test_role_groups_are_replaced_but_other_groups_kept(tmp_path):
    run_import(write(tmp_path, GOOD))
    user = User.objects.get(username="matsumoto")
    user.groups.add(Group.objects.create(name="広報"))
    changed = copy.deepcopy(GOOD)
    changed["members"][1]["role"] = "auditor"

    run_import(write(tmp_path, changed))

    assert sorted(user.groups.values_list("name", flat=True)) == sorted([Role.AUDITOR, "広報"])
