"""The directory: who reports (agencies, members) and what about (facilities, districts)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class AgencyKind(models.TextChoices):
    HQ = "hq", _("災害対策本部")
    SHELTER_OPERATOR = "shelter_operator", _("避難所")
    MEDICAL = "medical", _("医療・福祉")
    POWER = "power", _("電力")
    POLICE = "police", _("警察")
    FIRE = "fire", _("消防")
    WATERWAY = "waterway", _("河川・水路管理")
    CITY_DEPT = "city_dept", _("市の部局")
    NATIONAL = "national", _("国")
    PREFECTURE = "prefecture", _("県")
    OTHER = "other", _("その他")


class Agency(models.Model):
    code = models.SlugField(_("コード"), max_length=64, unique=True)
    name = models.CharField(_("名称"), max_length=200)
    kind = models.CharField(_("種別"), max_length=32, choices=AgencyKind.choices)
    lineworks_channel_id = models.CharField(
        _("LINE WORKS トークルームID"), max_length=128, blank=True, default=""
    )
    lineworks_group_id = models.CharField(
        _("LINE WORKS グループID"),
        max_length=128,
        blank=True,
        default="",
        help_text=_("メンバーをディレクトリ同期するLINE WORKSのグループ。"),
    )
    lineworks_orgunit_id = models.CharField(
        _("LINE WORKS 組織ID"),
        max_length=128,
        blank=True,
        default="",
        help_text=_("グループの代わりに、この組織に所属するユーザーを同期します。"),
    )
    external_tenant = models.BooleanField(
        _("外部テナント"),
        default=False,
        help_text=_(
            "職員が市とは別のLINE WORKSテナントを使っています。ボットは届かないため、"
            "通知はWebとメールで送ります。"
        ),
    )
    contact_email = models.EmailField(
        _("連絡用メールアドレス"),
        blank=True,
        default="",
        help_text=_("トークルームで届かない機関への通知の送り先。"),
    )
    report_interval = models.DurationField(
        _("報告間隔の目安"),
        default=timedelta(hours=3),
        help_text=_("この間隔を超えて報告がないと、本部の「沈黙」一覧に表示されます。"),
    )
    active = models.BooleanField(_("有効"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("機関")
        verbose_name_plural = _("機関")
        ordering = ["kind", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["lineworks_channel_id"],
                condition=~Q(lineworks_channel_id=""),
                name="agency_unique_lineworks_channel",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    """Django group names (design.md §8, contract)."""

    HQ_OPERATOR = "hq_operator", _("本部オペレーター")
    AGENCY_REPORTER = "agency_reporter", _("機関の報告者")
    AUDITOR = "auditor", _("監査担当")


class Member(models.Model):
    """A person's place in an agency. The role is the user's Django group."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="member"
    )
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="members")
    display_name = models.CharField(_("氏名"), max_length=200, blank=True, default="")
    lineworks_user_id = models.CharField(
        _("LINE WORKS ユーザーID"), max_length=128, blank=True, default=""
    )
    # Set by the directory sync when the person left the agency's LINE WORKS group; the user
    # is deactivated rather than deleted so their reports keep their author.
    departed_at = models.DateTimeField(_("離任日時"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("メンバー")
        verbose_name_plural = _("メンバー")
        constraints = [
            models.UniqueConstraint(
                fields=["lineworks_user_id"],
                condition=~Q(lineworks_user_id=""),
                name="member_unique_lineworks_user",
            )
        ]

    def __str__(self) -> str:
        return f"{self.display_name or self.user.get_username()} ({self.agency})"


class District(models.Model):
    code = models.SlugField(_("コード"), max_length=64, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    lat = models.FloatField(_("緯度"))
    lng = models.FloatField(_("経度"))
    # Optional GeoJSON Polygon/MultiPolygon for the map outline.
    boundary = models.JSONField(_("境界 (GeoJSON)"), null=True, blank=True)

    class Meta:
        verbose_name = _("地区")
        verbose_name_plural = _("地区")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class FacilityKind(models.TextChoices):
    SHELTER = "shelter", _("避難所")
    HOSPITAL = "hospital", _("病院")
    WELFARE = "welfare", _("福祉施設")
    WATER_GAUGE = "water_gauge", _("水位観測所")


class Facility(models.Model):
    code = models.SlugField(_("コード"), max_length=64, unique=True)
    name = models.CharField(_("名称"), max_length=200)
    kind = models.CharField(_("種別"), max_length=32, choices=FacilityKind.choices)
    agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="facilities", verbose_name=_("所管機関")
    )
    district = models.ForeignKey(
        District, null=True, blank=True, on_delete=models.SET_NULL, related_name="facilities"
    )
    lat = models.FloatField(_("緯度"), null=True, blank=True)
    lng = models.FloatField(_("経度"), null=True, blank=True)
    capacity = models.PositiveIntegerField(_("収容人数・病床数"), null=True, blank=True)
    active = models.BooleanField(_("有効"), default=True)

    class Meta:
        verbose_name = _("施設")
        verbose_name_plural = _("施設")
        ordering = ["kind", "code"]
        indexes = [models.Index(fields=["name"])]

    def __str__(self) -> str:
        return self.name
