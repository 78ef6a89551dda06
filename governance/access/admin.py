"""The admin site for people, roles, grants and tokens.

Holders of the admin role (and superusers) manage these pages. Every write that changes who
may do what goes through ``services`` so the guardian permissions stay in step with the grants
and the audit trail names the admin who did it.
"""

from allauth.mfa.models import Authenticator
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect

from governance.errors import ActionError

from . import selectors, services
from .models import ApiToken, ModelGrant, User
from .roles import GlobalRole


def _each(request, objects, action, *, label, done: str) -> None:
    """A bulk admin action: ``action`` on each object in turn.

    A service's refusal is shown against the object's ``label`` and the others go on; the
    message ``done`` then says how many went through.
    """
    count = 0
    for obj in objects:
        try:
            action(obj)
            count += 1
        except ActionError as exc:
            messages.error(request, f"{label(obj)}: {exc.message}")
    messages.success(request, done.format(count))


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


class ReadOnlyAdmin(AdminRoleOnly, admin.ModelAdmin):
    """Records shown in the admin and never added, changed or deleted there (histories, runs,
    the trail): the services that make them are the only writers. Admins see them unless a
    subclass names other readers in ``_admin``."""

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
        (None, {"fields": ("username",)}),
        ("Person", {"fields": ("first_name", "last_name", "email")}),
        (
            "Roles and status",
            {
                "fields": (
                    "groups", "roles_from_directory", "is_active", "is_service_account", "is_staff", "is_superuser",
                ),
                "description": "Roles are the groups data_scientist, validator, operator, auditor and admin. "
                "Roles from the directory are given by the company directory's groups (see Group-to-role "
                "mappings): the directory takes them away when the person leaves the group, even if they "
                "are kept here. Deactivating takes effect at once: the person's sessions and tokens are "
                "refused on their next request, and nothing they did is changed.",
            },
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "email", "usable_password", "password1", "password2")}),
        ("Roles", {"fields": ("groups", "is_service_account")}),
    )
    actions = ["deactivate_users", "send_password_reset"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups", "directory_roles")

    def get_readonly_fields(self, request, obj=None):
        # is_staff follows the admin role; only superusers make superusers. An existing
        # account's email is where its password resets go: changing it from here would let an
        # admin reset someone's password into their own mailbox.
        readonly = ["is_staff", "last_login", "date_joined", "roles_from_directory"]
        if not request.user.is_superuser:
            readonly.append("is_superuser")
        if obj is not None:
            readonly.append("email")
        return readonly

    def has_change_permission(self, request, obj=None):
        # Only a superuser changes a superuser (others see the account read-only).
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def user_change_password(self, request, id, form_url=""):
        # Nobody sets another person's password here; "Send a password reset email" instead.
        raise PermissionDenied("Passwords are set by their owners: send a password reset email instead.")

    def has_delete_permission(self, request, obj=None):
        # People are deactivated, never deleted: what they did must keep its author.
        return False

    @admin.display(description="roles")
    def roles(self, user):
        directory = {assignment.role for assignment in user.directory_roles.all()}
        return ", ".join(f"{role} (directory)" if role in directory else role for role in user.role_names) or "—"

    @admin.display(description="roles from the directory")
    def roles_from_directory(self, user):
        if user.pk is None:
            return "—"
        return ", ".join(sorted(assignment.role for assignment in user.directory_roles.all())) or "—"

    def save_model(self, request, obj, form, change):
        switching = change and "is_active" in form.changed_data
        wanted_active = obj.is_active
        if obj.is_service_account and obj.has_usable_password():
            obj.set_unusable_password()
        if switching:
            obj.is_active = not wanted_active  # the services switch it, with their own audit entry
        super().save_model(request, obj, form, change)
        if switching:
            try:
                if wanted_active:
                    services.user_reactivate(actor=request.user, user=obj)
                else:
                    services.user_deactivate(actor=request.user, user=obj)
            except ActionError as exc:
                messages.error(request, exc.message)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.user_sync_staff(user=form.instance)

    @admin.action(description="Send a password reset email to the selected users")
    def send_password_reset(self, request, queryset):
        _each(
            request,
            queryset,
            lambda user: services.user_password_reset_start(actor=request.user, user=user, request=request),
            label=lambda user: user.username,
            done="{} password reset email(s) sent.",
        )

    @admin.action(description="Deactivate the selected users (sessions and tokens refused at once)")
    def deactivate_users(self, request, queryset):
        _each(
            request,
            queryset,
            lambda user: services.user_deactivate(actor=request.user, user=user),
            label=lambda user: user.username,
            done="{} user(s) deactivated.",
        )


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(AdminRoleOnly, DjangoGroupAdmin):
    """Teams (groups that receive grants) are made and named here; the global role groups are
    fixed by the portal: their names and permissions are shown, not edited. Every change is in
    the audit trail (django-auditlog)."""

    def get_readonly_fields(self, request, obj=None):
        # What a role may do is fixed by the portal; teams only receive grants on models, so
        # no group's Django permissions are edited here.
        if obj is not None and obj.name in GlobalRole.values:
            return ("name", "permissions")
        return ("permissions",)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.name in GlobalRole.values:
            return False
        return super().has_delete_permission(request, obj)


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
            actor=request.user, model=obj.model, role=obj.role, user=obj.user, group=obj.group
        )
        obj.pk, obj.granted_by, obj.created_at = grant.pk, grant.granted_by, grant.created_at

    def delete_view(self, request, object_id, extra_context=None):
        grant = self.get_object(request, object_id)
        if grant is not None and request.method == "POST":
            refusal = services.last_owner_refusal(model=grant.model, role=grant.role, user=grant.user, group=grant.group)
            if refusal:
                messages.error(request, refusal)
                return HttpResponseRedirect(request.path.rsplit("delete/", 1)[0])
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj):
        services.grant_revoke(actor=request.user, grant=obj)

    def delete_queryset(self, request, queryset):
        for grant in queryset:
            self.delete_model(request, grant)

    @admin.action(description="Revoke the selected grants")
    def revoke_grants(self, request, queryset):
        _each(
            request,
            queryset.select_related("model", "user", "group"),
            lambda grant: services.grant_revoke(actor=request.user, grant=grant),
            label=str,
            done="{} grant(s) revoked.",
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
            services.token_revoke(actor=request.user, token=token)
        messages.success(request, f"{queryset.count()} token(s) revoked.")


# allauth registers its authenticators for the admin with delete rights: an admin could strip a
# validator's second factor and sign as them after a reset. Shown here, never removed: people
# manage their own authenticators on their account pages.
admin.site.unregister(Authenticator)


@admin.register(Authenticator)
class AuthenticatorAdmin(ReadOnlyAdmin):
    list_display = ("user", "type", "created_at", "last_used_at")
    list_filter = ("type",)
    search_fields = ("user__username",)
    list_select_related = ("user",)
    fields = ("user", "type", "created_at", "last_used_at")
