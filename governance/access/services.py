"""Writes for people, tokens and grants."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from .models import ApiToken, ModelGrant, User, hash_token
from .roles import OBJECT_ROLE_PERMISSIONS, ObjectRole


class GrantError(ValueError):
    pass


def token_create(*, user: User, label: str = "", expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Make a token; return it with its secret, which is never stored and never shown again."""
    raw = ApiToken.generate()
    token = ApiToken.objects.create(
        user=user, label=label, key_hash=hash_token(raw), key_prefix=raw[:10], expires_at=expires_at
    )
    return token, raw


def token_revoke(*, token: ApiToken) -> ApiToken:
    # A locked save rather than QuerySet.update, so the audit trail's save hook records it.
    with transaction.atomic():
        locked = ApiToken.objects.select_for_update().get(pk=token.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
    token.refresh_from_db()
    return token


@transaction.atomic
def grant_create(
    *, model, role: str, user: User | None = None, group: Group | None = None, granted_by: User | None = None
) -> ModelGrant:
    """Give a user or a group an object role on a model (idempotent for the same grant)."""
    if role not in ObjectRole.values:
        raise GrantError(f"Unknown role '{role}'. Roles: {', '.join(ObjectRole.values)}.")
    if (user is None) == (group is None):
        raise GrantError("A grant names exactly one user or one group.")
    grant, _ = ModelGrant.objects.get_or_create(
        model=model, user=user, group=group, role=role, defaults={"granted_by": granted_by}
    )
    _sync_perms(model=model, user=user, group=group)
    return grant


@transaction.atomic
def grant_revoke(*, grant: ModelGrant) -> None:
    model, user, group = grant.model, grant.user, grant.group
    grant.delete()
    _sync_perms(model=model, user=user, group=group)


def _sync_perms(*, model, user: User | None, group: Group | None) -> None:
    """Make the guardian permissions of one grantee on one model match their grants."""
    holder = user or group
    grants = ModelGrant.objects.filter(model=model, user=user, group=group)
    wanted: set[str] = set()
    for role in grants.values_list("role", flat=True):
        wanted.update(OBJECT_ROLE_PERMISSIONS[role])
    every = {perm for perms in OBJECT_ROLE_PERMISSIONS.values() for perm in perms}
    for perm in every:
        if perm in wanted:
            assign_perm(perm, holder, model)
        else:
            remove_perm(perm, holder, model)


def service_account_get(name: str) -> User:
    """The service account an automated agent acts as (made on first use, no password)."""
    user, created = User.objects.get_or_create(
        username=name,
        defaults={"is_service_account": True, "first_name": name.replace("-", " ").capitalize()},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user
