"""Four eyes that survive a change of grants: authorship is fixed at submission, and only
signers who may still sign count towards the quorum."""

import pytest
from django.contrib.auth.models import Group

from governance.access import services as access
from governance.errors import ActionForbidden
from governance.registry.models import ModelVersion, VersionState
from tests import factories
from workflows.lifecycle import services
from workflows.lifecycle.models import SignOff, VersionAuthor

from .conftest import walk

pytestmark = pytest.mark.django_db


def sign(version, signer, decision="approve"):
    return services.signoff_record(
        version=version, signer=signer, decision=decision, annotation="Reviewed the evidence.", password=factories.PASSWORD
    )


def test_giving_up_ownership_does_not_make_an_owner_a_reviewer(alice, bob, datasets, users):
    # olga owns the model and is a validator; her colleague colin uploads and submits a version.
    olga = factories.make_user("olga", "data_scientist", "validator")
    colin = factories.make_user("colin", "data_scientist")
    model = factories.make_model(olga, name="Olga's model", reviewer=[users["carol"]], operator=[users["oscar"]])
    factories.grant(model=model, user=olga, role="reviewer")
    factories.grant(model=model, user=colin, role="owner")
    version = factories.make_version(model, colin, datasets=factories.make_datasets(colin))
    version = factories.step(version, "submit", colin)
    version = walk(version, ["pass_tests", "pass_warmup"], users=users)
    assert set(VersionAuthor.objects.filter(version=version).values_list("user__username", "role")) == {
        ("colin", "uploader"), ("colin", "submitter"), ("colin", "owner"), ("olga", "owner"),
    }

    access.grant_revoke(actor=olga, grant=model.grants.get(user=olga, role="owner"))
    with pytest.raises(ActionForbidden) as refused:
        sign(version, olga)
    assert refused.value.code == "signoff_not_allowed"
    assert not SignOff.objects.filter(version=version).exists()
    # Nor does the review queue offer it to her.
    from workflows.lifecycle.selectors import review_queue

    assert version not in review_queue(user=olga)


def test_owners_through_a_group_at_submission_are_authors(credit_model, alice, carol, version_in):
    team = Group.objects.create(name="credit-owners")
    carol.groups.add(team)
    factories.grant(model=credit_model, group=team, role="owner")
    version = version_in("in_review")
    access.grant_revoke(actor=alice, grant=credit_model.grants.get(group=team))
    with pytest.raises(ActionForbidden):
        sign(version, carol)


@pytest.mark.parametrize("how", ["deactivated", "grant_removed"])
def test_an_approval_counts_only_while_its_signer_may_still_sign(how, credit_model, alice, carol, dave, admin_user, version_in):
    frank = factories.make_user("frank", "validator")
    factories.grant(model=credit_model, user=frank, role="reviewer")
    from workflows.lifecycle.models import ApprovalPolicy

    ApprovalPolicy.objects.filter(risk_tier="medium").update(required_approvals=2)
    version = version_in("in_review")
    sign(version, carol)
    if how == "deactivated":
        access.user_deactivate(actor=admin_user, user=carol)
    else:
        access.grant_revoke(actor=admin_user, grant=credit_model.grants.get(user=carol, role="reviewer"))
    sign(version, dave)
    assert ModelVersion.objects.get(pk=version.pk).state == VersionState.IN_REVIEW  # carol no longer counts
    sign(version, frank)
    approved = ModelVersion.objects.get(pk=version.pk)
    assert approved.state == VersionState.APPROVED
    record = approved.transitions.get(name="approve")
    assert record.annotation == "2 of 2 required approvals: dave, frank."


def test_approvals_that_count_read_together_decide_as_each_signer_alone(credit_model, alice, carol, dave, version_in):
    """The approvals read for all signers at once count exactly where ``signoff_refusal``, asked
    for each signer on their own, lets them sign: a lost role, a new owner grant and a reviewer
    grant held through a group are each decided alike."""
    from workflows.lifecycle.models import ApprovalPolicy

    frank = factories.make_user("frank", "validator")
    gina = factories.make_user("gina", "validator")
    reviewers = Group.objects.create(name="credit-reviewers")
    frank.groups.add(reviewers)
    factories.grant(model=credit_model, group=reviewers, role="reviewer")
    factories.grant(model=credit_model, user=gina, role="reviewer")
    ApprovalPolicy.objects.update(required_approvals=5)
    version = version_in("in_review")
    for signer in (carol, dave, frank, gina):
        sign(ModelVersion.objects.get(pk=version.pk), signer)
    assert [a.signer for a in services.approvals_that_count(version)] == [carol, dave, frank, gina]

    carol.groups.remove(Group.objects.get(name="validator"))  # no longer a validator
    factories.grant(model=credit_model, user=dave, role="owner")  # now owns the model: an author
    version = ModelVersion.objects.get(pk=version.pk)
    counted = [a.signer for a in services.approvals_that_count(version)]
    assert counted == [frank, gina]
    alone = [
        signoff.signer for signoff in SignOff.objects.filter(version=version).order_by("at", "id")
        if services.signoff_refusal(version=version, user=type(signoff.signer).objects.get(pk=signoff.signer_id)) is None
    ]
    assert counted == alone
