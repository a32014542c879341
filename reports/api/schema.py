"""The OpenAPI description of a report's category fields (design.md §5), generated from
``reports.categories.SCHEMAS`` so that the documented shape and the validation cannot drift.

``REPORT_CREATE_REQUEST`` documents POST /api/v1/reports/ as one request schema per category
(``oneOf`` with ``category`` as discriminator), each with the exact ``fields`` object of that
category. Validation itself is done by ``ReportCreateInputSerializer``.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import (
    PolymorphicProxySerializer,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers

from reports.api.serializers import (
    MAX_COUNT,
    MAX_LEVEL_M,
    NOT_BLANK,
    ReportCreateInputSerializer,
)
from reports.categories import MAX_TEXT, SCHEMAS, Category, Field
from reports.services import MAX_TEXT_LENGTH

_COUNT = {"type": "integer", "minimum": 0, "maximum": MAX_COUNT}


def _text_schema(required: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": MAX_TEXT}
    if required:
        schema.update(minLength=1, pattern=NOT_BLANK)
    return schema


def field_schema(field: Field) -> dict[str, Any]:
    if field.kind == "int":
        schema: dict[str, Any] = dict(_COUNT)
    elif field.kind == "float":
        schema = {"type": "number", "minimum": -MAX_LEVEL_M, "maximum": MAX_LEVEL_M}
    elif field.kind == "bool":
        schema = {"type": "boolean"}
    elif field.kind == "choice":
        schema = {"type": "string", "enum": list(field.choices)}
    elif field.kind == "areas":
        schema = {
            "type": "array",
            "maxItems": 100,
            "items": {
                "type": "object",
                "properties": {
                    "area": _text_schema(required=True),
                    "households": {**_COUNT, "nullable": True},
                },
                "required": ["area"],
                "additionalProperties": False,
            },
        }
        if field.required:
            schema["minItems"] = 1
    else:
        schema = _text_schema(field.required)
    if not field.required:
        schema["nullable"] = True
    schema["description"] = str(field.label)
    return schema


def fields_schema(category: str) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {f.name: field_schema(f) for f in SCHEMAS[category]},
        "additionalProperties": False,
        "description": "分類ごとの項目 (design.md §5)。省略した項目は null。",
    }
    required = [f.name for f in SCHEMAS[category] if f.required]
    if required:
        schema["required"] = required
    return schema


def _title(code: str) -> str:
    return "".join(part.capitalize() for part in code.split("_"))


class _CreateCommon(ReportCreateInputSerializer):
    pass  # the request fields every category shares; validation stays with the parent


def _create_serializer(category: str) -> type[serializers.Serializer]:
    name = _title(category)
    fields_field = extend_schema_field(fields_schema(category))(
        type(f"{name}FieldsField", (serializers.DictField,), {})
    )
    category_field = extend_schema_field(
        {
            "type": "string",
            "pattern": f"^{category}$",
            "description": f"{category}（{Category(category).label}）",
        }
    )(type(f"{name}CategoryField", (serializers.CharField,), {}))
    attrs: dict[str, Any] = {
        "__doc__": f"{Category(category).label}の報告。",
        "category": category_field(),
        "fields": fields_field(required=any(f.required for f in SCHEMAS[category])),
    }
    if category == Category.GENERAL:
        attrs["text"] = serializers.CharField(
            max_length=MAX_TEXT_LENGTH,
            validators=[RegexValidator(NOT_BLANK)],
            help_text="本文（その他の報告では必須）",
        )
    cls = type(f"ReportCreate{name}InputSerializer", (_CreateCommon,), attrs)
    return extend_schema_serializer(component_name=f"ReportCreate{name}")(cls)


REPORT_CREATE_REQUEST = PolymorphicProxySerializer(
    component_name="ReportCreate",
    serializers={code: _create_serializer(code) for code in Category.values},
    resource_type_field_name="category",
)
