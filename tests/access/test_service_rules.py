"""Each access service checks its own rule, whichever door calls it: refused callers change
nothing and leave no audit entry."""

import pytest
from django.contrib.auth.models import Group

from governance.access import services
from governance.access.models import ApiToken, ModelGrant, User
from governance.audit.models import AuditEvent
from governance.errors import ActionConflict, ActionForbidden
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail():
    """trail() -> the number of audit entries now, to check that a refusal wrote none."""
    return lambda: AuditEvent.objects.count()


@pytest.mark.parametrize("who", ["eve", "carol", "bob"])
def test_only_owners_and_admins_give_grants(who, request, credit_model, trail):
    # eve sees nothing, carol reviews and bob contributes: none of them owns the model.
    actor = request.getfixturevalue(who)
    before = trail()
    with pytest.raises(ActionForbidden):
        services.grant_give(actor=actor, model=credit_model, role="viewer", user=actor)
    assert not ModelGrant.objects.filter(model=credit_model, user=actor, role="viewer").exists()
    assert trail() == before


def test_owner_and_admin_give_grants_each_as_one_audit_entry(credit_model, alice, admin_user, eve):
    grant, created = services.grant_give(actor=alice, model=credit_model, role="viewer", user=eve)
    assert created
    event = AuditEvent.objects.get(action="grant.given", object_id=str(grant.pk))
    assert (event.actor_username, event.model_slug, event.details["role"]) == ("alice", credit_model.slug, "viewer")
    _, created_again = services.grant_give(actor=admin_user, model=credit_model, role="viewer", user=eve)
    assert not created_again  # a repeated grant changes nothing and records nothing
    assert AuditEvent.objects.filter(action="grant.given", object_id=str(grant.pk)).count() == 1


def test_non_owner_cannot_revoke_a_grant(credit_model, bob, carol, trail):
    grant = credit_model.grants.get(user=carol, role="reviewer")
    before = trail()
    with pytest.raises(ActionForbidden):
        services.grant_revoke(actor=bob, grant=grant)
    assert ModelGrant.objects.filter(pk=grant.pk).exists()
    assert trail() == before


def test_the_last_owner_stays_whoever_asks(credit_model, alice, admin_user):
    owner = credit_model.grants.get(role="owner")
    for actor in (alice, admin_user):
        with pytest.raises(ActionConflict) as refused:
            services.grant_revoke(actor=actor, grant=owner)
        assert refused.value.code == "last_owner"
    assert services.last_owner_refusal(model=credit_model, role="owner", user=alice)
    assert services.last_owner_refusal(model=credit_model, role="viewer", user=alice) is None


def test_first_owner_only_on_a_model_without_grants(credit_model, eve):
    with pytest.raises(ActionConflict):
        services.grant_first_owner(model=credit_model, user=eve)
    assert not credit_model.grants.filter(user=eve).exists()


@pytest.mark.parametrize("who", ["alice", "carol", "audrey"])
def test_only_admins_manage_people(who, request, bob, trail):
    actor = request.getfixturevalue(who)
    before = trail()
    with pytest.raises(ActionForbidden):
        services.user_create(actor=actor, username="mallory", email="m@example.com")
    with pytest.raises(ActionForbidden):
        services.user_set_roles(actor=actor, user=bob, roles=["admin"])
    with pytest.raises(ActionForbidden):
        services.user_deactivate(actor=actor, user=bob)
    with pytest.raises(ActionForbidden):
        services.user_password_reset_start(actor=actor, user=bob, request=None)
    assert not User.objects.filter(username="mallory").exists()
    bob.refresh_from_db()
    assert bob.is_active and not bob.has_role("admin")
    assert trail() == before


def test_a_deactivated_admin_manages_nobody(admin_user, bob):
    admin_user.is_active = False
    with pytest.raises(ActionForbidden):
        services.user_deactivate(actor=admin_user, user=bob)


def test_people_manage_their_own_tokens_only(alice, bob, admin_user, trail):
    token, _ = services.token_create(actor=alice, user=alice, label="ci")
    before = trail()
    with pytest.raises(ActionForbidden):
        services.token_create(actor=bob, user=alice, label="mine now")
    with pytest.raises(ActionForbidden):
        services.token_revoke(actor=bob, token=token)
    token.refresh_from_db()
    assert token.revoked_at is None and ApiToken.objects.filter(user=alice).count() == 1
    assert trail() == before
    # An admin may, and so may the console (a management command).
    services.token_create(actor=admin_user, user=alice, label="by admin")
    services.token_create(actor=services.console_actor(), user=alice, label="by console")
    services.token_revoke(actor=admin_user, token=token)
    assert ApiToken.objects.filter(user=alice).count() == 3


def test_a_service_account_named_otherwise_is_not_the_console(alice):
    robot = factories.make_user("ci-robot", is_service_account=True)
    with pytest.raises(ActionForbidden):
        services.token_create(actor=robot, user=alice, label="x")


def test_role_groups_are_fixed_in_the_admin_and_teams_are_audited(admin_user, client):
    client.force_login(admin_user)
    validator = Group.objects.get(name="validator")
    page = client.get(f"/admin/auth/group/{validator.pk}/change/")
    assert page.status_code == 200
    assert 'name="name"' not in page.content.decode()  # shown read-only
    assert client.post(f"/admin/auth/group/{validator.pk}/delete/", {"post": "yes"}).status_code == 403
    response = client.post("/admin/auth/group/add/", {"name": "risk-team", "permissions": []})
    assert response.status_code == 302
    event = AuditEvent.objects.filter(action="group.created").latest("seq")
    assert event.actor_username == "admin" and event.object_repr == "risk-team"
