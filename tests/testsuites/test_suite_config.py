"""Who changes a model's test suite, and how: owners propose, independent validators decide.

alice owns credit_model, bob contributes, carol and dave are validators with the reviewer grant,
admin is an admin who owns nothing, eve sees nothing.
"""

from __future__ import annotations

import pytest

from governance.audit.models import AuditEvent
from governance.errors import ActionConflict, ActionError, ActionForbidden
from tests import factories
from workflows.lifecycle.services import version_transition
from workflows.testsuites import checks, selectors, services
from workflows.testsuites.models import SuiteChangeProposal, TestRun, TestSuiteConfig

pytestmark = pytest.mark.django_db

# credit_model is of the medium tier: its default suite asks accuracy of at least 0.75.
LOWER_BAR = [{"kind": "metric", "metric": "accuracy", "threshold": 0.7}, {"kind": "schema"}]
OTHER = [{"kind": "schema"}]


def in_force(model) -> list[dict]:
    return selectors.suite_config_of(model)[0]


def propose(model, user, raw=LOWER_BAR, reason="The new data is noisier."):
    return services.suite_change_propose(actor=user, model=model, raw_checks=raw, reason=reason)


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_owner_change_is_a_proposal_and_the_suite_in_force_stays(credit_model, alice):
    before = in_force(credit_model)

    proposal = propose(credit_model, alice)

    assert proposal.status == "pending" and proposal.proposed_by == alice
    assert proposal.base_checks == before
    assert proposal.proposed_checks == checks.validate_checks(LOWER_BAR, task="classification")
    assert in_force(credit_model) == before
    assert not TestSuiteConfig.objects.exists()
    (event,) = events("suite.proposed")
    assert event.actor == alice and event.model_slug == credit_model.slug
    assert "accuracy at least 0.75 → 0.70" in event.summary
    assert "removed: Latency for 1 row at most 50 ms (95th percentile of 30 calls)" in event.summary
    assert "accuracy at least 0.75 → 0.70" in event.details["changes"]
    assert event.details["reason"] == "The new data is noisier."


def test_owner_cannot_set_the_suite_directly_nor_can_contributor_or_outsider(credit_model, alice, bob, eve):
    for user in (alice, bob, eve):
        with pytest.raises(ActionForbidden):
            services.suite_config_set(actor=user, model=credit_model, raw_checks=OTHER, reason="mine")
    assert not TestSuiteConfig.objects.exists()


def test_contributor_and_outsider_cannot_propose(credit_model, bob, eve):
    for user in (bob, eve):
        with pytest.raises(ActionForbidden):
            propose(credit_model, user)
    assert not SuiteChangeProposal.objects.exists()


def test_a_proposal_needs_a_reason_valid_checks_and_a_change(credit_model, alice):
    with pytest.raises(ActionError, match="Give a reason") as missing:
        propose(credit_model, alice, reason="  ")
    assert missing.value.field == "reason" and missing.value.status == 400
    with pytest.raises(ActionError, match="Check 1: unknown kind") as bad:
        propose(credit_model, alice, raw=[{"kind": "nope"}])
    assert bad.value.code == "invalid_checks"
    with pytest.raises(ActionError, match="suite in force already"):
        propose(credit_model, alice, raw=in_force(credit_model))
    assert not SuiteChangeProposal.objects.exists()


def test_validator_with_the_reviewer_grant_approves_and_it_applies_with_the_decision(credit_model, alice, carol):
    proposal = propose(credit_model, alice)

    approved = services.suite_proposal_approve(actor=carol, proposal=proposal, reason="Agreed with the data team.")

    assert approved.status == "approved" and approved.decided_by == carol and approved.decided_at is not None
    assert approved.decision_reason == "Agreed with the data team."
    config = TestSuiteConfig.objects.get(model=credit_model)
    assert config.checks == proposal.proposed_checks and config.updated_by == carol
    (event,) = events("suite.proposal_approved")
    assert event.actor == carol and event.details["proposed_by"] == "alice"
    assert event.details["decision_reason"] == "Agreed with the data team."
    assert event.details["checks"] == proposal.proposed_checks


def test_validator_without_the_reviewer_grant_is_refused(credit_model, alice):
    outsider_validator = factories.make_user("vera", "validator")
    factories.grant(model=credit_model, user=outsider_validator, role="viewer", granted_by=alice)
    proposal = propose(credit_model, alice)
    for action in (services.suite_proposal_approve, services.suite_proposal_reject):
        with pytest.raises(ActionForbidden, match="reviewer grant"):
            action(actor=outsider_validator, proposal=proposal, reason="looks fine")
    assert SuiteChangeProposal.objects.get(pk=proposal.pk).status == "pending"
    assert not TestSuiteConfig.objects.exists()


def test_reviewer_grant_without_the_validator_role_is_refused(credit_model, alice):
    scientist = factories.make_user("sam", "data_scientist")
    factories.grant(model=credit_model, user=scientist, role="reviewer")
    proposal = propose(credit_model, alice)
    with pytest.raises(ActionForbidden):
        services.suite_proposal_approve(actor=scientist, proposal=proposal, reason="fine")
    with pytest.raises(ActionForbidden):
        services.suite_config_set(actor=scientist, model=credit_model, raw_checks=OTHER, reason="mine")


