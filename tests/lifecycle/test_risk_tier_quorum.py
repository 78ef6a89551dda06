"""A proposed tier counts as high (critical if proposed) until confirmed, and a version is
decided under the tier it was submitted under, with that tier's number in force."""

from __future__ import annotations

import pytest
from django.urls import reverse

from governance.registry import services as registry
from governance.registry.models import ModelVersion, VersionState
from tests import factories
from workflows.lifecycle import policy, services
from workflows.lifecycle.models import TransitionRecord

from .conftest import walk

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewers(carol, dave, frank, gina):
    return [carol, dave, frank, gina]


def _proposed_model(alice, oscar, reviewers, tier):
    return factories.make_model(
        alice, name=f"Proposed {tier}", risk_tier=tier, confirmed=False, reviewer=reviewers, operator=[oscar]
    )


def _in_review(model, alice, datasets, users) -> ModelVersion:
    version = factories.make_version(model, alice, datasets=datasets)
    return walk(version, ["submit", "pass_tests", "pass_warmup"], users=users)


def _sign(version, signer):
    services.signoff_record(
        version=version, signer=signer, decision="approve", annotation="Reviewed the evidence.",
        password=factories.PASSWORD,
    )
    return ModelVersion.objects.get(pk=version.pk)


def _approvals_until_approved(version, reviewers) -> int:
    for count, reviewer in enumerate(reviewers, start=1):
        if _sign(version, reviewer).state == VersionState.APPROVED:
            return count
    return 0


def test_a_proposed_medium_tier_needs_the_approvals_of_high(alice, oscar, reviewers, datasets, users):
    model = _proposed_model(alice, oscar, reviewers, "medium")
    version = _in_review(model, alice, datasets, users)
    assert version.transitions.get(name="submit").policy["risk_tier"] == "high"
    assert _approvals_until_approved(version, reviewers) == 2


def test_a_proposed_critical_tier_needs_the_approvals_of_critical(alice, oscar, reviewers, datasets, users):
    model = _proposed_model(alice, oscar, reviewers, "critical")
    version = _in_review(model, alice, datasets, users)
    assert _approvals_until_approved(version, reviewers) == 3


def test_a_confirmed_medium_tier_needs_one_approval(credit_model, alice, reviewers, in_review):
    assert credit_model.risk_tier_status == "confirmed"
    assert _approvals_until_approved(in_review, reviewers) == 1


def test_confirming_low_after_submission_keeps_the_version_at_its_submitted_quorum(
    alice, oscar, reviewers, datasets, users, api_for, client, admin_user
):
    model = _proposed_model(alice, oscar, reviewers, "medium")
    submitted = _in_review(model, alice, datasets, users)
    registry.model_risk_tier_confirm(model=model, actor=reviewers[0], risk_tier="low", reason="Internal reporting only.")
    later = _in_review(model, alice, datasets, users)

    # What each door says: the version API, the version page's panel, the review queue.
    body = api_for(reviewers[1]).get(f"/api/v1/models/{model.slug}/versions/{submitted.number}/").json()
    assert body["required_signoffs"] == 2
    body = api_for(reviewers[1]).get(f"/api/v1/models/{model.slug}/versions/{later.number}/").json()
    assert body["required_signoffs"] == 1
    client.force_login(reviewers[1])
    rows = {row["version"].pk: row for row in client.get(reverse("lifecycle:review_queue")).context["rows"]}
    assert (rows[submitted.pk]["tier"], rows[submitted.pk]["required"]) == ("high", 2)
    assert (rows[later.pk]["tier"], rows[later.pk]["required"]) == ("low", 1)
    page = client.get(submitted.get_absolute_url()).content.decode()
    assert "0 of 2 required approvals." in page

    # And the quorum itself.
    assert _sign(submitted, reviewers[1]).state == VersionState.IN_REVIEW
    approved = _sign(submitted, reviewers[2])
    assert approved.state == VersionState.APPROVED
    assert approved.transitions.get(name="approve").policy == {"risk_tier": "high", "required_approvals": 2}
    assert _approvals_until_approved(later, reviewers[1:]) == 1


def test_the_numbers_in_force_for_the_submitted_tier_apply(alice, oscar, reviewers, datasets, users):
    from workflows.lifecycle.models import ApprovalPolicy

    model = _proposed_model(alice, oscar, reviewers, "low")
    version = _in_review(model, alice, datasets, users)
    ApprovalPolicy.objects.filter(risk_tier="high").update(required_approvals=3)
    assert _approvals_until_approved(version, reviewers) == 3


def test_a_submission_recorded_before_tiers_were_confirmed_counts_no_lower_than_the_tier_now(credit_model):
    # Recorded with the owner's own tier and no status: the stricter of that and the tier now.
    old = {"risk_tier": "medium", "required_approvals": 1}
    assert policy.tier_from_submission(old, credit_model) == "medium"  # confirmed medium now
    credit_model.risk_tier_status = "proposed"
    assert policy.tier_from_submission(old, credit_model) == "high"
    credit_model.risk_tier = "critical"
    assert policy.tier_from_submission(old, credit_model) == "critical"
    # Recorded with a status: exactly the tier it names, whatever the model's tier now.
    assert policy.tier_from_submission({"risk_tier": "low", "risk_tier_status": "confirmed"}, credit_model) == "low"
    # No submit record at all: the model's effective tier now.
    assert policy.tier_from_submission(None, credit_model) == "critical"


def test_each_later_step_records_the_submitted_tier(alice, oscar, reviewers, datasets, users):
    model = _proposed_model(alice, oscar, reviewers, "medium")
    version = _in_review(model, alice, datasets, users)
    registry.model_risk_tier_confirm(model=model, actor=reviewers[0], risk_tier="low", reason="Small exposure.")
    services.version_transition(version=version, name="withdraw", actor=alice, annotation="superseded")
    record = TransitionRecord.objects.filter(version=version).latest("id")
    assert (record.name, record.policy["risk_tier"]) == ("withdraw", "high")
