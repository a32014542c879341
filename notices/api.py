"""/api/v1/notices/: list and send (HQ), detail with per-agency delivery and 了解, and the
web 了解 of a recipient agency's reporter."""

from __future__ import annotations

import hashlib
import json

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agencies import roles
from kurashiki_dr.api import ApiPagination, error_responses
from notices import serializers
from notices.access import notice_for_user, notices_for_user
from notices.services import notice_acknowledge, notice_send


class CanSeeNotices(BasePermission):
    message = _("通知を閲覧する権限がありません。")

    def has_permission(self, request, view) -> bool:
        return roles.can_view_situation(request.user)


class NoticeListView(GenericAPIView):
    permission_classes = [IsAuthenticated, CanSeeNotices]
    pagination_class = ApiPagination
    serializer_class = serializers.NoticeSerializer

    def get_queryset(self):
        return notices_for_user(self.request.user).order_by("-created_at", "-id")

    @extend_schema(
        operation_id="notices_list",
        summary="通知の一覧（新しい順）",
        description="本部・監査担当はすべて、報告者は自機関あての通知のみ。",
        responses={
            200: serializers.NoticeSerializer(many=True),
            **error_responses(400, 401, 403, 404),
        },
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        operation_id="notices_create",
        summary="通知を発信（本部のみ）",
        description="参集命令・派遣要請・周知を選んだ機関（または全機関）へ。"
        "各機関の LINE WORKS トークへ「了解」ボタン付きで送られます。",
        request=serializers.NoticeCreateSerializer,
        responses={
            201: serializers.NoticeDetailSerializer,
            **error_responses(400, 401, 403),
        },
    )
    def post(self, request: Request) -> Response:
        if not roles.is_hq(request.user):
            raise PermissionDenied(_("通知を送信できるのは本部のみです。"))
        data = serializers.NoticeCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        notice = notice_send(
            user=request.user,
            kind=data.validated_data["kind"],
            title=data.validated_data["title"],
            body=data.validated_data["body"],
            agencies=data.validated_data["targets"],
            incident=data.validated_data["incident_obj"],
        )
        detail = notice_for_user(request.user, notice.pk)
        return Response(
            serializers.NoticeDetailSerializer(detail).data, status=status.HTTP_201_CREATED
        )


class NoticeDetailView(APIView):
    permission_classes = [IsAuthenticated, CanSeeNotices]

    @extend_schema(
        operation_id="notices_retrieve",
        summary="通知と機関ごとの送信・了解状況",
        description="If-None-Match に前回の ETag を送ると、変化がなければ 304。",
        responses={
            200: serializers.NoticeDetailSerializer,
            304: OpenApiResponse(description="変わっていません。"),
            **error_responses(401, 403, 404),
        },
    )
    def get(self, request: Request, pk: int) -> Response:
        notice = notice_for_user(request.user, pk)
        data = serializers.NoticeDetailSerializer(notice).data
        body = json.dumps(data, sort_keys=True, default=str).encode()
        etag = 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
        if etag in {t.strip() for t in request.headers.get("If-None-Match", "").split(",")}:
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(data, headers=headers)


class NoticeAcknowledgeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="notices_acknowledge",
        summary="通知を了解（あて先機関の報告者）",
        description="LINE WORKS の「了解」ボタンと同じ記録。2回目以降は何も変えません。",
        request=None,
        responses={
            200: serializers.RecipientSerializer,
            **error_responses(401, 403, 404),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        agency = roles.user_agency(request.user)
        if agency is None or not roles.is_reporter(request.user):
            raise PermissionDenied(_("了解できるのはあて先機関の報告者のみです。"))
        notice = notice_for_user(request.user, pk)
        recipient = notice_acknowledge(notice=notice, agency=agency, user=request.user, via="web")
        if recipient is None:
            raise NotFound(_("この通知のあて先ではありません。"))
        return Response(serializers.RecipientSerializer(recipient).data)
