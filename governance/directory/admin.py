"""The company directory in the admin: SCIM tokens, the groups it pushed, and the mapping of its
groups to portal roles (edited here by admins; each change goes through ``services``, which
gives or takes away the members' roles and writes the audit trail)."""

from django.contrib import admin, messages
from django.utils.html import format_html

from governance.access.admin import AdminRoleOnly, ReadOnlyAdmin, _each
from governance.errors import ActionError

from . import services
from .models import DirectoryAccount, DirectoryGroup, DirectoryRoleAssignment, GroupRoleMapping, ScimToken


@admin.register(ScimToken)
class ScimTokenAdmin(AdminRoleOnly, admin.ModelAdmin):
    """Tokens the identity provider uses at /scim/v2/. The secret is shown once, on creation."""

    list_display = ("key_prefix", "label", "created_at", "created_by", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("label", "key_prefix")
    readonly_fields = ("key_prefix", "created_at", "created_by", "last_used_at", "revoked_at")
    actions = ["revoke_tokens"]

    def get_fields(self, request, obj=None):
        return ["label"] if obj is None else ["label", *self.readonly_fields]

    def has_change_permission(self, request, obj=None):
        # Shown, never edited: a token is made or revoked.
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the record stays

    def save_model(self, request, obj, form, change):
        token, raw = services.scim_token_create(actor=request.user, label=obj.label)
        obj.pk = token.pk
        messages.warning(
            request,
            format_html(
                "The SCIM token, shown this once (only its hash is kept): <code>{}</code>. "
                "Give it to the identity provider with the base URL {}.",
                raw,
                request.build_absolute_uri("/scim/v2/"),
            ),
        )

    @admin.action(description="Revoke the selected SCIM tokens")
    def revoke_tokens(self, request, queryset):
        _each(
            request, queryset, lambda token: services.scim_token_revoke(actor=request.user, token=token),
            label=str, done="{} SCIM token(s) revoked.",
        )


@admin.register(DirectoryGroup)
class DirectoryGroupAdmin(ReadOnlyAdmin):
    """Groups are pushed by the identity provider; only their mapping to roles is edited here."""

    list_display = ("display_name", "roles", "member_count", "external_id")
    search_fields = ("display_name", "external_id")
    fields = ("display_name", "external_id", "roles", "member_names", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("role_mappings", "members")

    @admin.display(description="roles it gives")
    def roles(self, group):
        return ", ".join(sorted(mapping.role for mapping in group.role_mappings.all())) or "—"

    @admin.display(description="members")
    def member_count(self, group):
        return len(group.members.all())

    @admin.display(description="members")
    def member_names(self, group):
        return ", ".join(sorted(user.username for user in group.members.all())) or "—"


@admin.register(GroupRoleMapping)
class GroupRoleMappingAdmin(AdminRoleOnly, admin.ModelAdmin):
    """Which role the members of a directory group hold. Adding a mapping gives the role to the
    members at once; removing it takes away the role it gave (unless another mapped group of
    theirs gives it too); each change is in the audit trail."""

    list_display = ("group", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("group__display_name",)
    list_select_related = ("group",)
    fields = ("group", "role")
    actions = ["remove_mappings"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # removal goes through the service, one by one
        return actions

    def save_model(self, request, obj, form, change):
        try:
            if change:
                original = GroupRoleMapping.objects.get(pk=obj.pk)
                mapping = services.mapping_change(actor=request.user, mapping=original, group=obj.group, role=obj.role)
            else:
                mapping = services.mapping_add(actor=request.user, group=obj.group, role=obj.role)
        except ActionError as exc:
            messages.error(request, exc.message)
            return
        obj.pk, obj.created_at = mapping.pk, mapping.created_at

    def delete_model(self, request, obj):
        services.mapping_remove(actor=request.user, mapping=obj)

    def delete_queryset(self, request, queryset):
        for mapping in queryset:
            services.mapping_remove(actor=request.user, mapping=mapping)

    @admin.action(description="Remove the selected mappings (members lose the roles they gave)")
    def remove_mappings(self, request, queryset):
        _each(
            request, queryset, lambda mapping: services.mapping_remove(actor=request.user, mapping=mapping),
            label=str, done="{} mapping(s) removed.",
        )


@admin.register(DirectoryRoleAssignment)
class DirectoryRoleAssignmentAdmin(ReadOnlyAdmin):
    """The roles the directory gave, which it takes away again when the person leaves the group."""

    list_display = ("user", "role", "assigned_at")
    list_filter = ("role",)
    search_fields = ("user__username",)
    list_select_related = ("user",)


@admin.register(DirectoryAccount)
class DirectoryAccountAdmin(ReadOnlyAdmin):
    """The people the directory provisions."""

    list_display = ("user", "external_id", "provisioned_at", "active")
    search_fields = ("user__username", "external_id")
    list_select_related = ("user",)

    @admin.display(boolean=True, description="active")
    def active(self, account):
        return account.user.is_active
