"""The owner's risk tier is a proposal until a validator independent of the model or an admin
confirms or changes it, with a reason; by the service, the API, the model page and the admin."""

import pytest
from django.test import Client

from governance.audit.models import AuditEvent
from governance.errors import ActionError, ActionForbidden
from governance.registry import services
from governance.registry.models import MLModel
from tests import factories

pytestmark = pytest.mark.django_db

API = "/api/v1/models/credit-risk/risk-tier/"
PAGE = "/models/credit-risk/"
FORM = "/models/credit-risk/risk-tier/"


@pytest.fixture
def browser_for():
    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def proposed(alice, bob, carol, oscar):
    return factories.make_model(alice, confirmed=False, contributor=[bob], reviewer=[carol], operator=[oscar])


def test_a_new_model_proposes_its_tier_and_counts_as_high(alice, api_for):
    body = api_for(alice).post(
        "/api/v1/models/", {"name": "Credit risk", "risk_tier": "medium", "task": "classification"}, format="json"
    ).json()
    assert (body["risk_tier"], body["risk_tier_status"], body["effective_risk_tier"]) == ("medium", "proposed", "high")
    assert body["risk_tier_confirmed_by"] is None


def test_validator_confirms_a_changed_tier_by_api_with_an_audited_reason(proposed, carol, api_for):
    response = api_for(carol).post(API, {"risk_tier": "low", "reason": "Only internal reporting."}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["risk_tier"], body["risk_tier_status"], body["effective_risk_tier"]) == ("low", "confirmed", "low")
    assert (body["risk_tier_confirmed_by"], body["risk_tier_reason"]) == ("carol", "Only internal reporting.")
    event = AuditEvent.objects.get(action="model.risk_tier_confirmed")
    assert event.actor_username == "carol" and event.model_slug == "credit-risk"
    assert event.details == {
        "old_tier": "medium", "old_status": "proposed", "new_tier": "low", "reason": "Only internal reporting.",
    }


@pytest.mark.parametrize("who", ["alice", "bob", "oscar", "audrey"])
def test_owners_contributors_and_other_roles_cannot_confirm(proposed, who, request, api_for, browser_for):
    user = request.getfixturevalue(who)
    with pytest.raises(ActionForbidden):
        services.model_risk_tier_confirm(model=proposed, actor=user, risk_tier="low", reason="mine")
    assert api_for(user).post(API, {"risk_tier": "low", "reason": "mine"}, format="json").status_code == 403
    assert browser_for(user).post(FORM, {"risk_tier": "low", "reason": "mine"}).status_code == 403
    fresh = MLModel.objects.get(pk=proposed.pk)
    assert (fresh.risk_tier, fresh.risk_tier_status) == ("medium", "proposed")
    assert not AuditEvent.objects.filter(action="model.risk_tier_confirmed").exists()


def test_a_validator_who_owns_the_model_cannot_confirm_its_tier(db):
    vera = factories.make_user("vera", "data_scientist", "validator")
    model = factories.make_model(vera, name="Vera's", confirmed=False)
    with pytest.raises(ActionForbidden):
        services.model_risk_tier_confirm(model=model, actor=vera, risk_tier="low", reason="mine")


def test_outsider_gets_404(proposed, eve, api_for, browser_for):
    assert api_for(eve).post(API, {"risk_tier": "low", "reason": "x"}, format="json").status_code == 404
    assert browser_for(eve).post(FORM, {"risk_tier": "low", "reason": "x"}).status_code == 404


@pytest.mark.parametrize(
    "body, field", [({"risk_tier": "low", "reason": "  "}, "reason"), ({"risk_tier": "extreme", "reason": "x"}, "risk_tier")]
)
def test_a_missing_reason_or_an_unknown_tier_is_400_and_changes_nothing(proposed, carol, api_for, body, field):
    response = api_for(carol).post(API, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    with pytest.raises(ActionError):
        services.model_risk_tier_confirm(model=proposed, actor=carol, **body)
    assert MLModel.objects.get(pk=proposed.pk).risk_tier_status == "proposed"


def test_admin_confirms_the_proposed_tier(proposed, admin_user, api_for):
    response = api_for(admin_user).post(API, {"risk_tier": "medium", "reason": "Checked the use."}, format="json")
    assert response.status_code == 200
    assert response.json()["risk_tier_status"] == "confirmed"


def test_model_page_says_the_tier_is_proposed_and_offers_the_form_to_validators_only(proposed, alice, carol, browser_for):
    owner_page = browser_for(alice).get(PAGE)
    html = owner_page.content.decode()
    assert "proposed by the owner and not yet confirmed" in html and "the high tier" in html
    assert owner_page.context["tier_form"] is None and 'id="risk-tier-form"' not in html

    validator = browser_for(carol)
    assert 'id="risk-tier-form"' in validator.get(PAGE).content.decode()
    refused = validator.post(FORM, {"risk_tier": "low", "reason": ""})
    assert refused.status_code == 400 and "This field is required." in refused.content.decode()
    response = validator.post(FORM, {"risk_tier": "low", "reason": "Small exposure."})
    assert response.status_code == 302
    html = validator.get(PAGE).content.decode()
    assert "Low, confirmed by Carol Tester" in html and "Reason: Small exposure." in html


def test_admin_site_shows_the_tier_read_only(proposed, admin_user, browser_for):
    admin = browser_for(admin_user)
    url = f"/admin/registry/mlmodel/{proposed.pk}/change/"
    page = admin.get(url)
    assert page.status_code == 200
    assert "risk_tier" not in page.context["adminform"].form.fields
    # Whatever is posted, the tier fields are not the form's: nothing changes them here.
    admin.post(url, {"name": "Credit risk", "description": "", "risk_tier": "low", "risk_tier_status": "confirmed"})
    fresh = MLModel.objects.get(pk=proposed.pk)
    assert (fresh.risk_tier, fresh.risk_tier_status) == ("medium", "proposed")
