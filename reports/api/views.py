"""The reports API (/api/v1/reports/, /api/v1/incidents/, /api/v1/parse/).

Thin views: fetch through ``reports.access``, validate with an input serializer, act through
``reports.services``, answer with an output serializer. Reports are never edited in place, so
there is no PUT/PATCH/DELETE on them: corrections, withdrawals, acknowledgement and incident
links are flows with their own endpoints. Errors use the one shape of ``kurashiki_dr.api``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agencies import roles
from agencies.models import Agency
from kurashiki_dr.api import ApiPagination, Conflict, JSONParser, error_responses
from reports import review, services
from reports.access import (
    incident_for_user,
    incidents_for_user,
    report_for_user,
    reports_for_user,
)
from reports.api import serializers as s
from reports.api.filters import filter_incidents, filter_reports
from reports.api.schema import REPORT_CREATE_REQUEST
from reports.models import Incident, Report, ReportChannel, ReportStatus
from reports.queries import reports_for_listing

ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)


class HasPortalRole(permissions.BasePermission):
    """Signed in and holding one of the roles of design.md §8 (HQ, reporter, auditor)."""

    message = gettext_lazy("この機能を利用する権限がありません。")

    def has_permission(self, request: Request, view: Any) -> bool:
        return roles.can_view_situation(request.user)


class ApiView(APIView):
    permission_classes = [permissions.IsAuthenticated, HasPortalRole]
    parser_classes = [JSONParser]
    pagination_class = ApiPagination

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """After authentication (so an anonymous caller still gets 401): an ``id`` in the
        path that cannot be a row's id is a 404."""
        super().initial(request, *args, **kwargs)
        raw = kwargs.get("id")
        if raw is not None and not (raw.isascii() and raw.isdigit() and int(raw) <= s.MAX_ID):
            raise NotFound(_("見つかりません。"))

    def paginated(self, queryset: QuerySet, serializer_class: type) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        data = serializer_class(page, many=True, context={"request": self.request}).data
        return paginator.get_paginated_response(data)

    def answer(self, serializer_class: type, obj: Any, code: int = status.HTTP_200_OK) -> Response:
        return Response(serializer_class(obj, context={"request": self.request}).data, status=code)


def _report_list_queryset(user: Any) -> QuerySet[Report]:
    return reports_for_user(
        user,
        reports_for_listing()
        .select_related("current_revision__facility")
        .prefetch_related("photos", "reviews__actor"),
    )


def _report_output(user: Any, pk: int) -> Report:
    """The report as the user now sees it, after a write."""
    return report_for_user(user, pk)


def _revisable(user: Any, pk: int) -> Report:
    """A report the user may correct or withdraw, and that is still open to it."""
    report = report_for_user(user, pk, write=True)
    if report.status == ReportStatus.WITHDRAWN:
        raise Conflict(_("取り消された報告は訂正・取消できません。"))
    return report


def _require_writer(user: Any) -> None:
    """Auditors (and anyone without a reporting role) change nothing."""
    if not (roles.is_hq(user) or roles.is_reporter(user)):
        raise PermissionDenied(_("報告を登録・変更する権限がありません。"))


class _BodyRequired(AutoSchema):
    """The per-category ``oneOf`` of a new report has no top-level ``required``, so
    drf-spectacular would call the body optional; it is not."""

    def _get_request_body(self, direction: str = "request") -> dict[str, Any] | None:
        body = super()._get_request_body(direction)
        if body and self.method == "POST":
            body["required"] = True
        return body


# --- Reports ------------------------------------------------------------------------------


