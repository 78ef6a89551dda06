"""Admin: admins who do not own a model change its test suite through ``suite_config_set`` (its
rule, validation, reason and audit entry); change proposals and evidence are read-only."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.utils.html import format_html_join

from governance.access.admin import AdminRoleOnly, ReadOnlyAdmin
from governance.errors import ActionError

from . import checks, selectors, services, suite_diff
from .models import (
    AgentRun,
    CheckResult,
    ScoringRecord,
    SuiteChangeProposal,
    TestRun,
    TestSuiteConfig,
    WarmupRun,
)


class TestSuiteConfigForm(forms.ModelForm):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="Why the suite changes; kept in the audit trail."
    )

    class Meta:
        model = TestSuiteConfig
        fields = ["model", "checks"]

    def clean(self):
        cleaned = super().clean()
        model = cleaned.get("model") or (self.instance.model if self.instance.pk else None)
        if model is not None and "checks" in cleaned:
            try:
                cleaned["checks"] = checks.validate_checks(cleaned["checks"], task=model.task)
            except checks.CheckConfigError as exc:
                self.add_error("checks", str(exc))
        return cleaned


@admin.register(TestSuiteConfig)
class TestSuiteConfigAdmin(AdminRoleOnly, admin.ModelAdmin):
    """Admins who own a model see its suite here but change it only by proposing, on its page."""

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
        return super().has_change_permission(request, obj) and selectors.may_set_suite(request.user, obj.model)

    def has_delete_permission(self, request, obj=None):
        return False  # a model without a configuration falls back to its tier's defaults silently

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class ActorForm(form):
            def clean(self):
                cleaned = super().clean()
                model = cleaned.get("model") or (self.instance.model if self.instance.pk else None)
                if model is not None and not selectors.may_set_suite(request.user, model):
                    raise forms.ValidationError(
                        "You own this model: propose the change on the model's test-suite page for a validator to approve."
                    )
                if model is not None and cleaned.get("checks") == selectors.suite_config_of(model)[0]:
                    self.add_error("checks", "This is the suite in force already: nothing to change.")
                return cleaned

        return ActorForm

    def save_model(self, request, obj, form, change):
        try:
            saved = services.suite_config_set(
                actor=request.user, model=obj.model, raw_checks=form.cleaned_data["checks"],
                reason=form.cleaned_data["reason"],
            )
        except ActionError as exc:
            # Refused after the form's checks (someone changed the suite meanwhile): nothing was saved.
            raise PermissionDenied(exc.message) from exc
        obj.pk, obj.updated_by, obj.updated_at = saved.pk, saved.updated_by, saved.updated_at


@admin.register(SuiteChangeProposal)
class SuiteChangeProposalAdmin(ReadOnlyAdmin):
    """Proposals are made and decided on the model's pages and the API; here they are read."""

    list_display = ["model", "status", "proposed_by", "proposed_at", "decided_by", "decided_at"]
    list_filter = ["status"]
    search_fields = ["model__name", "model__slug", "proposed_by__username"]
    fields = ["model", "status", "proposed_by", "proposed_at", "reason", "changes",
              "decided_by", "decided_at", "decision_reason"]
    readonly_fields = fields

    @admin.display(description="changes")
    def changes(self, obj):
        rows = [row for row in suite_diff.suite_diff(obj.base_checks, obj.proposed_checks) if row.status != "unchanged"]
        return format_html_join("\n", "<div>{}</div>", ((row.summary,) for row in rows))


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
