"""Users API: admins create people and service accounts with roles; others are refused."""

import pytest
from auditlog.models import LogEntry

from governance.access.models import User

pytestmark = pytest.mark.django_db


def _new_user(**overrides):
    body = {
        "username": "vera",
        "email": "vera@example.com",
        "first_name": "Vera",
        "password": "a-long-and-unusual-passphrase-42",
        "roles": ["validator", "auditor"],
    }
    body.update(overrides)
    return body


def test_admin_creates_user_with_roles(admin_user, api_for):
    response = api_for(admin_user).post("/api/v1/users/", _new_user(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["username"] == "vera"
    assert body["roles"] == ["auditor", "validator"]
    assert body["is_active"] is True and body["is_service_account"] is False
    vera = User.objects.get(username="vera")
    assert vera.check_password("a-long-and-unusual-passphrase-42")
    assert vera.has_role("validator") and not vera.is_staff
    entry = LogEntry.objects.get_for_object(vera).filter(action=LogEntry.Action.CREATE).get()
    assert entry.actor == admin_user


def test_admin_role_makes_user_staff_for_the_admin_site(admin_user, api_for):
    response = api_for(admin_user).post("/api/v1/users/", _new_user(roles=["admin"]), format="json")
    assert response.status_code == 201
    assert User.objects.get(username="vera").is_staff


def test_service_account_has_no_usable_password(admin_user, api_for):
    body = _new_user(username="ci-pipeline", password="", roles=["data_scientist"], is_service_account=True)
    body.pop("password")
    response = api_for(admin_user).post("/api/v1/users/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["is_service_account"] is True
    agent = User.objects.get(username="ci-pipeline")
    assert not agent.has_usable_password()
    assert agent.role_names == ["data_scientist"]


def test_service_account_with_password_is_refused(admin_user, api_for):
    body = _new_user(username="ci-pipeline", is_service_account=True)
    response = api_for(admin_user).post("/api/v1/users/", body, format="json")
    assert response.status_code == 400
    assert "password" in response.json()
    assert not User.objects.filter(username="ci-pipeline").exists()


def test_unknown_role_is_a_field_error(admin_user, api_for):
    response = api_for(admin_user).post("/api/v1/users/", _new_user(roles=["wizard"]), format="json")
    assert response.status_code == 400
    assert "roles" in response.json()
    assert not User.objects.filter(username="vera").exists()


def test_weak_password_and_duplicate_username_are_refused(admin_user, alice, api_for):
    client = api_for(admin_user)
    weak = client.post("/api/v1/users/", _new_user(password="12345678"), format="json")
    assert weak.status_code == 400 and "password" in weak.json()
    duplicate = client.post("/api/v1/users/", _new_user(username="alice"), format="json")
    assert duplicate.status_code == 400
    assert duplicate.json()["code"] == "duplicate"


@pytest.mark.parametrize("who", ["alice", "audrey", "carol"])
def test_non_admin_cannot_create_users(who, request, api_for):
    user = request.getfixturevalue(who)
    response = api_for(user).post("/api/v1/users/", _new_user(), format="json")
    assert response.status_code == 403
    assert not User.objects.filter(username="vera").exists()


def test_user_detail_for_admin_and_self_but_404_for_others(admin_user, alice, eve, api_for):
    as_admin = api_for(admin_user).get("/api/v1/users/alice/")
    assert as_admin.status_code == 200
    assert as_admin.json() == {
        "username": "alice",
        "email": "alice@example.com",
        "first_name": "Alice",
        "last_name": "Tester",
        "roles": ["data_scientist"],
        "is_active": True,
        "is_service_account": False,
    }
    assert api_for(alice).get("/api/v1/users/alice/").status_code == 200
    # Someone else's account does not even exist for eve, whether it does or not.
    assert api_for(eve).get("/api/v1/users/alice/").status_code == 404
    assert api_for(eve).get("/api/v1/users/nobody/").status_code == 404
    assert api_for(admin_user).get("/api/v1/users/nobody/").status_code == 404


def test_deactivate_is_for_admins_only(admin_user, alice, eve, api_for):
    assert api_for(eve).post("/api/v1/users/alice/deactivate/").status_code == 403
    alice.refresh_from_db()
    assert alice.is_active
    response = api_for(admin_user).post("/api/v1/users/alice/deactivate/")
    assert response.status_code == 200
    assert response.json()["is_active"] is False


def test_admin_cannot_deactivate_themself(admin_user, api_for):
    response = api_for(admin_user).post("/api/v1/users/admin/deactivate/")
    assert response.status_code == 409
    admin_user.refresh_from_db()
    assert admin_user.is_active


def test_unauthenticated_is_401(db):
    from rest_framework.test import APIClient

    assert APIClient().post("/api/v1/users/", _new_user(), format="json").status_code == 401


def test_admin_changes_roles_and_the_change_is_audited(admin_user, eve, api_for):
    response = api_for(admin_user).patch("/api/v1/users/eve/", {"roles": ["validator", "admin"]}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["roles"] == ["admin", "validator"]
    eve.refresh_from_db()
    assert eve.is_staff  # the admin role opens the admin site
    entry = LogEntry.objects.get_for_object(eve).filter(changes__icontains="groups").latest("timestamp")
    assert entry.actor == admin_user
    response = api_for(admin_user).patch("/api/v1/users/eve/", {"roles": ["data_scientist"]}, format="json")
    eve.refresh_from_db()
    assert eve.role_names == ["data_scientist"] and not eve.is_staff


def test_role_change_keeps_team_groups(admin_user, eve, api_for):
    from django.contrib.auth.models import Group

    eve.groups.add(Group.objects.create(name="risk-team"))
    api_for(admin_user).patch("/api/v1/users/eve/", {"roles": ["validator"]}, format="json")
    assert set(eve.groups.values_list("name", flat=True)) == {"risk-team", "validator"}


def test_only_admins_change_roles(alice, eve, api_for):
    assert api_for(alice).patch("/api/v1/users/alice/", {"roles": ["admin"]}, format="json").status_code == 403
    assert api_for(alice).patch("/api/v1/users/eve/", {"roles": ["admin"]}, format="json").status_code == 404
    alice.refresh_from_db()
    assert alice.role_names == ["data_scientist"]
