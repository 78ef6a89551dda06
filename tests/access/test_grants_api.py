"""Grants API: owners and admins manage grants; grants and revocations take effect at once."""

import pytest
from django.contrib.auth.models import Group

from governance.audit.models import AuditEvent
from governance.access.models import ModelGrant
from governance.registry.models import MLModelUserObjectPermission

pytestmark = pytest.mark.django_db

URL = "/api/v1/models/credit-risk/grants/"


def test_owner_gives_a_grant(credit_model, alice, eve, api_for):
    response = api_for(alice).post(URL, {"username": "eve", "role": "viewer"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["model"] == "credit-risk"
    assert body["username"] == "eve" and "group" not in body
    assert body["role"] == "viewer"
    assert body["granted_by"] == "alice"
    assert body["id"] and body["created_at"].endswith("Z")
    grant = ModelGrant.objects.get(pk=body["id"])
    event = AuditEvent.objects.get(action="grant.given", object_id=str(grant.pk))
    assert event.actor_username == "alice" and event.model_slug == "credit-risk"


def test_giving_the_same_grant_twice_changes_nothing(credit_model, alice, eve, api_for):
    client = api_for(alice)
    first = client.post(URL, {"username": "eve", "role": "viewer"}, format="json")
    again = client.post(URL, {"username": "eve", "role": "viewer"}, format="json")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert ModelGrant.objects.filter(user=eve).count() == 1


def test_admin_gives_a_group_grant(credit_model, admin_user, api_for):
    Group.objects.create(name="risk-team")
    response = api_for(admin_user).post(URL, {"group": "risk-team", "role": "reviewer"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["group"] == "risk-team" and "username" not in response.json()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": "nobody", "role": "viewer"}, "username"),
        ({"group": "no-such-team", "role": "viewer"}, "group"),
        ({"username": "eve", "role": "emperor"}, "role"),
        ({"username": "eve", "group": "auditor", "role": "viewer"}, "username"),
        ({"role": "viewer"}, "username"),
    ],
)
def test_bad_grant_requests_are_field_errors(credit_model, alice, eve, api_for, body, field):
    before = ModelGrant.objects.count()
    response = api_for(alice).post(URL, body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()
    assert ModelGrant.objects.count() == before


@pytest.mark.parametrize("who", ["bob", "carol", "oscar", "audrey"])
def test_holders_who_are_not_owners_cannot_manage_grants(credit_model, eve, who, request, api_for):
    client = api_for(request.getfixturevalue(who))
    assert client.post(URL, {"username": "eve", "role": "viewer"}, format="json").status_code == 403
    grant = credit_model.grants.get(role="owner")
    assert client.delete(f"{URL}{grant.pk}/").status_code == 403
    assert ModelGrant.objects.filter(pk=grant.pk).exists()


def test_outsider_gets_404_for_everything(credit_model, eve, api_for):
    client = api_for(eve)
    grant = credit_model.grants.get(role="owner")
    assert client.get(URL).status_code == 404
    assert client.post(URL, {"username": "eve", "role": "owner"}, format="json").status_code == 404
    assert client.delete(f"{URL}{grant.pk}/").status_code == 404
    assert not ModelGrant.objects.filter(user=eve).exists()


def test_viewers_list_grants(shared_model, victor, api_for):
    response = api_for(victor).get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 6
    assert {(g.get("username"), g["role"]) for g in body["results"]} >= {("alice", "owner"), ("victor", "viewer")}


def test_grant_takes_effect_at_once_and_revoke_too(credit_model, alice, eve, api_for):
    owner, outsider = api_for(alice), api_for(eve)
    assert outsider.get("/api/v1/models/credit-risk/").status_code == 404
    assert outsider.get("/api/v1/models/").json()["count"] == 0

    grant_id = owner.post(URL, {"username": "eve", "role": "viewer"}, format="json").json()["id"]
    assert outsider.get("/api/v1/models/credit-risk/").status_code == 200
    assert outsider.get("/api/v1/models/").json()["count"] == 1

    assert owner.delete(f"{URL}{grant_id}/").status_code == 204
    assert outsider.get("/api/v1/models/credit-risk/").status_code == 404
    assert outsider.get("/api/v1/models/").json()["count"] == 0
    assert not MLModelUserObjectPermission.objects.filter(user=eve).exists()
    event = AuditEvent.objects.get(action="grant.revoked", object_id=str(grant_id))
    assert event.actor_username == "alice"


def test_group_grant_reaches_its_members(credit_model, alice, eve, api_for):
    team = Group.objects.create(name="risk-team")
    eve.groups.add(team)
    api_for(alice).post(URL, {"group": "risk-team", "role": "viewer"}, format="json")
    assert api_for(eve).get("/api/v1/models/credit-risk/").status_code == 200


def test_revoking_one_of_two_roles_keeps_the_other(credit_model, alice, bob, api_for):
    owner = api_for(alice)
    viewer_grant = owner.post(URL, {"username": "bob", "role": "viewer"}, format="json").json()["id"]
    assert owner.delete(f"{URL}{viewer_grant}/").status_code == 204
    # bob is still a contributor, so he still sees the model.
    assert api_for(bob).get("/api/v1/models/credit-risk/").status_code == 200


def test_last_owner_cannot_be_removed(credit_model, alice, api_for):
    grant = credit_model.grants.get(role="owner")
    response = api_for(alice).delete(f"{URL}{grant.pk}/")
    assert response.status_code == 409
    assert response.json()["code"] == "last_owner"
    assert ModelGrant.objects.filter(pk=grant.pk).exists()


def test_an_owner_can_hand_over_and_leave(credit_model, alice, bob, api_for):
    owner = api_for(alice)
    owner.post(URL, {"username": "bob", "role": "owner"}, format="json")
    alice_grant = credit_model.grants.get(role="owner", user=alice)
    assert owner.delete(f"{URL}{alice_grant.pk}/").status_code == 204
    assert api_for(alice).get("/api/v1/models/credit-risk/").status_code == 404


def test_grant_of_another_model_is_404(credit_model, alice, api_for):
    from tests import factories

    other = factories.make_model(alice, name="Other model")
    foreign = other.grants.get(role="owner")
    assert api_for(alice).delete(f"{URL}{foreign.pk}/").status_code == 404
    assert ModelGrant.objects.filter(pk=foreign.pk).exists()
