"""Writes for the company directory: SCIM tokens, provisioned people, directory groups and the
mapping of directory groups to portal roles.

The identity provider acts through the directory's agent (``access.services.directory_actor``);
every change to an account goes through the access services (``user_create``,
``user_profile_update``, ``user_roles_change``, ``user_deactivate``, ``user_reactivate``), which
check who may do it and write the audit trail. What only the directory does (its groups, which
roles it gave) is recorded here as agent events of the directory.

Roles from the directory: a person holds each role that a mapping gives one of their directory
groups. A role the person did not hold yet is given and remembered as the directory's
(``DirectoryRoleAssignment``); once no mapped group gives it any more, the directory takes it
away again, even if an admin saved the person's roles by hand in between. A role the person held
by hand before the directory gave it stays theirs by hand.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from governance.access import selectors
from governance.access.models import User, hash_token
from governance.access.roles import GlobalRole
from governance.access.services import (
    DIRECTORY_AGENT,
    is_console,
    is_directory,
    user_create,
    user_deactivate,
    user_profile_update,
    user_reactivate,
    user_roles_change,
)
from governance.audit.models import EventKind
from governance.audit.services import account_event_record, agent_event_record, audit_append
from governance.errors import ActionConflict, ActionError, ActionForbidden

from .models import DirectoryAccount, DirectoryGroup, DirectoryRoleAssignment, GroupRoleMapping, ScimToken


def _require_directory(actor) -> None:
    if not is_directory(actor):
        raise ActionForbidden("Only the company directory provisions people through SCIM.")


def _require_admin(actor, message: str) -> None:
    if actor is None or not actor.is_authenticated or not actor.is_active or not selectors.is_admin(actor):
        raise ActionForbidden(message)


def _require_admin_or_console(actor, message: str) -> None:
    if is_console(actor) and actor.is_active:
        return
    if actor is None or not actor.is_authenticated or not actor.is_active or not selectors.is_admin(actor):
        raise ActionForbidden(message)


# --- SCIM tokens -------------------------------------------------------------------------------


def _token_data(token: ScimToken) -> dict:
    return {"scim_token_id": token.pk, "label": token.label, "prefix": token.key_prefix}


def scim_token_create(*, actor, label: str) -> tuple[ScimToken, str]:
    """Make a SCIM token for the identity provider (admins, or the console); return it with its
    secret, which is never stored and never shown again."""
    _require_admin_or_console(actor, "Only admins make SCIM tokens.")
    label = (label or "").strip()
    if not label:
        raise ActionError("Name the token after the identity provider that will use it.", field="label")
    raw = ScimToken.generate()
    with transaction.atomic():
        token = ScimToken.objects.create(
            label=label[:100], key_hash=hash_token(raw), key_prefix=raw[:14], created_by=actor
        )
        account_event_record(
            action="scim_token.created", obj=token, actor=actor, data=_token_data(token),
            summary=f"SCIM token “{token.label}” created.",
        )
    return token, raw


def scim_token_revoke(*, actor, token: ScimToken) -> ScimToken:
    """Revoke a SCIM token (admins, or the console): the identity provider's very next call with
    it is refused. Revoking twice keeps the first time and one audit entry."""
    _require_admin_or_console(actor, "Only admins revoke SCIM tokens.")
    now = timezone.now()
    with transaction.atomic():
        if ScimToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now):
            token.revoked_at = now
            account_event_record(
                action="scim_token.revoked", obj=token, actor=actor, data=_token_data(token),
                summary=f"SCIM token “{token.label}” revoked.",
            )
        else:
            token.refresh_from_db(fields=["revoked_at"])
    return token


# --- People ------------------------------------------------------------------------------------


def _directory_event(action: str, summary: str, *, actor, obj=None, data: dict | None = None) -> None:
    """What the directory did, as its agent's event; the same change made by an admin (a
    mapping edited) is the admin's change."""
    if is_directory(actor):
        agent_event_record(agent_name=DIRECTORY_AGENT, action=action, summary=summary, data=data, obj=obj, actor=actor)
    else:
        audit_append(kind=EventKind.CHANGE, action=action, summary=summary, data=data, obj=obj, actor=actor)


