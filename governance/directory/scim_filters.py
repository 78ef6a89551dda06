"""SCIM filters (``?filter=userName eq "…"``) of users and directory groups.

Apart from the adapters in ``scim``: django-scim2 reads these while it defines its own adapter
classes, which ``scim`` extends.
"""

from django_scim.filters import GroupFilterQuery, UserFilterQuery


class PortalUserFilter(UserFilterQuery):
    """Filters of users: userName, names, active and externalId (Okta and Entra ID look people
    up by ``userName eq "…"`` before creating them)."""

    joins = ("LEFT JOIN directory_directoryaccount ON directory_directoryaccount.user_id = access_user.id",)
    attr_map = {
        **UserFilterQuery.attr_map,
        ("externalId", None, None): "directory_directoryaccount.external_id",
        ("emails", "value", None): "email",
        ("emails", None, None): "email",
    }


class DirectoryGroupFilter(GroupFilterQuery):
    attr_map = {
        ("displayName", None, None): "display_name",
        ("externalId", None, None): "external_id",
    }
