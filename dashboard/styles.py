"""How each category and facility kind looks on the map, the tiles and the legend.

Colours are distinct for the common forms of colour blindness as far as six hues allow; every
marker also carries a one-character glyph, so the layer is readable without colour.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import pgettext, pgettext_lazy

from agencies.models import FacilityKind
from reports.categories import CAUSE_LABELS, SCHEMAS, TREND_LABELS, Category

_CATEGORY = {
    Category.EVACUEES: ("#1f5fbf", pgettext_lazy("map glyph", "避")),
    Category.OUTAGE: ("#e0a100", pgettext_lazy("map glyph", "電")),
    Category.ROAD_CLOSURE: ("#7a4b2a", pgettext_lazy("map glyph", "道")),
    Category.WATER_LEVEL: ("#00838f", pgettext_lazy("map glyph", "水")),
    Category.MEDICAL_CAPACITY: ("#c2185b", pgettext_lazy("map glyph", "医")),
    Category.FIRE: ("#d4380d", pgettext_lazy("map glyph", "火")),
}

_FACILITY = {
    FacilityKind.SHELTER: ("#1f5fbf", "■"),
    FacilityKind.HOSPITAL: ("#c2185b", "✚"),
    FacilityKind.WELFARE: ("#6a3fb5", pgettext_lazy("map glyph", "福")),
    FacilityKind.WATER_GAUGE: ("#00838f", "▼"),
}


def category_styles() -> list[dict[str, Any]]:
    return [
        {"code": str(code), "label": str(code.label), "colour": colour, "glyph": str(glyph)}
        for code, (colour, glyph) in _CATEGORY.items()
    ]


def facility_styles() -> list[dict[str, Any]]:
    return [
        {"code": str(kind), "label": str(kind.label), "colour": colour, "glyph": str(glyph)}
        for kind, (colour, glyph) in _FACILITY.items()
    ] + [{"code": "district", "label": _("地区"), "colour": "#555", "glyph": "◇"}]


def field_labels() -> dict[str, Any]:
    """Field names → labels per category, and the labels of coded values, for popups."""
    return {
        "fields": {
            str(code): [[f.name, str(f.label)] for f in fields] for code, fields in SCHEMAS.items()
        },
        "values": {
            **{k: str(v) for k, v in CAUSE_LABELS.items()},
            **{k: str(v) for k, v in TREND_LABELS.items()},
        },
    }


def ui_text() -> dict[str, str]:
    """Every string the dashboard script shows, translated on the server."""
    return {
        "live": _("ライブ"),
        "replay": _("時点表示"),
        "offline": _("接続できません（再試行中）"),
        "as_of_banner": _("%(t)s 時点の状況を表示しています（ライブ更新は停止中）"),
        "as_of_at": _("%(t)s 時点"),
        "reports_n": _("報告 %(n)s 件"),
        "no_reports": _("報告なし"),
        "people": _("人"),
        "households": _("世帯"),
        "places": _("か所"),
        "beds": _("床"),
        "capacity": _("収容"),
        "evacuees": _("避難者数"),
        "outage": _("停電世帯"),
        "road_closure": _("通行止め"),
        "water_level": _("水位"),
        "water_rising": _("上昇"),
        "water_flooding": _("氾濫・浸水"),
        "medical": _("医療機関"),
        "accepting": _("受入可"),
        "not_accepting": _("受入不可"),
        "beds_available": _("空床"),
        "fire": _("火災・避難指示"),
        "evacuation_orders": _("避難指示"),
        "incidents": _("対応中・監視中"),
        "incident_list": _("インシデント一覧"),
        "cases": _("件"),
        "hospitals": pgettext("unit", "機関"),
        "shelters_n": _("避難所 %(n)s か所"),
        "full_n": _("満員近く %(n)s"),
        "districts_n": _("%(n)s 地区"),
        "silent_sub": _("報告が途絶えている機関"),
        "silent": _("沈黙している機関"),
        "silent_none": _("沈黙している機関はありません"),
        "last_report": _("最終報告"),
        "never": _("報告なし"),
        "interval": _("目安 %(n)s 分"),
        "remind": _("督促を送る"),
        "reminded": _("督促を送信しました"),
        "others": _("ほか %(n)s 件"),
        "details": _("詳細"),
        "acknowledge": _("確認"),
        "acknowledged": _("確認済み"),
        "link_incident": _("インシデント"),
        "no_incident": _("（関連付けなし）"),
        "more": _("さらに表示"),
        "empty_timeline": _("該当する記録はありません"),
        "facilities": _("施設"),
        "districts": _("地区"),
        "silence_layer": _("沈黙（報告途絶）"),
        "legend": _("凡例"),
        "photo": _("写真"),
        "error": _("操作に失敗しました"),
        "no_tiles": _("背景地図なし（オフライン表示）"),
        "chart_evacuees": _("避難者数（人）"),
        "chart_outage": _("停電世帯数"),
        "new": _("新着"),
        "agency": pgettext("unit", "機関"),
        "observed": _("確認日時"),
        "passable": _("通行可"),
        "yes": _("はい"),
        "no": _("いいえ"),
    }
