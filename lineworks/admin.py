"""Read-only admin views of the LINE WORKS rows (changes go through the HQ pages/services)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from lineworks.models import ApiCall, Channel, InboundEvent, OutboundMessage


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(InboundEvent)
class InboundEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "received_at", "event_type", "source_user_id", "status", "outcome")
    list_filter = ("status", "event_type")
    search_fields = ("source_user_id", "source_channel_id", "digest")


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "kind", "destination", "status", "attempts", "sent_at")
    list_filter = ("status", "kind")
    search_fields = ("to_user_id", "to_channel_id")


@admin.register(ApiCall)
class ApiCallAdmin(ReadOnlyAdmin):
    list_display = ("at", "method", "endpoint", "status", "duration_ms", "error")
    list_filter = ("status", "endpoint")


@admin.register(Channel)
class ChannelAdmin(ReadOnlyAdmin):
    list_display = ("channel_id", "title", "channel_type", "bot_joined", "joined_at", "left_at")
