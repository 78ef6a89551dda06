"""Races on PostgreSQL: simultaneous sign-offs and transitions, through the API, in threads.

Each thread has its own client and its own database connection, as two browsers would.
"""

import threading

import pytest
from django.db import connection

from governance.registry.models import ModelVersion, VersionState
from tests import factories
from workflows.lifecycle.models import SignOff, TransitionRecord

from .conftest import PATHS, walk

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are tested on PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]

PASSWORD = factories.PASSWORD


def race(calls):
    """Start every call at the same moment; return their responses in call order."""
    barrier = threading.Barrier(len(calls))
    responses = [None] * len(calls)
    errors = []

    def run(index, call):
        try:
            barrier.wait()
            responses[index] = call()
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return responses


def url(version, action):
    return f"/api/v1/models/{version.model.slug}/versions/{version.number}/{action}/"


def _sign(client, version, decision="approve"):
    body = {"decision": decision, "annotation": "Reviewed the evidence.", "password": PASSWORD}
    return lambda: client.post(url(version, "signoffs"), body, format="json")


def _transition(client, version, name, annotation="because"):
    return lambda: client.post(url(version, "transitions"), {"name": name, "annotation": annotation}, format="json")


@pytest.fixture
def reviewers(carol, dave, frank, gina):
    return [carol, dave, frank, gina, factories.make_user("henry", "validator")]


def test_simultaneous_approvals_approve_a_critical_version_exactly_once(alice, reviewers, users, datasets, api_for):
    model = factories.make_model(alice, name="Credit limit", risk_tier="critical", reviewer=reviewers)
    version = walk(factories.make_version(model, alice, datasets=datasets), PATHS["in_review"], users=users)
    clients = [api_for(user) for user in reviewers]

    responses = race([_sign(client, version) for client in clients])

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201, 201, 201, 409, 409], [r.json() for r in responses]
    assert all(r.json()["code"] == "not_in_review" for r in responses if r.status_code == 409)
    assert ModelVersion.objects.get(pk=version.pk).state == VersionState.APPROVED
    signoffs = list(SignOff.objects.filter(version=version).order_by("at", "id"))
    assert len(signoffs) == 3
    approve = TransitionRecord.objects.get(version=version, name="approve")
    assert approve.details == {"signoffs": [s.pk for s in signoffs]}
    assert approve.policy == {"risk_tier": "critical", "required_approvals": 3}
    history = api_for(alice).get(url(version, "history")).json()
    # The test suites' own entries (the queued run) are theirs to test; here the decisions.
    decisions = [(e["kind"], e["title"]) for e in history if e["kind"] in ("transition", "signoff")]
    assert decisions == [
        ("transition", "submit"),
        ("transition", "pass_tests"),
        ("transition", "pass_warmup"),
        ("signoff", "approve"),
        ("signoff", "approve"),
        ("signoff", "approve"),
        ("transition", "approve"),
    ]


def test_two_people_withdrawing_at_once_get_one_winner_and_one_409(in_review, alice, api_for):
    responses = race([_transition(api_for(alice), in_review, "withdraw") for _ in range(2)])

    assert sorted(r.status_code for r in responses) == [200, 409]
    assert ModelVersion.objects.get(pk=in_review.pk).state == VersionState.WITHDRAWN
    assert TransitionRecord.objects.filter(version=in_review, name="withdraw").count() == 1


def test_a_signoff_racing_a_withdrawal_leaves_one_consistent_outcome(in_review, alice, carol, api_for):
    sign_response, withdraw_response = race(
        [_sign(api_for(carol), in_review), _transition(api_for(alice), in_review, "withdraw")]
    )

    state = ModelVersion.objects.get(pk=in_review.pk).state
    records = list(TransitionRecord.objects.filter(version=in_review).values_list("name", flat=True))
    if state == VersionState.APPROVED:
        assert (sign_response.status_code, withdraw_response.status_code) == (201, 409)
        assert records[-1] == "approve" and "withdraw" not in records
        assert SignOff.objects.filter(version=in_review).count() == 1
    else:
        assert state == VersionState.WITHDRAWN
        assert (sign_response.status_code, withdraw_response.status_code) == (409, 200)
        assert records[-1] == "withdraw" and "approve" not in records
        assert not SignOff.objects.filter(version=in_review).exists()


