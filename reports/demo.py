"""The Kurashiki demo: the directory of agencies/demo_data.py and a day of a flood.

The day is modelled on the July 2018 floods (平成30年7月豪雨): heavy rain, the 小田川 and its
tributaries breaking their banks into 真備, shelters filling through the night, outages, road
closures, hospitals switching to "not accepting", plus a factory fire in 水島. It is dated
relative to now (the last ~24 hours), so the dashboard shows a live-looking situation and
"as of" time travel has something to show.

Everything is written through the real services (directory_import, report_submit,
report_correct, report_withdraw, incident_open, report_link_incident), so revisions, the
situation index and the audit chain are exactly what real use produces.

``demo_seed()`` is safe to call twice: the directory import is idempotent, and the day's
reports are written only when no demo report exists yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from agencies.demo_data import AUDITOR_USERNAME, HQ_CODE, HQ_USERNAME, demo_directory, demo_username
from agencies.models import Agency, District, Facility, Role
from agencies.services import ImportResult, directory_import
from reports import review, services
from reports.categories import Category
from reports.models import Incident, Report, ReportChannel, ReportRevision
from reports.parsing import SenderContext, parse

SOURCE_PREFIX = "demo:"
LW, WEB, API = ReportChannel.LINEWORKS, ReportChannel.WEB, ReportChannel.API


# --- The day, as data -----------------------------------------------------------------------


@dataclass(frozen=True)
class Submit:
    at: float  # hours after the start of the day
    agency: str
    category: str
    text: str  # "{t}" becomes the local time of the observation, e.g. 14時30分
    fields: dict[str, Any]
    channel: str = LW
    key: str = ""
    facility: str = ""
    district: str = ""
    location: tuple[float, float] | None = None
    incident: str = ""


@dataclass(frozen=True)
class Correct:
    at: float
    key: str
    fields: dict[str, Any]  # merged over the current fields
    reason: str
    text: str | None = None
    location: tuple[float, float] | None = None


@dataclass(frozen=True)
class Withdraw:
    at: float
    key: str
    reason: str


@dataclass(frozen=True)
class OpenIncident:
    at: float
    key: str
    title: str
    description: str
    district: str
    location: tuple[float, float] | None = None


@dataclass(frozen=True)
class Chat:
    """A LINE WORKS message filed as the bot files it: read by the parser, queued for HQ's
    review (要確認) when the reading is unsure or incomplete."""

    at: float
    agency: str
    text: str
    key: str = ""


Step = Submit | Correct | Withdraw | OpenIncident | Chat

# Messages of the evening the parser cannot fully read: they wait in HQ's review queue. The
# police one was already confirmed by HQ, so the auditor has a decision to read.
_CHATS = [
    Chat(21, "kurashiki-police", "小田川の様子がおかしいと住民から通報あり", key="chat-police"),
    Chat(22, "mabi-shelter", "体育館 満員に近い 80名くらい"),
    Chat(23, "mabi-shelter", "避難者がどんどん増えています。毛布が足りません"),
    Chat(23.5, "river-office", "水位上昇中、堤防の近くまで来ています"),
]

# Shelter code: (hours after the start, people, households).
_EVACUEES: dict[str, list[tuple[float, int, int]]] = {
    "yata-es": [(2, 12, 5), (4, 48, 19), (6, 95, 38), (8, 210, 80), (10, 320, 118),
                (14, 365, 131), (18, 352, 127), (22, 340, 122)],
    "niman-es": [(3, 25, 10), (6, 70, 27), (8.5, 150, 55), (12, 230, 84), (17, 245, 90),
                 (21, 238, 88)],
    "sono-es": [(4, 30, 12), (8, 120, 44), (12, 185, 66), (19, 190, 69)],
    "kawabe-es": [(4, 55, 21), (6.5, 80, 30)],
    "mabi-higashi-jhs": [(6, 60, 22), (9, 260, 95), (13, 410, 150), (20, 430, 156)],
    "okada-es": [(5, 20, 8), (8, 140, 52), (12, 260, 95), (18, 275, 100), (23, 268, 98)],
    "tamashima-jhs": [(2, 8, 4), (6, 35, 14), (11, 95, 36), (16, 70, 27), (22, 40, 16)],
    "funao-es": [(5, 15, 6), (10, 60, 23), (20, 45, 18)],
    "mizushima-es": [(10.5, 40, 15), (13, 80, 30), (17, 25, 10)],
    "kojima-es": [(7, 10, 4), (14, 20, 8)],
    "city-hall": [(9, 25, 10), (15, 40, 16), (21, 32, 13)],
    "sho-es": [(9, 15, 6), (16, 22, 9)],
}  # fmt: skip
_FACILITIES = {f["code"]: f for f in demo_directory()["facilities"]}
# (hours, level m, trend, flooding)
_GAUGES: dict[str, list[tuple[float, float, str, bool]]] = {
    "gauge-yakage": [(0.5, 2.8, "rising", False), (2.5, 4.1, "rising", False),
                     (4.5, 5.6, "rising", False), (6.5, 6.4, "rising", False),
                     (8, 6.9, "rising", True), (11, 6.2, "falling", True),
                     (15, 5.2, "falling", True), (19, 4.3, "falling", False),
                     (23, 3.6, "falling", False)],
    "gauge-sakazu": [(0, 3.2, "rising", False), (4, 5.0, "rising", False),
                     (7, 6.8, "rising", False), (10, 7.2, "steady", False),
                     (13, 6.1, "steady", False), (18, 5.0, "falling", False),
                     (22, 4.2, "falling", False)],
}  # fmt: skip
_GAUGE_RIVER = {"gauge-yakage": ("小田川", "矢掛観測所"), "gauge-sakazu": ("高梁川", "酒津観測所")}
_TREND_WORDS = {"rising": "上昇", "falling": "下降", "steady": "横ばい"}


def _evacuee_steps() -> list[Step]:
    steps: list[Step] = []
    for code, series in _EVACUEES.items():
        name = _FACILITIES[code]["name"]
        for i, (hour, people, households) in enumerate(series):
            style = i % 3
            if style == 0:
                text = f"{{t}}現在の避難者数 {people}名（{households}世帯）"
            elif style == 1:
                text = f"{name} 避難者数 {people:,}名（{households}世帯）"
            else:
                text = f"避難者数 {name} {people:,}名 {households}世帯"
            steps.append(
                Submit(
                    hour,
                    _FACILITIES[code]["agency"],
                    Category.EVACUEES,
                    text,
                    {"facility": name, "count": people, "households": households},
                    key=f"evac-{code}-{hour:g}",
                    facility=code,
                )
            )
    return steps


def _gauge_steps() -> list[Step]:
    steps: list[Step] = []
    for code, series in _GAUGES.items():
        river, station = _GAUGE_RIVER[code]
        for hour, level, trend, flooding in series:
            text = f"{river} {station} 水位 {level}m {_TREND_WORDS[trend]}"
            if flooding:
                text += " 氾濫危険水位を超過、氾濫発生"
            steps.append(
                Submit(
                    hour,
                    "river-office",
                    Category.WATER_LEVEL,
                    text,
                    {"area": river, "trend": trend, "level_m": level, "flooding": flooding},
                    channel=API,
                    key=f"water-{code}-{hour:g}",
                    facility=code,
                )
            )
    return steps


def _water(area: str, trend: str, level: float | None, flooding: bool | None) -> dict[str, Any]:
    return {"area": area, "trend": trend, "level_m": level, "flooding": flooding}


def _outage(areas: list[tuple[str, int]], restoration: str | None) -> dict[str, Any]:
    return {
        "areas": [{"area": a, "households": n} for a, n in areas],
        "total_households": sum(n for _a, n in areas),
        "restoration": restoration,
    }


def _road(road: str, place: str, cause: str, passable: bool) -> dict[str, Any]:
    return {"road": road, "place": place, "cause": cause, "passable": passable}


def _medical(name: str, accepting: bool, beds: int | None, injured: int | None) -> dict:
    return {"facility": name, "accepting": accepting, "beds_available": beds, "injured": injured}


def _fire(area: str, households: int | None, people: int | None, order: bool) -> dict:
    return {"area": area, "households": households, "people": people, "evacuation_order": order}


def _dispatch(role: str, count: int | None, destination: str, reason: str | None) -> dict:
    return {"role": role, "count": count, "destination": destination, "reason": reason}


def _story(clock: Any) -> list[Step]:
    """The hand-written part of the day. ``clock(h)`` formats an hour offset as 21時頃."""
    mabi_pt, kawabe_pt, yata_pt = (34.6350, 133.6960), (34.6310, 133.7130), (34.6365, 133.6930)
    return [
        Submit(0.2, HQ_CODE, Category.GENERAL,
               "大雨警報の発表に伴い災害警戒本部を設置。各機関は1時間ごとに状況を報告してください。",
               {}, channel=WEB),
        Submit(1, "city-river", Category.WATER_LEVEL, "末政川 観測所 水位 1.9m 上昇",
               _water("末政川", "rising", 1.9, False), channel=WEB, facility="gauge-suemasa",
               key="suemasa-1"),
        Submit(2.5, "road-dept", Category.GENERAL,
               "土のうステーション（真備支所・玉島支所）で土のうを配布中。", {}, channel=WEB),
        Submit(3, "road-dept", Category.ROAD_CLOSURE, "県道22号 船穂町付近 冠水 通行止め",
               _road("県道22号", "船穂町付近", "flooding", False), channel=WEB,
               location=(34.6010, 133.6980), key="road-22"),
        Submit(3.5, "chugoku-power", Category.OUTAGE,
               "停電情報 ①真備地区：300世帯 ②玉島地区：120世帯 復旧見込みは未定",
               _outage([("真備地区", 300), ("玉島地区", 120)], "未定")),
        Submit(4, "city-river", Category.WATER_LEVEL, "末政川 観測所 水位 3.0m 上昇",
               _water("末政川", "rising", 3.0, False), channel=WEB, facility="gauge-suemasa"),
        Submit(5, "kurashiki-police", Category.ROAD_CLOSURE,
               "国道486号線 真備町川辺付近にて土砂災害発生、通行不可",
               _road("国道486号", "真備町川辺付近", "landslide", False),
               location=kawabe_pt, key="road-486"),
        Correct(5.5, "road-486", {"place": "真備町箭田付近"},
                "発生場所の誤り（現地確認により訂正）",
                text="国道486号線 真備町箭田付近にて土砂災害発生、通行不可", location=yata_pt),
        Submit(5.5, "health-dept", Category.DISPATCH,
               "二万小学校避難所からの要請により、要配慮者対応のため保健師2名を派遣",
               _dispatch("保健師", 2, "二万小学校避難所", "要配慮者対応"), channel=WEB),
        Submit(6, "kojima-shelter", Category.GENERAL,
               "児島小学校避難所を開設しました。毛布・飲料水の備蓄を確認済み。", {}),
        Submit(6, "mabi-hospital", Category.MEDICAL_CAPACITY,
               "{t} 状況報告 まび記念病院：受け入れ可能、病床数10",
               _medical("まび記念病院", True, 10, None), channel=WEB),
        Submit(6, "city-river", Category.WATER_LEVEL,
               "末政川 堤防から越水、真備町有井付近で浸水 水位 3.4m 上昇",
               _water("末政川", "rising", 3.4, True), channel=WEB, facility="gauge-suemasa",
               key="suemasa-overflow"),
        Submit(6.3, "road-dept", Category.ROAD_CLOSURE, "国道430号 児島唐琴付近 倒木 通行止め",
               _road("国道430号", "児島唐琴付近", "fallen_tree", False), channel=WEB,
               location=(34.4780, 133.7900)),
        Submit(6.8, HQ_CODE, Category.FIRE,
               "真備地区全域に避難指示を発令（4,600世帯 約11,000名）",
               _fire("真備地区", 4600, 11000, True), channel=WEB, key="mabi-order"),
        OpenIncident(7.2, "odagawa", "小田川決壊 真備地区浸水",
                     "小田川および支流（末政川・高馬川）の堤防決壊により真備地区の広範囲が浸水。"
                     "孤立者の救助、避難所の拡充、停電・道路被害の把握を行う。",
                     "mabi", location=mabi_pt),
        Submit(7, "road-dept", Category.ROAD_CLOSURE, "市道 真備町有井 土砂崩れ 片側交互通行",
               _road("市道", "真備町有井", "landslide", True), channel=WEB,
               location=(34.6380, 133.7040), incident="odagawa"),
        Submit(7.5, "mabi-shelter", Category.EVACUEES,
               "川辺小学校避難所は浸水のおそれのため閉鎖。避難者80名は岡田小学校へ移動しました。",
               {"facility": "川辺小学校", "count": 0, "households": 0}, facility="kawabe-es",
               key="kawabe-close", incident="odagawa"),
        Submit(7.5, "city-river", Category.WATER_LEVEL,
               "小田川東エリア：一部で水位上昇 復旧作業中、復旧見込みは未定",
               _water("小田川東エリア", "rising", None, True), channel=WEB, incident="odagawa"),
        Submit(8, "chugoku-power", Category.OUTAGE,
               "停電情報 ①真備地区：4,800世帯 ②船穂地区：200世帯 ③玉島地区：340世帯 "
               "復旧見込みは未定",
               _outage([("真備地区", 4800), ("船穂地区", 200), ("玉島地区", 340)], "未定"),
               key="outage-8", incident="odagawa"),
        Submit(8.2, "kurashiki-police", Category.GENERAL,
               "真備町川辺地区で孤立者多数。救助要請が相次いでいる。ボート5隻で救助活動中。",
               {}, incident="odagawa"),
        Submit(8.3, "kurashiki-central-hospital", Category.MEDICAL_CAPACITY,
               "{t} 状況報告 倉敷中央病院：受け入れ可能、病床数25",
               _medical("倉敷中央病院", True, 25, None), channel=WEB, key="kch-1"),
        Submit(8.5, "mabi-hospital", Category.MEDICAL_CAPACITY,
               "まび記念病院 受入れ不可（停電のため）",
               _medical("まび記念病院", False, None, None), channel=WEB, incident="odagawa"),
        Correct(8.6, "kch-1", {"beds_available": 20}, "空き病床数の誤記（25→20）",
                text="{t} 状況報告 倉敷中央病院：受け入れ可能、病床数20"),
        Submit(8.6, "mabi-shelter", Category.EVACUEES, "二万小学校 避難者数 150名（55世帯）",
               {"facility": "二万小学校", "count": 150, "households": 55}, facility="niman-es",
               key="niman-dup"),
        Withdraw(8.8, "niman-dup", "二重送信のため取消"),
        Correct(8.9, "outage-8", {"areas": [{"area": "真備地区", "households": 5100},
                                            {"area": "船穂地区", "households": 200},
                                            {"area": "玉島地区", "households": 340}],
                                  "total_households": 5640},
                "川辺・有井地区の集計漏れを追加（真備地区 4,800→5,100世帯）",
                text="停電情報 ①真備地区：5,100世帯 ②船穂地区：200世帯 ③玉島地区：340世帯 "
                     "復旧見込みは未定"),
        Submit(9, "chugoku-power", Category.OUTAGE, "茶屋町地区 停電 約80世帯 復旧見込み未定",
               _outage([("茶屋町地区", 80)], "未定"), district="chayamachi"),
        Submit(9, "kawasaki-hospital", Category.MEDICAL_CAPACITY,
               "川崎医科大学附属病院：受け入れ可能、病床数18、負傷者6名受入れ",
               _medical("川崎医科大学附属病院", True, 18, 6), channel=WEB),
        Submit(9.2, "kurashiki-police", Category.ROAD_CLOSURE,
               "国道429号 玉島長尾付近 冠水 通行止め",
               _road("国道429号", "玉島長尾付近", "flooding", False),
               location=(34.5650, 133.6600), key="road-429"),
        Submit(10, "kurashiki-fire", Category.FIRE, "水島地区で工場火災 避難指示 30世帯80名",
               _fire("水島地区", 30, 80, True), location=(34.5120, 133.7420), key="fire-1"),
        OpenIncident(10.2, "fire", "水島 工場火災",
                     "水島臨海工業地帯の工場で火災。周辺に避難指示、警戒区域を設定。",
                     "mizushima", location=(34.5120, 133.7420)),
        Correct(10.4, "fire-1", {"households": 32, "people": 85},
                "対象世帯・人数を再集計（30世帯80名→32世帯85名）",
                text="水島地区で工場火災 避難指示 32世帯85名"),
        Submit(10.3, "road-dept", Category.ROAD_CLOSURE,
               "国道430号 児島唐琴付近 倒木撤去完了 通行止め解除",
               _road("国道430号", "児島唐琴付近", "fallen_tree", True), channel=WEB,
               location=(34.4780, 133.7900)),
        Submit(10.5, "mizushima-hospital", Category.MEDICAL_CAPACITY,
               "水島中央病院：工場火災の負傷者3名を受入れ。受け入れ可能、病床数10",
               _medical("水島中央病院", True, 10, 3), channel=WEB, incident="fire"),
        Submit(11, "road-dept", Category.ROAD_CLOSURE, "市道 真備町服部 冠水 通行止め",
               _road("市道", "真備町服部", "flooding", False), channel=WEB,
               location=(34.6430, 133.7090), incident="odagawa"),
        Submit(12, "health-dept", Category.DISPATCH,
               "真備東中学校避難所へ保健師3名を派遣（健康相談・感染症対策）",
               _dispatch("保健師", 3, "真備東中学校避難所", "健康相談・感染症対策"), channel=WEB),
        Submit(12, "city-river", Category.WATER_LEVEL, "末政川 観測所 水位 2.8m 下降 浸水継続",
               _water("末政川", "falling", 2.8, True), channel=WEB, facility="gauge-suemasa"),
        Submit(12, "chugoku-power", Category.OUTAGE,
               "停電情報 ①真備地区：5,300世帯 ②船穂地区：150世帯 ③玉島地区：復旧済み "
               "真備地区は浸水のため復旧見込み未定",
               _outage([("真備地区", 5300), ("船穂地区", 150), ("玉島地区", 0)], "未定")),
        Submit(12, "kojima-hospital", Category.MEDICAL_CAPACITY,
               "{t} 状況報告 児島中央病院：受け入れ可能、病床数8",
               _medical("児島中央病院", True, 8, None), channel=WEB),
        Submit(12.5, HQ_CODE, Category.DISPATCH, "玉島中学校避難所へ職員4名を派遣",
               _dispatch("職員", 4, "玉島中学校避難所", "避難所運営支援"), channel=WEB),
        Submit(12.5, "kurashiki-fire", Category.FIRE,
               "水島地区の工場火災 延焼のため警戒区域を拡大。35世帯95名に退去を命令。",
               _fire("水島地区", 35, 95, True), location=(34.5120, 133.7420), incident="fire"),
        Submit(13, "chugoku-power", Category.OUTAGE, "茶屋町地区 停電復旧しました",
               _outage([("茶屋町地区", 0)], None), district="chayamachi"),
        Submit(14, "chugoku-power", Category.OUTAGE,
               f"{{t}}現在 児島地区 停電 約2,300世帯 復旧見込み{clock(17)}",
               _outage([("児島地区", 2300)], clock(17)), district="kojima"),
        Submit(14, "mabi-hospital", Category.MEDICAL_CAPACITY,
               "まび記念病院 1階浸水、入院患者を2階以上へ移動中。受入れ不可",
               _medical("まび記念病院", False, 0, None), channel=WEB, incident="odagawa"),
        Submit(15, "kurashiki-fire", Category.DISPATCH,
               "救助隊3隊12名を真備町川辺地区へ派遣（ボートによる孤立者救助）",
               _dispatch("救助隊員", 12, "真備町川辺地区", "孤立者救助"), incident="odagawa"),
        Submit(15, "kurashiki-police", Category.ROAD_CLOSURE,
               "国道429号 玉島長尾付近 冠水解消、通行止め解除",
               _road("国道429号", "玉島長尾付近", "flooding", True), location=(34.5650, 133.6600)),
        Submit(16, "kurashiki-fire", Category.FIRE,
               "水島地区の工場火災 {t} 鎮火。避難指示を解除しました。",
               _fire("水島地区", 0, 0, False), location=(34.5120, 133.7420), incident="fire"),
        Submit(16, "kurashiki-central-hospital", Category.MEDICAL_CAPACITY,
               "倉敷中央病院：受け入れ可能、病床数12、負傷者9名受入れ",
               _medical("倉敷中央病院", True, 12, 9), channel=WEB),
        Submit(17, "road-dept", Category.ROAD_CLOSURE, "県道22号 船穂町付近 冠水解消 通行止め解除",
               _road("県道22号", "船穂町付近", "flooding", True), channel=WEB,
               location=(34.6010, 133.6980)),
        Submit(17.5, "chugoku-power", Category.OUTAGE, "{t} 児島地区の停電は全て復旧しました",
               _outage([("児島地区", 0)], None), district="kojima"),
        Submit(18, "health-dept", Category.GENERAL,
               "各避難所にマスク・消毒液・経口補水液を配布済み。熱中症と感染症に注意してください。",
               {}, channel=WEB),
        Submit(19, "mizushima-shelter", Category.EVACUEES,
               "火災の鎮火により水島小学校避難所の避難者は全員帰宅。避難所を閉鎖しました。",
               {"facility": "水島小学校", "count": 0, "households": 0}, facility="mizushima-es",
               incident="fire"),
        Submit(20, "chugoku-power", Category.OUTAGE,
               "停電情報 ①真備地区：4,900世帯 ②船穂地区：復旧済み 真備地区は排水後に復旧作業",
               _outage([("真備地区", 4900), ("船穂地区", 0)], "未定")),
        Submit(20, "kawasaki-hospital", Category.MEDICAL_CAPACITY,
               "川崎医科大学附属病院：受け入れ可能、病床数11、負傷者14名受入れ",
               _medical("川崎医科大学附属病院", True, 11, 14), channel=WEB),
        Submit(21, "city-river", Category.WATER_LEVEL, "末政川 観測所 水位 2.1m 下降 越水は解消",
               _water("末政川", "falling", 2.1, False), channel=WEB, facility="gauge-suemasa"),
        Submit(21, HQ_CODE, Category.GENERAL,
               "給水車3台を真備支所・岡田小学校・二万小学校に配置しました。", {}, channel=WEB),
        Submit(22, "kojima-shelter", Category.EVACUEES,
               "児島小学校避難所 避難者なし（全員帰宅）。待機を継続します。",
               {"facility": "児島小学校", "count": 0, "households": 0}, facility="kojima-es"),
        Submit(23, "health-dept", Category.DISPATCH,
               "岡田小学校避難所へ保健師2名を派遣（要配慮者の巡回）",
               _dispatch("保健師", 2, "岡田小学校避難所", "要配慮者の巡回"), channel=WEB),
        Submit(20.5, "city-river", Category.WATER_LEVEL,
               "小田川東エリア：水位は低下傾向。排水ポンプ車で排水作業中、浸水は継続",
               _water("小田川東エリア", "falling", None, True), channel=WEB, incident="odagawa"),
        Submit(21.5, "kurashiki-police", Category.GENERAL,
               "真備地区の孤立者救助はほぼ完了。引き続き巡回と防犯警戒を実施中。",
               {}, incident="odagawa"),
        Submit(21.5, "kurashiki-central-hospital", Category.MEDICAL_CAPACITY,
               "{t} 状況報告 倉敷中央病院：受け入れ可能、病床数10、負傷者12名受入れ",
               _medical("倉敷中央病院", True, 10, 12), channel=WEB),
        Submit(22, "kurashiki-fire", Category.DISPATCH,
               "排水作業支援のため消防隊2隊8名を真備町川辺地区へ派遣",
               _dispatch("消防隊員", 8, "真備町川辺地区", "排水作業支援"), incident="odagawa"),
        Submit(22, "mabi-hospital", Category.MEDICAL_CAPACITY,
               "まび記念病院 受入れ不可 排水・清掃作業中、入院患者は転院調整中",
               _medical("まび記念病院", False, 0, None), channel=WEB, incident="odagawa"),
        Submit(22.5, "road-dept", Category.ROAD_CLOSURE, "市道 真備町服部 冠水継続 通行止め",
               _road("市道", "真備町服部", "flooding", False), channel=WEB,
               location=(34.6430, 133.7090), incident="odagawa"),
        Submit(22.5, "chugoku-power", Category.OUTAGE,
               "停電情報 真備地区：4,600世帯 浸水地域を除き順次復旧中 全面復旧は明日以降",
               _outage([("真備地区", 4600)], "明日以降"), district="mabi"),
        Submit(23, "kawasaki-hospital", Category.MEDICAL_CAPACITY,
               "川崎医科大学附属病院：受け入れ可能、病床数9、負傷者17名受入れ",
               _medical("川崎医科大学附属病院", True, 9, 17), channel=WEB),
        Correct(10.6, "evac-yata-es-10", {"count": 302, "households": 112},
                "受付名簿の重複を除いて再集計（320名→302名）"),
    ]  # fmt: skip


def demo_steps(clock: Any) -> list[Step]:
    """Every step of the day, in time order (stable for equal times)."""
    links = {
        "water-gauge-yakage-6.5": "odagawa",
        "water-gauge-yakage-8": "odagawa",
        "suemasa-overflow": "odagawa",
        "road-486": "odagawa",
        "mabi-order": "odagawa",
        "outage-8": "odagawa",
        "fire-1": "fire",
        "evac-mizushima-es-10.5": "fire",
        "evac-mizushima-es-13": "fire",
    }
    steps = _evacuee_steps() + _gauge_steps() + _story(clock) + _CHATS
    linked = []
    for step in steps:
        if isinstance(step, Submit) and step.key in links:
            step = replace(step, incident=links[step.key])
        linked.append(step)
    return sorted(linked, key=lambda s: s.at)  # stable: equal times keep the written order


# --- Seeding --------------------------------------------------------------------------------


@dataclass
class SeedResult:
    directory: ImportResult
    reports_created: int = 0
    corrections: int = 0
    withdrawals: int = 0
    queued: int = 0
    incidents: int = 0
    skipped_reports: bool = False
    logins: list[tuple[str, str, str]] = field(default_factory=list)


def _demo_usernames() -> list[str]:
    return [m["username"] for m in demo_directory()["members"]]


def demo_already_seeded() -> bool:
    return get_user_model().objects.filter(username=HQ_USERNAME).exists()


def demo_reports_exist() -> bool:
    return ReportRevision.objects.filter(source_ref__startswith=SOURCE_PREFIX).exists()


def demo_logins() -> list[tuple[str, str, str]]:
    """(username, role label, agency name) of every demo user, HQ and auditor first."""
    users = (
        get_user_model()
        .objects.filter(username__in=_demo_usernames())
        .select_related("member__agency")
        .prefetch_related("groups")
        .order_by("username")
    )
    labels = dict(Role.choices)
    rows = []
    for user in users:
        role = next((labels[g.name] for g in user.groups.all() if g.name in labels), "")
        member = getattr(user, "member", None)
        rows.append((user.username, str(role), member.agency.name if member else ""))
    first = {HQ_USERNAME: 0, AUDITOR_USERNAME: 1}
    return sorted(rows, key=lambda r: (first.get(r[0], 2), r[0]))


def _set_demo_passwords() -> None:
    """New demo users get DEMO_PASSWORD (hashed once: the hasher is slow on purpose)."""
    user_model = get_user_model()
    users = user_model.objects.filter(username__in=_demo_usernames())
    without = [u for u in users if not u.has_usable_password()]
    if not without:
        return
    hashed = make_password(settings.DEMO_PASSWORD)
    user_model.objects.filter(pk__in=[u.pk for u in without]).update(password=hashed)


def _tokyo_clock(start: datetime) -> Any:
    def clock(hours: float) -> str:
        return f"{timezone.localtime(start + timedelta(hours=hours)).hour}時頃"

    return clock


def _format_time(moment: datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local.hour}時{local.minute:02d}分"


def _seed_day(start: datetime, result: SeedResult) -> None:
    users = {u.username: u for u in get_user_model().objects.filter(username__in=_demo_usernames())}
    agencies = {a.code: a for a in Agency.objects.all()}
    facilities = {f.code: f for f in Facility.objects.all()}
    districts = {d.code: d for d in District.objects.all()}
    hq = users[HQ_USERNAME]
    reports: dict[str, Report] = {}
    incidents: dict[str, Incident] = {}
    to_link: list[tuple[Report, str]] = []

    for index, step in enumerate(demo_steps(_tokyo_clock(start))):
        moment = start + timedelta(hours=step.at)
        # LINE WORKS and the API deliver within minutes; the lag varies a little per step.
        recorded = moment + timedelta(minutes=2 + index % 6)
        if isinstance(step, Submit):
            author = users[demo_username(step.agency)]
            report = services.report_submit(
                agency=agencies[step.agency],
                author=author,
                category=step.category,
                fields=step.fields,
                text=step.text.format(t=_format_time(moment)),
                observed_at=moment,
                recorded_at=recorded,
                channel=step.channel,
                location=_location(step.location),
                facility=facilities.get(step.facility),
                district=districts.get(step.district),
                source_ref=f"{SOURCE_PREFIX}{step.key or index}",
            )
            if step.key:
                reports[step.key] = report
            if step.incident:
                to_link.append((report, step.incident))
            result.reports_created += 1
        elif isinstance(step, Correct):
            report = reports[step.key]
            current = report.current_revision
            services.report_correct(
                report=report,
                author=report.author,
                reason=step.reason,
                channel=report.channel,
                fields={**current.fields, **step.fields},
                text=step.text.format(t=_format_time(current.observed_at)) if step.text else None,
                location=_location(step.location),
                recorded_at=moment,
                source_ref=f"{SOURCE_PREFIX}correct:{step.key}",
            )
            result.corrections += 1
        elif isinstance(step, Chat):
            report = _file_chat(step, agencies[step.agency], users, moment, recorded, index)
            reports[step.key or f"chat-{index}"] = report
            result.reports_created += 1
            result.queued += int(review.is_pending(report))
        elif isinstance(step, Withdraw):
            report = reports[step.key]
            services.report_withdraw(
                report=report,
                author=report.author,
                reason=step.reason,
                channel=report.channel,
                recorded_at=moment,
                source_ref=f"{SOURCE_PREFIX}withdraw:{step.key}",
            )
            result.withdrawals += 1
        else:
            incidents[step.key] = services.incident_open(
                user=hq,
                title=step.title,
                description=step.description,
                district=districts[step.district],
                location=_location(step.location),
                opened_at=moment,
            )
            result.incidents += 1

    # HQ links reports to the incidents as it reviews them (reports sent before an incident
    # was opened included).
    for report, key in to_link:
        services.report_link_incident(report=report, incident=incidents[key], user=hq)
    services.incident_close(incident=incidents["fire"], user=hq)
    police = reports["chat-police"]
    if review.is_pending(police):
        services.report_review_confirm(report=police, user=hq)
        result.queued -= 1


def _file_chat(
    step: Chat,
    agency: Agency,
    users: dict[str, Any],
    moment: datetime,
    recorded: datetime,
    index: int,
) -> Report:
    """What the LINE WORKS bot does with the message (lineworks.bot), without the talk."""
    facilities = list(agency.facilities.filter(active=True).values_list("name", flat=True)[:2])
    context = SenderContext(
        agency_kind=agency.kind,
        agency_name=agency.name,
        facility=facilities[0] if len(facilities) == 1 else None,
    )
    result = parse(step.text, context=context, now=timezone.localtime(moment))
    common = {
        "agency": agency,
        "author": users[demo_username(step.agency)],
        "text": step.text,
        "observed_at": moment,
        "recorded_at": recorded,
        "channel": LW,
        "source_ref": f"{SOURCE_PREFIX}{step.key or index}",
        "require_fields": False,
    }
    try:
        return services.report_submit(
            category=result.category,
            fields=result.fields,
            parsed_confidence=result.confidence,
            **common,
        )
    except ValidationError:
        return services.report_submit(
            category=Category.GENERAL, fields={}, parsed_confidence=0.0, **common
        )


def _location(point: tuple[float, float] | None) -> dict[str, float] | None:
    return {"lat": point[0], "lng": point[1]} if point else None


def demo_seed(*, now: datetime | None = None) -> SeedResult:
    """Load the demo directory and, if no demo report exists yet, the last day's reports.

    Safe to call twice. ``now`` fixes the end of the day (tests); default the current time.
    """
    end = (now or timezone.now()).replace(second=0, microsecond=0)
    end -= timedelta(minutes=end.minute % 10)
    start = end - timedelta(hours=24)
    with transaction.atomic():
        directory = directory_import(demo_directory(), source="seed_demo")
        _set_demo_passwords()
        result = SeedResult(directory=directory)
        if demo_reports_exist():
            result.skipped_reports = True
        else:
            _seed_day(start, result)
    result.logins = demo_logins()
    return result
