from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from agencies.models import District
from reports.models import Incident, IncidentStatus, parse_number


class IncidentOpenForm(forms.Form):
    title = forms.CharField(label=_("件名"), max_length=200)
    description = forms.CharField(
        label=_("概要"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    district = forms.ModelChoiceField(
        label=_("地区"), queryset=District.objects.order_by("code"), required=False
    )


class IncidentUpdateForm(forms.Form):
    title = forms.CharField(label=_("件名"), max_length=200)
    description = forms.CharField(
        label=_("概要"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    status = forms.ChoiceField(label=_("状態"), choices=IncidentStatus.choices)


class LinkReportForm(forms.Form):
    """Link a report to this incident by its receipt number (R-000123 or 123)."""

    number = forms.CharField(label=_("受付番号"), max_length=20)

    def clean_number(self) -> int:
        pk = parse_number(self.cleaned_data["number"])
        if pk is None:
            raise forms.ValidationError(_("受付番号は R-000123 の形で入力してください。"))
        return pk


class LinkIncidentForm(forms.Form):
    """Link a report to an incident, or unlink it (empty choice)."""

    incident = forms.ModelChoiceField(
        label=_("インシデント"),
        queryset=Incident.objects.exclude(status=IncidentStatus.CLOSED),
        required=False,
        empty_label=_("（関連付けなし）"),
    )
