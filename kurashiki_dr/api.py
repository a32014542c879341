"""API conventions shared by every app: one error shape.

Every error response is ``{"error": {"code": str, "message": str, "fields": {...}}}`` where
``fields`` maps a field name to a list of messages (empty when the error is not about a field).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import exceptions, parsers, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.json import strict_constant
from rest_framework.views import exception_handler as drf_exception_handler

from kurashiki_dr import safejson


def _flatten(detail: Any) -> list[str]:
    if isinstance(detail, list):
        out: list[str] = []
        for item in detail:
            out.extend(_flatten(item))
        return out
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            out.extend(f"{key}: {msg}" for msg in _flatten(value))
        return out
    return [str(detail)]


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            exc = exceptions.ValidationError(exc.message_dict)
        else:
            exc = exceptions.ValidationError({"non_field_errors": exc.messages})
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    fields: dict[str, list[str]] = {}
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict):
        fields = {key: _flatten(value) for key, value in exc.detail.items()}
        message = "入力内容に誤りがあります。"
        code = "invalid"
    else:
        detail = getattr(exc, "detail", str(exc))
        message = " ".join(_flatten(detail))
        code = getattr(exc, "default_code", "error")
        if isinstance(exc, exceptions.ValidationError):
            fields = {"non_field_errors": _flatten(detail)}
            code = "invalid"
    if response.status_code == status.HTTP_401_UNAUTHORIZED and not message:
        message = "認証が必要です。"
    response.data = {"error": {"code": code, "message": message, "fields": fields}}
    return response


# --- Shared pieces of every app's API: the error shape in the schema, pagination ----------


@extend_schema_serializer(component_name="ErrorBody")
class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="invalid, not_authenticated, permission_denied, ...")
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Field name → messages; `fields.<name>` for a category field.",
    )


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


_ERROR_DESCRIPTIONS = {
    400: "入力内容に誤りがあります（fields に項目ごとの理由）。",
    401: "認証が必要です（セッションまたは Authorization: Token <key>）。",
    403: "この操作を行う権限がありません。",
    404: "見つかりません（閲覧できない報告も「見つからない」になります）。",
    405: "このメソッドは使えません。",
    409: "現在の状態ではこの操作はできません。",
    429: "短い間隔で繰り返されました（Retry-After 秒後にもう一度）。",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """``responses=`` entries for ``extend_schema``: each code answers with the error shape."""
    return {
        code: OpenApiResponse(
            response=ErrorSerializer, description=_ERROR_DESCRIPTIONS.get(code, "")
        )
        for code in codes
    }


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "現在の状態ではこの操作はできません。"
    default_code = "conflict"


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with a bound on nesting: a body nested thousands of levels deep is
    a 400 (``parse_error``), not a RecursionError and a 500."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding") or "utf-8"
        try:
            raw = stream.read() if stream is not None else b""
            text = raw.decode(encoding) if isinstance(raw, bytes) else raw
            constant = strict_constant if self.strict else None
            return safejson.loads(text, parse_constant=constant)
        except safejson.TooDeep:
            raise exceptions.ParseError(
                _("JSON の入れ子が深すぎます（%(n)d 段まで）。") % {"n": safejson.MAX_DEPTH}
            ) from None
        except ValueError as exc:
            raise exceptions.ParseError(_("JSON を解析できません: %(e)s") % {"e": exc}) from None


class DateTimeParam(serializers.DateTimeField):
    """A date-time query parameter: ISO 8601, a time without offset is Asia/Tokyo. A time at
    the edge of the calendar (``0001-01-01``) that cannot be converted to UTC is a 400 in the
    error shape, not an OverflowError (DRF catches it only for times with an offset)."""

    def enforce_timezone(self, value: Any) -> Any:
        try:
            return super().enforce_timezone(value)
        except OverflowError:
            self.fail("overflow")


def _positive_int(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and int(raw) >= 1 else None


class ApiPagination(PageNumberPagination):
    """``{"count","next","previous","results"}``; ``?page=N`` and ``?page_size=N`` (≤ 200).
    A page or page size that is not a positive integer is a 400; a page past the end, 404."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def _number(self, request: Any, name: str) -> int | None:
        raw = request.query_params.get(name)
        if raw is None:
            return None
        number = _positive_int(raw)
        if number is None:
            raise exceptions.ValidationError({name: ["1以上の整数を指定してください。"]})
        return number

    def get_page_size(self, request: Any) -> int:
        size = self._number(request, self.page_size_query_param)
        return self.page_size if size is None else min(size, self.max_page_size)

    def get_page_number(self, request: Any, paginator: Any) -> int:
        return self._number(request, self.page_query_param) or 1

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = (
                    f"1ページの件数（既定 {self.page_size}、上限 {self.max_page_size}）"
                )
        return parameters