def test_two_promotions_to_champion_at_once_leave_one_champion(version_in, oscar, api_for):
    factories.shadow_minimums()  # the race, not the shadow guardrail
    old = version_in("champion")
    first, second = version_in("challenger"), version_in("challenger")

    responses = race(
        [_transition(api_for(oscar), first, "promote_to_champion"), _transition(api_for(oscar), second, "promote_to_champion")]
    )

    assert [r.status_code for r in responses] == [200, 200]
    states = dict(ModelVersion.objects.filter(model=old.model).values_list("number", "state"))
    assert list(states.values()).count(VersionState.CHAMPION) == 1
    assert states[old.number] == VersionState.RETIRED
    # Each promotion retired the champion it found, and said which version replaced it.
    retirements = TransitionRecord.objects.filter(version__model=old.model, name="retire")
    assert retirements.count() == 2
    assert sorted(r.details["replaced_by"] for r in retirements) == sorted([first.number, second.number])


def test_two_validators_closing_one_condition_at_once_close_it_once(in_review, carol, dave, frank, api_for):
    from workflows.lifecycle.models import Finding, FindingEvent
    from workflows.lifecycle.services import signoff_record

    from .conftest import grant

    grant(in_review.model, "reviewer", frank)
    signoff_record(
        version=in_review, signer=carol, decision="approve", annotation="With monitoring.", password=PASSWORD,
        conditions=[{"description": "Monitor drift.", "severity": "medium", "due": "2999-01-01"}],
    )
    condition = Finding.objects.get(version=in_review)
    close = url(in_review, f"findings/{condition.pk}/close")

    responses = race(
        [lambda client=api_for(user): client.post(close, {"annotation": "Done."}, format="json") for user in (dave, frank)]
    )

    assert sorted(r.status_code for r in responses) == [200, 409], [r.json() for r in responses]
    assert next(r for r in responses if r.status_code == 409).json()["code"] == "already_closed"
    assert FindingEvent.objects.filter(finding=condition, action="closed").count() == 1
    closed = Finding.objects.get(pk=condition.pk)
    assert closed.status == "closed" and closed.closed_by.username in ("dave", "frank")

def test_the_shadow_guardrail_judges_the_champion_it_finds_under_the_lock(version_in, oscar, api_for):
    """A challenger that shadowed champion v2 long enough races a rollback to v1: promoted first,
    it is then replaced by the rollback; rolled back first, it has shadowed the new champion for
    no time at all and is refused. Never promoted past a champion it did not shadow."""
    from workflows.lifecycle.models import ApprovalPolicy

    ApprovalPolicy.objects.update(min_shadow_hours=72, min_shadow_requests=500)
    first = version_in("champion")
    second = version_in("challenger")
    factories.shadow_for(second, hours=100, requests=500)
    walk_client = api_for(oscar)
    assert _transition(walk_client, second, "promote_to_champion")().status_code == 200
    third = version_in("challenger")
    factories.shadow_for(third, hours=100, requests=500)

    promote, rollback = race(
        [_transition(api_for(oscar), third, "promote_to_champion"), _transition(api_for(oscar), first, "rollback")]
    )

    assert rollback.status_code == 200
    assert ModelVersion.objects.get(pk=first.pk).state == VersionState.CHAMPION
    records = list(
        TransitionRecord.objects.filter(version__model=first.model, name__in=["promote_to_champion", "rollback"])
        .order_by("at", "id").values_list("version__number", "name")
    )
    if promote.status_code == 200:
        assert records[-2:] == [(third.number, "promote_to_champion"), (first.number, "rollback")]
        assert ModelVersion.objects.get(pk=third.pk).state == VersionState.RETIRED
    else:
        assert (promote.status_code, promote.json()["code"]) == (409, "shadow_too_short")
        assert "shadowed 0 h and 0 requests" in promote.json()["detail"]
        assert records[-1] == (first.number, "rollback")
        assert ModelVersion.objects.get(pk=third.pk).state == VersionState.CHALLENGER
