"""Writes for people, tokens and grants.

Every write that changes who may do what (a grant, a revoke, a role change, a deactivation, a
token) is a function here. Each takes the acting person or agent as ``actor``, checks that the
actor may do it (doors may check earlier for a kinder error; the rule is here), and writes its
decision to the audit trail in its own transaction. Field changes of accounts (names, email,
role groups) are recorded by django-auditlog; ``audit_actor`` makes those entries name the actor,
also outside a request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from governance.audit.models import EventKind
from governance.audit.services import account_event_record, audit_append
from governance.errors import ActionConflict, ActionError, ActionForbidden

from . import permissions, selectors
from .models import ApiToken, ModelGrant, User, hash_token
from .roles import OBJECT_ROLE_PERMISSIONS, GlobalRole, ObjectRole

# The agent that acts for whoever runs a management command on the server.
CONSOLE_AGENT = "console"
# The agent that acts for the company directory (the identity provider calling /scim/v2/ with a
# SCIM token): it provisions and deprovisions people and gives the roles its groups map to.
DIRECTORY_AGENT = "directory"


class GrantError(ActionError):
    """A grant that cannot be made as asked (400)."""


@contextlib.contextmanager
def audit_actor(actor: User | None) -> Iterator[None]:
    """Name ``actor`` on the django-auditlog entries written inside the block.

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


def _require_active(actor) -> None:
    if actor is None or not actor.is_authenticated:
        raise ActionForbidden("Sign in first.")
    if not actor.is_active:
        raise ActionForbidden("This account is deactivated.")


def _require_admin(actor, message: str = "Only admins manage users.") -> None:
    _require_active(actor)
    if not selectors.is_admin(actor):
        raise ActionForbidden(message)


def _require_admin_or_directory(actor, message: str = "Only admins manage users.") -> None:
    """Admins manage people; so does the company directory, through its agent."""
    if is_directory(actor):
        return
    _require_admin(actor, message)


def _require_may_change(actor, user: User) -> None:
    """Only a superuser changes a superuser: an admin cannot take over the accounts above theirs."""
    if user.is_superuser and not actor.is_superuser:
        raise ActionForbidden("Only a superuser changes a superuser's account.")


def is_console(actor) -> bool:
    return actor is not None and actor.is_service_account and actor.get_username() == CONSOLE_AGENT


def console_actor() -> User:
    """The agent a management command acts as: the person at the server's console."""
    return service_account_get(CONSOLE_AGENT)


def is_directory(actor) -> bool:
    """The company directory's agent (an active service account of that name)."""
    return (
        actor is not None
        and getattr(actor, "is_service_account", False)
        and actor.is_active
        and actor.get_username() == DIRECTORY_AGENT
    )


def directory_actor() -> User:
    """The agent the company directory acts as (SCIM requests)."""
    return service_account_get(DIRECTORY_AGENT)


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
    actor: User,
    username: str,
    email: str,
    roles: Iterable[str] = (),
    first_name: str = "",
    last_name: str = "",
    password: str | None = None,
    is_service_account: bool = False,
) -> User:
    """Create a person or a service account with global roles (admins, and the directory's
    agent for people).

    A service account never has a usable password (it signs in with API tokens only), so a
    password given for one is refused rather than silently dropped. A person created without
    a password signs in through the company directory (OIDC) or after an admin sets one.
    """
    _require_admin_or_directory(actor)
    if is_directory(actor) and is_service_account:
        raise ActionForbidden("The company directory provisions people, not service accounts.")
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
    with audit_actor(actor):
        try:
            with transaction.atomic():
                user.save()
                user.groups.set(groups)
        except IntegrityError:
            raise ActionError(f"A user called '{username}' already exists.", code="duplicate", field="username")
    return user


def user_set_roles(*, actor: User, user: User, roles: Iterable[str]) -> User:
    """Replace the user's global roles (admins only; the admin role also opens the admin site)."""
    _require_admin(actor)
    _require_may_change(actor, user)
    groups = _role_groups(roles)
    with audit_actor(actor), transaction.atomic():
        others = [group for group in user.groups.all() if group.name not in GlobalRole.values]
        user.groups.set(others + groups)
        user_sync_staff(user=user)
    return user


