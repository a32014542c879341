"""Input and output shapes of the notices API."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from agencies.models import Agency
from notices.models import DeliveryStatus, Notice, NoticeKind, NoticeRecipient
from reports.models import Incident, IncidentStatus


class RecipientSerializer(serializers.ModelSerializer):
    agency = serializers.SlugRelatedField(slug_field="code", read_only=True)
    agency_name = serializers.CharField(source="agency.name", read_only=True)
    delivery_status = serializers.ChoiceField(choices=DeliveryStatus.choices, read_only=True)
    delivery_status_label = serializers.CharField(
        source="get_delivery_status_display", read_only=True
    )
    acknowledged = serializers.SerializerMethodField()
    acknowledged_by = serializers.SerializerMethodField()

    class Meta:
        model = NoticeRecipient
        fields = [
            "agency",
            "agency_name",
            "delivery_status",
            "delivery_status_label",
            "delivered_at",
            "delivery_error",
            "acknowledged",
            "acknowledged_at",
            "acknowledged_by",
            "acknowledged_via",
        ]
        read_only_fields = fields

    def get_acknowledged(self, obj: NoticeRecipient) -> bool:
        return obj.acknowledged_at is not None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_acknowledged_by(self, obj: NoticeRecipient) -> str | None:
        user = obj.acknowledged_by
        return user.get_username() if user is not None else None


class _Counts(serializers.Serializer):
    recipients = serializers.IntegerField(source="recipient_count")
    sent = serializers.IntegerField(source="sent_count")
    failed = serializers.IntegerField(source="failed_count")
    acknowledged = serializers.IntegerField(source="acknowledged_count")


@extend_schema_serializer(component_name="Notice")
class NoticeSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=NoticeKind.choices, read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    created_by = serializers.CharField(source="created_by.get_username", read_only=True)
    counts = _Counts(source="*", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Notice
        fields = [
            "id",
            "kind",
            "kind_label",
            "title",
            "body",
            "incident",
            "created_by",
            "created_at",
            "counts",
            "url",
        ]
        read_only_fields = fields

    def get_url(self, obj: Notice) -> str:
        from django.urls import reverse

        return reverse("notices:detail", args=[obj.pk])


@extend_schema_serializer(component_name="NoticeDetail")
class NoticeDetailSerializer(NoticeSerializer):
    recipients = RecipientSerializer(source="visible", many=True, read_only=True)

    class Meta(NoticeSerializer.Meta):
        fields = [*NoticeSerializer.Meta.fields, "recipients"]
        read_only_fields = fields


class NoticeCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=NoticeKind.choices,
        help_text="muster 参集命令 / dispatch_request 派遣要請 / info 周知 / reminder 報告督促",
    )
    title = serializers.CharField(max_length=200)
    body = serializers.CharField(max_length=1500)
    agencies = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        default=list,
        max_length=500,
        help_text="送信先の機関コード。all が true のときは省略可。",
    )
    all = serializers.BooleanField(
        required=False, default=False, help_text="true: 有効な全機関（本部を除く）へ"
    )
    incident = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1)

    def validate(self, attrs: dict) -> dict:
        if attrs["all"]:
            targets = list(Agency.objects.filter(active=True).exclude(kind="hq"))
        else:
            codes = sorted(set(attrs["agencies"]))
            targets = list(Agency.objects.filter(code__in=codes, active=True))
            unknown = sorted(set(codes) - {a.code for a in targets})
            if unknown:
                raise serializers.ValidationError(
                    {"agencies": [_("不明または無効な機関です: %(c)s") % {"c": ", ".join(unknown)}]}
                )
        if not targets:
            raise serializers.ValidationError({"agencies": [_("送信先の機関を選んでください。")]})
        attrs["targets"] = targets
        incident = None
        if attrs.get("incident") is not None:
            incident = (
                Incident.objects.exclude(status=IncidentStatus.CLOSED)
                .filter(pk=attrs["incident"])
                .first()
            )
            if incident is None:
                raise serializers.ValidationError(
                    {"incident": [_("対応中のインシデントが見つかりません。")]}
                )
        attrs["incident_obj"] = incident
        return attrs