class ReportListView(ApiView):
    schema = _BodyRequired()

    @extend_schema(
        operation_id="reports_list",
        summary="報告の一覧",
        description="新しい受付順。報告者は自分の機関の報告だけが見えます。"
        "`since`/`until` は observed_at（発生・確認日時）に対する範囲（両端を含む）です。",
        parameters=[s.ReportFilterSerializer],
        responses={200: s.ReportOutputSerializer(many=True), **error_responses(400, 401, 403, 404)},
        tags=["reports"],
    )
    def get(self, request: Request) -> Response:
        params = s.ReportFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        queryset = filter_reports(_report_list_queryset(request.user), params.validated_data)
        return self.paginated(queryset, s.ReportOutputSerializer)

    @extend_schema(
        operation_id="reports_create",
        summary="報告を登録",
        description="経路は api になります。報告者は自分の機関の報告だけを登録できます"
        "（agency を省略すると自分の機関）。",
        request=REPORT_CREATE_REQUEST,
        responses={201: s.ReportOutputSerializer, **error_responses(400, 401, 403)},
        tags=["reports"],
    )
    def post(self, request: Request) -> Response:
        _require_writer(request.user)
        data = s.ReportCreateInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        values = data.validated_data
        agency: Agency | None = values.get("agency") or roles.user_agency(request.user)
        if agency is None:
            raise ValidationError({"agency": [_("機関コードを指定してください。")]})
        report = services.report_submit(
            agency=agency,
            author=request.user,
            category=values["category"],
            fields=values["fields"],
            text=values.get("text", ""),
            observed_at=values.get("observed_at"),
            channel=ReportChannel.API,
            location=values.get("location"),
            facility=values.get("facility"),
            district=values.get("district"),
            incident=values.get("incident"),
        )
        return self.answer(
            s.ReportOutputSerializer,
            _report_output(request.user, report.pk),
            status.HTTP_201_CREATED,
        )


class ReportDetailView(ApiView):
    @extend_schema(
        operation_id="reports_retrieve",
        summary="報告（現在の版）",
        parameters=[ID_PARAMETER],
        responses={200: s.ReportOutputSerializer, **error_responses(401, 403, 404)},
        tags=["reports"],
    )
    def get(self, request: Request, id: str) -> Response:
        return self.answer(s.ReportOutputSerializer, report_for_user(request.user, int(id)))


class ReportRevisionsView(ApiView):
    pagination_class = None  # the whole history, oldest first

    @extend_schema(
        operation_id="reports_revisions_list",
        summary="報告の全ての版",
        description="初報から順に、訂正・取消を含む全ての版。",
        parameters=[ID_PARAMETER],
        responses={200: s.RevisionOutputSerializer(many=True), **error_responses(401, 403, 404)},
        tags=["reports"],
    )
    def get(self, request: Request, id: str) -> Response:
        report = report_for_user(request.user, int(id))
        revisions = report.revisions.select_related("author", "facility").order_by("number")
        return Response(s.RevisionOutputSerializer(revisions, many=True).data)


