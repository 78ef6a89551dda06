"""Who gives and removes which grant: owners share access (owner, contributor, viewer);
validators independent of the model choose its reviewers; admins give any grant, and are the
only ones to give operator grants. By the service, the sharing page, the API and the admin."""

import pytest

from governance.access import permissions, services
from governance.access.models import ModelGrant
from governance.audit.models import AuditEvent
from governance.errors import ActionForbidden
from tests import factories

pytestmark = pytest.mark.django_db

API = "/api/v1/models/credit-risk/grants/"
PAGE = "/models/credit-risk/sharing/"


@pytest.fixture
def vince(db):
    """A validator who sees the model (viewer grant) and holds no reviewer grant on it."""
    return factories.make_user("vince", "validator")


@pytest.fixture
def seen_by_vince(credit_model, vince):
    factories.grant(model=credit_model, user=vince, role="viewer")
    return credit_model


@pytest.mark.parametrize("role", ["reviewer", "operator"])
def test_owner_cannot_give_reviewer_or_operator_grants(credit_model, alice, eve, role, api_for, browser_for):
    with pytest.raises(ActionForbidden):
        services.grant_give(actor=alice, model=credit_model, role=role, user=eve)
    assert api_for(alice).post(API, {"username": "eve", "role": role}, format="json").status_code == 403
    page = browser_for(alice).post(PAGE, {"username": "eve", "role": role})
    assert page.status_code == 400  # not a role the page offers her
    assert not ModelGrant.objects.filter(user=eve).exists()


@pytest.mark.parametrize("role", ["reviewer", "operator"])
def test_owner_cannot_remove_reviewer_or_operator_grants(credit_model, alice, role, api_for, browser_for):
    grant = credit_model.grants.filter(role=role).first()
    assert api_for(alice).delete(f"{API}{grant.pk}/").status_code == 403
    assert browser_for(alice).post(f"{PAGE}{grant.pk}/remove/").status_code == 302  # with the refusal shown
    assert ModelGrant.objects.filter(pk=grant.pk).exists()


def test_owner_in_the_admin_without_the_admin_role_is_refused(credit_model, alice, eve, browser_for):
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    admin = browser_for(alice)
    response = admin.post(
        "/admin/access/modelgrant/add/",
        {"model": credit_model.pk, "user": eve.pk, "group": "", "role": "reviewer", "_save": "Save"},
    )
    assert response.status_code == 403
    base = f"/admin/registry/mlmodel/{credit_model.pk}/permissions/"
    refused = admin.post(f"{base}user-manage/{eve.pk}/", {"permissions": ["operator"]})
    assert (refused.status_code, refused.url) == (302, "/admin/")  # guardian sends her back, nothing given
    assert not ModelGrant.objects.filter(user=eve).exists()


def test_sharing_page_offers_the_owner_only_her_roles_and_her_remove_buttons(credit_model, alice, browser_for):
    page = browser_for(alice).get(PAGE)
    assert [value for value, _ in page.context["form"].fields["role"].choices] == ["owner", "contributor", "viewer"]
    removable = {row["grant"].role for row in page.context["grants"] if row["removable"]}
    fixed = {row["grant"].role for row in page.context["grants"] if not row["removable"]}
    assert removable == {"owner", "contributor"} and fixed == {"reviewer", "operator"}
    html = page.content.decode()
    assert html.count(">Remove</button>") == 2


def test_validator_gives_and_removes_reviewer_grants_by_page_and_api(seen_by_vince, vince, eve, browser_for, api_for):
    frank = factories.make_user("frank", "validator")
    page = browser_for(vince).get(PAGE)
    assert page.status_code == 200
    assert [value for value, _ in page.context["form"].fields["role"].choices] == ["reviewer"]
    assert browser_for(vince).post(PAGE, {"username": "eve", "role": "reviewer"}).status_code == 302
    grant = ModelGrant.objects.get(user=eve, role="reviewer")
    assert grant.granted_by == vince
    assert AuditEvent.objects.get(action="grant.given", object_id=str(grant.pk)).actor_username == "vince"

    response = api_for(vince).post(API, {"username": "frank", "role": "reviewer"}, format="json")
    assert response.status_code == 201
    assert api_for(vince).delete(f"{API}{response.json()['id']}/").status_code == 204
    assert browser_for(vince).post(f"{PAGE}{grant.pk}/remove/").status_code == 302
    assert not ModelGrant.objects.filter(role="reviewer", user__in=[eve, frank]).exists()


@pytest.mark.parametrize("role", ["owner", "contributor", "viewer", "operator"])
def test_validator_cannot_give_other_grants(seen_by_vince, vince, eve, role, api_for, browser_for):
    with pytest.raises(ActionForbidden):
        services.grant_give(actor=vince, model=seen_by_vince, role=role, user=eve)
    assert api_for(vince).post(API, {"username": "eve", "role": role}, format="json").status_code == 403
    assert browser_for(vince).post(PAGE, {"username": "eve", "role": role}).status_code == 400
    grant = seen_by_vince.grants.filter(role=role).first()
    if grant is not None:
        assert api_for(vince).delete(f"{API}{grant.pk}/").status_code == 403
        assert ModelGrant.objects.filter(pk=grant.pk).exists()
    assert not ModelGrant.objects.filter(user=eve).exists()


def test_validator_who_owns_or_contributes_to_the_model_cannot_choose_its_reviewers(credit_model, vince, eve):
    factories.grant(model=credit_model, user=vince, role="contributor")
    assert not permissions.can_give_grant(vince, credit_model, "reviewer")
    with pytest.raises(ActionForbidden):
        services.grant_give(actor=vince, model=credit_model, role="reviewer", user=eve)


def test_validator_who_cannot_see_the_model_gets_404(credit_model, vince, api_for, browser_for):
    assert browser_for(vince).get(PAGE).status_code == 404
    assert api_for(vince).post(API, {"username": "vince", "role": "reviewer"}, format="json").status_code == 404
    assert not permissions.can_give_grant(vince, credit_model, "reviewer")


def test_admin_gives_and_removes_operator_grants(credit_model, admin_user, eve, api_for, browser_for):
    response = api_for(admin_user).post(API, {"username": "eve", "role": "operator"}, format="json")
    assert response.status_code == 201
    assert api_for(admin_user).delete(f"{API}{response.json()['id']}/").status_code == 204
    page = browser_for(admin_user).get(PAGE)
    assert [value for value, _ in page.context["form"].fields["role"].choices] == [
        "owner", "contributor", "reviewer", "operator", "viewer",
    ]
    assert browser_for(admin_user).post(PAGE, {"username": "eve", "role": "operator"}).status_code == 302
    assert ModelGrant.objects.filter(user=eve, role="operator", granted_by=admin_user).exists()


@pytest.mark.parametrize("who", ["bob", "oscar", "audrey"])
def test_others_who_see_the_model_cannot_reach_the_sharing_page(credit_model, who, request, browser_for):
    assert browser_for(request.getfixturevalue(who)).get(PAGE).status_code == 403
