"""The audit API (/api/v1/audit/...): the log, the chain's status and publishing its head.

Auditors and HQ only. Reading the log through the API is itself recorded, like the pages.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, permissions, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.access import can_audit
from audit.models import AuditEvent, ChainAnchor, ChainVerification
from audit.services import (
    AnchorRateLimited,
    audit_record,
    chain_anchor_request,
    chain_head,
    filter_events,
)
from kurashiki_dr.api import Conflict, DateTimeParam, error_responses


class CanAudit(permissions.BasePermission):
    message = _("監査の機能は監査担当と本部のみが利用できます。")

    def has_permission(self, request: Request, view: Any) -> bool:
        return can_audit(request.user)


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "occurred_at",
            "actor",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "channel",
            "payload",
            "payload_digest",
            "prev_hash",
            "hash",
        ]


class AnchorSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChainAnchor
        fields = ["id", "head_id", "head_hash", "created_at", "trigger", "text"]


class VerificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChainVerification
        fields = [
            "started_at",
            "finished_at",
            "ok",
            "events",
            "head_id",
            "head_hash",
            "anchors_checked",
            "records_checked",
            "problem_event_id",
            "problem",
            "trigger",
        ]


class HeadSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    hash = serializers.CharField()
    occurred_at = serializers.DateTimeField()


class VerifiedHeadSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    hash = serializers.CharField()
    at = serializers.DateTimeField(allow_null=True)


class ChainStatusSerializer(serializers.Serializer):
    head = HeadSerializer(allow_null=True, help_text="チェーンの現在の先頭")
    last_verification = VerificationSerializer(allow_null=True)
    last_verified_head = VerifiedHeadSerializer(allow_null=True)
    anchors = AnchorSerializer(many=True, help_text="公開済みハッシュ（新しい順、20件まで）")


class EventFilterSerializer(serializers.Serializer):
    """Query parameters of GET /api/v1/audit/events/ (an empty value is an error)."""

    actor = serializers.CharField(required=False, max_length=200, help_text="実行者のユーザー名")
    action = serializers.CharField(
        required=False, max_length=64, help_text="操作（「.」で終わると前方一致）"
    )
    object_type = serializers.CharField(
        required=False, max_length=64, help_text="対象種別（例: reports.report）"
    )
    object_id = serializers.CharField(required=False, max_length=64, help_text="対象ID")
    since = DateTimeParam(required=False, help_text="この日時以降")
    until = DateTimeParam(required=False, help_text="この日時より前")


class EventPagination(CursorPagination):
    ordering = "-id"
    page_size = 100


class EventListView(generics.ListAPIView):
    permission_classes = [permissions.IsAuthenticated, CanAudit]
    serializer_class = EventSerializer
    pagination_class = EventPagination
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[AuditEvent]:
        params = EventFilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        self.filters = {k: str(v) for k, v in data.items()}
        return filter_events(AuditEvent.objects.all(), data)

    @extend_schema(
        operation_id="audit_events_list",
        summary="監査ログ（新しい順、カーソルでページ送り）",
        parameters=[EventFilterSerializer],
        responses={200: EventSerializer(many=True), **error_responses(400, 401, 403, 404)},
        tags=["audit"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = self.list(request, *args, **kwargs)
        with transaction.atomic():
            audit_record(
                actor=request.user,
                action="audit.view",
                object_type="audit.auditevent",
                channel="api",
                payload={"page": "api.events", "filters": self.filters},
            )
        return response


class ChainStatusView(APIView):
    permission_classes = [permissions.IsAuthenticated, CanAudit]

    @extend_schema(
        operation_id="audit_chain_retrieve",
        summary="チェーンの先頭・最新の検証結果・公開済みハッシュ",
        responses={200: ChainStatusSerializer, **error_responses(401, 403)},
        tags=["audit"],
    )
    def get(self, request: Request) -> Response:
        head = chain_head()  # as it was before this read is recorded
        last_run = ChainVerification.objects.exclude(finished_at=None).first()
        last_ok = ChainVerification.objects.filter(ok=True).first()
        with transaction.atomic():
            audit_record(
                actor=request.user,
                action="audit.view",
                object_type="audit.chain",
                channel="api",
                payload={"page": "api.chain"},
            )
        data = {
            "head": head,
            "last_verification": last_run,
            "last_verified_head": (
                {"id": last_ok.head_id, "hash": last_ok.head_hash, "at": last_ok.finished_at}
                if last_ok
                else None
            ),
            "anchors": list(ChainAnchor.objects.all()[:20]),
        }
        return Response(ChainStatusSerializer(data).data)


class AnchorPublishView(APIView):
    permission_classes = [permissions.IsAuthenticated, CanAudit]

    @extend_schema(
        operation_id="audit_chain_anchors_create",
        summary="チェーンの先頭ハッシュを今すぐ公開",
        description=(
            "本部の LINE WORKS トークに送られ、公開済みハッシュとして保存されます。"
            "前回の公開以降に新しい記録がなければ何も送らず、その公開済みハッシュを 200 で"
            "返します。1人あたり一定間隔（既定5分）に1回までで、それより早いと 429 です。"
        ),
        request=None,
        responses={
            201: AnchorSerializer,
            200: AnchorSerializer,
            **error_responses(401, 403, 409, 429),
        },
        tags=["audit"],
    )
    def post(self, request: Request) -> Response:
        try:
            result = chain_anchor_request(actor=request.user)
        except AnchorRateLimited as refused:
            raise exceptions.Throttled(wait=refused.retry_after, detail=refused.message) from None
        if result.anchor is None:
            raise Conflict(_("監査ログはまだ空です。"))
        return Response(
            AnchorSerializer(result.anchor).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )
