"""Admin: admins edit the approval numbers here (audited by auditlog); the history, findings
included, is read-only (findings are closed on the version page or through the API, by validators).

ModelVersion is deliberately not registered here: its state changes only through transitions.
"""

from django.contrib import admin

from governance.access.admin import AdminRoleOnly, ReadOnlyAdmin

from .models import Annotation, ApprovalPolicy, Finding, FindingEvent, SignOff, TransitionRecord


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(AdminRoleOnly, admin.ModelAdmin):
    list_display = ["risk_tier", "required_approvals", "min_shadow_hours", "min_shadow_requests", "updated_at"]
    readonly_fields = ["updated_at"]

    def get_readonly_fields(self, request, obj=None):
        # A policy row belongs to its tier for good; only the numbers change.
        return ["risk_tier", "updated_at"] if obj is not None else ["updated_at"]

    def has_delete_permission(self, request, obj=None):
        # Deleting would silently fall back to the defaults; change the number instead.
        return False


@admin.register(TransitionRecord)
class TransitionRecordAdmin(ReadOnlyAdmin):
    list_display = ["version", "name", "from_state", "to_state", "actor", "actor_kind", "agent_name", "at"]
    list_filter = ["name", "actor_kind"]
    list_select_related = ["version__model", "actor"]


@admin.register(Annotation)
class AnnotationAdmin(ReadOnlyAdmin):
    list_display = ["version", "author", "actor_kind", "agent_name", "at"]
    list_select_related = ["version__model", "author"]


@admin.register(SignOff)
class SignOffAdmin(ReadOnlyAdmin):
    list_display = ["version", "signer_full_name", "decision", "meaning", "with_mfa", "at"]
    list_filter = ["decision"]
    list_select_related = ["version__model", "signer"]


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdmin):
    list_display = ["version", "kind", "severity", "description", "owner", "due", "status", "raised_by", "closed_by"]
    list_filter = ["kind", "severity", "status"]
    list_select_related = ["version__model", "owner", "raised_by", "closed_by"]


@admin.register(FindingEvent)
class FindingEventAdmin(ReadOnlyAdmin):
    list_display = ["finding", "action", "actor", "actor_kind", "agent_name", "at"]
    list_filter = ["action", "actor_kind"]
    list_select_related = ["finding__version__model", "actor"]
