"""Admin: admins edit test-suite configurations (validated, audited); evidence is read-only."""

from django import forms
from django.contrib import admin

from . import checks
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
class TestSuiteConfigAdmin(admin.ModelAdmin):
    form = TestSuiteConfigForm
    list_display = ["model", "updated_by", "updated_at"]
    readonly_fields = ["updated_by", "updated_at"]
    search_fields = ["model__name", "model__slug"]

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Evidence and agent records: visible to admins, never edited or deleted by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