def user_roles_change(
    *, actor: User, user: User, add: Iterable[str] = (), remove: Iterable[str] = ()
) -> list[str]:
    """Give and take away some global roles, leaving the others (admins, and the directory's
    agent, which gives the roles its groups map to). Returns the user's roles afterwards.

    The role groups' changes are recorded by django-auditlog, naming the actor.
    """
    _require_admin_or_directory(actor)
    _require_may_change(actor, user)
    to_add, to_remove = _role_groups(add), _role_groups(remove)
    with audit_actor(actor), transaction.atomic():
        if to_remove:
            user.groups.remove(*to_remove)
        if to_add:
            user.groups.add(*to_add)
        user_sync_staff(user=user)
    return user.role_names


def user_profile_update(*, actor: User, user: User, **fields) -> User:
    """Change a person's username, email or names (admins, and the directory's agent, which
    keeps them as the directory has them). Field changes are recorded by django-auditlog.

    An account's e-mail address is where its password resets go, so only the directory (which
    owns the person's identity) changes it: an admin could otherwise send a reset to themself.
    """
    _require_admin_or_directory(actor)
    _require_may_change(actor, user)
    allowed = {"username", "email", "first_name", "last_name"}
    unknown = set(fields) - allowed
    if unknown:
        raise ActionError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    changed = [name for name, value in fields.items() if getattr(user, name) != value]
    if not changed:
        return user
    if "email" in changed and not is_directory(actor):
        raise ActionForbidden("An account's e-mail address is changed by the company directory only.", field="email")
    for name in changed:
        setattr(user, name, fields[name])
    with audit_actor(actor):
        try:
            with transaction.atomic():
                user.save(update_fields=changed)
        except IntegrityError:
            raise ActionError(
                f"A user called '{fields.get('username')}' already exists.", code="duplicate", field="username"
            )
    return user


def user_sync_staff(*, user: User) -> None:
    """Admin-role holders are staff (they use the admin site); nobody else is, bar superusers.

    Follows from the roles, which the callers' own rules already allowed; not a decision itself.
    """
    wanted = user.is_superuser or user.groups.filter(name=GlobalRole.ADMIN).exists()
    if user.is_staff != wanted:
        user.is_staff = wanted
        user.save(update_fields=["is_staff"])


def user_deactivate(*, actor: User, user: User) -> User:
    """Switch an account off at once (admins, and the directory's agent when the directory
    removes the person); nothing the user did is deleted or changed.

    One audit entry records the deactivation. The user's tokens are revoked (each revocation its
    own entry), so that switching the account back on later does not bring old credentials back
    to life; a token is refused anyway while its user is inactive (``ApiToken.objects.usable``).
    Their browser sessions are deleted here, and any session that survives (another session
    engine, a race with a login) is refused because Django's backends do not load inactive users
    (and ActiveUserMiddleware signs it out). Their sign-offs stop counting towards a quorum, as
    only an active signer's do. ``signals.user_deactivated`` is sent in the same transaction, so
    that the workflows act on it (reviews waiting for the person are flagged to the owners).

    The directory removes whoever it removes, superusers included: switching an account off
    gives nobody anything. Only a superuser switches a superuser back on.
    """
    from .signals import user_deactivated

    _require_admin_or_directory(actor)
    if actor.pk == user.pk:
        raise ActionConflict("You cannot deactivate your own account.", code="self_deactivation")
    if not is_directory(actor):
        _require_may_change(actor, user)
    if user.is_service_account and user.get_username() in (CONSOLE_AGENT, DIRECTORY_AGENT):
        raise ActionConflict(f"The {user.get_username()} agent cannot be deactivated.", code="agent_account")
    with transaction.atomic():
        switched = User.objects.filter(pk=user.pk, is_active=True).update(is_active=False)
        user.is_active = False
        if switched:
            account_event_record(
                action="user.deactivated", user=user, actor=actor, summary=f"Deactivated {user.username}.",
                data={"by_directory": is_directory(actor)},
            )
        tokens_revoke_for(actor=actor, user=user)
        if switched:
            user_deactivated.send(sender=User, user=user, actor=actor)
    sessions_delete_for(user=user)
    return user


def user_reactivate(*, actor: User, user: User) -> User:
    """Switch an account back on (admins, and the directory's agent). Its old tokens stay revoked."""
    _require_admin_or_directory(actor)
    _require_may_change(actor, user)
    with transaction.atomic():
        if User.objects.filter(pk=user.pk, is_active=False).update(is_active=True):
            account_event_record(
                action="user.reactivated", user=user, actor=actor, summary=f"Reactivated {user.username}.",
                data={"by_directory": is_directory(actor)},
            )
    user.is_active = True
    return user


