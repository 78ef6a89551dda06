"""Roles from the directory: given while a mapped group gives them, taken away when it stops,
whatever was saved by hand in between; roles given by hand before stay."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from governance.access.services import directory_actor, user_set_roles
from governance.audit.models import AuditEvent
from governance.directory.models import DirectoryGroup, DirectoryRoleAssignment, GroupRoleMapping
from governance.directory.services import (
    directory_group_create,
    directory_group_update,
    directory_roles_sync,
    mapping_add,
    mapping_change,
    mapping_remove,
)
from governance.errors import ActionForbidden
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def directory(db):
    return directory_actor()


@pytest.fixture
def validators(directory, admin_user):
    group = directory_group_create(actor=directory, display_name="Validators")
    mapping_add(actor=admin_user, group=group, role="validator")
    return group


def directory_roles(user) -> list[str]:
    return sorted(DirectoryRoleAssignment.objects.filter(user=user).values_list("role", flat=True))


def test_a_role_kept_by_hand_goes_when_the_directory_removes_it(directory, validators, admin_user, eve):
    directory_group_update(actor=directory, group=validators, add=[eve.pk])
    assert eve.role_names == ["data_scientist", "validator"] and directory_roles(eve) == ["validator"]
    # An admin saves Eve's roles by hand, the validator role among them.
    user_set_roles(actor=admin_user, user=eve, roles=["data_scientist", "validator"])
    directory_group_update(actor=directory, group=validators, remove=[eve.pk])
    assert eve.role_names == ["data_scientist"] and directory_roles(eve) == []


def test_a_role_held_by_hand_before_stays(directory, validators, carol):
    assert carol.role_names == ["validator"]
    directory_group_update(actor=directory, group=validators, add=[carol.pk])
    assert directory_roles(carol) == []  # the directory gave nothing: she had it
    directory_group_update(actor=directory, group=validators, remove=[carol.pk])
    assert carol.role_names == ["validator"]


def test_removing_the_mapping_removes_the_roles_it_gave(directory, validators, admin_user, eve):
    directory_group_update(actor=directory, group=validators, add=[eve.pk])
    mapping = GroupRoleMapping.objects.get(group=validators)
    mapping_remove(actor=admin_user, mapping=mapping)
    assert eve.role_names == ["data_scientist"] and directory_roles(eve) == []
    removed = AuditEvent.objects.get(action="directory.mapping_removed")
    assert removed.actor_username == "admin" and removed.details["role"] == "validator"


def test_a_role_two_groups_give_stays_while_one_does(directory, validators, admin_user, eve):
    reviewers = directory_group_create(actor=directory, display_name="Reviewers", member_ids=[eve.pk])
    mapping_add(actor=admin_user, group=reviewers, role="validator")
    directory_group_update(actor=directory, group=validators, add=[eve.pk])
    directory_group_update(actor=directory, group=validators, remove=[eve.pk])
    assert eve.has_role("validator")
    directory_group_update(actor=directory, group=reviewers, remove=[eve.pk])
    assert not eve.has_role("validator")


def test_changing_a_mapping_moves_the_role(directory, validators, admin_user, eve):
    directory_group_update(actor=directory, group=validators, add=[eve.pk])
    mapping = GroupRoleMapping.objects.get(group=validators)
    mapping_change(actor=admin_user, mapping=mapping, group=validators, role="auditor")
    assert eve.role_names == ["auditor", "data_scientist"] and directory_roles(eve) == ["auditor"]


def test_the_admin_role_from_the_directory_opens_the_admin_site_and_closes_it(directory, admin_user, eve):
    admins = directory_group_create(actor=directory, display_name="Portal admins", member_ids=[eve.pk])
    mapping_add(actor=admin_user, group=admins, role="admin")
    eve.refresh_from_db()
    assert eve.is_staff
    directory_group_update(actor=directory, group=admins, remove=[eve.pk])
    eve.refresh_from_db()
    assert not eve.is_staff and not eve.has_role("admin")


def test_a_superusers_roles_are_not_the_directorys(directory, validators, admin_user):
    directory_group_update(actor=directory, group=validators, add=[admin_user.pk])
    assert directory_roles(admin_user) == [] and not admin_user.groups.filter(name="validator").exists()


def test_only_admins_map_groups_and_sync_roles(directory, validators, alice, carol, eve):
    """A data scientist, a validator and the directory itself are all refused the mapping."""
    for actor in (alice, carol, directory):
        with pytest.raises(ActionForbidden):
            mapping_add(actor=actor, group=validators, role="admin")
        with pytest.raises(ActionForbidden):
            mapping_remove(actor=actor, mapping=GroupRoleMapping.objects.get(group=validators))
    with pytest.raises(ActionForbidden):
        directory_roles_sync(actor=alice, user=eve)
    with pytest.raises(ActionForbidden):
        directory_group_update(actor=alice, group=validators, add=[alice.pk])
    assert GroupRoleMapping.objects.get().role == "validator" and not alice.has_role("validator")


def test_role_changes_are_recorded_with_the_directory_as_actor(directory, validators, eve):
    from auditlog.models import LogEntry

    directory_group_update(actor=directory, group=validators, add=[eve.pk])
    entry = LogEntry.objects.filter(object_pk=str(eve.pk)).order_by("-pk").first()
    assert entry.actor == directory and "groups" in entry.changes_dict
    event = AuditEvent.objects.get(action="directory.roles_changed")
    assert (event.agent_name, event.actor_username, event.details) == (
        "directory", "directory", {"added": ["validator"], "removed": []},
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="row locks need PostgreSQL")
def test_concurrent_group_changes_leave_the_roles_the_groups_give():
    """Two directory calls at once (Eve joins one mapped group while leaving another that gives
    the same role): the person's row lock applies them one after the other, and Eve ends with
    the role the group she stays in gives."""
    admin = factories.make_user("root", "admin", is_superuser=True, is_staff=True)
    eve = factories.make_user("eve", "data_scientist")
    directory = directory_actor()
    old = directory_group_create(actor=directory, display_name="Old team", member_ids=[eve.pk])
    new = directory_group_create(actor=directory, display_name="New team")
    mapping_add(actor=admin, group=old, role="validator")
    mapping_add(actor=admin, group=new, role="validator")
    assert eve.has_role("validator")
    barrier = threading.Barrier(2)
    errors = []

    def run(change):
        try:
            barrier.wait(timeout=10)
            change()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(lambda: directory_group_update(actor=directory, group=old, remove=[eve.pk]),)),
        threading.Thread(target=run, args=(lambda: directory_group_update(actor=directory, group=new, add=[eve.pk]),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert eve.has_role("validator")
    assert directory_roles(eve) == ["validator"]
    assert list(Group.objects.get(name="validator").user_set.values_list("username", flat=True)) == ["eve"]
    assert list(DirectoryGroup.objects.get(pk=new.pk).members.values_list("username", flat=True)) == ["eve"]


def test_profile_and_role_changes_are_refused_to_people_without_the_right(directory, alice, carol, eve, admin_user):
    from governance.access.services import user_profile_update, user_roles_change

    for actor in (alice, carol):
        with pytest.raises(ActionForbidden):
            user_roles_change(actor=actor, user=eve, add=["admin"])
        with pytest.raises(ActionForbidden):
            user_profile_update(actor=actor, user=eve, first_name="Mallory")
    # Admins change names and roles, but not the address password resets go to.
    user_profile_update(actor=admin_user, user=eve, first_name="Evelyn")
    with pytest.raises(ActionForbidden):
        user_profile_update(actor=admin_user, user=eve, email="admin-inbox@example.com")
    # Nobody but a superuser changes a superuser, the directory included.
    with pytest.raises(ActionForbidden):
        user_profile_update(actor=directory, user=admin_user, first_name="Root")
    eve.refresh_from_db()
    admin_user.refresh_from_db()
    assert (eve.first_name, eve.email, eve.role_names) == ("Evelyn", "eve@example.com", ["data_scientist"])
    assert admin_user.first_name == "Admin"