def test_proposer_cannot_approve_their_own_proposal(credit_model, carol, dave):
    proposal = propose(credit_model, carol, reason="A validator proposing rather than setting.")
    with pytest.raises(ActionForbidden, match="Nobody decides their own proposal"):
        services.suite_proposal_approve(actor=carol, proposal=proposal, reason="self")
    assert SuiteChangeProposal.objects.get(pk=proposal.pk).status == "pending"
    services.suite_proposal_approve(actor=dave, proposal=proposal, reason="Second pair of eyes.")
    assert in_force(credit_model) == proposal.proposed_checks


def test_an_owner_who_is_also_a_validator_or_admin_only_proposes(credit_model, alice, carol):
    owner_validator = factories.make_user("olga", "validator", "admin")
    factories.grant(model=credit_model, user=owner_validator, role="owner", granted_by=alice)
    factories.grant(model=credit_model, user=owner_validator, role="reviewer")
    with pytest.raises(ActionForbidden):
        services.suite_config_set(actor=owner_validator, model=credit_model, raw_checks=OTHER, reason="mine")
    other_owners = propose(credit_model, alice)
    with pytest.raises(ActionForbidden):
        services.suite_proposal_approve(actor=owner_validator, proposal=other_owners, reason="co-owner")
    own = propose(credit_model, owner_validator, raw=OTHER, reason="Schema only.")
    assert own.status == "pending"
    services.suite_proposal_approve(actor=carol, proposal=own, reason="ok")


def test_admin_who_owns_nothing_approves_and_sets_directly(credit_model, alice, admin_user):
    proposal = propose(credit_model, alice)
    services.suite_proposal_approve(actor=admin_user, proposal=proposal, reason="Model-risk agreed.")
    services.suite_config_set(actor=admin_user, model=credit_model, raw_checks=OTHER, reason="Schema only for now.")
    assert in_force(credit_model) == OTHER
    (event,) = events("suite.changed")
    assert event.actor == admin_user and event.details["reason"] == "Schema only for now."
    assert "removed: Accuracy at least 0.70" in event.summary


def test_validators_own_change_applies_at_once_and_is_audited(credit_model, carol):
    services.suite_config_set(actor=carol, model=credit_model, raw_checks=LOWER_BAR, reason="Tighter schema.")
    assert in_force(credit_model) == checks.validate_checks(LOWER_BAR, task="classification")
    (event,) = events("suite.changed")
    assert event.actor == carol and event.model_slug == credit_model.slug
    with pytest.raises(ActionError, match="Give a reason"):
        services.suite_config_set(actor=carol, model=credit_model, raw_checks=OTHER, reason="")
    with pytest.raises(ActionError, match="suite in force already"):
        services.suite_config_set(actor=carol, model=credit_model, raw_checks=LOWER_BAR, reason="again")


def test_service_accounts_do_not_decide_or_set(credit_model, alice):
    agent = factories.make_user("ci-agent", "validator", is_service_account=True)
    factories.grant(model=credit_model, user=agent, role="reviewer")
    proposal = propose(credit_model, alice)
    with pytest.raises(ActionForbidden):
        services.suite_proposal_approve(actor=agent, proposal=proposal, reason="auto")
    with pytest.raises(ActionForbidden):
        services.suite_config_set(actor=agent, model=credit_model, raw_checks=OTHER, reason="auto")


def test_reject_keeps_the_old_suite_and_records_the_reason(credit_model, alice, carol, bob):
    before = in_force(credit_model)
    proposal = propose(credit_model, alice)
    with pytest.raises(ActionForbidden):
        services.suite_proposal_reject(actor=bob, proposal=proposal, reason="no")
    with pytest.raises(ActionError, match="Give a reason"):
        services.suite_proposal_reject(actor=carol, proposal=proposal, reason="")

    rejected = services.suite_proposal_reject(actor=carol, proposal=proposal, reason="0.75 is too lax for credit.")

    assert rejected.status == "rejected" and rejected.decided_by == carol
    assert rejected.decision_reason == "0.75 is too lax for credit."
    assert in_force(credit_model) == before and not TestSuiteConfig.objects.exists()
    (event,) = events("suite.proposal_rejected")
    assert event.actor == carol
    with pytest.raises(ActionConflict, match="no longer waiting") as late:
        services.suite_proposal_approve(actor=carol, proposal=proposal, reason="changed my mind")
    assert late.value.status == 409 and late.value.code == "not_pending"


def test_only_the_proposer_withdraws_a_pending_proposal(credit_model, alice, carol, admin_user):
    proposal = propose(credit_model, alice)
    for user in (carol, admin_user):
        with pytest.raises(ActionForbidden, match="Only the author"):
            services.suite_proposal_withdraw(actor=user, proposal=proposal)

    withdrawn = services.suite_proposal_withdraw(actor=alice, proposal=proposal, reason="Wrong model.")

    assert withdrawn.status == "withdrawn" and withdrawn.decision_reason == "Wrong model."
    (event,) = events("suite.proposal_withdrawn")
    assert event.actor == alice
    with pytest.raises(ActionConflict):
        services.suite_proposal_withdraw(actor=alice, proposal=proposal)
    with pytest.raises(ActionConflict):
        services.suite_proposal_approve(actor=carol, proposal=proposal, reason="too late")
    assert not TestSuiteConfig.objects.exists()


