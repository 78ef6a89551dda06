"""Admin: admins edit test-suite configurations through ``suite_config_update`` (its rule,
validation and audit); evidence is read-only."""

from django import forms
from django.contrib import admin

from governance.access.admin import AdminRoleOnly, ReadOnlyAdmin

from . import checks, selectors, services
from .models import (
    AgentRun,
    CheckResult,
    ScoringRecord,
    TestRun,
    TestSuiteConfig,
    WarmupRun,
)


class TestSuiteConfigForm(forms.ModelForm):
    class Meta:
        model = TestSuiteConfig
        fields = ["model", "checks"]

    def clean(self):
        cleaned = super().clean()
        model = cleaned.get("model")
        if model is not None and "checks" in cleaned:
            try:
                cleaned["checks"] = checks.validate_checks(cleaned["checks"], task=model.task)
            except checks.CheckConfigError as exc:
                self.add_error("checks", str(exc))
        return cleaned


@admin.register(TestSuiteConfig)
class TestSuiteConfigAdmin(AdminRoleOnly, admin.ModelAdmin):
    form = TestSuiteConfigForm
    list_display = ["model", "updated_by", "updated_at"]
    readonly_fields = ["updated_by", "updated_at"]
    search_fields = ["model__name", "model__slug"]

    def get_readonly_fields(self, request, obj=None):
        # A configuration belongs to its model for good.
        return ["model", "updated_by", "updated_at"] if obj is not None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return super().has_change_permission(request)
        return super().has_change_permission(request, obj) and selectors.can_edit_suite(request.user, obj.model)

    def has_delete_permission(self, request, obj=None):
        return False  # a model without a configuration falls back to its tier's defaults silently

    def save_model(self, request, obj, form, change):
        saved = services.suite_config_update(model=obj.model, raw_checks=form.cleaned_data["checks"], user=request.user)
        obj.pk, obj.updated_by, obj.updated_at = saved.pk, saved.updated_by, saved.updated_at


class CheckResultInline(admin.TabularInline):
    model = CheckResult
    fields = ["position", "name", "measured", "threshold", "comparison", "outcome", "duration_ms"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TestRun)
class TestRunAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "status", "attempt", "worker", "queued_at", "finished_at"]
    list_filter = ["status"]
    inlines = [CheckResultInline]


@admin.register(WarmupRun)
class WarmupRunAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "status", "source", "rows", "errors", "agreement", "psi", "finished_at"]
    list_filter = ["status", "source"]


@admin.register(AgentRun)
class AgentRunAdmin(ReadOnlyAdmin):
    list_display = ["agent_name", "action", "summary", "started_at", "finished_at"]
    list_filter = ["agent_name", "action"]


@admin.register(ScoringRecord)
class ScoringRecordAdmin(ReadOnlyAdmin):
    list_display = ["trace_id", "model", "version", "shadow", "at"]
    list_filter = ["shadow"]
