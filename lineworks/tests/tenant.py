"""A LINE WORKS tenant for the directory tests: 3 groups and 40 users of 倉敷市's tenant
(Directory API shapes of lineworks-api.md §9.2), some of another tenant, some departed."""

from __future__ import annotations

from typing import Any

FAMILY = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
GIVEN = ["花子", "太郎", "美咲", "健一", "由美", "大輔", "直子", "翔太", "恵", "誠"]

SHELTER_GROUP = "grp-mabi-shelter"
POWER_GROUP = "grp-chuden"
HOSPITAL_GROUP = "grp-mabi-hospital"


def user(
    user_id: str,
    index: int,
    *,
    email: str = "",
    orgunit: str = "",
    deleted: bool = False,
    suspended: bool = False,
    external: bool = False,
    name: tuple[str, str] | None = None,
) -> dict[str, Any]:
    last, first = name or (FAMILY[index % 10], GIVEN[(index * 3 + 1) % 10])
    body: dict[str, Any] = {
        "domainId": 40029600 if not external else 50011100,
        "userId": user_id,
        "userExternalKey": None,
        "isAdministrator": False,
        "isPending": False,
        "isSuspended": suspended,
        "isDeleted": deleted,
        "isAwaiting": False,
        "email": email or f"{user_id}@kurashiki-city.example",
        "userName": {"lastName": last, "firstName": first},
        "organizations": [
            {
                "domainId": 40029600,
                "primary": True,
                "email": email or f"{user_id}@kurashiki-city.example",
                "orgUnits": [{"orgUnitId": orgunit or "org-general", "primary": True}],
            }
        ],
    }
    if external:
        body["external"] = True
    return body


def tenant() -> dict[str, Any]:
    """40 users: 14 in the shelter group (one suspended), 12 + 2 external in the power
    group, 8 in the hospital group (one deleted), 2 deleted users once in the shelter group
    (the conftest's 真備 花子 ``lw-a-1`` and one without reports), 1 HQ user in no group,
    and one user in both the shelter and the hospital group."""
    users: list[dict[str, Any]] = []
    shelter, power, hospital = [], [], []
    for i in range(13):
        uid = f"lw-shelter-{i:02d}"
        users.append(user(uid, i))
        shelter.append(uid)
    users.append(user("lw-shelter-13", 13, suspended=True))
    shelter.append("lw-shelter-13")
    # 電力 次郎 (conftest reporter_b, lw-b-1) is still in the power group, renamed.
    users.append(user("lw-b-1", 0, name=("電力", "次郎丸")))
    power.append("lw-b-1")
    for i in range(11):
        uid = f"lw-power-{i:02d}"
        users.append(user(uid, i + 20))
        power.append(uid)
    for i in range(2):
        uid = f"lw-partner-{i}"
        users.append(user(uid, i + 40, external=True, email=f"p{i}@partner-tenant.example"))
        power.append(uid)
    for i in range(7):
        uid = f"lw-hosp-{i:02d}"
        users.append(user(uid, i + 30))
        hospital.append(uid)
    users.append(user("lw-hosp-07", 37, deleted=True))
    hospital.append("lw-hosp-07")
    users.append(user("lw-a-1", 0, deleted=True, name=("真備", "花子")))
    users.append(user("lw-gone-1", 5, deleted=True))
    users.append(user("lw-hq-1", 9, name=("本部", "太郎")))
    users.append(user("lw-both-1", 8, name=("兼務", "一郎")))
    shelter.append("lw-both-1")
    hospital.append("lw-both-1")
    assert len(users) == 40, len(users)

    def members(ids: list[str]) -> list[dict[str, str]]:
        return [{"id": uid, "type": "USER"} for uid in ids]

    groups = [
        {
            "domainId": 40029600,
            "groupId": SHELTER_GROUP,
            "groupName": "真備地区避難所運営班",
            "members": members(shelter),
        },
        {
            "domainId": 40029600,
            "groupId": POWER_GROUP,
            "groupName": "中国電力ネットワーク 倉敷",
            "members": members(power),
        },
        {
            "domainId": 40029600,
            "groupId": HOSPITAL_GROUP,
            "groupName": "まび記念病院",
            "members": members(hospital),
        },
    ]
    return {"users": users, "groups": groups}
