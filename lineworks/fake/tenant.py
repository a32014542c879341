"""The demo tenant the fake LINE WORKS serves from its Directory API (``run_fake_lineworks
--demo-directory``), so the directory sync can be tried in ``make run``.

Each demo agency with a LINE WORKS group (agencies/demo_data.py) gets that group with its
demo user (``demo-lw-…``) and a few colleagues the portal does not know yet; one colleague
has been deleted in LINE WORKS and one belongs to another tenant (neither is ever listed).
"""

from __future__ import annotations

from typing import Any

from agencies.demo_data import demo_directory

_COLLEAGUES = [
    ("藤田", "真理"),
    ("岡本", "浩二"),
    ("村上", "沙織"),
    ("近藤", "拓也"),
    ("石川", "結衣"),
    ("前田", "健太"),
]
DOMAIN_ID = 40029600


def _user(user_id: str, last: str, first: str, **flags: Any) -> dict[str, Any]:
    email = f"{user_id}@kurashiki-city.example"
    return {
        "domainId": DOMAIN_ID,
        "userId": user_id,
        "userExternalKey": None,
        "isAdministrator": False,
        "isPending": False,
        "isSuspended": False,
        "isDeleted": flags.get("deleted", False),
        "isAwaiting": False,
        "email": email,
        "userName": {"lastName": last, "firstName": first},
        "organizations": [{"domainId": DOMAIN_ID, "primary": True, "email": email, "orgUnits": []}],
        **({"external": True} if flags.get("external") else {}),
    }


def demo_tenant() -> dict[str, Any]:
    data = demo_directory()
    names = {m["agency"]: m for m in data["members"] if m.get("lineworks_user_id")}
    users: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    for index, agency in enumerate(a for a in data["agencies"] if a.get("lineworks_group_id")):
        members: list[dict[str, str]] = []
        known = names.get(agency["code"])
        if known:
            last, _sep, first = known["name"].partition(" ")
            users.append(_user(known["lineworks_user_id"], last, first))
            members.append({"id": known["lineworks_user_id"], "type": "USER"})
        for offset in range(2):
            last, first = _COLLEAGUES[(index * 2 + offset) % len(_COLLEAGUES)]
            user_id = f"demo-lw-{agency['code']}-{offset + 1}"
            users.append(_user(user_id, last, first))
            members.append({"id": user_id, "type": "USER"})
        groups.append(
            {
                "domainId": DOMAIN_ID,
                "groupId": agency["lineworks_group_id"],
                "groupName": agency["name"],
                "members": members,
            }
        )
    users.append(_user("demo-lw-retired-1", "退職", "花子", deleted=True))
    users.append(_user("demo-lw-partner-1", "協力", "一郎", external=True))
    groups[0]["members"] += [
        {"id": "demo-lw-retired-1", "type": "USER"},
        {"id": "demo-lw-partner-1", "type": "USER"},
    ]
    return {"users": users, "groups": groups}
