from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from agencies.models import Agency
from notices.models import NoticeKind
from reports.models import Incident, IncidentStatus


class NoticeForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("種別"),
        choices=[c for c in NoticeKind.choices if c[0] != NoticeKind.REMINDER],
        widget=forms.RadioSelect,
    )
    title = forms.CharField(label=_("件名"), max_length=200)
    body = forms.CharField(
        label=_("本文"), max_length=1500, widget=forms.Textarea(attrs={"rows": 5})
    )
    all_agencies = forms.BooleanField(label=_("全機関へ送る"), required=False)
    agencies = forms.ModelMultipleChoiceField(
        label=_("送信先"),
        queryset=Agency.objects.filter(active=True).exclude(kind="hq").order_by("kind", "code"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    incident = forms.ModelChoiceField(
        label=_("インシデント"),
        queryset=Incident.objects.exclude(status=IncidentStatus.CLOSED).order_by("-opened_at"),
        required=False,
        empty_label=_("（なし）"),
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("all_agencies"):
            data["agencies"] = list(self.fields["agencies"].queryset)
        elif not data.get("agencies"):
            self.add_error("agencies", _("送信先の機関を選ぶか「全機関へ送る」を選んでください。"))
        return data
