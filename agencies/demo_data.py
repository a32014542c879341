"""The Kurashiki demo directory, in the ``import_directory`` shape (design.md §9).

Real places with approximate coordinates (WGS84). Capacities are plausible, not official.
LINE WORKS ids are demo values (``demo-ch-<agency>``, ``demo-lw-<username>``).
"""

from __future__ import annotations

from typing import Any

HQ_CODE = "hq"
HQ_USERNAME = "demo-hq"
AUDITOR_USERNAME = "demo-auditor"

# code, name, lat, lng, parent
_DISTRICTS = [
    ("kurashiki", "倉敷", 34.5850, 133.7720, None),
    ("mizushima", "水島", 34.5190, 133.7370, None),
    ("kojima", "児島", 34.4700, 133.8050, None),
    ("tamashima", "玉島", 34.5480, 133.6720, None),
    ("mabi", "真備", 34.6350, 133.6960, None),
    ("funao", "船穂", 34.5960, 133.6930, None),
    ("sho", "庄", 34.6290, 133.7560, None),
    ("chayamachi", "茶屋町", 34.5640, 133.8460, None),
    ("mabi-yata", "箭田", 34.6368, 133.6915, "mabi"),
    ("mabi-kawabe", "川辺", 34.6300, 133.7150, "mabi"),
    ("mabi-arii", "有井", 34.6375, 133.7040, "mabi"),
    ("mabi-okada", "岡田", 34.6440, 133.6850, "mabi"),
    ("mabi-hattori", "服部", 34.6430, 133.7090, "mabi"),
]

# code, name, kind
_AGENCIES = [
    (HQ_CODE, "倉敷市災害対策本部", "hq"),
    ("chugoku-power", "中国電力ネットワーク 倉敷ネットワークセンター", "power"),
    ("kurashiki-police", "倉敷警察署", "police"),
    ("kurashiki-fire", "倉敷市消防局", "fire"),
    ("river-office", "国土交通省 岡山河川事務所", "waterway"),
    ("city-river", "倉敷市 河川課", "waterway"),
    ("health-dept", "倉敷市 保健所", "city_dept"),
    ("road-dept", "倉敷市 道路課", "city_dept"),
    ("mabi-shelter", "真備地区避難所運営班", "shelter_operator"),
    ("tamashima-shelter", "玉島・船穂地区避難所運営班", "shelter_operator"),
    ("mizushima-shelter", "水島地区避難所運営班", "shelter_operator"),
    ("kojima-shelter", "児島地区避難所運営班", "shelter_operator"),
    ("kurashiki-shelter", "倉敷・庄地区避難所運営班", "shelter_operator"),
    ("mabi-hospital", "まび記念病院", "medical"),
    ("kurashiki-central-hospital", "倉敷中央病院", "medical"),
    ("kawasaki-hospital", "川崎医科大学附属病院", "medical"),
    ("mizushima-hospital", "水島中央病院", "medical"),
    ("kojima-hospital", "児島中央病院", "medical"),
]

# code, name, kind, agency, district, lat, lng, capacity
_FACILITIES = [
    ("yata-es", "箭田小学校", "shelter", "mabi-shelter", "mabi-yata", 34.6371, 133.6921, 400),
    ("niman-es", "二万小学校", "shelter", "mabi-shelter", "mabi", 34.6425, 133.6660, 350),
    ("sono-es", "薗小学校", "shelter", "mabi-shelter", "mabi-hattori", 34.6405, 133.7105, 300),
    ("kawabe-es", "川辺小学校", "shelter", "mabi-shelter", "mabi-kawabe", 34.6292, 133.7163, 300),
    (
        "mabi-higashi-jhs",
        "真備東中学校",
        "shelter",
        "mabi-shelter",
        "mabi-hattori",
        34.6448,
        133.7078,
        500,
    ),
    ("okada-es", "岡田小学校", "shelter", "mabi-shelter", "mabi-okada", 34.6452, 133.6884, 350),
    (
        "tamashima-jhs",
        "玉島中学校",
        "shelter",
        "tamashima-shelter",
        "tamashima",
        34.5443,
        133.6688,
        450,
    ),
    ("funao-es", "船穂小学校", "shelter", "tamashima-shelter", "funao", 34.5962, 133.6951, 250),
    (
        "mizushima-es",
        "水島小学校",
        "shelter",
        "mizushima-shelter",
        "mizushima",
        34.5232,
        133.7421,
        300,
    ),
    ("kojima-es", "児島小学校", "shelter", "kojima-shelter", "kojima", 34.4733, 133.8047, 300),
    (
        "city-hall",
        "倉敷市役所本庁",
        "shelter",
        "kurashiki-shelter",
        "kurashiki",
        34.5848,
        133.7720,
        200,
    ),
    ("sho-es", "庄小学校", "shelter", "kurashiki-shelter", "sho", 34.6282, 133.7578, 300),
    ("mabi-kinen", "まび記念病院", "hospital", "mabi-hospital", "mabi", 34.6390, 133.6990, 80),
    (
        "kurashiki-central",
        "倉敷中央病院",
        "hospital",
        "kurashiki-central-hospital",
        "kurashiki",
        34.5957,
        133.7733,
        1172,
    ),
    (
        "kawasaki-med",
        "川崎医科大学附属病院",
        "hospital",
        "kawasaki-hospital",
        "sho",
        34.6076,
        133.7438,
        1182,
    ),
    (
        "mizushima-central",
        "水島中央病院",
        "hospital",
        "mizushima-hospital",
        "mizushima",
        34.5245,
        133.7468,
        251,
    ),
    (
        "kojima-central",
        "児島中央病院",
        "hospital",
        "kojima-hospital",
        "kojima",
        34.4788,
        133.8118,
        100,
    ),
    (
        "gauge-yakage",
        "小田川 矢掛観測所",
        "water_gauge",
        "river-office",
        None,
        34.6290,
        133.5870,
        None,
    ),
    (
        "gauge-sakazu",
        "高梁川 酒津観測所",
        "water_gauge",
        "river-office",
        None,
        34.6133,
        133.7498,
        None,
    ),
    (
        "gauge-suemasa",
        "末政川 観測所",
        "water_gauge",
        "city-river",
        "mabi",
        34.6420,
        133.7125,
        None,
    ),
]

