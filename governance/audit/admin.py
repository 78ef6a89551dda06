"""The trail in the admin: read-only, whoever is looking (superusers included)."""

from django.contrib import admin

from .models import AuditEvent, ChainHead


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "at", "kind", "action", "actor_username", "actor_kind", "model_slug", "version_number")
    list_filter = ("kind", "actor_kind")
    search_fields = ("action", "actor_username", "model_slug", "correlation_id", "object_repr")
    ordering = ("-seq",)
    show_full_result_count = False  # counting a million rows on every page is not worth it


@admin.register(ChainHead)
class ChainHeadAdmin(ReadOnlyAdmin):
    list_display = ("seq", "hash", "base_seq", "base_prev_hash")
