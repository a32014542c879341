"""Serializers of the reports API: input and output kept apart.

Input serializers check shape and types and turn codes into rows (agencies, facilities,
districts by code; incidents through the access helpers); the rules of the domain
(who may report for whom, revisions, the audit chain) stay in ``reports.services``.
Output serializers only shape rows that were fetched with everything they show, so a list
costs the same number of queries for 2 reports as for 200.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.fields import empty

from agencies.models import Agency, District, Facility
from reports.access import incident_for_user
from reports.categories import SCHEMAS, Category, validate_fields
from reports.models import (
    Incident,
    IncidentStatus,
    Report,
    ReportChannel,
    ReportStatus,
    ReviewKind,
    ReviewReason,
    RevisionKind,
)
from reports.review import review_state
from reports.services import MAX_TEXT_LENGTH

# Ids beyond a PostgreSQL integer cannot exist; refusing them early keeps the database from
# being asked about them.
MAX_ID = 2**31 - 1
MAX_REASON_LENGTH = 1000
MAX_PARSE_LENGTH = 10_000
# The limits of reports.categories.validate_fields, stated for the schema.
MAX_COUNT = 10_000_000
MAX_LEVEL_M = 1000
NOT_BLANK = r"\S"
# Reports are about this disaster season, not history: also keeps times out of the years where
# Asia/Tokyo had a local-mean-time offset (+09:18:59), which is not valid ISO 8601.
EARLIEST_OBSERVATION = datetime(2000, 1, 1, tzinfo=UTC)

# In a query string an unencoded "+" arrives as a space: "2018-07-06T14:30:00 09:00".
_PLUS_AS_SPACE = re.compile(
    r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$"
)


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with an offset (``+09:00`` or ``Z``); a time without one is refused rather
    than guessed, since a wrong guess shifts a report by nine hours."""

    default_error_messages = {
        "naive": _("タイムゾーン付きの日時（例: 2018-07-06T14:30:00+09:00）で指定してください。"),
        "too_early": _("2000年以降の日時を指定してください。"),
    }

    def __init__(self, *, earliest: datetime | None = None, **kwargs: Any) -> None:
        self.earliest = earliest
        super().__init__(**kwargs)

    def to_internal_value(self, value: Any) -> Any:
        if isinstance(value, str):
            value = _PLUS_AS_SPACE.sub(r"\1+\2", value.strip())
        moment = super().to_internal_value(value)
        if self.earliest is not None and moment < self.earliest:
            self.fail("too_early")
        return moment

    def enforce_timezone(self, value: Any) -> Any:
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)