def test_a_direct_change_supersedes_pending_proposals_made_on_the_old_suite(credit_model, alice, carol, dave):
    proposal = propose(credit_model, alice)
    services.suite_config_set(actor=carol, model=credit_model, raw_checks=OTHER, reason="Schema only.")

    proposal.refresh_from_db()
    assert proposal.status == "superseded" and proposal.decided_by is None
    (event,) = events("suite.proposal_superseded")
    assert event.actor == carol and event.details["proposal_id"] == proposal.pk
    with pytest.raises(ActionConflict, match="no longer waiting"):
        services.suite_proposal_approve(actor=dave, proposal=proposal, reason="ok")
    assert in_force(credit_model) == OTHER


def test_approving_the_second_of_two_proposals_on_one_suite_is_refused_as_superseded(credit_model, alice, carol, dave):
    first = propose(credit_model, alice)
    second = propose(credit_model, alice, raw=OTHER, reason="Or rather schema only.")
    services.suite_proposal_approve(actor=carol, proposal=first, reason="ok")

    second.refresh_from_db()
    assert second.status == "superseded"
    with pytest.raises(ActionConflict):
        services.suite_proposal_approve(actor=dave, proposal=second, reason="ok")
    assert in_force(credit_model) == first.proposed_checks


def test_a_stale_base_is_refused_with_409_and_marked_superseded(credit_model, alice, carol):
    """The suite in force can change without a proposal being touched (the tier's defaults move
    when the tier changes): approving then refuses and marks the proposal superseded."""
    proposal = propose(credit_model, alice)
    type(credit_model).objects.filter(pk=credit_model.pk).update(risk_tier="critical")

    with pytest.raises(ActionConflict, match="superseded") as refused:
        services.suite_proposal_approve(actor=carol, proposal=proposal, reason="ok")

    assert refused.value.status == 409 and refused.value.code == "superseded"
    proposal.refresh_from_db()
    assert proposal.status == "superseded"
    assert not TestSuiteConfig.objects.exists()
    assert [e.actor for e in events("suite.proposal_superseded")] == [carol]


def test_a_pending_proposal_never_affects_a_run_and_an_approved_one_holds_the_next(
    credit_model, alice, carol, datasets, django_capture_on_commit_callbacks
):
    before = in_force(credit_model)
    proposal = propose(credit_model, alice, raw=OTHER, reason="Schema only.")
    first = factories.make_version(credit_model, alice, datasets=datasets)
    with django_capture_on_commit_callbacks(execute=True):
        version_transition(version=first, name="submit", actor=alice)
    assert TestRun.objects.get(version=first).config_snapshot == before

    services.suite_proposal_approve(actor=carol, proposal=proposal, reason="ok")
    second = factories.make_version(credit_model, alice, datasets=datasets)
    with django_capture_on_commit_callbacks(execute=True):
        version_transition(version=second, name="submit", actor=alice)

    assert TestRun.objects.get(version=second).config_snapshot == OTHER
    assert TestRun.objects.get(version=first).config_snapshot == before  # a run keeps its suite


def test_a_proposed_tier_runs_the_defaults_of_the_tier_it_counts_as(alice, admin_user):
    # The owner proposes "low"; until model risk confirms it the model counts as high, bars included.
    from governance.registry.services import model_risk_tier_confirm

    model = factories.make_model(alice, name="Lenient", risk_tier="low", confirmed=False)
    assert selectors.suite_config_of(model) == (checks.default_checks(task=model.task, risk_tier="high"), False)
    assert checks.default_checks(task=model.task, risk_tier="high") != checks.default_checks(task=model.task, risk_tier="low")

    model = model_risk_tier_confirm(model=model, actor=admin_user, risk_tier="low", reason="Small internal book.")
    assert selectors.suite_config_of(model) == (checks.default_checks(task=model.task, risk_tier="low"), False)



def test_the_model_panel_reads_the_users_grants_once_however_many_proposals_wait(credit_model, alice, carol):
    from types import SimpleNamespace

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    request = SimpleNamespace(user=carol)
    propose(credit_model, alice)

    def grant_reads() -> int:
        with CaptureQueriesContext(connection) as ctx:
            panel = selectors.model_suite_panel_context(request, credit_model)
        assert panel["may_set_suite"] and all(p["can_decide"] for p in panel["pending"])
        return sum("auth_permission" in q["sql"] for q in ctx.captured_queries)

    with_one = grant_reads()
    propose(credit_model, alice, raw=OTHER, reason="Or rather schema only.")
    propose(credit_model, alice, raw=[{"kind": "metric", "metric": "accuracy", "threshold": 0.6}], reason="Lower still.")
    assert grant_reads() == with_one
