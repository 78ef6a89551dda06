"""The trail in the admin: read-only, whoever is looking (superusers included)."""

from django.contrib import admin

from governance.access.admin import ReadOnlyAdmin

from .models import AuditEvent, ChainHead
from .selectors import can_read_trail
from .services import access_record


class TrailAdmin(ReadOnlyAdmin):
    """The same rule as the audit page and API: auditors and admins read the trail, nobody else."""

    def _admin(self, request) -> bool:
        return can_read_trail(request.user)


@admin.register(AuditEvent)
class AuditEventAdmin(TrailAdmin):
    list_display = ("seq", "at", "kind", "action", "actor_username", "actor_kind", "model_slug", "version_number")
    list_filter = ("kind", "actor_kind")
    search_fields = ("action", "actor_username", "model_slug", "correlation_id", "object_repr")
    ordering = ("-seq",)
    show_full_result_count = False  # counting a million rows on every page is not worth it

    # Reading the trail in the admin is an access event, as on the audit page.
    def changelist_view(self, request, extra_context=None):
        access_record(request, "audit.viewed", data={"via": "admin"})
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        access_record(request, "audit.viewed", data={"via": "admin", "seq_id": object_id})
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(ChainHead)
class ChainHeadAdmin(TrailAdmin):
    list_display = ("seq", "hash", "base_seq", "base_prev_hash")