class ReportCorrectionView(ApiView):
    @extend_schema(
        operation_id="reports_corrections_create",
        summary="報告を訂正（新しい版を追加）",
        description="以前の版はそのまま残ります。省略した項目は現在の版の値を引き継ぎます。",
        parameters=[ID_PARAMETER],
        request=s.ReportCorrectionInputSerializer,
        responses={201: s.ReportOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
        tags=["reports"],
    )
    def post(self, request: Request, id: str) -> Response:
        report = _revisable(request.user, int(id))
        data = s.ReportCorrectionInputSerializer(
            data=request.data, context={"request": request, "report": report}
        )
        data.is_valid(raise_exception=True)
        values = data.validated_data
        services.report_correct(
            report=report,
            author=request.user,
            reason=values["reason"],
            channel=ReportChannel.API,
            category=values.get("category"),
            fields=values.get("fields"),
            text=values.get("text"),
            observed_at=values.get("observed_at"),
            location=values.get("location"),
            facility=values.get("facility"),
        )
        return self.answer(
            s.ReportOutputSerializer,
            _report_output(request.user, report.pk),
            status.HTTP_201_CREATED,
        )


class ReportWithdrawalView(ApiView):
    @extend_schema(
        operation_id="reports_withdrawal_create",
        summary="報告を取消（取消の版を追加）",
        parameters=[ID_PARAMETER],
        request=s.ReportWithdrawalInputSerializer,
        responses={201: s.ReportOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
        tags=["reports"],
    )
    def post(self, request: Request, id: str) -> Response:
        report = _revisable(request.user, int(id))
        data = s.ReportWithdrawalInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.report_withdraw(
            report=report,
            author=request.user,
            reason=data.validated_data["reason"],
            channel=ReportChannel.API,
        )
        return self.answer(
            s.ReportOutputSerializer,
            _report_output(request.user, report.pk),
            status.HTTP_201_CREATED,
        )


class ReportPhotosView(ApiView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="reports_photos_create",
        summary="報告に写真を追加",
        description="multipart/form-data の `photo` に画像を 1 枚。原本はそのまま保存され"
        "（SHA-256 を監査ログに記録）、表示用の縮小版（EXIF なし）が作られます。"
        "画素数が多すぎる画像（上限 4,000万画素）や読み取れない画像は 400 です。",
        parameters=[ID_PARAMETER],
        request={"multipart/form-data": s.PhotoUploadInputSerializer},
        responses={201: s.PhotoOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
        tags=["reports"],
    )
    def post(self, request: Request, id: str) -> Response:
        report = _revisable(request.user, int(id))
        data = s.PhotoUploadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["photo"]
        photo = services.report_add_photo(
            report=report,
            # One byte over the limit is enough for report_add_photo to refuse it.
            data=upload.read(settings.PHOTO_MAX_BYTES + 1),
            filename=upload.name or "photo",
            user=request.user,
            channel=ReportChannel.API,
        )
        return self.answer(s.PhotoOutputSerializer, photo, status.HTTP_201_CREATED)


class ReportAcknowledgeView(ApiView):
    @extend_schema(
        operation_id="reports_acknowledge",
        summary="報告を確認済みにする（本部のみ）",
        description="2回目以降は何も変わりません。",
        parameters=[ID_PARAMETER],
        request=None,
        responses={200: s.ReportOutputSerializer, **error_responses(401, 403, 404)},
        tags=["reports"],
    )
    def post(self, request: Request, id: str) -> Response:
        report = report_for_user(request.user, int(id))
        services.report_acknowledge(report=report, user=request.user)
        return self.answer(s.ReportOutputSerializer, _report_output(request.user, report.pk))


class ReportReviewView(ApiView):
    @extend_schema(
        operation_id="reports_review",
        summary="要確認の報告を確定する（本部のみ）",
        description='`{"confirm": true}` はこのまま確定（内容の版は増えません）。'
        "`category`・`fields` を指定すると、理由「本部確認」の新しい版を記録して確定します"
        "（元の文面は初報の版に残ります）。どちらの場合も確認待ちの一覧から外れ、"
        "判断は監査ログに記録されます。確認待ちでない報告は 409。",
        parameters=[ID_PARAMETER],
        request=s.ReportReviewInputSerializer,
        responses={200: s.ReportOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
        tags=["reports"],
    )
    def post(self, request: Request, id: str) -> Response:
        if not roles.is_hq(request.user):
            raise PermissionDenied(_("要確認の報告を確定できるのは本部のみです。"))
        report = report_for_user(request.user, int(id))
        if not review.is_pending(report):
            raise Conflict(_("この報告は確認待ちではありません。"))
        data = s.ReportReviewInputSerializer(
            data=request.data, context={"request": request, "report": report}
        )
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            if values.get("confirm"):
                services.report_review_confirm(
                    report=report, user=request.user, channel=ReportChannel.API
                )
            else:
                services.report_review_fix(
                    report=report,
                    user=request.user,
                    category=values["category"],
                    fields=values["fields"],
                    channel=ReportChannel.API,
                )
        except DjangoValidationError:
            if not review.is_pending(report):  # decided meanwhile by another operator
                raise Conflict(_("この報告は確認待ちではありません。")) from None
            raise
        return self.answer(s.ReportOutputSerializer, _report_output(request.user, report.pk))


class ReportIncidentView(ApiView):
    @extend_schema(
        operation_id="reports_incident_link",
        summary="報告をインシデントに関連付ける・解除する（本部のみ）",
        parameters=[ID_PARAMETER],
        request=s.ReportIncidentInputSerializer,
        responses={200: s.ReportOutputSerializer, **error_responses(400, 401, 403, 404)},
        tags=["reports"],
    )
    def post(self, request: Request, id: str) -> Response:
        report = report_for_user(request.user, int(id))
        if not roles.is_hq(request.user):
            raise PermissionDenied(_("インシデントとの関連付けは本部のみです。"))
        data = s.ReportIncidentInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        services.report_link_incident(
            report=report,
            incident=data.validated_data["incident"],
            user=request.user,
            channel=ReportChannel.API,
        )
        return self.answer(s.ReportOutputSerializer, _report_output(request.user, report.pk))


# --- Incidents ----------------------------------------------------------------------------


def _incident_queryset(user: Any) -> QuerySet[Incident]:
    return (
        incidents_for_user(user)
        .annotate(report_count=Count("reports"))
        .order_by("-opened_at", "-id")
    )


def _require_hq(user: Any) -> None:
    if not roles.is_hq(user):
        raise PermissionDenied(_("インシデントを変更できるのは本部のみです。"))


class IncidentListView(ApiView):
    @extend_schema(
        operation_id="incidents_list",
        summary="インシデントの一覧",
        parameters=[s.IncidentFilterSerializer],
        responses={
            200: s.IncidentOutputSerializer(many=True),
            **error_responses(400, 401, 403, 404),
        },
        tags=["incidents"],
    )
    def get(self, request: Request) -> Response:
        params = s.IncidentFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        queryset = filter_incidents(_incident_queryset(request.user), params.validated_data)
        return self.paginated(queryset, s.IncidentOutputSerializer)

    @extend_schema(
        operation_id="incidents_create",
        summary="インシデントを登録（本部のみ）",
        request=s.IncidentCreateInputSerializer,
        responses={201: s.IncidentOutputSerializer, **error_responses(400, 401, 403)},
        tags=["incidents"],
    )
    def post(self, request: Request) -> Response:
        _require_hq(request.user)
        data = s.IncidentCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        incident = services.incident_open(
            user=request.user,
            title=values["title"],
            description=values.get("description", ""),
            district=values.get("district"),
            location=values.get("location"),
        )
        return self.answer(
            s.IncidentOutputSerializer,
            _incident_queryset(request.user).get(pk=incident.pk),
            status.HTTP_201_CREATED,
        )


class IncidentDetailView(ApiView):
    @extend_schema(
        operation_id="incidents_retrieve",
        summary="インシデント",
        parameters=[ID_PARAMETER],
        responses={200: s.IncidentOutputSerializer, **error_responses(401, 403, 404)},
        tags=["incidents"],
    )
    def get(self, request: Request, id: str) -> Response:
        incident = incident_for_user(request.user, int(id))
        return self.answer(
            s.IncidentOutputSerializer, _incident_queryset(request.user).get(pk=incident.pk)
        )

    @extend_schema(
        operation_id="incidents_partial_update",
        summary="インシデントの件名・概要・状態を変更（本部のみ）",
        description="状態は open → monitoring → closed（再開も可）。",
        parameters=[ID_PARAMETER],
        request=s.IncidentUpdateInputSerializer,
        responses={200: s.IncidentOutputSerializer, **error_responses(400, 401, 403, 404)},
        tags=["incidents"],
    )
    def patch(self, request: Request, id: str) -> Response:
        incident = incident_for_user(request.user, int(id), write=True)
        data = s.IncidentUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.incident_update(incident=incident, user=request.user, **data.validated_data)
        return self.answer(
            s.IncidentOutputSerializer, _incident_queryset(request.user).get(pk=incident.pk)
        )


# --- Parser -------------------------------------------------------------------------------


def _sender_context(agency: Agency | None) -> Any:
    from reports.parsing import SenderContext

    if agency is None:
        return SenderContext()
    facilities = list(agency.facilities.filter(active=True).values_list("name", flat=True)[:2])
    return SenderContext(
        agency_kind=agency.kind,
        agency_name=agency.name,
        facility=facilities[0] if len(facilities) == 1 else None,
    )


class ParseView(ApiView):
    @extend_schema(
        operation_id="parse_create",
        summary="チャットの文面を解析（登録はしない）",
        description="文面から分類と項目を読み取ります。agency を省略すると自分の機関から届いた"
        "ものとして読みます（避難所の「35名」は、その避難所の避難者数）。",
        request=s.ParseInputSerializer,
        responses={200: s.ParseResultSerializer, **error_responses(400, 401, 403)},
        tags=["parse"],
    )
    def post(self, request: Request) -> Response:
        from reports.parsing import parse

        data = s.ParseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        agency = data.validated_data.get("agency") or roles.user_agency(request.user)
        result = parse(
            data.validated_data["text"], context=_sender_context(agency), now=timezone.now()
        )
        return Response(result.to_json())