class TextField(serializers.CharField):
    """A JSON string, and only that: ``"reason": 12`` is an error, not the text "12"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def _has_bad_characters(value: Any) -> bool:
    """NUL and lone surrogates cannot be stored in PostgreSQL text or JSON."""
    if isinstance(value, str):
        return "\x00" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(_has_bad_characters(k) or _has_bad_characters(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_bad_characters(v) for v in value)
    return False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# JSON types the API insists on. validate_fields also reads "35" or "1,200" as numbers (the
# web form and the chat send text); a JSON client states numbers as numbers.
_JSON_TYPES: dict[str, tuple[Any, Any]] = {
    "int": (_is_int, _("整数で指定してください。")),
    "float": (lambda v: _is_int(v) or isinstance(v, float), _("数値で指定してください。")),
    "bool": (lambda v: isinstance(v, bool), _("true か false で指定してください。")),
    "str": (lambda v: isinstance(v, str), _("文字列で指定してください。")),
    "choice": (lambda v: isinstance(v, str), _("文字列で指定してください。")),
    "areas": (lambda v: isinstance(v, list), _("地区のリストで指定してください。")),
}


def _json_type_errors(category: str, data: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for field in SCHEMAS.get(category, ()):
        value = data.get(field.name)
        if value is None:
            continue
        is_valid, message = _JSON_TYPES[field.kind]
        if not is_valid(value):
            errors[f"fields.{field.name}"] = [str(message)]
        elif field.kind == "areas":
            for index, item in enumerate(value):
                households = item.get("households") if isinstance(item, dict) else None
                if households is not None and not _is_int(households):
                    errors[f"fields.{field.name}[{index}].households"] = [
                        str(_JSON_TYPES["int"][1])
                    ]
    return errors


def clean_category_fields(category: str, data: dict[str, Any]) -> dict[str, Any]:
    """validate_fields, with errors keyed ``fields.<name>`` so a client knows which
    category field is meant (``count`` inside ``fields``, not a top-level ``count``)."""
    if _has_bad_characters(data):
        raise serializers.ValidationError({"fields": [_("使用できない文字が含まれています。")]})
    errors = _json_type_errors(category, data)
    try:
        clean = validate_fields(category, data)
    except DjangoValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors.setdefault(f"fields.{name}", messages)
    if errors:
        raise serializers.ValidationError(errors)
    return clean


def _lookup(model: type, code: str | None, message: Any, **filters: Any) -> Any:
    if code is None:
        return None
    obj = model.objects.filter(code=code, **filters).first()
    if obj is None:
        raise serializers.ValidationError(message)
    return obj


def _incident(serializer: serializers.Serializer, pk: int | None) -> Incident | None:
    if pk is None:
        return None
    try:
        return incident_for_user(serializer.context["request"].user, pk)
    except Http404:
        raise serializers.ValidationError(_("インシデントが見つかりません。")) from None


# --- Shared -------------------------------------------------------------------------------


@extend_schema_serializer(component_name="Location")
class LocationSerializer(serializers.Serializer):
    lat = serializers.FloatField(min_value=-90, max_value=90, help_text="緯度 (WGS84)")
    lng = serializers.FloatField(min_value=-180, max_value=180, help_text="経度 (WGS84)")


# --- Reports: output ----------------------------------------------------------------------


REVIEW_STATES = (
    ("pending", "要確認（本部の確認待ち）"),
    (ReviewKind.FIXED.value, "本部が修正して確定"),
    (ReviewKind.CONFIRMED.value, "本部がこのまま確定"),
    ("withdrawn", "確認前に取消"),
)


@extend_schema_serializer(component_name="ReportReviewState")
class ReviewStateSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=REVIEW_STATES)
    reasons = serializers.ListField(
        child=serializers.ChoiceField(choices=ReviewReason.choices),
        help_text="low_confidence（信頼度が低い）、missing_fields（必須項目なし）",
    )
    missing = serializers.ListField(
        child=serializers.CharField(), help_text="要確認になったときに空だった必須項目"
    )
    confidence = serializers.FloatField(allow_null=True, help_text="解析の信頼度 (0..1)")
    flagged_at = serializers.DateTimeField()
    decided_by = serializers.CharField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)


@extend_schema_serializer(component_name="Report")
class ReportOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField(help_text="受付番号 (R-000123)")
    category = serializers.ChoiceField(choices=Category.choices)
    category_label = serializers.CharField(source="get_category_display")
    agency = serializers.CharField(source="agency.code", help_text="機関コード")
    agency_name = serializers.CharField(source="agency.name")
    facility = serializers.CharField(
        source="current_revision.facility.code", allow_null=True, help_text="施設コード"
    )
    fields = serializers.DictField(
        source="current_revision.fields", help_text="分類ごとの項目 (design.md §5)"
    )
    text = serializers.CharField(source="current_revision.text")
    observed_at = serializers.DateTimeField(help_text="発生・確認日時（現在の版）")
    recorded_at = serializers.DateTimeField(help_text="受付日時（初報）")
    channel = serializers.ChoiceField(choices=ReportChannel.choices)
    status = serializers.ChoiceField(choices=ReportStatus.choices)
    location = LocationSerializer(source="current_revision.location", allow_null=True)
    revision = serializers.IntegerField(source="current_revision.number", help_text="現在の版")
    incident = serializers.IntegerField(source="incident_id", allow_null=True)
    author = serializers.CharField(source="author.username", allow_null=True)
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    photos = serializers.SerializerMethodField(help_text="写真（閲覧権限を確認する URL）")
    needs_review = serializers.SerializerMethodField(
        help_text="本部の確認待ち（要確認）。文面から読み取った報告で、信頼度が低いか必須項目がないもの"
    )
    review = serializers.SerializerMethodField(
        help_text="本部確認の状態（要確認になったことがなければ null）"
    )

    def _review(self, report: Report) -> dict[str, Any] | None:
        if not hasattr(report, "_review_state"):
            report._review_state = review_state(list(report.reviews.all()), report)
        return report._review_state

    @extend_schema_field(serializers.BooleanField())
    def get_needs_review(self, report: Report) -> bool:
        state = self._review(report)
        return state is not None and state["state"] == "pending"

    @extend_schema_field(ReviewStateSerializer(allow_null=True))
    def get_review(self, report: Report) -> dict[str, Any] | None:
        state = self._review(report)
        return ReviewStateSerializer(state).data if state is not None else None

    @extend_schema_field(serializers.ListField(child=serializers.URLField()))
    def get_photos(self, report: Report) -> list[str]:
        request = self.context.get("request")
        urls = []
        for photo in report.photos.all():
            try:
                url = reverse("reports:photo", kwargs={"pk": photo.pk})
            except NoReverseMatch:
                return []
            urls.append(request.build_absolute_uri(url) if request else url)
        return urls


@extend_schema_serializer(component_name="Photo")
class PhotoOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    report = serializers.IntegerField(source="report_id")
    content_type = serializers.CharField(help_text="受信した原本の形式")
    size = serializers.IntegerField(help_text="原本のバイト数")
    sha256 = serializers.CharField(help_text="原本の SHA-256（監査ログに記録）")
    uploaded_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField(help_text="原本（証拠、EXIF を含む）のダウンロード")
    display_url = serializers.SerializerMethodField(
        help_text="表示用（長辺 1600 px、EXIF なし）。プレビューできない形式では null"
    )
    thumbnail_url = serializers.SerializerMethodField(
        help_text="サムネイル（長辺 320 px、EXIF なし）。プレビューできない形式では null"
    )

    def _url(self, name: str, photo: Any) -> str:
        url = reverse(name, kwargs={"pk": photo.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url

    @extend_schema_field(serializers.URLField())
    def get_url(self, photo: Any) -> str:
        return self._url("reports:photo", photo)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_display_url(self, photo: Any) -> str | None:
        return self._url("reports:photo_display", photo) if photo.has_preview else None

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_thumbnail_url(self, photo: Any) -> str | None:
        return self._url("reports:photo_thumb", photo) if photo.has_preview else None


@extend_schema_serializer(component_name="PhotoUpload")
class PhotoUploadInputSerializer(serializers.Serializer):
    photo = serializers.FileField(
        help_text="JPEG・PNG・GIF・WebP・HEIC。原本はそのまま証拠として保存されます。"
    )


@extend_schema_serializer(component_name="ReportRevision")
class RevisionOutputSerializer(serializers.Serializer):
    number = serializers.IntegerField(help_text="版 (1 = 初報)")
    kind = serializers.ChoiceField(choices=RevisionKind.choices)
    category = serializers.ChoiceField(choices=Category.choices)
    fields = serializers.DictField()
    text = serializers.CharField()
    facility = serializers.CharField(source="facility.code", allow_null=True)
    observed_at = serializers.DateTimeField()
    recorded_at = serializers.DateTimeField()
    author = serializers.CharField(source="author.username", allow_null=True)
    channel = serializers.ChoiceField(choices=ReportChannel.choices)
    reason = serializers.CharField(help_text="訂正・取消の理由（初報は空）")
    location = LocationSerializer(allow_null=True)


# --- Reports: input -----------------------------------------------------------------------


class QueryParamsSerializer(serializers.Serializer):
    """Query parameters: an empty value (``?status=``) is an error, not "no filter"."""

    def to_internal_value(self, data: Any) -> Any:
        blank = {
            name: [_("値を指定してください。")]
            for name in self.fields
            if name in data and not str(data.get(name, "")).strip()
        }
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)


class QueryBooleanField(serializers.BooleanField):
    """``true``/``false`` (or 1/0) in a query string; absent means "no filter" (DRF's own
    BooleanField reads an absent form key as false)."""

    default_empty_html = empty


class ReportFilterSerializer(QueryParamsSerializer):
    """Query parameters of GET /api/v1/reports/. ``since``/``until`` are inclusive bounds on
    ``observed_at`` (when it was true, as of the report's current revision)."""

    category = serializers.ChoiceField(choices=Category.choices, required=False)
    agency = serializers.SlugField(required=False, max_length=64, help_text="機関コード")
    incident = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    since = AwareDateTimeField(
        required=False, help_text="observed_at がこの日時以降 (ISO 8601, オフセット付き)"
    )
    until = AwareDateTimeField(
        required=False, help_text="observed_at がこの日時以前 (ISO 8601, オフセット付き)"
    )
    channel = serializers.ChoiceField(choices=ReportChannel.choices, required=False)
    status = serializers.ChoiceField(choices=ReportStatus.choices, required=False)
    needs_review = QueryBooleanField(
        required=False, help_text="true: 本部の確認待ち（要確認）の報告だけ、false: それ以外"
    )


class _ReportContentInput(serializers.Serializer):
    text = TextField(required=False, allow_blank=True, max_length=MAX_TEXT_LENGTH, help_text="本文")
    observed_at = AwareDateTimeField(
        required=False,
        allow_null=True,
        earliest=EARLIEST_OBSERVATION,
        help_text="発生・確認日時（省略時は現在。2000年以降、未来は不可）",
    )
    location = LocationSerializer(required=False, allow_null=True)
    facility = serializers.SlugField(
        required=False, allow_null=True, max_length=64, help_text="施設コード"
    )

    def validate_facility(self, code: str | None) -> Facility | None:
        return _lookup(Facility, code, _("不明な施設コードです。"), active=True)


class ReportCreateInputSerializer(_ReportContentInput):
    """Validates POST /api/v1/reports/ (documented per category by reports.api.schema)."""

    agency = serializers.SlugField(
        required=False, max_length=64, help_text="機関コード（報告者は省略すると自分の機関）"
    )
    category = serializers.ChoiceField(choices=Category.choices)
    fields = serializers.DictField(required=False, help_text="分類ごとの項目 (design.md §5)")
    district = serializers.SlugField(
        required=False, allow_null=True, max_length=64, help_text="地区コード"
    )
    incident = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_ID
    )

    def validate_agency(self, code: str) -> Agency:
        return _lookup(Agency, code, _("不明な機関コードです。"))

    def validate_district(self, code: str | None) -> District | None:
        return _lookup(District, code, _("不明な地区コードです。"))

    def validate_incident(self, pk: int | None) -> Incident | None:
        return _incident(self, pk)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["fields"] = clean_category_fields(attrs["category"], attrs.get("fields") or {})
        if attrs["category"] == Category.GENERAL and not (attrs.get("text") or "").strip():
            raise serializers.ValidationError({"text": [_("本文を入力してください。")]})
        return attrs


