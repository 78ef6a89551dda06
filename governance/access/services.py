"""Writes for people, tokens and grants.

Every write that changes who may do what (a grant, a revoke, a role change, a deactivation)
goes through a function here. django-auditlog records the rows they touch (see ``audit.py``);
``audit_actor`` makes sure the record names the person who did it, also outside a request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from governance.errors import ActionConflict, ActionError

from .models import ApiToken, ModelGrant, User, hash_token
from .roles import OBJECT_ROLE_PERMISSIONS, GlobalRole, ObjectRole


class GrantError(ActionError):
    """A grant that cannot be made as asked (400)."""


@contextlib.contextmanager
def audit_actor(actor: User | None) -> Iterator[None]:
    """Name ``actor`` on the audit entries written inside the block.

    auditlog's ``set_actor`` leaves its context variable pointing at the inner block when it
    ends, which silently drops the actor of the surrounding request for the rest of it; this
    restores the outer context (and keeps its remote address) afterwards.
    """
    if actor is None or not getattr(actor, "pk", None):
        yield
        return
    from auditlog.context import auditlog_value, set_extra_data

    try:
        previous = auditlog_value.get()
    except LookupError:
        previous = None
    data = {key: value for key, value in (previous or {}).items() if key != "signal_duid"}
    data["actor"] = actor
    try:
        with set_extra_data(context_data=data):
            yield
    finally:
        if previous is not None:
            auditlog_value.set(previous)


# --- People ----------------------------------------------------------------------------------


def _role_groups(roles: Iterable[str]) -> list[Group]:
    roles = list(dict.fromkeys(roles))
    unknown = [role for role in roles if role not in GlobalRole.values]
    if unknown:
        raise ActionError(
            f"Unknown role(s): {', '.join(unknown)}. Roles: {', '.join(GlobalRole.values)}.",
            code="invalid_choice",
            field="roles",
        )
    groups = {group.name: group for group in Group.objects.filter(name__in=roles)}
    return [groups[role] for role in roles]


def user_create(
    *,
    username: str,
    email: str,
    roles: Iterable[str] = (),
    first_name: str = "",
    last_name: str = "",
    password: str | None = None,
    is_service_account: bool = False,
    created_by: User | None = None,
) -> User:
    """Create a person or a service account with global roles.

    A service account never has a usable password (it signs in with API tokens only), so a
    password given for one is refused rather than silently dropped. A person created without
    a password signs in through the company directory (OIDC) or after an admin sets one.
    """
    groups = _role_groups(roles)
    if is_service_account and password:
        raise ActionError("A service account has no password; it uses API tokens.", field="password")
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_service_account=is_service_account,
        # Holders of the admin role manage people in the Django admin.
        is_staff=GlobalRole.ADMIN in [group.name for group in groups],
    )
    if password:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise ActionError(" ".join(exc.messages), code="password_too_weak", field="password")
        user.set_password(password)
    else:
        user.set_unusable_password()
    with audit_actor(created_by):
        try:
            with transaction.atomic():
                user.save()
                user.groups.set(groups)
        except IntegrityError:
            raise ActionError(f"A user called '{username}' already exists.", code="duplicate", field="username")
    return user


def user_set_roles(*, user: User, roles: Iterable[str], changed_by: User | None) -> User:
    """Replace the user's global roles (the admin role also gives access to the admin site)."""
    groups = _role_groups(roles)
    with audit_actor(changed_by), transaction.atomic():
        others = [group for group in user.groups.all() if group.name not in GlobalRole.values]
        user.groups.set(others + groups)
        user_sync_staff(user=user)
    return user


def user_sync_staff(*, user: User) -> None:
    """Admin-role holders are staff (they use the admin site); nobody else is, bar superusers."""
    wanted = user.is_superuser or user.groups.filter(name=GlobalRole.ADMIN).exists()
    if user.is_staff != wanted:
        user.is_staff = wanted
        user.save(update_fields=["is_staff"])


def user_deactivate(*, user: User, deactivated_by: User | None) -> User:
    """Switch an account off at once; nothing the user did is deleted or changed.

    Their tokens are revoked (each revocation in the audit trail), so that switching the account
    back on later does not bring old credentials back to life; a token is refused anyway while
    its user is inactive (``ApiToken.objects.usable``). Their browser sessions are deleted here,
    and any session that survives (another session engine, a race with a login) is refused
    because Django's backends do not load inactive users (and ActiveUserMiddleware signs it out).
    """
    if deactivated_by is not None and deactivated_by.pk == user.pk:
        raise ActionConflict("You cannot deactivate your own account.", code="self_deactivation")
    with audit_actor(deactivated_by), transaction.atomic():
        if user.is_active:
            user.is_active = False
            user.save(update_fields=["is_active"])
        for token in ApiToken.objects.filter(user=user, revoked_at__isnull=True):
            token_revoke(token=token, revoked_by=deactivated_by)
    sessions_delete_for(user=user)
    return user


def sessions_delete_for(*, user: User) -> int:
    """Delete the user's sessions from the database session store; returns how many."""
    # Session data is signed and encoded, so it cannot be filtered in SQL; live sessions are
    # few enough (one or two per person) that decoding them is cheap next to a deactivation.
    doomed = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            doomed.append(session.pk)
    Session.objects.filter(pk__in=doomed).delete()
    return len(doomed)


