"""People, agents, API tokens and per-model grants."""

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser, Group
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from .roles import GlobalRole, ObjectRole


class User(AbstractUser):
    """A person, or a service account for an automated agent (no password, never signs off)."""

    is_service_account = models.BooleanField(
        default=False,
        help_text="An automated agent such as a CI pipeline or a drift monitor. It has no "
        "password and can never sign off a version.",
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    # Set on the user a request acts as (``ActiveUserMiddleware``, the API's token check): the
    # names of its role groups are then read once for the request instead of on every role
    # check. The instance lives for one request only, and adding or removing its groups through
    # it (``user.groups.add``...) drops what was read (``receivers.role_names_forget``).
    roles_read_once = False

    @property
    def role_names(self) -> list[str]:
        if self.roles_read_once:
            groups = self.__dict__.get("_role_group_names")
            if groups is None:
                groups = self.__dict__["_role_group_names"] = self._role_group_names()
        else:
            groups = self._role_group_names()
        names = set(groups)
        if self.is_superuser:
            names.add(GlobalRole.ADMIN)
        return sorted(names)

    def _role_group_names(self) -> frozenset[str]:
        return frozenset(name for name in self.groups.values_list("name", flat=True) if name in GlobalRole.values)

    def roles_read_with(self, row) -> None:
        """Serve this request's role checks from ``row``, read with ``role_annotations(...)``
        (the user's roles in the same query as the user), instead of reading the groups."""
        self.roles_read_once = True
        self.__dict__["_role_group_names"] = frozenset(
            role for role in GlobalRole.values if getattr(row, f"{ROLE_ALIAS}{role}")
        )

    def has_role(self, role: str) -> bool:
        if role == GlobalRole.ADMIN and self.is_superuser:
            return True
        return role in self.role_names

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


ROLE_ALIAS = "has_role_"


def role_annotations(user_ref: str = "pk") -> dict:
    """Annotations that read whether the user (``user_ref``) holds each global role, in the
    query that reads the user (``User.roles_read_with`` takes them)."""
    memberships = User.groups.through.objects
    return {
        f"{ROLE_ALIAS}{role}": Exists(memberships.filter(user_id=OuterRef(user_ref), group__name=role))
        for role in GlobalRole.values
    }


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def usable(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True, user__is_active=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A Bearer token. Only its SHA-256 is stored; the secret is shown once, at creation."""

    PREFIX = "gov_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    label = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters, so people can tell their tokens apart without the secret.
    key_prefix = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.key_prefix}… ({self.label or 'no label'})"

    @classmethod
    def generate(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)

    @property
    def is_usable(self) -> bool:
        if self.revoked_at is not None or not self.user.is_active:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class ModelGrant(models.Model):
    """An object role on one model for a user or a group.

    The grant is the record people manage; the guardian object permissions it implies are kept
    in step by ``services.grant_give`` / ``grant_revoke``.
    """

    model = models.ForeignKey("registry.MLModel", on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="model_grants"
    )
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="model_grants")
    role = models.CharField(max_length=20, choices=ObjectRole.choices)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False, group__isnull=True) | Q(user__isnull=True, group__isnull=False)),
                name="grant_to_user_or_group",
            ),
            models.UniqueConstraint(
                fields=["model", "user", "role"], condition=Q(user__isnull=False), name="unique_user_grant"
            ),
            models.UniqueConstraint(
                fields=["model", "group", "role"], condition=Q(group__isnull=False), name="unique_group_grant"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} on {self.model} for {self.grantee_name}"

    @property
    def grantee_name(self) -> str:
        return self.user.username if self.user_id else f"group:{self.group.name}"