def user_password_reset_start(*, actor: User, user: User, request) -> None:
    """Send the person a password-reset email (admins only), as one audit entry.

    Nobody sets another person's password: the person completes the reset themself, through
    allauth's reset flow, so an admin never knows it and cannot sign in or sign as them.
    """
    from allauth.account.forms import ResetPasswordForm

    _require_admin(actor)
    _require_may_change(actor, user)
    if user.is_service_account:
        raise ActionError("A service account has no password; it uses API tokens.", field="password")
    if not user.is_active:
        raise ActionConflict("The account is deactivated; reactivate it first.", code="user_inactive")
    form = ResetPasswordForm(data={"email": user.email})
    if not user.email or not form.is_valid():
        raise ActionError(f"{user.username} has no email address a reset can be sent to.", field="email")
    # The form finds every active account with that address; the reset is for this one only.
    form.users = [user]
    with transaction.atomic():
        account_event_record(
            action="password.reset_requested", user=user, actor=actor,
            summary=f"Password reset email sent to {user.username} by an admin.",
        )
    form.save(request)


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


def _may_manage_tokens_of(actor, user: User) -> bool:
    """People manage their own tokens; admins and the console manage anyone's (the directory's
    agent revokes them when it deactivates someone, and makes none)."""
    if is_console(actor) or is_directory(actor):
        return actor.is_active
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return False
    return actor.pk == user.pk or actor.has_role(GlobalRole.ADMIN)


def _token_data(token: ApiToken) -> dict:
    return {
        "token_id": token.pk,
        "label": token.label,
        "prefix": token.key_prefix,
        "owner": token.user.username,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
    }


def token_create(
    *, actor: User, user: User, label: str = "", expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Make a token; return it with its secret, which is never stored and never shown again.

    Without ``expires_at`` the token expires after GOVERNANCE_TOKEN_DEFAULT_DAYS (0: never), so
    that a forgotten token does not stay a way in for ever.
    """
    if not _may_manage_tokens_of(actor, user) or is_directory(actor):
        raise ActionForbidden("Only the account's owner or an admin makes its API tokens.")
    if user.is_service_account and user.get_username() == DIRECTORY_AGENT:
        raise ActionForbidden(
            "The directory agent has no API tokens: the identity provider uses a SCIM token.", code="directory_agent"
        )
    if not user.is_active:
        raise ActionConflict("The account is deactivated; its tokens would be refused.", code="user_inactive")
    if expires_at is not None and expires_at <= timezone.now():
        raise ActionError("The expiry date must be in the future.", field="expires_at")
    if expires_at is None and settings.GOVERNANCE_TOKEN_DEFAULT_DAYS:
        expires_at = timezone.now() + timedelta(days=settings.GOVERNANCE_TOKEN_DEFAULT_DAYS)
    raw = ApiToken.generate()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, label=label, key_hash=hash_token(raw), key_prefix=raw[:10], expires_at=expires_at
        )
        account_event_record(
            action="token.created", user=user, obj=token, actor=actor, data=_token_data(token),
            summary=f"API token “{token.label or token.key_prefix}” created for {user.username}.",
        )
    return token, raw


def token_revoke(*, actor: User, token: ApiToken) -> ApiToken:
    """Revoke a token (idempotent: revoking twice keeps the first time and one audit entry)."""
    if not _may_manage_tokens_of(actor, token.user):
        raise ActionForbidden("Only the token's owner or an admin revokes it.")
    now = timezone.now()
    with transaction.atomic():
        if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now):
            token.revoked_at = now
            account_event_record(
                action="token.revoked", user=token.user, obj=token, actor=actor, data=_token_data(token),
                summary=f"API token “{token.label or token.key_prefix}” of {token.user.username} revoked.",
            )
        else:
            token.refresh_from_db(fields=["revoked_at"])  # revoked before: keep the first time
    return token


def tokens_revoke_for(*, actor, user: User) -> int:
    """Revoke every live token of ``user`` (each its own audit entry); returns how many.

    Called when the person's password changes (whoever learnt the old password may have made
    tokens with it, and a token outlives the sessions that a new password ends) and when the
    account is deactivated (so that switching it back on does not revive old credentials).
    """
    tokens = list(ApiToken.objects.filter(user=user, revoked_at__isnull=True).select_related("user"))
    with transaction.atomic():
        for token in tokens:
            token_revoke(actor=actor, token=token)
    return len(tokens)


# --- Grants ----------------------------------------------------------------------------------


def last_owner_refusal(*, model, role: str, user: User | None = None, group: Group | None = None) -> str | None:
    """Why removing this grantee's ``role`` would leave the model without an owner, or None."""
    if role != ObjectRole.OWNER:
        return None
    others = ModelGrant.objects.filter(model=model, role=ObjectRole.OWNER).exclude(user=user, group=group)
    if others.exists():
        return None
    return "A model keeps at least one owner: add another owner first."


