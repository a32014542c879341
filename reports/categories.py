"""Report categories and their structured fields (design.md §5, contract).

``validate_fields(category, data)`` returns the complete, normalised field dict (every field of
the category present, ``None`` where not given) or raises ValidationError whose messages name
the field, in Japanese.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class Category(models.TextChoices):
    EVACUEES = "evacuees", _("避難者数")
    OUTAGE = "outage", _("停電")
    ROAD_CLOSURE = "road_closure", _("通行止め・道路被害")
    WATER_LEVEL = "water_level", _("水位")
    MEDICAL_CAPACITY = "medical_capacity", _("医療機関受入")
    FIRE = "fire", _("火災・避難指示")
    DISPATCH = "dispatch", _("職員派遣")
    GENERAL = "general", _("その他")


ROAD_CAUSES = ("landslide", "flooding", "collapse", "fallen_tree", "accident", "other")
WATER_TRENDS = ("rising", "falling", "steady")
CAUSE_LABELS = {
    "landslide": _("土砂災害"),
    "flooding": _("冠水"),
    "collapse": _("崩落・陥没"),
    "fallen_tree": _("倒木"),
    "accident": _("事故"),
    "other": _("その他"),
}
TREND_LABELS = {"rising": _("上昇"), "falling": _("下降"), "steady": _("横ばい")}


@dataclass(frozen=True)
class Field:
    name: str
    label: Any
    kind: str  # str, int, float, bool, choice, areas
    required: bool = False
    choices: tuple[str, ...] = ()


SCHEMAS: dict[str, tuple[Field, ...]] = {
    Category.EVACUEES: (
        Field("facility", _("施設"), "str", required=True),
        Field("count", _("避難者数（人）"), "int", required=True),
        Field("households", _("世帯数"), "int"),
    ),
    Category.OUTAGE: (
        Field("areas", _("停電地区"), "areas", required=True),
        Field("total_households", _("停電世帯数（合計）"), "int"),
        Field("restoration", _("復旧見込み"), "str"),
    ),
    Category.ROAD_CLOSURE: (
        Field("road", _("路線"), "str"),
        Field("place", _("場所"), "str"),
        Field("cause", _("原因"), "choice", choices=ROAD_CAUSES),
        Field("passable", _("通行可"), "bool"),
    ),
    Category.WATER_LEVEL: (
        Field("area", _("河川・地区"), "str", required=True),
        Field("trend", _("傾向"), "choice", choices=WATER_TRENDS),
        Field("level_m", _("水位（m）"), "float"),
        Field("flooding", _("氾濫・浸水"), "bool"),
    ),
    Category.MEDICAL_CAPACITY: (
        Field("facility", _("医療機関"), "str", required=True),
        Field("accepting", _("受入可"), "bool"),
        Field("beds_available", _("空き病床数"), "int"),
        Field("injured", _("負傷者数"), "int"),
    ),
    Category.FIRE: (
        Field("area", _("地区"), "str"),
        Field("households", _("対象世帯数"), "int"),
        Field("people", _("対象人数"), "int"),
        Field("evacuation_order", _("避難指示・退去命令"), "bool", required=True),
    ),
    Category.DISPATCH: (
        Field("role", _("職種"), "str", required=True),
        Field("count", _("人数"), "int"),
        Field("destination", _("派遣先"), "str"),
        Field("reason", _("理由"), "str"),
    ),
    Category.GENERAL: (),
}

FIELD_NAMES: dict[str, tuple[str, ...]] = {
    code: tuple(f.name for f in fields) for code, fields in SCHEMAS.items()
}
MAX_TEXT = 500


def missing_required(category: str, fields: dict[str, Any] | None) -> list[str]:
    """Names of the category's required fields (``Field.required``) that ``fields`` leaves
    empty. The one definition of "required": validation, the bot's read-back and HQ's review
    queue all ask this. (The parser's own ``REQUIRED_FIELDS`` only steers its confidence and
    what it reports as ``missing``; it does not decide what a report needs.)"""
    given = fields or {}
    return [
        f.name
        for f in SCHEMAS.get(category, ())
        if f.required and given.get(f.name) in (None, [], "")
    ]


def _text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError({name: _("文字列で入力してください。")})
    value = unicodedata.normalize("NFKC", value).strip()
    if len(value) > MAX_TEXT:
        raise ValidationError({name: _("%(max)d文字以内で入力してください。") % {"max": MAX_TEXT}})
    return value or None


def _count(name: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError({name: _("整数で入力してください。")})
    if isinstance(value, str):
        try:
            value = int(unicodedata.normalize("NFKC", value).replace(",", "").strip())
        except ValueError:
            raise ValidationError({name: _("整数で入力してください。")}) from None
    if value < 0:
        raise ValidationError({name: _("0以上の数を入力してください。")})
    if value > 10_000_000:
        raise ValidationError({name: _("値が大きすぎます。")})
    return value


def _float(name: str, value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationError({name: _("数値で入力してください。")})
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError({name: _("数値で入力してください。")}) from None
    if number != number or abs(number) > 1000:  # NaN or absurd
        raise ValidationError({name: _("正しい数値を入力してください。")})
    return number


def _bool(name: str, value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    raise ValidationError({name: _("true か false で指定してください。")})


def _areas(name: str, value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 100:
        raise ValidationError({name: _("地区のリストで指定してください。")})
    areas = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or set(item) - {"area", "households"}:
            raise ValidationError(
                {
                    name: _("%(n)d番目の地区は {area, households} の形で指定してください。")
                    % {"n": index + 1}
                }
            )
        area = _text(f"{name}[{index}].area", item.get("area"))
        if not area:
            raise ValidationError({name: _("%(n)d番目の地区名がありません。") % {"n": index + 1}})
        areas.append(
            {
                "area": area,
                "households": _count(f"{name}[{index}].households", item.get("households")),
            }
        )
    return areas


_READERS: dict[str, Callable[[str, Any], Any]] = {
    "str": _text,
    "int": _count,
    "float": _float,
    "bool": _bool,
    "areas": _areas,
}


def validate_fields(category: str, data: Any, *, require: bool = True) -> dict[str, Any]:
    """Normalise and validate ``data`` for ``category``; raise ValidationError naming fields.

    ``require`` checks required fields; the LINE WORKS path may store an incomplete report and
    ask the sender for the rest, so it can pass ``require=False``.
    """
    if category not in SCHEMAS:
        raise ValidationError({"category": _("不明な分類です: %(c)s") % {"c": category}})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationError({"fields": _("項目はオブジェクトで指定してください。")})
    unknown = sorted(set(data) - set(FIELD_NAMES[category]))
    if unknown:
        raise ValidationError({name: _("この分類にない項目です。") for name in unknown})
    errors: dict[str, list] = {}
    clean: dict[str, Any] = {}
    for field in SCHEMAS[category]:
        try:
            value = data.get(field.name)
            if field.kind == "choice":
                value = _text(field.name, value)
                if value is not None and value not in field.choices:
                    raise ValidationError(
                        {
                            field.name: _("次のいずれかを指定してください: %(c)s")
                            % {"c": ", ".join(field.choices)}
                        }
                    )
            else:
                value = _READERS[field.kind](field.name, value)
            if require and field.required and value in (None, []):
                raise ValidationError({field.name: _("この項目は必須です。")})
            clean[field.name] = value
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    if category == Category.OUTAGE and clean.get("total_households") is None and clean["areas"]:
        counts = [a["households"] for a in clean["areas"]]
        if all(c is not None for c in counts):
            clean["total_households"] = sum(counts)
    return clean
