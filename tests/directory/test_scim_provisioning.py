"""An identity provider provisions, regroups, deprovisions and re-activates a person over SCIM
(driven with scim2-client), and the portal's state and audit trail follow each step."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from scim2_models import Email, Group, GroupMember, Name, PatchOp, PatchOperation, User

from governance.access.models import ApiToken
from governance.access.models import User as PortalUser
from governance.access.services import DIRECTORY_AGENT, token_create
from governance.audit.models import ActorKind, AuditEvent
from governance.directory.models import DirectoryAccount, DirectoryGroup, DirectoryRoleAssignment
from governance.directory.services import mapping_add

pytestmark = pytest.mark.django_db


def directory_events(action: str):
    return AuditEvent.objects.filter(action=action, agent_name=DIRECTORY_AGENT).order_by("seq")


def new_person(scim, username="zoe@corp.example", **extra):
    return scim.create(
        User(
            user_name=username,
            name=Name(given_name="Zoe", family_name="Quinn"),
            emails=[Email(value=username, primary=True, type="work")],
            external_id=extra.pop("external_id", "entra-zoe"),
            active=True,
            **extra,
        )
    )


def set_active(scim, user_id: str, active: bool):
    return scim.modify(User, user_id, PatchOp[User](operations=[PatchOperation(op="replace", path="active", value=active)]))


def test_create_group_change_deactivate_and_reactivate(scim, admin_user, api_for):
    # Create: a person without a portal password, the directory's, recorded as the directory's act.
    created = new_person(scim)
    zoe = PortalUser.objects.get(pk=created.id)
    assert (zoe.username, zoe.email, zoe.first_name, zoe.last_name) == (
        "zoe@corp.example", "zoe@corp.example", "Zoe", "Quinn",
    )
    assert zoe.is_active and not zoe.has_usable_password() and zoe.role_names == []
    assert DirectoryAccount.objects.get(user=zoe).external_id == "entra-zoe"
    provisioned = directory_events("directory.user_provisioned").get()
    assert provisioned.actor_username == DIRECTORY_AGENT and provisioned.actor_kind == ActorKind.AGENT
    assert provisioned.object_id == str(zoe.pk)
    assert created.external_id == "entra-zoe" and created.active is True

    # Group change: the admin maps the directory group to the validator role; the directory
    # pushes the group with Zoe in it, and Zoe is a validator, by the directory.
    group = scim.create(Group(display_name="ML validators", members=[GroupMember(value=created.id)]))
    assert zoe.role_names == []  # no mapping yet: a directory group gives nothing by itself
    mapping_add(actor=admin_user, group=DirectoryGroup.objects.get(pk=group.id), role="validator")
    assert zoe.role_names == ["validator"]
    assert list(DirectoryRoleAssignment.objects.filter(user=zoe).values_list("role", flat=True)) == ["validator"]
    mapped = AuditEvent.objects.get(action="directory.mapping_added")
    assert mapped.actor_username == "admin"

    scim.modify(
        Group, group.id,
        PatchOp[Group](operations=[PatchOperation(op="remove", path="members", value=[{"value": created.id}])]),
    )
    assert zoe.role_names == [] and not DirectoryRoleAssignment.objects.filter(user=zoe).exists()
    scim.modify(
        Group, group.id,
        PatchOp[Group](operations=[PatchOperation(op="add", path="members", value=[{"value": created.id}])]),
    )
    assert zoe.role_names == ["validator"]
    changes = [event.details for event in directory_events("directory.roles_changed").filter(object_id=str(zoe.pk))]
    # The first change was the admin's (the mapping), the next two the directory's.
    assert changes == [{"added": [], "removed": ["validator"]}, {"added": ["validator"], "removed": []}]
    by_admin = AuditEvent.objects.get(action="directory.roles_changed", actor_username="admin")
    assert by_admin.details == {"added": ["validator"], "removed": []} and by_admin.agent_name == ""
    assert scim.query(User, created.id).groups[0].display == "ML validators"

    # Zoe signs in and makes a token; then the directory deactivates her.
    browser = Client()
    browser.force_login(zoe)
    _, raw = token_create(actor=zoe, user=zoe, label="laptop")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/v1/models/").status_code == 200

    deactivated = set_active(scim, created.id, False)
    assert deactivated.active is False
    zoe.refresh_from_db()
    assert not zoe.is_active
    assert not [s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(zoe.pk)]
    assert ApiToken.objects.get(user=zoe).revoked_at is not None
    assert api.get("/api/v1/models/").status_code == 401
    event = AuditEvent.objects.get(action="user.deactivated", object_id=str(zoe.pk))
    assert (event.actor_username, event.actor_kind, event.agent_name) == (DIRECTORY_AGENT, ActorKind.AGENT, DIRECTORY_AGENT)
    assert event.details == {"by_directory": True}
    revoked = AuditEvent.objects.get(action="token.revoked")
    assert revoked.actor_username == DIRECTORY_AGENT
    # Nothing is deleted: the account, its roles and its group stay.
    assert PortalUser.objects.filter(pk=zoe.pk).exists() and zoe.role_names == ["validator"]

    # Re-activation: Zoe may sign in again; her revoked token stays revoked.
    assert set_active(scim, created.id, True).active is True
    zoe.refresh_from_db()
    assert zoe.is_active
    assert AuditEvent.objects.get(action="user.reactivated").actor_username == DIRECTORY_AGENT
    assert api.get("/api/v1/models/").status_code == 401
    assert ApiToken.objects.get(user=zoe).revoked_at is not None
    signed_in = Client()
    signed_in.force_login(zoe)
    assert signed_in.get("/account/tokens/").status_code == 200


def test_delete_deactivates_and_keeps_the_row(scim):
    created = new_person(scim)
    scim.delete(User, created.id)
    zoe = PortalUser.objects.get(pk=created.id)
    assert not zoe.is_active
    assert directory_events("directory.user_removed").get().object_id == str(zoe.pk)
    assert AuditEvent.objects.get(action="user.deactivated").agent_name == DIRECTORY_AGENT
    # The directory still sees the person, inactive, and may bring them back.
    assert scim.query(User, created.id).active is False
    assert set_active(scim, created.id, True).active is True


def test_filter_finds_an_existing_person_by_username_and_links_them(scim, alice):
    """Identity providers look people up before creating them; an admin-made account is found
    and becomes the directory's on its first write."""
    found = scim.query(User, query_parameters={"filter": 'userName eq "alice"'})
    assert [user.user_name for user in found.resources] == ["alice"]
    assert scim.query(User, query_parameters={"filter": 'userName eq "nobody"'}).total_results == 0
    scim.modify(
        User, str(alice.pk),
        PatchOp[User](operations=[PatchOperation(op="replace", path="externalId", value="okta-alice")]),
    )
    assert DirectoryAccount.objects.get(user=alice).external_id == "okta-alice"
    assert scim.query(User, query_parameters={"filter": 'externalId eq "okta-alice"'}).resources[0].id == str(alice.pk)