@extend_schema_serializer(component_name="ReportCorrection")
class ReportCorrectionInputSerializer(_ReportContentInput):
    """Only what changes: anything left out keeps the current revision's value. ``fields``
    replaces the whole field set (give every field you want to keep)."""

    reason = TextField(max_length=MAX_REASON_LENGTH, help_text="訂正の理由（必須）")
    category = serializers.ChoiceField(choices=Category.choices, required=False)
    fields = serializers.DictField(required=False, help_text="分類ごとの項目 (design.md §5)")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        report: Report = self.context["report"]
        category = attrs.get("category") or report.category
        if "fields" in attrs:
            attrs["fields"] = clean_category_fields(category, attrs["fields"])
        elif category != report.category:
            raise serializers.ValidationError(
                {"fields": [_("分類を変える場合は項目も指定してください。")]}
            )
        return attrs


@extend_schema_serializer(component_name="ReportWithdrawal")
class ReportWithdrawalInputSerializer(serializers.Serializer):
    reason = TextField(max_length=MAX_REASON_LENGTH, help_text="取消の理由（必須）")


@extend_schema_serializer(component_name="ReportReviewDecision")
class ReportReviewInputSerializer(serializers.Serializer):
    """HQ's decision on a report awaiting review: ``{"confirm": true}`` (このまま確定), or the
    fixed ``category`` and/or ``fields`` (a new revision with the reason 本部確認)."""

    confirm = serializers.BooleanField(required=False, help_text="true: このまま確定")
    category = serializers.ChoiceField(choices=Category.choices, required=False)
    fields = serializers.DictField(
        required=False, help_text="分類ごとの項目 (design.md §5)。全項目を指定（必須項目を含む）"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        report: Report = self.context["report"]
        fixing = "category" in attrs or "fields" in attrs
        if "confirm" in attrs:
            if not attrs["confirm"]:
                raise serializers.ValidationError(
                    {"confirm": [_("確定する場合は true を指定してください。")]}
                )
            if fixing:
                raise serializers.ValidationError(
                    {"confirm": [_("confirm と category・fields は同時に指定できません。")]}
                )
            return attrs
        if not fixing:
            raise serializers.ValidationError(
                {"non_field_errors": [_("confirm か、category・fields を指定してください。")]}
            )
        category = attrs.get("category") or report.category
        if "fields" not in attrs:
            if category != report.category:
                raise serializers.ValidationError(
                    {"fields": [_("分類を変える場合は項目も指定してください。")]}
                )
            attrs["fields"] = report.current_revision.fields
        attrs["category"] = category
        attrs["fields"] = clean_category_fields(category, attrs["fields"])
        return attrs


@extend_schema_serializer(component_name="ReportIncidentLink")
class ReportIncidentInputSerializer(serializers.Serializer):
    incident = serializers.IntegerField(
        allow_null=True, min_value=1, max_value=MAX_ID, help_text="インシデント ID（null で解除）"
    )

    def validate_incident(self, pk: int | None) -> Incident | None:
        return _incident(self, pk)


# --- Incidents ----------------------------------------------------------------------------


@extend_schema_serializer(component_name="Incident")
class IncidentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    status = serializers.ChoiceField(choices=IncidentStatus.choices)
    district = serializers.CharField(source="district.code", allow_null=True)
    district_name = serializers.CharField(source="district.name", allow_null=True)
    location = serializers.SerializerMethodField()
    opened_by = serializers.CharField(source="opened_by.username")
    opened_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    report_count = serializers.IntegerField(help_text="関連付けられた報告の数")

    @extend_schema_field(LocationSerializer(allow_null=True))
    def get_location(self, incident: Incident) -> dict[str, float] | None:
        if incident.lat is None or incident.lng is None:
            return None
        return {"lat": incident.lat, "lng": incident.lng}


class IncidentFilterSerializer(QueryParamsSerializer):
    status = serializers.ChoiceField(choices=IncidentStatus.choices, required=False)


@extend_schema_serializer(component_name="IncidentCreate")
class IncidentCreateInputSerializer(serializers.Serializer):
    title = TextField(max_length=200, help_text="件名")
    description = TextField(
        required=False, allow_blank=True, max_length=MAX_TEXT_LENGTH, default=""
    )
    district = serializers.SlugField(
        required=False, allow_null=True, max_length=64, help_text="地区コード"
    )
    location = LocationSerializer(required=False, allow_null=True)

    def validate_district(self, code: str | None) -> District | None:
        return _lookup(District, code, _("不明な地区コードです。"))


@extend_schema_serializer(component_name="IncidentUpdate")
class IncidentUpdateInputSerializer(serializers.Serializer):
    title = TextField(required=False, max_length=200)
    description = TextField(required=False, allow_blank=True, max_length=MAX_TEXT_LENGTH)
    status = serializers.ChoiceField(choices=IncidentStatus.choices, required=False)


# --- Parser -------------------------------------------------------------------------------


@extend_schema_serializer(component_name="ParseInput")
class ParseInputSerializer(serializers.Serializer):
    text = TextField(max_length=MAX_PARSE_LENGTH, trim_whitespace=False, help_text="チャットの文面")
    agency = serializers.SlugField(
        required=False,
        max_length=64,
        help_text="この機関から届いたものとして読む（省略時は自分の機関）",
    )

    def validate_agency(self, code: str) -> Agency:
        return _lookup(Agency, code, _("不明な機関コードです。"))


@extend_schema_serializer(component_name="ParseResult")
class ParseResultSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=Category.choices)
    fields = serializers.DictField(help_text="その分類の全項目（文面にないものは null）")
    observed_at = serializers.DateTimeField(allow_null=True)
    missing = serializers.ListField(child=serializers.CharField(), help_text="見つからない必須項目")
    confidence = serializers.FloatField(min_value=0, max_value=1)
