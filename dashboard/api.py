"""The situation, map, chart and timeline endpoints (design.md §9). The dashboard page reads
these same endpoints.

Polling clients send If-None-Match; an unchanged answer is a 304 after one index probe.
"""

from __future__ import annotations

from datetime import datetime

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agencies import roles
from dashboard import live, serializers
from dashboard.situation import map_payload, places_payload, series_payload, situation_payload
from dashboard.timeline import (
    action_labels,
    entry_json,
    parse_filters,
    parse_moment,
    timeline_page,
)
from kurashiki_dr.api import error_responses
from reports.categories import Category


class CanViewSituation(BasePermission):
    message = _("状況を閲覧する権限がありません。")

    def has_permission(self, request, view) -> bool:
        return roles.can_view_situation(request.user)


class CanReadAll(BasePermission):
    message = _("クロノロジーを閲覧できるのは本部と監査担当のみです。")

    def has_permission(self, request, view) -> bool:
        return roles.can_read_all(request.user)


AS_OF = OpenApiParameter(
    "as_of",
    OpenApiTypes.DATETIME,
    description="この時点の状況（ISO 8601、省略時は現在）。オフセットなしは日本時間。",
)
NOT_MODIFIED = OpenApiResponse(description="If-None-Match の ETag から変わっていません。")


def _as_of(request: Request) -> datetime | None:
    return parse_moment(request.query_params.get("as_of"), "as_of")


def _conditional(request: Request, etag: str) -> Response | None:
    if live.not_modified(request, etag):
        return Response(status=304, headers={"ETag": etag, "Cache-Control": "private, no-cache"})
    return None


def _fresh(data: dict, etag: str) -> Response:
    return Response(data, headers={"ETag": etag, "Cache-Control": "private, no-cache"})


class SituationView(APIView):
    permission_classes = [IsAuthenticated, CanViewSituation]

    @extend_schema(
        operation_id="situation_retrieve",
        summary="現在（または過去の時点）の状況",
        description="分類ごとに、対象ごとの最新の報告から集計した状況（design.md §4）。"
        "沈黙している機関も含む。",
        parameters=[AS_OF],
        responses={
            200: serializers.SituationSerializer,
            304: NOT_MODIFIED,
            **error_responses(400, 401, 403),
        },
    )
    def get(self, request: Request) -> Response:
        as_of = _as_of(request)
        etag = live.make_etag("situation", as_of=as_of)
        return _conditional(request, etag) or _fresh(situation_payload(as_of), etag)


class MapView(APIView):
    permission_classes = [IsAuthenticated, CanViewSituation]

    @extend_schema(
        operation_id="map_retrieve",
        summary="状況の地図（GeoJSON）",
        description="対象ごとに1つの Feature。properties.category に分類コード。"
        "報告者には本文・写真・リンクを含めない。",
        parameters=[AS_OF],
        responses={
            200: serializers.MapSerializer,
            304: NOT_MODIFIED,
            **error_responses(400, 401, 403),
        },
    )
    def get(self, request: Request) -> Response:
        as_of = _as_of(request)
        full = roles.can_read_all(request.user)
        etag = live.make_etag("map", full, as_of=as_of)
        return _conditional(request, etag) or _fresh(map_payload(as_of, full=full), etag)


class PlacesView(APIView):
    permission_classes = [IsAuthenticated, CanViewSituation]

    @extend_schema(
        operation_id="map_places_retrieve",
        summary="施設と地区（地図の背景）",
        responses={200: serializers.PlacesSerializer, **error_responses(401, 403)},
    )
    def get(self, request: Request) -> Response:
        return Response(places_payload(), headers={"Cache-Control": "private, max-age=300"})


class SeriesView(APIView):
    permission_classes = [IsAuthenticated, CanViewSituation]

    @extend_schema(
        operation_id="situation_series_retrieve",
        summary="避難者数・停電世帯数の推移",
        parameters=[
            AS_OF,
            OpenApiParameter(
                "window",
                OpenApiTypes.STR,
                enum=["24h", "event"],
                description="24h: 直近24時間、event: 災害の始まりから（既定 24h）",
            ),
        ],
        responses={
            200: serializers.SeriesSerializer,
            304: NOT_MODIFIED,
            **error_responses(400, 401, 403),
        },
    )
    def get(self, request: Request) -> Response:
        as_of = _as_of(request)
        window = request.query_params.get("window") or "24h"
        if window not in ("24h", "event"):
            raise ValidationError({"window": _("24h か event を指定してください。")})
        etag = live.make_etag("series", window, as_of=as_of)
        cached = _conditional(request, etag)
        if cached:
            return cached
        key = f"dashboard:series:{etag}"
        data = cache.get(key)
        if data is None:
            data = series_payload(as_of, window)
            cache.set(key, data, 120)
        return _fresh(data, etag)


class TimelineView(APIView):
    permission_classes = [IsAuthenticated, CanReadAll]

    @extend_schema(
        operation_id="timeline_list",
        summary="クロノロジー（報告・訂正・取消・確認・インシデント・通知の時系列）",
        description="新しい順。`next` の URL で次のページ（キーセット方式）。",
        parameters=[
            OpenApiParameter("category", OpenApiTypes.STR, enum=Category.values),
            OpenApiParameter("agency", OpenApiTypes.STR, description="機関コード"),
            OpenApiParameter("incident", OpenApiTypes.INT, description="インシデント番号"),
            OpenApiParameter("since", OpenApiTypes.DATETIME),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="この時点まで（as-of）"),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="前のページの next から"),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="1〜200（既定 50）"),
        ],
        responses={
            200: serializers.TimelinePageSerializer,
            304: NOT_MODIFIED,
            **error_responses(400, 401, 403),
        },
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        filters = parse_filters(params)
        try:
            limit = int(params.get("page_size") or 50)
        except ValueError:
            limit = 0
        if not 1 <= limit <= 200:
            raise ValidationError({"page_size": _("1〜200 の整数を指定してください。")})
        etag = live.make_etag("timeline", request.get_full_path(), clock=False)
        cached = _conditional(request, etag)
        if cached:
            return cached
        entries, next_cursor = timeline_page(filters, cursor=params.get("cursor"), limit=limit)
        next_url = None
        if next_cursor:
            query = params.copy()
            query["cursor"] = next_cursor
            next_url = request.build_absolute_uri(request.path + "?" + query.urlencode())
        labels = action_labels()
        results = [entry_json(e, labels) for e in entries]
        return _fresh({"next": next_url, "results": results}, etag)