def _refuse_agents(user: User) -> None:
    if user.is_service_account:
        raise ActionForbidden("Service accounts are not the directory's: it manages people only.")


def directory_user_provision(
    *,
    actor,
    username: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    external_id: str = "",
    active: bool = True,
) -> User:
    """Create a person the directory provisions (no password: they sign in through the directory)."""
    _require_directory(actor)
    if not username:
        raise ActionError("A user needs a userName.", field="userName")
    with transaction.atomic():
        user = user_create(
            actor=actor, username=username, email=email, first_name=first_name, last_name=last_name
        )
        DirectoryAccount.objects.create(user=user, external_id=external_id or "")
        _directory_event(
            "directory.user_provisioned", f"The directory provisioned {user.username}.", actor=actor, obj=user,
            data={"external_id": external_id or ""},
        )
        if not active:
            user_deactivate(actor=actor, user=user)
    return user


def directory_account_link(*, actor, user: User, external_id: str | None = None) -> DirectoryAccount:
    """Mark an account as the directory's (it was made by an admin before the directory pushed
    it, and the identity provider matched it by its userName)."""
    _require_directory(actor)
    _refuse_agents(user)
    account, created = DirectoryAccount.objects.get_or_create(
        user=user, defaults={"external_id": external_id or ""}
    )
    if created:
        _directory_event(
            "directory.user_linked", f"The directory took over the account {user.username}.", actor=actor,
            obj=user, data={"external_id": account.external_id},
        )
    elif external_id is not None and account.external_id != external_id:
        account.external_id = external_id
        account.save(update_fields=["external_id"])
    return account


def directory_user_update(
    *, actor, user: User, external_id: str | None = None, active: bool | None = None, **profile
) -> User:
    """Apply what the directory says of a person: profile fields, their directory id, and
    ``active`` (false deactivates them at once, true lets them sign in again; revoked tokens
    stay revoked)."""
    _require_directory(actor)
    _refuse_agents(user)
    with transaction.atomic():
        directory_account_link(actor=actor, user=user, external_id=external_id)
        profile = {name: value for name, value in profile.items() if value is not None}
        if profile:
            user_profile_update(actor=actor, user=user, **profile)
        if active is False and user.is_active:
            user_deactivate(actor=actor, user=user)
        elif active is True and not user.is_active:
            user_reactivate(actor=actor, user=user)
    return user


def directory_user_remove(*, actor, user: User) -> User:
    """The directory deleted the person: deactivate them (the account and everything they did
    stay, as the audit trail and the signatures need them)."""
    _require_directory(actor)
    _refuse_agents(user)
    with transaction.atomic():
        directory_account_link(actor=actor, user=user)
        _directory_event(
            "directory.user_removed", f"The directory removed {user.username}; the account is deactivated.",
            actor=actor, obj=user,
        )
        user_deactivate(actor=actor, user=user)
    return user


# --- Roles from the directory ------------------------------------------------------------------


def directory_roles_wanted(user: User) -> set[str]:
    """The roles the person's directory groups map to."""
    return set(GroupRoleMapping.objects.filter(group__members=user).values_list("role", flat=True))


