"""The admin site for people, roles, grants and tokens.

Holders of the admin role (and superusers) manage these pages. Every write that changes who
may do what goes through ``services`` so the guardian permissions stay in step with the grants
and the audit trail names the admin who did it.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.db.models import Q
from django.http import HttpResponseRedirect

from governance.errors import ActionError

from . import selectors, services
from .models import ApiToken, ModelGrant, User
from .roles import GlobalRole, ObjectRole


class AdminRoleOnly:
    """Pages for holders of the admin role (superusers hold it too)."""

    def _admin(self, request) -> bool:
        return selectors.is_admin(request.user)

    def has_module_permission(self, request):
        return self._admin(request)

    def has_view_permission(self, request, obj=None):
        return self._admin(request)

    def has_add_permission(self, request, *args):
        return self._admin(request)

    def has_change_permission(self, request, obj=None):
        return self._admin(request)

    def has_delete_permission(self, request, obj=None):
        return self._admin(request)


class RoleFilter(admin.SimpleListFilter):
    title = "role"
    parameter_name = "role"

    def lookups(self, request, model_admin):
        return GlobalRole.choices

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        if self.value() == GlobalRole.ADMIN:
            return queryset.filter(Q(groups__name=GlobalRole.ADMIN) | Q(is_superuser=True)).distinct()
        return queryset.filter(groups__name=self.value())


@admin.register(User)
class UserAdmin(AdminRoleOnly, DjangoUserAdmin):
    list_display = ("username", "email", "display_name", "roles", "is_service_account", "is_active", "last_login")
    list_filter = (RoleFilter, "is_active", "is_service_account", "is_superuser")
    search_fields = ("username", "email", "first_name", "last_name")
    filter_horizontal = ("groups",)
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Person", {"fields": ("first_name", "last_name", "email")}),
        (
            "Roles and status",
            {
                "fields": ("groups", "is_active", "is_service_account", "is_staff", "is_superuser"),
                "description": "Roles are the groups data_scientist, validator, operator, auditor and admin. "
                "Deactivating takes effect at once: the person's sessions and tokens are refused on their "
                "next request, and nothing they did is changed.",
            },
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "email", "usable_password", "password1", "password2")}),
        ("Roles", {"fields": ("groups", "is_service_account")}),
    )
    actions = ["deactivate_users"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    def get_readonly_fields(self, request, obj=None):
        # is_staff follows the admin role; only superusers make superusers.
        readonly = ["is_staff", "last_login", "date_joined"]
        if not request.user.is_superuser:
            readonly.append("is_superuser")
        return readonly

    def has_delete_permission(self, request, obj=None):
        # People are deactivated, never deleted: what they did must keep its author.
        return False

    @admin.display(description="roles")
    def roles(self, user):
        return ", ".join(user.role_names) or "—"

    def save_model(self, request, obj, form, change):
        deactivating = change and "is_active" in form.changed_data and not obj.is_active
        if obj.is_service_account and obj.has_usable_password():
            obj.set_unusable_password()
        if deactivating:
            obj.is_active = True  # the service switches it off and clears the sessions
        super().save_model(request, obj, form, change)
        if deactivating:
            try:
                services.user_deactivate(user=obj, deactivated_by=request.user)
            except ActionError as exc:
                messages.error(request, exc.message)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.user_sync_staff(user=form.instance)

    @admin.action(description="Deactivate the selected users (sessions and tokens refused at once)")
    def deactivate_users(self, request, queryset):
        done = 0
        for user in queryset:
            try:
                services.user_deactivate(user=user, deactivated_by=request.user)
                done += 1
            except ActionError as exc:
                messages.error(request, f"{user.username}: {exc.message}")
        messages.success(request, f"{done} user(s) deactivated.")


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(AdminRoleOnly, DjangoGroupAdmin):
    pass


class ModelGrantForm(forms.ModelForm):
    class Meta:
        model = ModelGrant
        fields = ["model", "user", "group", "role"]


@admin.register(ModelGrant)
class ModelGrantAdmin(AdminRoleOnly, admin.ModelAdmin):
    """Grants are given and taken away here, never edited: the services keep guardian in step."""

    form = ModelGrantForm
    list_display = ("model", "grantee", "role", "granted_by", "created_at")
    list_filter = ("role",)
    search_fields = ("model__name", "model__slug", "user__username", "group__name")
    autocomplete_fields = ("model", "user", "group")
    list_select_related = ("model", "user", "group", "granted_by")
    actions = ["revoke_grants"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ("granted_by", "created_at")
        return ("model", "user", "group", "role", "granted_by", "created_at")

    def get_fields(self, request, obj=None):
        return ("model", "user", "group", "role", "granted_by", "created_at")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # bulk revoke goes through revoke_grants
        return actions

    @admin.display(description="user or group")
    def grantee(self, grant):
        return grant.grantee_name

    def save_model(self, request, obj, form, change):
        if change:
            return  # read-only once made
        grant, _ = services.grant_give(
            model=obj.model, role=obj.role, user=obj.user, group=obj.group, granted_by=request.user
        )
        obj.pk, obj.granted_by, obj.created_at = grant.pk, grant.granted_by, grant.created_at

    def delete_view(self, request, object_id, extra_context=None):
        grant = self.get_object(request, object_id)
        if grant is not None and request.method == "POST" and _is_last_owner(grant):
            messages.error(request, "A model keeps at least one owner: add another owner first.")
            return HttpResponseRedirect(request.path.rsplit("delete/", 1)[0])
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj):
        services.grant_revoke(grant=obj, revoked_by=request.user)

    def delete_queryset(self, request, queryset):
        for grant in queryset:
            self.delete_model(request, grant)

    @admin.action(description="Revoke the selected grants")
    def revoke_grants(self, request, queryset):
        done = 0
        for grant in queryset.select_related("model", "user", "group"):
            try:
                services.grant_revoke(grant=grant, revoked_by=request.user)
                done += 1
            except ActionError as exc:
                messages.error(request, f"{grant}: {exc.message}")
        messages.success(request, f"{done} grant(s) revoked.")


def _is_last_owner(grant: ModelGrant) -> bool:
    return (
        grant.role == ObjectRole.OWNER
        and not ModelGrant.objects.filter(model_id=grant.model_id, role=ObjectRole.OWNER).exclude(pk=grant.pk).exists()
    )


@admin.register(ApiToken)
class ApiTokenAdmin(AdminRoleOnly, admin.ModelAdmin):
    """Tokens are made by their owners (settings page, create_api_token); admins can revoke them."""

    list_display = ("key_prefix", "user", "label", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("user__username", "label", "key_prefix")
    list_select_related = ("user",)
    fields = ("user", "label", "key_prefix", "created_at", "expires_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke_tokens"]

    def has_add_permission(self, request, *args):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the record stays

    @admin.action(description="Revoke the selected tokens")
    def revoke_tokens(self, request, queryset):
        for token in queryset:
            services.token_revoke(token=token, revoked_by=request.user)
        messages.success(request, f"{queryset.count()} token(s) revoked.")
