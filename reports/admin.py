"""Reports in admin, read-only: reports change only through reports.services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from reports.models import Incident, Photo, Report, ReportRevision


class ReadOnlyAdminMixin:
    """View only: no add, change or delete, and no bulk actions."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict:
        return {}


class RevisionInline(ReadOnlyAdminMixin, admin.StackedInline):
    model = ReportRevision
    extra = 0
    fields = [
        "number",
        "kind",
        "category",
        "fields",
        "text",
        "observed_at",
        "recorded_at",
        "author",
        "channel",
        "reason",
        "lat",
        "lng",
        "facility",
        "district",
        "source_ref",
    ]
    readonly_fields = fields
    ordering = ["number"]


class PhotoInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Photo
    extra = 0
    fields = ["image", "content_type", "size", "uploaded_by", "uploaded_at", "channel"]
    readonly_fields = fields


@admin.register(Report)
class ReportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "number",
        "category",
        "agency",
        "status",
        "channel",
        "observed_at",
        "recorded_at",
    ]
    list_filter = ["category", "status", "channel", "agency"]
    date_hierarchy = "recorded_at"
    list_select_related = ["agency"]
    search_fields = ["=id", "current_revision__text"]
    inlines = [RevisionInline, PhotoInline]

    @admin.display(description=_("受付番号"), ordering="id")
    def number(self, obj: Report) -> str:
        return obj.number


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "status", "district", "opened_at", "closed_at"]
    list_filter = ["status"]
    search_fields = ["title"]
    list_select_related = ["district"]
