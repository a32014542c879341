"""HTML forms for reporting. They shape input for the services; the services validate it.

The report form carries every category's fields at once (named ``<category>__<field>``) so the
page works without JavaScript; only the chosen category's fields are read.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from agencies import roles
from agencies.models import Agency, District, Facility, FacilityKind
from reports.categories import CAUSE_LABELS, SCHEMAS, TREND_LABELS, Category, Field
from reports.models import Incident, ReportChannel, ReportRevision, ReportStatus

AREA_ROWS = 10  # rows for outage areas; the page shows 5 and reveals more on demand
AREA_ROWS_SHOWN = 5
MAX_PHOTOS = 10
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"
FACILITY_TEXT_FIELDS = {Category.EVACUEES: "facility", Category.MEDICAL_CAPACITY: "facility"}
FACILITY_TEXT_LABELS = {Category.EVACUEES: _("施設名"), Category.MEDICAL_CAPACITY: _("医療機関名")}
_CHOICE_LABELS = {"cause": CAUSE_LABELS, "trend": TREND_LABELS}
# What the review form (mode="review") leaves out of the report form.
REVIEW_OMITS = (
    "agency",
    "district",
    "facility",
    "observed_at",
    "lat",
    "lng",
    "text",
    "photos",
    "reason",
)
_BOOL_CHOICES = [("", "—"), ("true", _("はい")), ("false", _("いいえ"))]


def _to_bool(value: str) -> bool | None:
    return {"true": True, "false": False}.get(value)


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format=DATETIME_LOCAL)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several uploads in one input; each is checked by ``report_add_photo``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget", MultipleFileInput(attrs={"accept": "image/*", "multiple": True})
        )
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list:
        if not data:
            return []
        files = data if isinstance(data, list | tuple) else [data]
        files = [f for f in files if f]
        if len(files) > MAX_PHOTOS:
            raise ValidationError(_("写真は一度に%(n)d枚までです。") % {"n": MAX_PHOTOS})
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


def _category_field(spec: Field) -> forms.Field:
    label = spec.label
    if spec.kind == "int":
        return forms.IntegerField(
            label=label,
            required=False,
            widget=forms.NumberInput(attrs={"min": 0, "inputmode": "numeric"}),
        )
    if spec.kind == "float":
        return forms.FloatField(
            label=label,
            required=False,
            widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
        )
    if spec.kind == "bool":
        return forms.TypedChoiceField(
            label=label, required=False, choices=_BOOL_CHOICES, coerce=_to_bool, empty_value=None
        )
    if spec.kind == "choice":
        labels = _CHOICE_LABELS.get(spec.name, {})
        return forms.ChoiceField(
            label=label,
            required=False,
            choices=[("", "—")] + [(c, labels.get(c, c)) for c in spec.choices],
        )
    return forms.CharField(label=label, required=False, max_length=500)


def facility_choices(agency: Agency | None) -> list:
    """The reporter's own facilities first, then every other active facility by kind."""
    facilities = list(Facility.objects.filter(active=True).only("pk", "name", "kind", "agency_id"))
    own_id = agency.pk if agency is not None else None
    choices: list = [("", _("（選択しない）"))]
    own = [(f.pk, f.name) for f in facilities if f.agency_id == own_id]
    if own:
        choices.append((str(_("自機関の施設")), own))
    for kind, label in FacilityKind.choices:
        group = [(f.pk, f.name) for f in facilities if f.kind == kind and f.agency_id != own_id]
        if group:
            choices.append((str(label), group))
    return choices


