"""PATCH as Entra ID, Okta and Keycloak send it, sent as raw payloads through scim2-client."""

from __future__ import annotations

import pytest
from scim2_models import Error, Group, User

from governance.access.models import User as PortalUser
from governance.directory.models import DirectoryGroup, GroupRoleMapping
from governance.directory.services import mapping_add

pytestmark = pytest.mark.django_db

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def patch(scim, resource, resource_id, *operations, expect_error=False):
    result = scim.modify(
        resource, str(resource_id), {"schemas": [PATCH], "Operations": list(operations)},
        check_request_payload=False, raise_scim_errors=False,
    )
    assert isinstance(result, Error) == expect_error, result
    return result


def create_user(scim, username: str) -> PortalUser:
    created = scim.create(User(user_name=username, active=True))
    return PortalUser.objects.get(pk=created.id)


def test_entra_style_patch_of_a_user(scim):
    """Entra ID: capitalised ops, paths, booleans as text, emails by filter, attributes the
    portal does not keep."""
    sam = create_user(scim, "sam@corp.example")
    patch(
        scim, User, sam.pk,
        {"op": "Replace", "path": "name.givenName", "value": "Samuel"},
        {"op": "Replace", "path": "name.familyName", "value": "Okafor"},
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "samuel@corp.example"},
        {"op": "Add", "path": "title", "value": "Data scientist"},
        {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Risk"},
        {"op": "Replace", "path": "externalId", "value": "entra-sam"},
    )
    sam.refresh_from_db()
    assert (sam.first_name, sam.last_name, sam.email) == ("Samuel", "Okafor", "samuel@corp.example")
    assert sam.directory_account.external_id == "entra-sam"
    patch(scim, User, sam.pk, {"op": "Replace", "path": "active", "value": "False"})
    sam.refresh_from_db()
    assert not sam.is_active
    patch(scim, User, sam.pk, {"op": "Replace", "path": "active", "value": "True"})
    sam.refresh_from_db()
    assert sam.is_active


def test_okta_style_patch_of_a_user(scim):
    """Okta: a replace without a path, its value an object of attributes."""
    sam = create_user(scim, "sam@corp.example")
    patch(scim, User, sam.pk, {"op": "replace", "value": {"active": False}})
    sam.refresh_from_db()
    assert not sam.is_active


def test_bad_patches_are_refused_and_change_nothing(scim):
    sam = create_user(scim, "sam@corp.example")
    assert patch(scim, User, sam.pk, {"op": "replace", "path": "active", "value": "maybe"}, expect_error=True).status == 400
    assert patch(scim, User, sam.pk, {"op": "explode", "path": "active", "value": False}, expect_error=True).status == 400
    assert patch(
        scim, User, sam.pk,
        {"op": "replace", "path": "name.givenName", "value": "Changed"},
        {"op": "replace", "path": "emails", "value": [{"value": "not an address", "primary": True}]},
        expect_error=True,
    ).status == 400
    sam.refresh_from_db()
    assert sam.is_active and sam.first_name == ""


def test_group_patches_of_each_directory(scim, admin_user):
    ann, ben, cy = (create_user(scim, f"{name}@corp.example") for name in ("ann", "ben", "cy"))
    group = scim.create(Group(display_name="Model risk"))
    mapping_add(actor=admin_user, group=DirectoryGroup.objects.get(pk=group.id), role="auditor")

    # Entra ID: Add members by value.
    patch(scim, Group, group.id, {"op": "Add", "path": "members", "value": [{"value": str(ann.pk)}, {"value": str(ben.pk)}]})
    assert [u.has_role("auditor") for u in (ann, ben, cy)] == [True, True, False]
    # Okta: remove one member by a filter in the path.
    patch(scim, Group, group.id, {"op": "remove", "path": f'members[value eq "{ann.pk}"]'})
    assert [u.has_role("auditor") for u in (ann, ben, cy)] == [False, True, False]
    # Okta: rename with a replace without a path (the id repeated).
    patch(scim, Group, group.id, {"op": "replace", "value": {"id": group.id, "displayName": "Model risk office"}})
    assert DirectoryGroup.objects.get(pk=group.id).display_name == "Model risk office"
    # Replace every member at once.
    patch(scim, Group, group.id, {"op": "replace", "path": "members", "value": [{"value": str(cy.pk)}]})
    assert [u.has_role("auditor") for u in (ann, ben, cy)] == [False, False, True]
    # Keycloak: PUT the whole group.
    scim.replace(Group(id=group.id, display_name="Model risk office", members=[{"value": str(ann.pk)}]))
    assert [u.has_role("auditor") for u in (ann, ben, cy)] == [True, False, False]
    # Unknown members are refused, and nothing changes.
    assert patch(scim, Group, group.id, {"op": "add", "path": "members", "value": [{"value": "99999"}]}, expect_error=True).status == 400
    assert [u.has_role("auditor") for u in (ann, ben, cy)] == [True, False, False]


def test_deleting_a_group_takes_its_roles_and_mappings_away(scim, admin_user):
    ann = create_user(scim, "ann@corp.example")
    group = scim.create(Group(display_name="Operators", members=[{"value": str(ann.pk)}]))
    mapping_add(actor=admin_user, group=DirectoryGroup.objects.get(pk=group.id), role="operator")
    assert ann.has_role("operator")
    scim.delete(Group, group.id)
    assert not ann.has_role("operator")
    assert not DirectoryGroup.objects.exists() and not GroupRoleMapping.objects.exists()


def test_a_directory_group_named_like_a_role_gives_nothing(scim):
    ann = create_user(scim, "ann@corp.example")
    scim.create(Group(display_name="admin", members=[{"value": str(ann.pk)}]))
    ann.refresh_from_db()
    assert ann.role_names == [] and not ann.is_staff


def test_filters_of_groups(scim):
    scim.create(Group(display_name="Validators", external_id="g-1"))
    scim.create(Group(display_name="Auditors"))
    found = scim.query(Group, query_parameters={"filter": 'displayName eq "Validators"'})
    assert [group.display_name for group in found.resources] == ["Validators"]
    assert scim.query(Group, query_parameters={"filter": 'externalId eq "g-1"'}).total_results == 1
    assert scim.query(Group).total_results == 2
