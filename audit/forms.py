"""GET forms of the auditor's pages. They only shape filters; nothing here writes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from agencies.models import Agency
from audit.exports import ReportFilter
from reports.categories import Category
from reports.models import Incident, ReportChannel

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format=DATETIME_LOCAL)


def _moment(label: Any) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=False,
        widget=LocalDateTimeInput(),
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%d", "iso-8601"],
    )


class _Window(forms.Form):
    def clean(self) -> dict[str, Any]:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since >= until:
            raise ValidationError(_("開始日時は終了日時より前にしてください。"))
        return data


class ReportSearchForm(_Window):
    q = forms.CharField(
        label=_("キーワード・受付番号"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": _("例: 箭田小学校、R-000123")}),
    )
    agency = forms.ModelChoiceField(
        label=_("機関"), queryset=Agency.objects.order_by("kind", "code"), required=False
    )
    category = forms.ChoiceField(
        label=_("分類"), choices=[("", "—"), *Category.choices], required=False
    )
    channel = forms.ChoiceField(
        label=_("経路"), choices=[("", "—"), *ReportChannel.choices], required=False
    )
    author = forms.CharField(label=_("報告者（ユーザー名）"), required=False, max_length=150)
    incident = forms.ModelChoiceField(
        label=_("インシデント"), queryset=Incident.objects.order_by("-opened_at"), required=False
    )
    since = _moment(_("受付日時（から）"))
    until = _moment(_("受付日時（まで）"))

    def clean_author(self) -> Any | None:
        name = (self.cleaned_data.get("author") or "").strip()
        if not name:
            return None
        user = get_user_model().objects.filter(username=name).first()
        if user is None:
            raise ValidationError(_("このユーザー名の利用者はいません。"))
        return user

    def to_filter(self) -> ReportFilter:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return ReportFilter(
            agency=data.get("agency"),
            category=data.get("category") or "",
            since=data.get("since"),
            until=data.get("until"),
            channel=data.get("channel") or "",
            author=data.get("author"),
            incident=data.get("incident"),
            q=data.get("q") or "",
        )


class EventFilterForm(_Window):
    actor = forms.CharField(label=_("実行者（ユーザー名）"), required=False, max_length=200)
    action = forms.CharField(
        label=_("操作"),
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"placeholder": _("例: report.correction、audit.")}),
        help_text=_("「.」で終わると前方一致（例: report.）"),
    )
    object_type = forms.CharField(
        label=_("対象種別"),
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"placeholder": "reports.report"}),
    )
    object_id = forms.CharField(label=_("対象ID"), required=False, max_length=64)
    since = _moment(_("日時（から）"))
    until = _moment(_("日時（まで）"))
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    after = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def describe(self) -> dict[str, Any]:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        out: dict[str, Any] = {}
        for key in ("actor", "action", "object_type", "object_id"):
            if data.get(key):
                out[key] = data[key]
        for key in ("since", "until"):
            if isinstance(data.get(key), datetime):
                out[key] = data[key].isoformat()
        return out


class MomentForm(forms.Form):
    as_of = _moment(_("時点"))


class WindowForm(_Window):
    since = _moment(_("から"))
    until = _moment(_("まで"))


class BundleForm(_Window):
    incident = forms.ModelChoiceField(
        label=_("インシデント"), queryset=Incident.objects.order_by("-opened_at"), required=False
    )
    since = _moment(_("受付日時（から）"))
    until = _moment(_("受付日時（まで）"))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("incident") and not (data.get("since") and data.get("until")):
            raise ValidationError(_("インシデントを選ぶか、期間（開始と終了）を指定してください。"))
        return data

    def to_filter(self) -> ReportFilter:
        data = self.cleaned_data
        return ReportFilter(
            incident=data.get("incident"), since=data.get("since"), until=data.get("until")
        )