def directory_roles_sync(*, actor, user: User) -> dict:
    """Make the person's roles from the directory match their directory groups' mappings.

    Run by the directory's agent (group changes) or by an admin (mapping changes), through
    ``user_roles_change``. The person's row is locked, so two changes at once are applied one
    after the other, each on what the other left. Returns what was added and removed.
    """
    if not is_directory(actor):
        _require_admin(actor, "Only admins and the company directory change roles from the directory.")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.is_superuser or user.is_service_account:
            # A superuser holds every right by hand, and agents are not the directory's.
            return {"added": [], "removed": []}
        wanted = directory_roles_wanted(user)
        given = set(DirectoryRoleAssignment.objects.filter(user=user).values_list("role", flat=True))
        held = set(user.groups.filter(name__in=GlobalRole.values).values_list("name", flat=True))
        add = sorted(wanted - held)
        # Held by hand before the directory gave it: stays the person's by hand.
        remove = sorted(given - wanted)
        if not add and not remove:
            return {"added": [], "removed": []}
        user_roles_change(actor=actor, user=user, add=add, remove=remove)
        DirectoryRoleAssignment.objects.filter(user=user, role__in=remove).delete()
        DirectoryRoleAssignment.objects.bulk_create(
            [DirectoryRoleAssignment(user=user, role=role) for role in add], ignore_conflicts=True
        )
        changes = {"added": add, "removed": remove}
        _directory_event(
            "directory.roles_changed",
            f"Roles of {user.username} from the directory: "
            + "; ".join(part for part in (
                f"given {', '.join(add)}" if add else "", f"taken away {', '.join(remove)}" if remove else ""
            ) if part) + ".",
            actor=actor, obj=user, data=changes,
        )
    return changes


# --- Directory groups --------------------------------------------------------------------------


def _people(ids: Iterable) -> list[User]:
    """The people with these ids (SCIM ids are the users' primary keys); 400 for any other id."""
    ids = [str(value) for value in ids]
    if not ids:
        return []
    numbers = []
    for value in ids:
        if not (value.isascii() and value.isdigit()):
            raise ActionError(f"No user has the id '{value}'.", field="members")
        numbers.append(int(value))
    people = list(User.objects.filter(pk__in=numbers, is_service_account=False))
    missing = set(numbers) - {person.pk for person in people}
    if missing:
        raise ActionError(f"No user has the id(s) {', '.join(map(str, sorted(missing)))}.", field="members")
    return people


def _group_event(action: str, group: DirectoryGroup, actor, summary: str, data: dict) -> None:
    _directory_event(action, summary, actor=actor, obj=group, data={"group": group.display_name, **data})


def directory_group_create(
    *, actor, display_name: str, external_id: str = "", member_ids: Iterable = ()
) -> DirectoryGroup:
    _require_directory(actor)
    display_name = (display_name or "").strip()
    if not display_name:
        raise ActionError("A group needs a displayName.", field="displayName")
    if DirectoryGroup.objects.filter(display_name=display_name).exists():
        raise ActionConflict(f"A directory group called '{display_name}' exists already.", code="uniqueness")
    people = _people(member_ids)
    with transaction.atomic():
        group = DirectoryGroup.objects.create(display_name=display_name, external_id=external_id or "")
        _group_event("directory.group_created", group, actor, f"The directory created the group {display_name}.", {})
        if people:
            directory_group_update(actor=actor, group=group, add=[person.pk for person in people])
    return group


def directory_group_update(
    *,
    actor,
    group: DirectoryGroup,
    display_name: str | None = None,
    external_id: str | None = None,
    add: Iterable = (),
    remove: Iterable = (),
    replace: Iterable | None = None,
) -> DirectoryGroup:
    """Rename a directory group or change its members (``replace`` sets them all), then give and
    take away the mapped roles of everyone whose membership changed."""
    _require_directory(actor)
    with transaction.atomic():
        group = DirectoryGroup.objects.select_for_update().get(pk=group.pk)
        if display_name is not None and display_name.strip() and display_name != group.display_name:
            if DirectoryGroup.objects.filter(display_name=display_name).exclude(pk=group.pk).exists():
                raise ActionConflict(f"A directory group called '{display_name}' exists already.", code="uniqueness")
            _group_event(
                "directory.group_renamed", group, actor,
                f"The directory renamed the group {group.display_name} to {display_name}.",
                {"from": group.display_name, "to": display_name},
            )
            group.display_name = display_name.strip()
            group.save(update_fields=["display_name"])
        if external_id is not None and external_id != group.external_id:
            group.external_id = external_id
            group.save(update_fields=["external_id"])
        current = set(group.members.values_list("pk", flat=True))
        if replace is not None:
            wanted = {person.pk for person in _people(replace)}
        else:
            wanted = (current | {person.pk for person in _people(add)}) - {person.pk for person in _people(remove)}
        joined, left = sorted(wanted - current), sorted(current - wanted)
        if joined:
            group.members.add(*joined)
        if left:
            group.members.remove(*left)
        if joined or left:
            names = dict(User.objects.filter(pk__in=joined + left).values_list("pk", "username"))
            _group_event(
                "directory.group_members_changed", group, actor,
                f"Members of {group.display_name}: "
                + "; ".join(part for part in (
                    f"joined {', '.join(names[pk] for pk in joined)}" if joined else "",
                    f"left {', '.join(names[pk] for pk in left)}" if left else "",
                ) if part) + ".",
                {"joined": [names[pk] for pk in joined], "left": [names[pk] for pk in left]},
            )
            for person in User.objects.filter(pk__in=joined + left).order_by("pk"):
                directory_roles_sync(actor=actor, user=person)
    return group


