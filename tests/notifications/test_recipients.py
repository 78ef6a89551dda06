"""Who hears of each event: the right people, and only them."""

from __future__ import annotations

import pytest
from django.db import transaction

from governance.registry.models import ModelVersion
from tests import factories
from workflows.lifecycle import services as lifecycle
from workflows.notifications.models import Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob_datasets(bob):
    return factories.make_datasets(bob)


def told(event: str, version=None) -> list[str]:
    rows = Notification.objects.filter(event=event)
    if version is not None:
        rows = rows.filter(version=version)
    return sorted(rows.values_list("recipient__username", flat=True))


def test_review_request_goes_to_everyone_who_may_sign_and_nobody_else(crowd, credit_model, bob_datasets, bob, users):
    version = factories.make_version(credit_model, bob, datasets=bob_datasets)
    factories.step(version, "submit", bob)
    for name in ("pass_tests", "pass_warmup"):
        factories.step(version, name, users["agent"], annotation="ok")

    # carol and dave: validators with the grant; ivan: through his group's grant. Not bob (the
    # submitter, a validator too), alice (the owner, a validator too), frank (deactivated),
    # gina (no grant), henry (grant, not a validator), nor the operators.
    assert told("review_requested", version) == ["carol", "dave", "ivan"]
    assert Notification.objects.filter(version=version).exclude(event="review_requested").count() == 0
    message = Notification.objects.get(version=version, recipient__username="carol").context
    assert message["approvals_needed"] == 1 and message["risk_tier"] == "Medium"
    assert message["evidence"].startswith("No test run; no warm-up")


def test_failed_tests_and_warmups_go_to_the_submitter_and_owners(crowd, version_in, credit_model, bob_datasets, bob, agent):
    failed_tests = version_in("tests_failed")
    assert told("tests_failed", failed_tests) == ["alice"]
    failed_warmup = version_in("warmup_failed")
    assert told("warmup_failed", failed_warmup) == ["alice"]
    # Submitted by bob (a contributor, a validator too): he is told, and the owner.
    version = factories.make_version(credit_model, bob, datasets=bob_datasets)
    factories.step(version, "submit", bob)
    factories.step(version, "fail_tests", agent, annotation="accuracy 0.5 < 0.8")
    assert told("tests_failed", version) == ["alice", "bob"]
    assert Notification.objects.get(version=version, recipient__username="bob").context["annotation"] == "accuracy 0.5 < 0.8"


def test_approval_goes_to_submitter_and_owners_and_operators_with_a_grant_hear_it_waits(crowd, version_in, oscar):
    version = version_in("approved")  # approved by carol's signature
    assert told("approved", version) == ["alice"]
    # oscar: operator role and grant. Not olga (no grant), not pete (no role), not carol (signed).
    assert told("awaiting_promotion", version) == ["oscar"]


def test_rejection_tells_the_submitter_and_owners_with_the_reason_but_not_the_signer(crowd, credit_model, bob_datasets, bob, users):
    version = factories.make_version(credit_model, bob, datasets=bob_datasets)
    factories.step(version, "submit", bob)
    for name in ("pass_tests", "pass_warmup"):
        factories.step(version, name, users["agent"], annotation="ok")
    lifecycle.signoff_record(
        version=version, signer=users["carol"], decision="reject", annotation="Leaks the <target> column.",
        password=factories.PASSWORD,
    )
    assert told("rejected", version) == ["alice", "bob"]
    context = Notification.objects.get(version=version, event="rejected", recipient__username="bob").context
    assert context["actor"] == "Carol Tester" and context["annotation"] == "Leaks the <target> column."


def test_changes_requested_tells_the_submitter_and_owners(crowd, version_in, carol):
    version = version_in("in_review")
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
        lifecycle._transition_locked(
            locked, name="request_changes", actor=carol, agent_name="", annotation="Add a fairness check.", details={}
        )
    assert told("changes_requested", version) == ["alice"]


def test_withdrawal_tells_the_submitter_but_not_the_owner_who_withdrew(crowd, credit_model, bob_datasets, alice, bob):
    version = factories.make_version(credit_model, bob, datasets=bob_datasets)
    factories.step(version, "withdraw", alice, annotation="Superseded.")
    assert told("withdrawn", version) == ["bob"]


def test_champion_change_tells_owners_and_operators_but_not_the_operator_who_did_it(crowd, version_in, credit_model, oscar):
    second_operator = factories.make_user("otto", "operator")
    factories.grant(model=credit_model, user=second_operator, role="operator")
    factories.shadow_minimums()
    first = version_in("champion")
    assert told("champion_changed", first) == ["alice", "otto"]
    second = version_in("challenger")
    factories.step(second, "promote_to_champion", oscar, annotation="better")
    assert told("champion_changed", second) == ["alice", "otto"]
    assert Notification.objects.get(version=second, event="champion_changed", recipient__username="otto").context["previous_champion"] == first.number


def test_deactivated_owner_hears_nothing(alice, bob, credit_model, bob_datasets, agent):
    factories.grant(model=credit_model, user=bob, role="owner")
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    version = factories.make_version(credit_model, bob, datasets=bob_datasets)
    factories.step(version, "submit", bob)
    factories.step(version, "fail_tests", agent, annotation="failed")
    assert told("tests_failed", version) == ["bob"]


def test_each_transition_notifies_once_even_when_its_hook_runs_again(version_in):
    version = version_in("tests_failed")
    record = version.transitions.get(name="fail_tests")
    from workflows.notifications.services import notifications_for_transition

    notifications_for_transition(record)
    assert told("tests_failed", version) == ["alice"]


def test_a_drift_flag_tells_owners_and_operators_once(version_in, bob):
    from workflows.notifications.mail import compose
    from workflows.notifications.services import drift_flag_notify

    champion = version_in("champion")
    drift_flag_notify(version=champion, summary="PSI 0.31 on income over the last day.", occasion="flag-7")
    drift_flag_notify(version=champion, summary="PSI 0.31 on income over the last day.", occasion="flag-7")
    assert told("drift_flagged", champion) == ["alice", "oscar"]
    message = compose(Notification.objects.filter(event="drift_flagged").first())
    assert message.subject == "Drift flagged: Credit risk v1" and message.lines == ["PSI 0.31 on income over the last day."]
