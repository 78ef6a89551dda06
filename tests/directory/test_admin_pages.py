"""The directory in the admin: mappings edited by admins (through the services, audited), SCIM
tokens made and revoked there, and the user pages showing which roles came from the directory."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from governance.access.services import directory_actor
from governance.audit.models import AuditEvent
from governance.directory.models import GroupRoleMapping, ScimToken
from governance.directory.services import directory_group_create, mapping_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser_for():
    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def validators(eve):
    return directory_group_create(actor=directory_actor(), display_name="Validators", member_ids=[eve.pk])


def test_an_admin_maps_a_group_to_a_role_in_the_admin(validators, eve, admin_user, browser_for):
    admin = browser_for(admin_user)
    assert admin.get("/admin/directory/grouprolemapping/add/").status_code == 200
    response = admin.post("/admin/directory/grouprolemapping/add/", {"group": validators.pk, "role": "validator"})
    assert response.status_code == 302
    assert eve.has_role("validator")
    mapping = GroupRoleMapping.objects.get()
    assert AuditEvent.objects.get(action="directory.mapping_added").actor_username == "admin"

    # Changed to another role: the old one goes, the new one comes.
    response = admin.post(
        f"/admin/directory/grouprolemapping/{mapping.pk}/change/", {"group": validators.pk, "role": "auditor"}
    )
    assert response.status_code == 302
    assert eve.role_names == ["auditor", "data_scientist"]

    # Deleted: the role it gave goes.
    mapping = GroupRoleMapping.objects.get()
    response = admin.post(f"/admin/directory/grouprolemapping/{mapping.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert eve.role_names == ["data_scientist"] and not GroupRoleMapping.objects.exists()
    assert AuditEvent.objects.filter(action="directory.mapping_removed", actor_username="admin").count() == 2


def test_the_remove_action_goes_through_the_service(validators, eve, admin_user, browser_for):
    mapping = mapping_add(actor=admin_user, group=validators, role="operator")
    admin = browser_for(admin_user)
    response = admin.post(
        "/admin/directory/grouprolemapping/",
        {"action": "remove_mappings", "_selected_action": [mapping.pk]},
    )
    assert response.status_code == 302
    assert not eve.has_role("operator")
    page = admin.get("/admin/directory/grouprolemapping/")
    assert "delete_selected" not in page.content.decode()


def test_people_without_the_admin_role_are_refused_the_directory_pages(validators, carol, alice, browser_for):
    for person in (alice, carol):
        browser = browser_for(person)
        for path in ("/admin/directory/grouprolemapping/", "/admin/directory/scimtoken/", "/admin/directory/directorygroup/"):
            assert browser.get(path).status_code in (302, 403)
        response = browser.post("/admin/directory/grouprolemapping/add/", {"group": validators.pk, "role": "admin"})
        assert response.status_code in (302, 403)
    assert not GroupRoleMapping.objects.exists() and not alice.has_role("admin")


def test_an_admin_makes_a_scim_token_and_sees_its_secret_once(admin_user, browser_for):
    admin = browser_for(admin_user)
    response = admin.post("/admin/directory/scimtoken/add/", {"label": "Entra ID"}, follow=True)
    assert response.status_code == 200
    token = ScimToken.objects.get()
    page = response.content.decode()
    shown = page.split("<code>")[1].split("</code>")[0]
    assert shown.startswith(token.key_prefix) and ScimToken.find(shown) == token
    assert "http://testserver/scim/v2/" in page
    assert shown not in admin.get("/admin/directory/scimtoken/").content.decode()
    assert shown not in admin.get(f"/admin/directory/scimtoken/{token.pk}/change/").content.decode()

    response = admin.post("/admin/directory/scimtoken/", {"action": "revoke_tokens", "_selected_action": [token.pk]})
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_user_pages_show_the_roles_from_the_directory(validators, eve, admin_user, browser_for):
    mapping_add(actor=admin_user, group=validators, role="validator")
    admin = browser_for(admin_user)
    listing = admin.get("/admin/access/user/").content.decode()
    assert "data_scientist, validator (directory)" in listing
    page = admin.get(f"/admin/access/user/{eve.pk}/change/")
    assert page.status_code == 200
    assert "roles from the directory" in page.content.decode().lower()
    # Saving Eve's roles by hand keeps the validator role the directory's.
    form = page.context["adminform"].form
    data = {name: form.initial.get(name) for name in ("username", "first_name", "last_name")}
    data.update({"groups": [group.pk for group in Group.objects.filter(name__in=eve.role_names)], "is_active": "on"})
    assert admin.post(f"/admin/access/user/{eve.pk}/change/", data).status_code == 302
    assert eve.directory_roles.get().role == "validator"
