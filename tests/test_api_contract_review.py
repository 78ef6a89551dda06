"""The public API v1 contract for independent review, checked as an outside client calls it:
risk-tier confirmation, who gives which grant, requests for changes with findings, approvals with
conditions, who may retire, and the promotion guard with an admin's override."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from governance.registry.models import MLModel
from tests import factories
from tests.lifecycle.conftest import PATHS, walk
from tests.test_api_contract import (  # noqa: F401 - the contract's fixtures, shared
    _fresh_cache,
    agent,
    assert_error,
    sign,
    transition,
    users,
    version_in,
    vurl,
)
from workflows.lifecycle.models import ApprovalPolicy

pytestmark = pytest.mark.django_db


def future(days: int = 30) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


# --- Models: the risk tier is a proposal until model risk confirms it ------------------------


def test_risk_tier_is_proposed_until_a_validator_confirms_it(alice, carol, admin_user, api_for, datasets):
    owner = api_for(alice)
    created = owner.post("/api/v1/models/", {"name": "Churn", "risk_tier": "medium", "task": "classification"}, format="json")
    assert created.status_code == 201, created.content
    assert owner.get("/api/v1/models/churn/").json()["risk_tier_status"] == "proposed"
    url = "/api/v1/models/churn/risk-tier/"

    # The owner cannot confirm her own proposal.
    assert_error(owner.post(url, {"risk_tier": "low", "reason": "small book"}, format="json"), 403)
    # Admins give the validator the reviewer grant; a confirmation needs a reason.
    grant = api_for(admin_user).post("/api/v1/models/churn/grants/", {"username": "carol", "role": "reviewer"}, format="json")
    assert grant.status_code == 201, grant.content
    assert_error(api_for(carol).post(url, {"risk_tier": "low"}, format="json"), 400, "reason")

    confirmed = api_for(carol).post(url, {"risk_tier": "low", "reason": "Retail book under 1% of exposure"}, format="json")
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["risk_tier_status"] == "confirmed" and confirmed.json()["risk_tier"] == "low"
    assert owner.get("/api/v1/models/churn/").json()["risk_tier_status"] == "confirmed"


@pytest.mark.parametrize("proposed,required", [("low", 2), ("medium", 2), ("high", 2), ("critical", 3)])
def test_a_proposed_tier_needs_the_approvals_of_high_or_critical(proposed, required, alice, carol, dave, oscar, admin_user, api_for, users, datasets):
    body = api_for(alice).post("/api/v1/models/", {"name": f"Tier {proposed}", "risk_tier": proposed, "task": "classification"}, format="json").json()
    model = MLModel.objects.get(slug=body["slug"])
    for who in ("carol", "dave"):
        api_for(admin_user).post(f"/api/v1/models/{model.slug}/grants/", {"username": who, "role": "reviewer"}, format="json")
    version = walk(factories.make_version(model, alice, datasets=datasets), PATHS["in_review"], users=users)
    assert api_for(alice).get(vurl(version)).json()["required_signoffs"] == required


# --- Grants: owners share, model risk chooses reviewers, admins give anything ---------------


def test_who_gives_which_grant(credit_model, alice, carol, eve, admin_user, api_for):
    url = f"/api/v1/models/{credit_model.slug}/grants/"
    owner, validator, admin = api_for(alice), api_for(carol), api_for(admin_user)
    factories.make_user("val", "validator")
    factories.make_user("opie", "operator")

    for role in ("viewer", "contributor", "owner"):
        response = owner.post(url, {"username": "eve", "role": role}, format="json")
        assert response.status_code == 201, (role, response.content)
    for role in ("reviewer", "operator"):
        assert_error(owner.post(url, {"username": "val", "role": role}, format="json"), 403)

    reviewer = validator.post(url, {"username": "val", "role": "reviewer"}, format="json")
    assert reviewer.status_code == 201, reviewer.content
    for role in ("contributor", "owner", "operator", "viewer"):
        assert_error(validator.post(url, {"username": "val", "role": role}, format="json"), 403)

    assert_error(owner.delete(f"{url}{reviewer.json()['id']}/"), 403)
    assert validator.delete(f"{url}{reviewer.json()['id']}/").status_code == 204

    operator = admin.post(url, {"username": "opie", "role": "operator"}, format="json")
    assert operator.status_code == 201, operator.content
    assert_error(owner.delete(f"{url}{operator.json()['id']}/"), 403)
    assert admin.delete(f"{url}{operator.json()['id']}/").status_code == 204


# --- Sign-offs: request changes with findings, approve with conditions ----------------------


def test_request_changes_sends_the_version_back_with_findings(version_in, alice, carol, api_for):
    version = version_in("in_review")
    findings = [{"description": "Calibration is off above 0.8", "severity": "high"}]
    response = sign(api_for(carol), version, decision="request_changes", annotation="Needs recalibration", findings=findings)
    assert response.status_code == 201, response.content
    body = api_for(alice).get(vurl(version)).json()
    assert body["state"] == "changes_requested"
    listed = api_for(alice).get(vurl(version, "findings/")).json()
    assert [(f["kind"], f["description"], f["severity"], f["status"], f["raised_by"]) for f in listed] == [
        ("finding", "Calibration is off above 0.8", "high", "open", "carol")
    ]
    assert {"id", "kind", "description", "severity", "due", "status", "raised_by"} <= set(listed[0])
    # The owner withdraws a version sent back (a state before approved).
    assert transition(api_for(alice), version, "withdraw", "superseded by a recalibrated version").json()["state"] == "withdrawn"


def test_conditions_only_with_approve_and_findings_not_with_approve(version_in, carol, api_for):
    version = version_in("in_review")
    condition = [{"description": "Monitor drift weekly", "severity": "medium", "due": future()}]
    assert_error(sign(api_for(carol), version, decision="reject", conditions=condition), 400)
    assert_error(sign(api_for(carol), version, decision="approve", findings=[{"description": "x", "severity": "low"}]), 400)
    assert_error(sign(api_for(carol), version, decision="approve", conditions=[{"description": "x", "severity": "extreme", "due": future()}]), 400)
    assert not version.signoffs.exists()


def test_an_open_condition_blocks_the_champion_until_a_validator_closes_it(version_in, alice, carol, oscar, api_for):
    version = version_in("in_review")
    condition = [{"description": "Add a monitor for the income feature", "severity": "medium", "due": future()}]
    response = sign(api_for(carol), version, decision="approve", conditions=condition)
    assert response.status_code == 201, response.content
    assert api_for(alice).get(vurl(version)).json()["state"] == "approved"
    listed = api_for(alice).get(vurl(version, "findings/")).json()
    assert [(f["kind"], f["status"], f["due"]) for f in listed] == [("condition", "open", condition[0]["due"])]

    assert transition(api_for(oscar), version, "promote_to_challenger", "shadow it").status_code == 200
    blocked = transition(api_for(oscar), version, "promote_to_champion", "go")
    assert_error(blocked, 409)
    assert "Add a monitor for the income feature" in blocked.json()["detail"]

    close_url = vurl(version, f"findings/{listed[0]['id']}/close/")
    assert_error(api_for(alice).post(close_url, {"annotation": "done"}, format="json"), 403)
    closed = api_for(carol).post(close_url, {"annotation": "Monitor is live"}, format="json")
    assert closed.status_code == 200, closed.content
    assert closed.json()["status"] == "closed" and closed.json()["closed_by"] == "carol"
    assert transition(api_for(oscar), version, "promote_to_champion", "go").json()["state"] == "champion"


# --- Lifecycle: who may retire, and the promotion guard -------------------------------------


@pytest.mark.parametrize("state", ["challenger", "champion"])
def test_only_operators_retire_what_is_serving(version_in, state, alice, oscar, api_for):
    version = version_in(state)
    assert_error(transition(api_for(alice), version, "retire", "end of life"), 403)
    assert transition(api_for(oscar), version, "retire", "end of life").json()["state"] == "retired"


def test_an_early_promotion_needs_an_admins_override(version_in, credit_model, oscar, admin_user, api_for):
    # The override lifts the shadow minimums, not who promotes: this admin is also the model's operator.
    olga = factories.make_user("olga", "admin", "operator")
    factories.grant(model=credit_model, role="operator", user=olga, granted_by=admin_user)
    ApprovalPolicy.objects.filter(risk_tier="medium").update(min_shadow_hours=72, min_shadow_requests=500)
    version_in("champion")  # a first champion is not held back
    challenger = version_in("challenger")

    assert_error(transition(api_for(oscar), challenger, "promote_to_champion", "looks good"), 409)
    overridden = api_for(oscar).post(
        vurl(challenger, "transitions/"), {"name": "promote_to_champion", "annotation": "urgent", "override": True}, format="json"
    )
    assert_error(overridden, 403)
    admin = api_for(olga).post(
        vurl(challenger, "transitions/"),
        {"name": "promote_to_champion", "annotation": "Regulator deadline; shadow evidence reviewed", "override": True},
        format="json",
    )
    assert admin.status_code == 200, admin.content
    assert admin.json()["state"] == "champion"