def test_creating_an_existing_username_is_a_conflict(scim, alice):
    response = scim.create(User(user_name="alice"), raise_scim_errors=False)
    assert response.status == 409 and response.scim_type == "uniqueness"
    assert PortalUser.objects.filter(username="alice").count() == 1


def test_service_accounts_are_not_the_directorys(scim, agent_account):
    listed = scim.query(User)
    assert all(not PortalUser.objects.get(pk=user.id).is_service_account for user in listed.resources)
    missing = scim.query(User, str(agent_account.pk), raise_scim_errors=False)
    assert missing.status == 404
    response = scim.modify(
        User, str(agent_account.pk),
        PatchOp[User](operations=[PatchOperation(op="replace", path="active", value=False)]),
        raise_scim_errors=False,
    )
    assert response.status == 404
    agent_account.refresh_from_db()
    assert agent_account.is_active


def test_the_directory_may_switch_off_a_superuser_but_not_back_on(scim, admin_user):
    set_active(scim, str(admin_user.pk), False)
    admin_user.refresh_from_db()
    assert not admin_user.is_active
    response = scim.modify(
        User, str(admin_user.pk),
        PatchOp[User](operations=[PatchOperation(op="replace", path="active", value=True)]),
        raise_scim_errors=False,
    )
    assert response.status == 403
    admin_user.refresh_from_db()
    assert not admin_user.is_active


def test_discovery_endpoints_describe_the_service(scim):
    scim.discover()
    config = scim.provider.config
    assert config.patch.supported and config.filter.supported and not config.bulk.supported
    assert config.authentication_schemes[0].type == "oauthbearertoken"
    assert {resource_type.name for resource_type in scim.provider.resource_types} == {"User", "Group"}


def test_put_replaces_the_person_as_the_directory_has_them(scim):
    created = new_person(scim)
    replaced = scim.replace(
        User(
            id=created.id,
            user_name="zoe.quinn@corp.example",
            name=Name(given_name="Zoé", family_name="Quinn"),
            emails=[Email(value="zoe.quinn@corp.example", primary=True)],
            active=False,
        )
    )
    assert replaced.user_name == "zoe.quinn@corp.example" and replaced.active is False
    zoe = PortalUser.objects.get(pk=created.id)
    assert (zoe.username, zoe.first_name, zoe.email, zoe.is_active) == (
        "zoe.quinn@corp.example", "Zoé", "zoe.quinn@corp.example", False,
    )
    from auditlog.models import LogEntry

    renamed = LogEntry.objects.get_for_object(zoe).filter(changes__icontains="username").latest("timestamp")
    assert renamed.actor.username == DIRECTORY_AGENT
