"""What the company directory (an identity provider speaking SCIM 2.0) tells the portal.

- ``ScimToken``: the bearer credential the identity provider presents at /scim/v2/. It is a
  separate kind of credential from API tokens: an API token is never accepted there, and a SCIM
  token is never accepted by the API.
- ``DirectoryAccount``: a portal user the directory provisions, with the directory's own id.
- ``DirectoryGroup``: a group the directory pushes, with its members. It is not a Django group:
  a directory group never grants anything by itself, whatever its name.
- ``GroupRoleMapping``: which portal role the members of a directory group hold (edited by
  admins in the Django admin).
- ``DirectoryRoleAssignment``: which of a user's global roles the directory gave, so that the
  directory takes them away again when the person leaves the group or the mapping goes.
"""

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from governance.access.models import hash_token
from governance.access.roles import GlobalRole


class ScimTokenQuerySet(models.QuerySet):
    def usable(self):
        return self.filter(revoked_at__isnull=True)


class ScimToken(models.Model):
    """A bearer token of the identity provider. Only its SHA-256 is stored; the secret is shown
    once, at creation."""

    PREFIX = "scim_"

    label = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters, so admins can tell tokens apart without the secret.
    key_prefix = models.CharField(max_length=14, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ScimTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "SCIM token"

    def __str__(self) -> str:
        return f"{self.key_prefix}… ({self.label})"

    @classmethod
    def generate(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)

    @classmethod
    def find(cls, raw: str) -> "ScimToken | None":
        return cls.objects.filter(key_hash=hash_token(raw)).first()

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None


class DirectoryAccount(models.Model):
    """A portal user the directory provisions (created, or linked on its first SCIM write)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="directory_account")
    # The identity provider's id of the person ("externalId"); not unique, as SCIM says.
    external_id = models.CharField(max_length=254, blank=True, db_index=True)
    provisioned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "directory account"

    def __str__(self) -> str:
        return f"{self.user} (directory)"


class DirectoryGroup(models.Model):
    """A group of the company directory, pushed by SCIM, with its members."""

    display_name = models.CharField(max_length=254, unique=True)
    external_id = models.CharField(max_length=254, blank=True, db_index=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="directory_groups")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["display_name"]
        verbose_name = "directory group"

    def __str__(self) -> str:
        return self.display_name


class GroupRoleMapping(models.Model):
    """The members of a directory group hold a portal role while they are members."""

    group = models.ForeignKey(DirectoryGroup, on_delete=models.PROTECT, related_name="role_mappings")
    role = models.CharField(max_length=20, choices=GlobalRole.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group__display_name", "role"]
        verbose_name = "group-to-role mapping"
        constraints = [models.UniqueConstraint(fields=["group", "role"], name="one_mapping_per_group_and_role")]

    def __str__(self) -> str:
        return f"{self.group} → {self.get_role_display()}"


class DirectoryRoleAssignment(models.Model):
    """A global role the directory gave a user: it stays only while a mapped group gives it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="directory_roles")
    role = models.CharField(max_length=20, choices=GlobalRole.choices)
    assigned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "role"]
        verbose_name = "role from the directory"
        verbose_name_plural = "roles from the directory"
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="one_directory_role_per_user")]

    def __str__(self) -> str:
        return f"{self.user}: {self.role} (directory)"