class ReportForm(forms.Form):
    """A new report (``mode="new"``), a correction of one (``mode="correct"``), or HQ's fix
    of a report awaiting review (``mode="review"``: category and fields only)."""

    agency = forms.ModelChoiceField(
        queryset=Agency.objects.filter(active=True), label=_("報告する機関")
    )
    category = forms.ChoiceField(
        label=_("分類"), choices=[("", _("選択してください"))] + Category.choices
    )
    facility = forms.TypedChoiceField(label=_("施設"), required=False, coerce=int, empty_value=None)
    district = forms.ModelChoiceField(
        queryset=District.objects.order_by("code"),
        label=_("地区"),
        required=False,
        empty_label=_("（選択しない）"),
    )
    observed_at = forms.DateTimeField(
        label=_("発生・確認日時"), widget=LocalDateTimeInput(), required=False
    )
    lat = forms.FloatField(
        label=_("緯度"),
        required=False,
        min_value=-90,
        max_value=90,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    lng = forms.FloatField(
        label=_("経度"),
        required=False,
        min_value=-180,
        max_value=180,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    text = forms.CharField(
        label=_("本文・補足"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    photos = MultipleFileField(label=_("写真"), required=False)
    reason = forms.CharField(
        label=_("訂正理由"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": _("訂正理由を入力してください。")},
    )

    def __init__(
        self,
        *args: Any,
        user: Any,
        mode: str = "new",
        revision: ReportRevision | None = None,
        **kwargs: Any,
    ) -> None:
        self.mode = mode
        if revision is not None and not kwargs.get("initial"):
            kwargs["initial"] = self._initial_from(revision)
        super().__init__(*args, **kwargs)
        own = roles.user_agency(user)
        if mode == "review":
            # HQ's one-step fix of a queued report: category and its fields only (the
            # reason is 本部確認; place, time and words stay as the reporter gave them).
            for name in REVIEW_OMITS:
                del self.fields[name]
        else:
            self.fields["facility"].choices = facility_choices(own)
        if mode == "new":
            del self.fields["reason"]
            # Reporters report for their own agency. The value still travels with the form
            # and ``report_submit`` refuses any other agency.
            if not roles.is_hq(user):
                self.fields["agency"].widget = forms.HiddenInput()
            self.fields["agency"].initial = own.pk if own else None
            if not self.is_bound and "observed_at" not in self.initial:
                self.fields["observed_at"].initial = timezone.localtime().replace(
                    second=0, microsecond=0
                )
        elif mode == "correct":
            del self.fields["agency"]
            del self.fields["district"]
        self.area_fields: dict[str, list[tuple[str, str]]] = {}
        for code, schema in SCHEMAS.items():
            for spec in schema:
                if spec.kind == "areas":
                    rows = []
                    given = revision.fields.get(spec.name) if revision is not None else None
                    for i in range(max(AREA_ROWS, len(given or []))):
                        area, households = f"{code}__areas_{i}_area", f"{code}__areas_{i}_hh"
                        self.fields[area] = forms.CharField(
                            label=_("地区名 %(n)d") % {"n": i + 1}, required=False, max_length=500
                        )
                        self.fields[households] = forms.IntegerField(
                            label=_("世帯数 %(n)d") % {"n": i + 1},
                            required=False,
                            widget=forms.NumberInput(attrs={"min": 0, "inputmode": "numeric"}),
                        )
                        rows.append((area, households))
                    self.area_fields[f"{code}__{spec.name}"] = rows
                else:
                    self.fields[f"{code}__{spec.name}"] = _category_field(spec)
            facility_field = FACILITY_TEXT_FIELDS.get(code)
            if facility_field:
                self.fields[f"{code}__{facility_field}"].label = FACILITY_TEXT_LABELS[code]
                self.fields[f"{code}__{facility_field}"].help_text = _(
                    "上の「施設」で選ぶと自動で入ります。一覧にない場合は名称を入力してください。"
                )

    # --- initial values for a correction ------------------------------------------------

    @staticmethod
    def _initial_from(revision: ReportRevision) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "category": revision.category,
            "facility": revision.facility_id,
            "observed_at": timezone.localtime(revision.observed_at).replace(second=0),
            "lat": revision.lat,
            "lng": revision.lng,
            "text": revision.text,
        }
        for spec in SCHEMAS.get(revision.category, ()):
            value = revision.fields.get(spec.name)
            name = f"{revision.category}__{spec.name}"
            if spec.kind == "areas":
                for i, item in enumerate(value or []):
                    initial[f"{revision.category}__areas_{i}_area"] = item.get("area")
                    initial[f"{revision.category}__areas_{i}_hh"] = item.get("households")
            elif spec.kind == "bool":
                initial[name] = "" if value is None else ("true" if value else "false")
            else:
                initial[name] = value
        return initial

    # --- structure for the template -------------------------------------------------------

    def category_groups(self) -> list[dict[str, Any]]:
        """One group per category: its fields in schema order, outage areas as rows."""
        groups = []
        for code, label in Category.choices:
            items = []
            for spec in SCHEMAS[code]:
                name = f"{code}__{spec.name}"
                if spec.kind == "areas":
                    rows = [
                        {"area": self[a], "households": self[h], "extra": i >= AREA_ROWS_SHOWN}
                        for i, (a, h) in enumerate(self.area_fields[name])
                    ]
                    items.append(
                        {
                            "areas": True,
                            "label": spec.label,
                            "required": spec.required,
                            "rows": rows,
                            "errors": self.errors.get(name, []),
                        }
                    )
                else:
                    items.append({"field": self[name], "required": spec.required})
            groups.append({"code": code, "label": label, "items": items})
        return groups

    def error_summary(self) -> list[tuple[str, str, str]]:
        """(label, message, anchor id) for every error, so the page names each field."""
        summary = []
        for name, errors in self.errors.items():
            if name == "__all__":
                summary.extend(("", str(e), "") for e in errors)
                continue
            if name in self.fields:
                label, anchor = str(self.fields[name].label), self[name].id_for_label
            else:
                label, anchor = _area_label(name), ""
            summary.extend((label, str(e), anchor) for e in errors)
        return summary

    # --- cleaning -------------------------------------------------------------------------

    def _category_names(self, code: str) -> set[str]:
        names = set()
        for spec in SCHEMAS.get(code, ()):
            if spec.kind == "areas":
                for area, households in self.area_fields[f"{code}__{spec.name}"]:
                    names.update((area, households))
            else:
                names.add(f"{code}__{spec.name}")
        return names

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        chosen = cleaned.get("category")
        # Only the chosen category's fields are read: drop errors from the other groups.
        other = {n for n in self.fields if "__" in n} - self._category_names(chosen or "")
        for name in other:
            self._errors.pop(name, None)
        facility_pk = cleaned.get("facility")
        cleaned["facility"] = (
            Facility.objects.filter(pk=facility_pk, active=True).first() if facility_pk else None
        )
        if facility_pk and cleaned["facility"] is None:
            self.add_error("facility", _("選択した施設が見つかりません。"))
        for rows in self.area_fields.values():
            for area, households in rows:
                if area in other:
                    continue
                if cleaned.get(households) is not None and not (cleaned.get(area) or "").strip():
                    self.add_error(area, _("地区名を入力してください。"))
        if (cleaned.get("lat") is None) != (cleaned.get("lng") is None):
            self.add_error("lat", _("緯度と経度は両方入力してください。"))
        return cleaned

    def category_fields(self) -> dict[str, Any]:
        """The chosen category's structured fields, as ``validate_fields`` expects them."""
        code = self.cleaned_data["category"]
        fields: dict[str, Any] = {}
        for spec in SCHEMAS[code]:
            if spec.kind == "areas":
                areas, self.area_rows_used = [], []
                for i, (area, households) in enumerate(self.area_fields[f"{code}__{spec.name}"]):
                    name = (self.cleaned_data.get(area) or "").strip()
                    if name:
                        areas.append(
                            {"area": name, "households": self.cleaned_data.get(households)}
                        )
                        self.area_rows_used.append(i)
                fields[spec.name] = areas
            else:
                value = self.cleaned_data.get(f"{code}__{spec.name}")
                fields[spec.name] = None if value == "" else value
        facility = self.cleaned_data.get("facility")
        facility_field = FACILITY_TEXT_FIELDS.get(code)
        if facility_field and not fields.get(facility_field) and facility is not None:
            fields[facility_field] = facility.name
        return fields

    def location(self) -> dict[str, float] | None:
        lat, lng = self.cleaned_data.get("lat"), self.cleaned_data.get("lng")
        return {"lat": lat, "lng": lng} if lat is not None and lng is not None else None

    def add_service_errors(self, exc: ValidationError) -> None:
        """Put a service's ValidationError next to the field it names."""
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        code = self.cleaned_data.get("category", "")
        rows = getattr(self, "area_rows_used", [])
        for key, messages in exc.message_dict.items():
            target = _service_key_to_field(code, key, rows)
            for message in messages:
                if target in self.fields:
                    self.add_error(target, message)
                elif key in self.area_fields or f"{code}__{key}" in self.area_fields:
                    self._errors.setdefault(f"{code}__{key}", self.error_class()).append(message)
                else:
                    label = _SERVICE_LABELS.get(key)
                    self.add_error(None, f"{label}: {message}" if label else message)


_SERVICE_LABELS = {"report": _("報告"), "fields": _("項目"), "agency": _("機関")}


def _service_key_to_field(code: str, key: str, area_rows: list[int]) -> str:
    """Map a service error key (``count``, ``areas[0].households``, ``location``) to a form
    field name; ``area_rows`` maps the n-th submitted area to its row on the form."""
    if key == "location":
        return "lat"
    if key == "photo":
        return "photos"
    if key in ("observed_at", "text", "category", "reason", "agency"):
        return key
    if key.startswith("areas[") and "]." in key:
        index, attr = key[len("areas[") :].split("].", 1)
        if index.isascii() and index.isdecimal() and int(index) < len(area_rows):
            row = area_rows[int(index)]
            return f"{code}__areas_{row}_{'area' if attr == 'area' else 'hh'}"
        return f"{code}__areas"
    return f"{code}__{key}"


def _area_label(name: str) -> str:
    code, _sep, field = name.partition("__")
    for spec in SCHEMAS.get(code, ()):
        if spec.name == field:
            return str(spec.label)
    return name


class WithdrawForm(forms.Form):
    reason = forms.CharField(
        label=_("取消理由"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("取消理由を入力してください。")},
    )


class ReportFilterForm(forms.Form):
    """HQ's and auditors' list filters (a GET form)."""

    category = forms.ChoiceField(
        label=_("分類"), required=False, choices=[("", _("すべて"))] + Category.choices
    )
    agency = forms.ModelChoiceField(
        label=_("機関"), required=False, queryset=Agency.objects.all(), empty_label=_("すべて")
    )
    incident = forms.ModelChoiceField(
        label=_("インシデント"),
        required=False,
        queryset=Incident.objects.none(),
        empty_label=_("すべて"),
    )
    channel = forms.ChoiceField(
        label=_("経路"), required=False, choices=[("", _("すべて"))] + ReportChannel.choices
    )
    status = forms.ChoiceField(
        label=_("状態"), required=False, choices=[("", _("すべて"))] + ReportStatus.choices
    )
    since = forms.DateTimeField(
        label=_("発生日時（から）"), required=False, widget=LocalDateTimeInput()
    )
    until = forms.DateTimeField(
        label=_("発生日時（まで）"), required=False, widget=LocalDateTimeInput()
    )
    q = forms.CharField(label=_("本文・受付番号"), required=False, max_length=200)

    def __init__(self, *args: Any, incidents: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["incident"].queryset = incidents

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", _("終了日時は開始日時より後にしてください。"))
        return cleaned