def grant_refusal(role: str) -> str:
    """Why the actor may not give or remove a grant of ``role`` (see ``permissions.GRANT_GIVERS``)."""
    if role == ObjectRole.REVIEWER:
        return "Reviewer grants are given and removed by validators independent of the model, and by admins."
    if role == ObjectRole.OPERATOR:
        return "Operator grants are given and removed by admins only."
    if role in ObjectRole.values:
        return f"{ObjectRole(role).label} grants are given and removed by the model's owners and by admins."
    return "Only the model's owners, validators and admins manage its grants."


def _grant_event(action: str, grant: ModelGrant, actor, summary: str) -> None:
    audit_append(
        kind=EventKind.CHANGE,
        action=action,
        summary=summary,
        data={
            "grant_id": grant.pk,
            "role": grant.role,
            "user": grant.user.username if grant.user_id else None,
            "group": grant.group.name if grant.group_id else None,
        },
        obj=grant,
        actor=actor,
    )


def grant_give(
    *, actor: User, model, role: str, user: User | None = None, group: Group | None = None
) -> tuple[ModelGrant, bool]:
    """Give a user or a group an object role on a model; returns (grant, created).

    Giving a grant that exists already changes nothing and returns the existing one, so
    retried calls (CI pipelines retry) are harmless.
    """
    _check_role(role)
    if not permissions.can_give_grant(actor, model, role):
        raise ActionForbidden(grant_refusal(role))
    return _grant_write(actor=actor, model=model, role=role, user=user, group=group)


def grant_first_owner(*, model, user: User) -> ModelGrant:
    """Make the person who registered a model its first owner (a model with no grants yet).

    A model without grants holds no permission rows (they are written with grants), so the
    owner's are written in one insert, without reading any first.
    """
    if ModelGrant.objects.filter(model=model).exists():
        raise ActionConflict("The model has grants already; its owners manage them.", code="has_owner")
    with transaction.atomic():
        grant = ModelGrant.objects.create(model=model, user=user, role=ObjectRole.OWNER, granted_by=user)
        _grant_event("grant.given", grant, user, f"{grant.grantee_name} is now {grant.role} of {model.name}.")
        _sync_perms(model=model, user=user, group=None, granted_roles=[ObjectRole.OWNER], held=())
    return grant


def _check_role(role: str) -> None:
    if role not in ObjectRole.values:
        raise GrantError(
            f"Unknown role '{role}'. Roles: {', '.join(ObjectRole.values)}.", code="invalid_choice", field="role"
        )


def _grant_write(*, actor, model, role: str, user: User | None, group: Group | None) -> tuple[ModelGrant, bool]:
    _check_role(role)
    if (user is None) == (group is None):
        raise GrantError("A grant names exactly one user or one group.", field="username")
    with transaction.atomic():
        grant, created = ModelGrant.objects.get_or_create(
            model=model, user=user, group=group, role=role, defaults={"granted_by": actor}
        )
        if created:
            _grant_event("grant.given", grant, actor, f"{grant.grantee_name} is now {role} of {model.name}.")
        # Always re-sync: it also repairs permissions edited behind the grants' back.
        _sync_perms(model=model, user=user, group=group)
    return grant, created


def grant_revoke(*, actor: User, grant: ModelGrant) -> None:
    """Take a grant away; it takes effect on the grantee's very next request.

    A model always keeps at least one owner, so that someone can still manage it.
    """
    from governance.registry.models import MLModel

    role = grant.role
    with transaction.atomic():
        # Lock the model so that two owners removing each other cannot leave it with none; both
        # rules are decided under the lock, on the grants as they are once it is held (the one
        # who waited finds the model down to its last owner, not a half-applied state).
        model = MLModel.objects.select_for_update().get(pk=grant.model_id)
        if not permissions.can_give_grant(actor, model, role):
            raise ActionForbidden(grant_refusal(role))
        grant = ModelGrant.objects.filter(pk=grant.pk).select_related("user", "group").first()
        if grant is not None:
            refusal = last_owner_refusal(model=model, role=grant.role, user=grant.user, group=grant.group)
            if refusal:
                raise ActionConflict(refusal, code="last_owner")
        if grant is None:
            return  # taken away already: revoking twice changes nothing
        user, group = grant.user, grant.group
        _grant_event("grant.revoked", grant, actor, f"{grant.grantee_name} is no longer {grant.role} of {model.name}.")
        grant.delete()
        _sync_perms(model=model, user=user, group=group)