# --- Tokens ----------------------------------------------------------------------------------


def token_create(*, user: User, label: str = "", expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Make a token; return it with its secret, which is never stored and never shown again."""
    if expires_at is not None and expires_at <= timezone.now():
        raise ActionError("The expiry date must be in the future.", field="expires_at")
    raw = ApiToken.generate()
    with audit_actor(user):
        token = ApiToken.objects.create(
            user=user, label=label, key_hash=hash_token(raw), key_prefix=raw[:10], expires_at=expires_at
        )
    return token, raw


def token_revoke(*, token: ApiToken, revoked_by: User | None = None) -> ApiToken:
    """Revoke a token (idempotent: revoking twice keeps the first time)."""
    with audit_actor(revoked_by), transaction.atomic():
        locked = ApiToken.objects.select_for_update().get(pk=token.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            # save() rather than update() so that auditlog records the revocation.
            locked.save(update_fields=["revoked_at"])
    token.refresh_from_db()
    return token


# --- Grants ----------------------------------------------------------------------------------


def grant_give(
    *, model, role: str, user: User | None = None, group: Group | None = None, granted_by: User | None = None
) -> tuple[ModelGrant, bool]:
    """Give a user or a group an object role on a model; returns (grant, created).

    Giving a grant that exists already changes nothing and returns the existing one, so
    retried calls (CI pipelines retry) are harmless.
    """
    if role not in ObjectRole.values:
        raise GrantError(
            f"Unknown role '{role}'. Roles: {', '.join(ObjectRole.values)}.", code="invalid_choice", field="role"
        )
    if (user is None) == (group is None):
        raise GrantError("A grant names exactly one user or one group.", field="username")
    with audit_actor(granted_by), transaction.atomic():
        grant, created = ModelGrant.objects.get_or_create(
            model=model, user=user, group=group, role=role, defaults={"granted_by": granted_by}
        )
        # Always re-sync: it also repairs permissions edited behind the grants' back.
        _sync_perms(model=model, user=user, group=group)
    return grant, created


def grant_create(
    *, model, role: str, user: User | None = None, group: Group | None = None, granted_by: User | None = None
) -> ModelGrant:
    """Give a user or a group an object role on a model (idempotent for the same grant)."""
    grant, _ = grant_give(model=model, role=role, user=user, group=group, granted_by=granted_by)
    return grant


def grant_revoke(*, grant: ModelGrant, revoked_by: User | None = None) -> None:
    """Take a grant away; it takes effect on the grantee's very next request.

    A model always keeps at least one owner, so that someone can still manage it.
    """
    from governance.registry.models import MLModel

    with audit_actor(revoked_by), transaction.atomic():
        # Lock the model so that two owners removing each other cannot leave it with none.
        model = MLModel.objects.select_for_update().get(pk=grant.model_id)
        grant = ModelGrant.objects.filter(pk=grant.pk).select_related("user", "group").first()
        if grant is None:
            return
        if grant.role == ObjectRole.OWNER and not model.grants.filter(role=ObjectRole.OWNER).exclude(pk=grant.pk).exists():
            raise ActionConflict("A model keeps at least one owner: add another owner first.", code="last_owner")
        user, group = grant.user, grant.group
        grant.delete()
        _sync_perms(model=model, user=user, group=group)


def grant_set_roles(
    *, model, roles: Iterable[str], user: User | None = None, group: Group | None = None, changed_by: User | None
) -> None:
    """Make the grantee's roles on the model exactly ``roles`` (used by the admin's pages)."""
    roles = set(roles)
    current = {grant.role: grant for grant in ModelGrant.objects.filter(model=model, user=user, group=group)}
    with transaction.atomic():
        for role in sorted(roles - set(current)):
            grant_give(model=model, role=role, user=user, group=group, granted_by=changed_by)
        for role in sorted(set(current) - roles):
            grant_revoke(grant=current[role], revoked_by=changed_by)


def _sync_perms(*, model, user: User | None, group: Group | None) -> None:
    """Make the guardian permissions of one grantee on one model match their grants."""
    holder = user or group
    grants = ModelGrant.objects.filter(model=model, user=user, group=group)
    wanted: set[str] = set()
    for role in grants.values_list("role", flat=True):
        wanted.update(OBJECT_ROLE_PERMISSIONS[role])
    every = {perm for perms in OBJECT_ROLE_PERMISSIONS.values() for perm in perms}
    for perm in sorted(every):
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


def role_groups_ensure(*, group_model=None, permission_model=None) -> None:
    """Create the global role groups with their permissions (idempotent).

    Run by migration 0003 (with its historical models) and after every ``migrate`` or test
    flush (``post_migrate``), so the groups exist whenever the tables do.
    """
    from django.contrib.auth.models import Permission

    from .roles import GLOBAL_ROLE_PERMISSIONS

    group_model = group_model or Group
    permission_model = permission_model or Permission
    for role, perms in GLOBAL_ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        for dotted in perms:
            app_label, codename = dotted.split(".")
            group.permissions.add(
                permission_model.objects.get(content_type__app_label=app_label, codename=codename)
            )
