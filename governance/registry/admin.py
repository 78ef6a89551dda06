"""Admin pages of the registry: models (with guardian's object-permission pages), datasets and
versions (read-only: a version's state changes only through the lifecycle services)."""

from django import forms
from django.contrib import admin
from guardian.admin import GuardedModelAdmin

from governance.access import services as access_services
from governance.access.admin import AdminRoleOnly, ReadOnlyAdmin
from governance.access.models import ModelGrant
from governance.access.roles import ObjectRole

from .models import Dataset, MLModel, ModelVersion


def _grant_roles_form(request, holder_kind: str):
    """guardian's per-user / per-group page edits *roles* here, through the grant services.

    Editing raw permissions there would leave grants and permissions out of step and skip
    the audit trail, so the page offers the object roles instead.
    """

    class GrantRolesForm(forms.Form):
        # Always posted, so that unticking every role still submits a (bound) form: guardian
        # treats an empty POST as no POST at all.
        submitted = forms.CharField(widget=forms.HiddenInput, initial="1", required=False, label="")

        def __init__(self, holder, obj, *args, **kwargs):
            self.holder, self.obj = holder, obj
            super().__init__(*args, **kwargs)
            self.current = set(
                ModelGrant.objects.filter(model=obj, **{holder_kind: holder}).values_list("role", flat=True)
            )
            self.fields["permissions"] = forms.MultipleChoiceField(
                label="Roles",
                choices=ObjectRole.choices,
                initial=sorted(self.current),
                required=False,
                widget=forms.CheckboxSelectMultiple,
            )

        def clean(self):
            data = super().clean()
            roles = set(data.get("permissions") or [])
            if ObjectRole.OWNER in self.current and ObjectRole.OWNER not in roles:
                refusal = access_services.last_owner_refusal(
                    model=self.obj, role=ObjectRole.OWNER, **{holder_kind: self.holder}
                )
                if refusal:
                    # guardian's page shows field errors only.
                    self.add_error("permissions", refusal)
            return data

        def save_obj_perms(self):
            access_services.grant_set_roles(
                actor=request.user,
                model=self.obj,
                roles=self.cleaned_data["permissions"],
                **{holder_kind: self.holder},
            )

    return GrantRolesForm


class GrantInline(admin.TabularInline):
    model = ModelGrant
    fk_name = "model"
    fields = ("user", "group", "role", "granted_by", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "grants (add and revoke them under Model grants or Object permissions)"

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(MLModel)
class MLModelAdmin(AdminRoleOnly, GuardedModelAdmin):
    list_display = ("name", "slug", "risk_tier", "risk_tier_status", "task", "created_by", "created_at")
    list_filter = ("risk_tier", "risk_tier_status", "task")
    search_fields = ("name", "slug")
    list_select_related = ("created_by",)
    # The tier changes only through model_risk_tier_confirm (the form on the model's page and
    # the API), which checks who confirms it, asks for a reason and audits it.
    readonly_fields = (
        "slug", "task", "risk_tier", "risk_tier_status", "risk_tier_confirmed_by", "risk_tier_confirmed_at",
        "risk_tier_reason", "created_by", "created_at", "last_version_number",
    )
    fields = (
        "name", "slug", "description", "task", "risk_tier", "risk_tier_status", "risk_tier_confirmed_by",
        "risk_tier_confirmed_at", "risk_tier_reason", "created_by", "created_at", "last_version_number",
    )
    inlines = [GrantInline]

    def has_add_permission(self, request, *args):
        return False  # models are registered in the portal or the API, which makes the creator owner

    def has_delete_permission(self, request, obj=None):
        return False

    def get_obj_perms_manage_user_form(self, request):
        return _grant_roles_form(request, "user")

    def get_obj_perms_manage_group_form(self, request):
        return _grant_roles_form(request, "group")


@admin.register(Dataset)
class DatasetAdmin(ReadOnlyAdmin):
    list_display = ("name", "sha256", "rows", "target", "uploaded_by", "created_at")
    search_fields = ("name", "sha256")
    list_select_related = ("uploaded_by",)


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ("model", "number", "state", "format", "submitted_by", "created_at")
    list_filter = ("state", "format")
    search_fields = ("model__name", "model__slug", "artifact_sha256")
    list_select_related = ("model", "submitted_by")