# Display name of each agency's demo user.
_PEOPLE = {
    HQ_CODE: "本部 山本",
    "chugoku-power": "電力 中村",
    "kurashiki-police": "警察 小林",
    "kurashiki-fire": "消防 加藤",
    "river-office": "河川事務所 吉田",
    "city-river": "河川課 山田",
    "health-dept": "保健所 佐々木",
    "road-dept": "道路課 山口",
    "mabi-shelter": "真備 松本",
    "tamashima-shelter": "玉島 井上",
    "mizushima-shelter": "水島 木村",
    "kojima-shelter": "児島 林",
    "kurashiki-shelter": "倉敷 斎藤",
    "mabi-hospital": "まび記念 清水",
    "kurashiki-central-hospital": "倉敷中央 山崎",
    "kawasaki-hospital": "川崎医大 森",
    "mizushima-hospital": "水島中央 池田",
    "kojima-hospital": "児島中央 橋本",
}


# Onboarding states the demo shows (lineworks/onboarding.py): the river office's staff use
# the national government's own LINE WORKS tenant, so the bot cannot reach them (they report
# by API and get notices by web and e-mail); some shelter staff use the web form only and
# have no LINE WORKS id yet.
EXTERNAL_AGENCIES = {"river-office": "kasen-bousai@okayama-river.example.jp"}
# Agencies whose members come from a LINE WORKS group (directory sync).
_GROUPS = ("hq", "chugoku-power", "mabi-shelter", "tamashima-shelter", "mabi-hospital")
# Web-only staff: username, name, agency (no LINE WORKS id).
WEB_ONLY_MEMBERS = [
    ("demo-mabi-shelter-web", "真備 中川", "mabi-shelter"),
    ("demo-tamashima-shelter-web", "玉島 石井", "tamashima-shelter"),
]


def _agency_record(code: str, name: str, kind: str) -> dict[str, Any]:
    record: dict[str, Any] = {
        "code": code,
        "name": name,
        "kind": kind,
        "lineworks_channel_id": "" if code in EXTERNAL_AGENCIES else f"demo-ch-{code}",
        "lineworks_group_id": f"demo-grp-{code}" if code in _GROUPS else "",
        "external_tenant": code in EXTERNAL_AGENCIES,
        "contact_email": EXTERNAL_AGENCIES.get(code, ""),
    }
    return record


def demo_username(agency_code: str) -> str:
    return HQ_USERNAME if agency_code == HQ_CODE else f"demo-{agency_code}"


def demo_directory() -> dict[str, Any]:
    members = [
        {
            "username": demo_username(code),
            "name": _PEOPLE[code],
            "agency": code,
            "role": "hq_operator" if code == HQ_CODE else "agency_reporter",
            "lineworks_user_id": f"demo-lw-{demo_username(code)}",
        }
        for code, _name, _kind in _AGENCIES
    ]
    members += [
        {
            "username": username,
            "name": name,
            "agency": code,
            "role": "agency_reporter",
            "lineworks_user_id": "",
        }
        for username, name, code in WEB_ONLY_MEMBERS
    ]
    members.append({"username": AUDITOR_USERNAME, "name": "監査 高橋", "role": "auditor"})
    return {
        "districts": [
            {"code": c, "name": n, "lat": lat, "lng": lng, "parent": p}
            for c, n, lat, lng, p in _DISTRICTS
        ],
        "agencies": [_agency_record(c, n, k) for c, n, k in _AGENCIES],
        "facilities": [
            {
                "code": c,
                "name": n,
                "kind": k,
                "agency": a,
                "district": d,
                "lat": lat,
                "lng": lng,
                "capacity": cap,
            }
            for c, n, k, a, d, lat, lng, cap in _FACILITIES
        ],
        "members": members,
    }