def grant_set_roles(
    *, actor: User, model, roles: Iterable[str], user: User | None = None, group: Group | None = None
) -> None:
    """Make the grantee's roles on the model exactly ``roles`` (used by the admin's pages)."""
    roles = set(roles)
    current = {grant.role: grant for grant in ModelGrant.objects.filter(model=model, user=user, group=group)}
    with transaction.atomic():
        for role in sorted(roles - set(current)):
            grant_give(actor=actor, model=model, role=role, user=user, group=group)
        for role in sorted(set(current) - roles):
            grant_revoke(actor=actor, grant=current[role])


def _sync_perms(
    *,
    model,
    user: User | None,
    group: Group | None,
    granted_roles: Iterable[str] | None = None,
    held: Iterable[str] | None = None,
) -> None:
    """Make the guardian permissions of one grantee on one model match their grants.

    Reads the grantee's roles on the model and the permission rows they hold (unless the caller
    knows them: ``granted_roles``, ``held``), then adds the missing rows in one bulk insert and
    deletes the extra ones in one delete; rows that stay are not touched. A row another
    transaction inserted meanwhile is left as it is (the insert skips conflicts).
    """
    from governance.registry.models import MLModelGroupObjectPermission, MLModelUserObjectPermission

    if granted_roles is None:
        granted_roles = ModelGrant.objects.filter(model=model, user=user, group=group).values_list("role", flat=True)
    wanted: set[str] = set()
    for role in granted_roles:
        wanted.update(OBJECT_ROLE_PERMISSIONS[role])
    if user is not None:
        table, holder = MLModelUserObjectPermission, {"user": user}
    else:
        table, holder = MLModelGroupObjectPermission, {"group": group}
    rows = table.objects.filter(content_object=model, **holder)
    held = set(rows.values_list("permission__codename", flat=True) if held is None else held)
    by_codename = model_permissions()
    missing = sorted(wanted - held)
    if missing:
        table.objects.bulk_create(
            [table(content_object=model, permission=by_codename[codename], **holder) for codename in missing],
            ignore_conflicts=True,
        )
    extra = held - wanted
    if extra:
        rows.filter(permission__in=[by_codename[codename] for codename in extra]).delete()
    if missing or extra:
        permissions.perms_changed()


# {codename: Permission} of registry.MLModel, read once per process: the rows are made by
# migrations and never change while the portal runs. A migrate or a test database flush makes
# them again (new ids), so post_migrate empties it (``model_permissions_forget``).
_MODEL_PERMISSIONS: dict = {}


def model_permissions() -> dict:
    """The object permissions of registry.MLModel by codename, from the process's cache."""
    if not _MODEL_PERMISSIONS:
        from django.contrib.auth.models import Permission
        from django.contrib.contenttypes.models import ContentType

        from governance.registry.models import MLModel

        content_type = ContentType.objects.get_for_model(MLModel)
        found = {p.codename: p for p in Permission.objects.filter(content_type=content_type)}
        _MODEL_PERMISSIONS.update(found)
    return _MODEL_PERMISSIONS


def model_permissions_forget(**kwargs) -> None:
    _MODEL_PERMISSIONS.clear()


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
    flush (``post_migrate``), so the groups exist whenever the tables do. Part of installing the
    portal, like a migration, so not a change anyone made: auditlog is off while it runs.
    """
    from auditlog.context import disable_auditlog
    from django.contrib.auth.models import Permission

    from .roles import GLOBAL_ROLE_PERMISSIONS

    group_model = group_model or Group
    permission_model = permission_model or Permission
    with disable_auditlog():
        for role, perms in GLOBAL_ROLE_PERMISSIONS.items():
            group, _ = group_model.objects.get_or_create(name=role)
            for dotted in perms:
                app_label, codename = dotted.split(".")
                group.permissions.add(
                    permission_model.objects.get(content_type__app_label=app_label, codename=codename)
                )
