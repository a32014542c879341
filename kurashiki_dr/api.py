"""API conventions shared by every app: one error shape.

Every error response is ``{"error": {"code": str, "message": str, "fields": {...}}}`` where
``fields`` maps a field name to a list of messages (empty when the error is not about a field).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


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
