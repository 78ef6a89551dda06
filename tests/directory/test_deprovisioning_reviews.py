"""A reviewer the directory removes: their approval stops counting towards the quorum, the
reviews waiting for them are flagged to the model's owners, and their signatures stay."""

from __future__ import annotations

import pytest
from scim2_models import PatchOp, PatchOperation, User

from governance.access.services import service_account_get, user_deactivate
from governance.audit.models import AuditEvent
from governance.registry.models import ModelVersion, VersionState
from tests import factories
from tests.lifecycle.conftest import walk
from workflows.lifecycle.models import SignOff
from workflows.lifecycle.services import approvals_that_count
from workflows.notifications.mail import compose
from workflows.notifications.models import Notification, NotificationEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def high_model(alice, bob, carol, dave, oscar):
    return factories.make_model(alice, name="Fraud", risk_tier="high", reviewer=[carol, dave], operator=[oscar])


@pytest.fixture
def in_review(high_model, alice, carol, oscar, datasets):
    users = {"alice": alice, "carol": carol, "oscar": oscar, "agent": service_account_get("test-runner")}
    version = factories.make_version(high_model, alice, datasets=datasets)
    return walk(version, ["submit", "pass_tests", "pass_warmup"], users=users)


def sign(version, signer):
    factories.step(version, "approve", signer)
    return ModelVersion.objects.get(pk=version.pk)


def test_the_directory_deprovisions_a_reviewer_mid_review(scim, in_review, carol, dave, alice):
    version = sign(in_review, carol)
    assert version.state == VersionState.IN_REVIEW  # high risk: two approvals
    assert [a.signer for a in approvals_that_count(version)] == [carol]

    scim.modify(User, str(carol.pk), PatchOp[User](operations=[PatchOperation(op="replace", path="active", value=False)]))

    # Her approval stays in the record and no longer counts.
    assert SignOff.objects.filter(version=version, signer=carol).exists()
    assert approvals_that_count(version) == []
    # Dave's approval alone is not the quorum now.
    version = sign(version, dave)
    assert version.state == VersionState.IN_REVIEW
    assert [a.signer for a in approvals_that_count(version)] == [dave]

    # The owner is told the review needs another reviewer; the trail flags it.
    told = Notification.objects.get(event=NotificationEvent.REVIEWER_DEACTIVATED)
    assert told.recipient == alice and told.version_id == version.pk
    assert told.context["reviewer_username"] == "carol" and told.context["by_directory"] is True
    assert told.context["approvals"] == 0 and told.context["approvals_needed"] == 2
    words = compose(told)
    assert words.subject == "Reviewer gone: Fraud v1"
    assert "Carol Tester was deactivated by the company directory" in words.headline
    assert "another reviewer" in words.headline
    assert "Approvals that count now: 0 of 2." in words.lines
    flagged = AuditEvent.objects.get(action="version.review_reassignment_needed")
    assert flagged.actor_username == "directory" and flagged.version_number == version.number
    assert flagged.details["reviewer"] == "carol"


def test_an_admin_deactivation_flags_the_reviews_too_and_only_those_in_review(
    in_review, high_model, carol, admin_user, alice, datasets
):
    factories.make_version(high_model, alice, datasets=datasets)  # a draft: nothing to flag
    user_deactivate(actor=admin_user, user=carol)
    flagged = AuditEvent.objects.filter(action="version.review_reassignment_needed")
    assert [event.version_number for event in flagged] == [in_review.number]
    told = Notification.objects.get(event=NotificationEvent.REVIEWER_DEACTIVATED)
    assert told.context["by_directory"] is False
    assert "by the company directory" not in compose(told).headline


def test_a_deactivated_non_reviewer_flags_nothing(in_review, bob, admin_user):
    user_deactivate(actor=admin_user, user=bob)
    assert not Notification.objects.filter(event=NotificationEvent.REVIEWER_DEACTIVATED).exists()
    assert not AuditEvent.objects.filter(action="version.review_reassignment_needed").exists()


def test_deactivating_twice_flags_once(in_review, carol, admin_user):
    user_deactivate(actor=admin_user, user=carol)
    user_deactivate(actor=admin_user, user=carol)
    assert Notification.objects.filter(event=NotificationEvent.REVIEWER_DEACTIVATED).count() == 1
