"""Admin: notifications and their emails are read-only (failures shown, with an action that
sends again); the review service levels per risk tier are edited here."""

from django.contrib import admin, messages

from governance.access.admin import AdminRoleOnly, ReadOnlyAdmin

from . import mail
from .models import Notification, ReviewAlert, ReviewServiceLevel


class EmailStatusFilter(admin.SimpleListFilter):
    title = "email"
    parameter_name = "email"

    def lookups(self, request, model_admin):
        return [("failed", "Failed, not sent yet"), ("waiting", "Waiting"), ("sent", "Sent"), ("none", "Not by email")]

    def queryset(self, request, queryset):
        unsent = queryset.filter(email_wanted=True, sent_at__isnull=True)
        return {
            "failed": unsent.exclude(failure_reason=""),
            "waiting": unsent.filter(failure_reason=""),
            "sent": queryset.filter(sent_at__isnull=False),
            "none": queryset.filter(email_wanted=False),
        }.get(self.value(), queryset)


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "recipient", "event", "version", "email_status", "attempts", "failure_reason"]
    list_filter = [EmailStatusFilter, "event"]
    search_fields = ["recipient__username", "model__name", "model__slug"]
    list_select_related = ["recipient", "model", "version__model"]
    date_hierarchy = "created_at"
    actions = ["send_again"]

    @admin.action(description="Send the email again now")
    def send_again(self, request, queryset):
        ids = list(queryset.filter(email_wanted=True, sent_at__isnull=True).values_list("pk", flat=True))
        queued = mail.emails_enqueue(ids)
        self.message_user(request, f"{queued} email(s) queued to be sent again.", messages.SUCCESS)

    def has_change_permission(self, request, obj=None):
        # The list's action needs it; every field stays read-only.
        return obj is None and self._admin(request)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]


@admin.register(ReviewServiceLevel)
class ReviewServiceLevelAdmin(AdminRoleOnly, admin.ModelAdmin):
    list_display = ["risk_tier", "remind_after_hours", "escalate_after_hours", "updated_at"]

    def has_delete_permission(self, request, obj=None):
        return False  # a tier without a row falls back to the defaults silently


@admin.register(ReviewAlert)
class ReviewAlertAdmin(ReadOnlyAdmin):
    list_display = ["at", "version", "kind", "period", "notified"]
    list_filter = ["kind"]
