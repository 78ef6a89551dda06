"""Races on PostgreSQL: validators deciding changes to one model's test suite at the same moment.

Each thread has its own API client and its own database connection, as two browsers would.
Every decision locks the model's row first, so the second one sees what the first applied.
"""

import pytest
from django.db import connection

from governance.audit.models import AuditEvent
from tests.lifecycle.test_concurrency import race
from workflows.testsuites import selectors, services
from workflows.testsuites.models import SuiteChangeProposal

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are tested on PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]

SCHEMA_ONLY = [{"kind": "schema"}]
DRIFT_ONLY = [{"kind": "drift", "threshold": 0.2}]


def _approve(client, proposal):
    url = f"/api/v1/models/{proposal.model.slug}/test-suite/proposals/{proposal.pk}/approve/"
    return lambda: client.post(url, {"reason": "Reviewed."}, format="json")


def _propose(model, user, checks):
    return services.suite_change_propose(actor=user, model=model, raw_checks=checks, reason="Proposed in a race.")


def test_two_validators_approving_two_proposals_on_one_suite_apply_exactly_one(credit_model, alice, carol, dave, api_for):
    first, second = _propose(credit_model, alice, SCHEMA_ONLY), _propose(credit_model, alice, DRIFT_ONLY)

    responses = race([_approve(api_for(carol), first), _approve(api_for(dave), second)])

    assert sorted(r.status_code for r in responses) == [200, 409], [r.json() for r in responses]
    winner, loser = (first, second) if responses[0].status_code == 200 else (second, first)
    refused = responses[1] if winner is first else responses[0]
    assert refused.json()["code"] in ("not_pending", "superseded")
    assert SuiteChangeProposal.objects.get(pk=winner.pk).status == "approved"
    assert SuiteChangeProposal.objects.get(pk=loser.pk).status == "superseded"
    assert selectors.suite_config_of(credit_model)[0] == SuiteChangeProposal.objects.get(pk=winner.pk).proposed_checks
    assert AuditEvent.objects.filter(action="suite.proposal_approved").count() == 1
    assert AuditEvent.objects.filter(action="suite.proposal_superseded").count() == 1


def test_two_validators_approving_the_same_proposal_apply_it_once(credit_model, alice, carol, dave, api_for):
    proposal = _propose(credit_model, alice, SCHEMA_ONLY)

    responses = race([_approve(api_for(carol), proposal), _approve(api_for(dave), proposal)])

    assert sorted(r.status_code for r in responses) == [200, 409]
    assert [r.json()["code"] for r in responses if r.status_code == 409] == ["not_pending"]
    assert AuditEvent.objects.filter(action="suite.proposal_approved").count() == 1
    assert selectors.suite_config_of(credit_model)[0] == SCHEMA_ONLY


def test_an_approval_racing_a_direct_change_never_applies_over_it(credit_model, alice, carol, dave, api_for):
    proposal = _propose(credit_model, alice, SCHEMA_ONLY)
    put = lambda: api_for(dave).put(  # noqa: E731
        f"/api/v1/models/{credit_model.slug}/test-suite/", {"checks": DRIFT_ONLY, "reason": "Drift only."}, format="json"
    )

    approval, change = race([_approve(api_for(carol), proposal), put])

    assert change.status_code == 200
    status = SuiteChangeProposal.objects.get(pk=proposal.pk).status
    if approval.status_code == 200:  # approved first, then changed over it
        assert status == "approved"
    else:  # changed first: the proposal's base is gone
        assert approval.status_code == 409 and status == "superseded"
    assert selectors.suite_config_of(credit_model)[0] == DRIFT_ONLY
