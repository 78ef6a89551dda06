"""The sharing page of a model and the access panel on the model's page."""

import pytest
from django.contrib.auth.models import Group
from django.test import RequestFactory

from governance.audit.models import AuditEvent
from governance.access.models import ModelGrant
from governance.access.panels import model_access_context

pytestmark = pytest.mark.django_db

URL = "/models/credit-risk/sharing/"


def test_owner_sees_grants_and_shares_with_a_user(credit_model, alice, eve, browser_for):
    browser = browser_for(alice)
    page = browser.get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    for name in ("alice", "bob", "carol", "dave", "oscar"):
        assert name in html
    response = browser.post(URL, {"username": "eve", "role": "viewer"})
    assert response.status_code == 302
    grant = ModelGrant.objects.get(model=credit_model, user=eve, role="viewer")
    assert grant.granted_by == alice
    assert AuditEvent.objects.get(action="grant.given", object_id=str(grant.pk)).actor_username == "alice"
    assert "eve" in browser.get(URL).content.decode()


def test_owner_shares_with_a_group_and_removes_it(credit_model, alice, browser_for):
    Group.objects.create(name="risk-team")
    browser = browser_for(alice)
    assert browser.post(URL, {"group": "risk-team", "role": "contributor"}).status_code == 302
    grant = ModelGrant.objects.get(model=credit_model, group__name="risk-team")
    assert browser.post(f"{URL}{grant.pk}/remove/").status_code == 302
    assert not ModelGrant.objects.filter(pk=grant.pk).exists()
    assert AuditEvent.objects.filter(action="grant.revoked", object_id=str(grant.pk), actor_username="alice").exists()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"username": "nobody", "role": "viewer"}, "No user called"),
        ({"role": "viewer"}, "Name either a user or a group"),
        ({"username": "eve", "group": "auditor", "role": "viewer"}, "Name either a user or a group"),
        ({"username": "eve", "role": "king"}, "Select a valid choice"),
    ],
)
def test_bad_share_shows_the_form_again_with_the_error(credit_model, alice, eve, browser_for, data, message):
    before = ModelGrant.objects.count()
    response = browser_for(alice).post(URL, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert ModelGrant.objects.count() == before


def test_removing_the_last_owner_is_refused_with_a_message(credit_model, alice, browser_for):
    grant = credit_model.grants.get(role="owner")
    browser = browser_for(alice)
    response = browser.post(f"{URL}{grant.pk}/remove/", follow=True)
    assert "at least one owner" in response.content.decode()
    assert ModelGrant.objects.filter(pk=grant.pk).exists()


def test_admin_manages_sharing_and_auditor_may_not(credit_model, admin_user, audrey, browser_for):
    assert browser_for(admin_user).get(URL).status_code == 200
    assert browser_for(audrey).get(URL).status_code == 403


def test_sharing_page_needs_sign_in(credit_model, client):
    response = client.get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_model_panel_lists_grants_and_links_sharing_for_managers_only(credit_model, alice, bob):
    template = "access/_model_grants_panel.html"
    request = RequestFactory().get("/")
    request.user = alice
    context = model_access_context(request, credit_model)
    roles = dict(context["roles"])
    assert [grant.user.username for grant in roles["Owner"]] == ["alice"]
    assert {grant.user.username for grant in roles["Reviewer"]} == {"carol", "dave"}
    assert context["can_manage"] is True
    from django.template.loader import render_to_string

    html = render_to_string(template, {"panel": context}, request=request)
    assert "/models/credit-risk/sharing/" in html and "Carol Tester" in html
    request.user = bob
    context = model_access_context(request, credit_model)
    assert context["can_manage"] is False
    assert "/sharing/" not in render_to_string(template, {"panel": context}, request=request)


def test_model_page_shows_the_access_panel(credit_model, alice, bob, browser_for):
    owner_page = browser_for(alice).get("/models/credit-risk/").content.decode()
    assert 'id="access"' in owner_page and "Manage sharing" in owner_page and "Carol Tester" in owner_page
    contributor_page = browser_for(bob).get("/models/credit-risk/").content.decode()
    assert 'id="access"' in contributor_page and "Manage sharing" not in contributor_page