def directory_group_delete(*, actor, group: DirectoryGroup) -> None:
    """The directory deleted a group: its members leave it and lose the roles it gave, and its
    role mappings go with it (each recorded)."""
    _require_directory(actor)
    with transaction.atomic():
        group = DirectoryGroup.objects.select_for_update().get(pk=group.pk)
        members = list(group.members.order_by("pk"))
        for mapping in list(group.role_mappings.all()):
            _mapping_event("directory.mapping_removed", mapping, actor, f"{mapping} removed with its group.")
            mapping.delete()
        _group_event(
            "directory.group_deleted", group, actor, f"The directory deleted the group {group.display_name}.",
            {"members": [person.username for person in members]},
        )
        group.members.clear()
        group.delete()
        for person in members:
            directory_roles_sync(actor=actor, user=person)


# --- The mapping of directory groups to roles (admins) -----------------------------------------


def _mapping_event(action: str, mapping: GroupRoleMapping, actor, summary: str) -> None:
    audit_append(
        kind=EventKind.CHANGE,
        action=action,
        summary=summary,
        data={"mapping_id": mapping.pk, "group": mapping.group.display_name, "role": mapping.role},
        obj=mapping,
        actor=actor,
    )


def _resync_members(group: DirectoryGroup, actor) -> None:
    for person in group.members.order_by("pk"):
        directory_roles_sync(actor=actor, user=person)


def mapping_add(*, actor, group: DirectoryGroup, role: str) -> GroupRoleMapping:
    """Give the members of a directory group a role (admins): they get it at once."""
    _require_admin(actor, "Only admins map directory groups to roles.")
    if role not in GlobalRole.values:
        raise ActionError(f"Unknown role '{role}'. Roles: {', '.join(GlobalRole.values)}.", field="role")
    with transaction.atomic():
        group = DirectoryGroup.objects.select_for_update().get(pk=group.pk)
        mapping, created = GroupRoleMapping.objects.get_or_create(group=group, role=role)
        if created:
            _mapping_event("directory.mapping_added", mapping, actor, f"Members of {group} now hold {role}.")
            _resync_members(group, actor)
    return mapping


def mapping_remove(*, actor, mapping: GroupRoleMapping) -> None:
    """Stop a directory group giving a role (admins): the members lose the role the directory
    gave them through it (unless another mapped group of theirs gives it too)."""
    _require_admin(actor, "Only admins map directory groups to roles.")
    with transaction.atomic():
        group = DirectoryGroup.objects.select_for_update().get(pk=mapping.group_id)
        mapping = GroupRoleMapping.objects.filter(pk=mapping.pk).select_related("group").first()
        if mapping is None:
            return
        _mapping_event(
            "directory.mapping_removed", mapping, actor, f"Members of {group} no longer hold {mapping.role} by it."
        )
        mapping.delete()
        _resync_members(group, actor)


def mapping_change(*, actor, mapping: GroupRoleMapping, group: DirectoryGroup, role: str) -> GroupRoleMapping:
    """Point a mapping at another group or role (admins): the old one goes, the new one comes."""
    with transaction.atomic():
        mapping_remove(actor=actor, mapping=mapping)
        return mapping_add(actor=actor, group=group, role=role)

