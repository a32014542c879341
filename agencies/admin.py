"""The directory in Django admin. Every change is written to the audit chain."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from agencies.models import Agency, District, Facility, Member
from audit.services import audit_record

admin.site.site_header = _("倉敷市 災害情報ポータル 管理")
admin.site.site_title = _("災害情報ポータル 管理")
admin.site.index_title = _("管理メニュー")


def _changes(form: forms.ModelForm) -> dict[str, Any]:
    return {name: str(form.cleaned_data.get(name)) for name in form.changed_data}


class AuditedAdmin(admin.ModelAdmin):
    """Records who changed the directory, and what, in the audit chain (same transaction)."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            audit_record(
                actor=request.user,
                action=f"directory.{'change' if change else 'add'}",
                obj=obj,
                payload={"name": str(obj), "changed": _changes(form)},
            )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            audit_record(
                actor=request.user, action="directory.delete", obj=obj, payload={"name": str(obj)}
            )
            super().delete_model(request, obj)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_formset(request, form, formset, change)
            for inline_form in formset.forms:
                if inline_form.has_changed() and inline_form.instance.pk:
                    audit_record(
                        actor=request.user,
                        action="directory.change",
                        obj=inline_form.instance,
                        payload={
                            "name": str(inline_form.instance),
                            "changed": _changes(inline_form),
                        },
                    )
            for obj in formset.deleted_objects:
                audit_record(
                    actor=request.user,
                    action="directory.delete",
                    object_type=obj._meta.label_lower,
                    object_id=obj.pk or "",
                    payload={"name": str(obj)},
                )

    def get_actions(self, request: HttpRequest) -> dict:
        # Bulk delete would bypass delete_model (and the audit record).
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class MemberInlineForm(forms.ModelForm):
    class Meta:
        model = Member
        fields = ["user", "display_name", "lineworks_user_id"]
        labels = {"user": _("ユーザー")}


class MemberInline(admin.TabularInline):
    model = Member
    form = MemberInlineForm
    extra = 0
    autocomplete_fields = ["user"]
    verbose_name = _("メンバー")
    verbose_name_plural = _("メンバー")


@admin.register(Agency)
class AgencyAdmin(AuditedAdmin):
    list_display = [
        "name",
        "code",
        "kind",
        "lineworks_channel_id",
        "lineworks_group_id",
        "external_tenant",
        "report_interval",
        "active",
    ]
    list_filter = ["kind", "active", "external_tenant"]
    search_fields = ["name", "code", "lineworks_channel_id", "lineworks_group_id"]
    inlines = [MemberInline]


class FacilityForm(forms.ModelForm):
    class Meta:
        model = Facility
        fields = [
            "code",
            "name",
            "kind",
            "agency",
            "district",
            "lat",
            "lng",
            "capacity",
            "active",
        ]
        labels = {"district": _("地区")}


@admin.register(Facility)
class FacilityAdmin(AuditedAdmin):
    form = FacilityForm
    list_display = ["name", "code", "kind", "agency", "district", "capacity", "active"]
    list_filter = ["kind", "active", "agency"]
    search_fields = ["name", "code"]
    list_select_related = ["agency", "district"]
    autocomplete_fields = ["agency"]


class DistrictForm(forms.ModelForm):
    class Meta:
        model = District
        fields = ["code", "name", "parent", "lat", "lng", "boundary"]
        labels = {"parent": _("上位の地区")}


@admin.register(District)
class DistrictAdmin(AuditedAdmin):
    form = DistrictForm
    list_display = ["name", "code", "parent", "lat", "lng"]
    search_fields = ["name", "code"]
    list_select_related = ["parent"]


@admin.register(Member)
class MemberAdmin(AuditedAdmin):
    form = MemberInlineForm
    list_display = ["__str__", "user", "agency", "lineworks_user_id", "departed_at"]
    list_filter = ["agency"]
    search_fields = ["display_name", "user__username", "lineworks_user_id"]
    list_select_related = ["user", "agency"]
    autocomplete_fields = ["user"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["user", "agency", "display_name", "lineworks_user_id"]
