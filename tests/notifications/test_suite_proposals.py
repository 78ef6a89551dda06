"""Test suite change proposals: those who may decide one hear of it (and only they), its author
hears of the decision, the email leads to the proposal, and the review queue lists it."""

from __future__ import annotations

import pytest
from django.core import mail as outbox
from django.db import transaction
from django.test import Client
from django.urls import reverse

from workflows.notifications.models import EmailPreference, Notification
from workflows.testsuites import services
from workflows.testsuites.selectors import proposal_decision_refusal

pytestmark = pytest.mark.django_db

LOWER_BAR = [{"kind": "metric", "metric": "accuracy", "threshold": 0.7}, {"kind": "schema"}]
OTHER = [{"kind": "schema"}]
BASE = "https://governance.example.com"


def told(event: str) -> list[str]:
    return sorted(Notification.objects.filter(event=event).values_list("recipient__username", flat=True))


def propose(model, user, raw=LOWER_BAR, reason="The new data is noisier."):
    return services.suite_change_propose(actor=user, model=model, raw_checks=raw, reason=reason)


def proposal_url(proposal) -> str:
    return reverse("testsuites:proposal_detail", kwargs={"slug": proposal.model.slug, "pk": proposal.pk})


def test_a_proposal_tells_exactly_those_who_may_decide_it(crowd, credit_model, alice, users):
    proposal = propose(credit_model, alice)

    # bob, carol, dave: validators with the grant; ivan: through his group's grant. Not alice
    # (the owner and proposer, a validator too), frank (deactivated), gina (no grant), henry
    # (grant, not a validator), nor the operators.
    assert told("suite_change_proposed") == ["bob", "carol", "dave", "ivan"]
    for row in Notification.objects.filter(event="suite_change_proposed").select_related("recipient"):
        assert proposal_decision_refusal(row.recipient, proposal) is None  # the decision rule agrees
        assert row.version is None and row.model == credit_model
    for name in ("alice", "frank", "gina", "henry"):
        person = users.get(name) or crowd[name]
        assert proposal_decision_refusal(person, proposal) is not None


def test_the_email_leads_each_decider_to_the_proposal(crowd, credit_model, alice, carol, send_at_once, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        proposal = propose(credit_model, alice, reason='<b>noisy</b> & "new" data')

    assert sorted(message.to[0] for message in outbox.outbox) == [
        "bob@example.com", "carol@example.com", "dave@example.com", "ivan@example.com"
    ]
    message = next(m for m in outbox.outbox if m.to == ["carol@example.com"])
    assert message.subject == "[Model governance portal] Test suite change to decide: Credit risk"
    link = f"{BASE}{proposal_url(proposal)}"
    assert f"Review the proposal: {link}" in message.body
    assert "Changes: accuracy at least 0.75 → 0.70; removed: ROC AUC at least 0.75" in message.body
    assert 'Reason: <b>noisy</b> & "new" data' in message.body  # plain text, as written
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and f'href="{link}"' in html
    assert "&lt;b&gt;noisy&lt;/b&gt; &amp; &quot;new&quot; data" in html and "<b>noisy</b>" not in html

    client = Client()
    client.force_login(carol)
    page = client.get(link.removeprefix(BASE))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Test suite change for Credit risk" in body and "Approve and apply" in body
    # The inbox row leads there too.
    notification = Notification.objects.get(event="suite_change_proposed", recipient=carol)
    assert client.get(reverse("notifications:open", kwargs={"pk": notification.pk})).url == proposal_url(proposal)


@pytest.mark.parametrize(
    "decide, event",
    [
        (lambda proposal, carol: services.suite_proposal_approve(actor=carol, proposal=proposal, reason="Fair."), "suite_change_approved"),
        (lambda proposal, carol: services.suite_proposal_reject(actor=carol, proposal=proposal, reason="Too low."), "suite_change_rejected"),
        (
            lambda proposal, carol: services.suite_config_set(actor=carol, model=proposal.model, raw_checks=OTHER, reason="Schema only."),
            "suite_change_superseded",
        ),
    ],
    ids=["approved", "rejected", "superseded"],
)
def test_the_author_hears_of_the_decision_and_the_decider_is_not_told(crowd, credit_model, alice, carol, decide, event):
    proposal = propose(credit_model, alice)
    decide(proposal, carol)

    assert told(event) == ["alice"]
    row = Notification.objects.get(event=event)
    assert row.context["proposal_id"] == proposal.pk
    assert not Notification.objects.filter(recipient=carol).exclude(event="suite_change_proposed").exists()


def test_a_stale_approval_tells_the_author_it_was_superseded(crowd, credit_model, alice, carol):
    """The refusal (409) comes after the commit: the proposal stays superseded, and so does
    its author's notification."""
    proposal = propose(credit_model, alice)
    type(credit_model).objects.filter(pk=credit_model.pk).update(risk_tier="critical")
    with pytest.raises(Exception, match="superseded"):
        services.suite_proposal_approve(actor=carol, proposal=proposal, reason="ok")
    assert told("suite_change_superseded") == ["alice"]


def test_a_withdrawal_tells_nobody_and_a_failed_proposal_leaves_nothing(crowd, credit_model, alice):
    proposal = propose(credit_model, alice)
    before = Notification.objects.count()
    services.suite_proposal_withdraw(actor=alice, proposal=proposal, reason="Not now.")
    assert Notification.objects.count() == before

    Notification.objects.all().delete()
    with pytest.raises(Exception):
        with transaction.atomic():
            propose(credit_model, alice)
            raise RuntimeError("the proposal's transaction fails")
    assert not Notification.objects.exists()


def test_the_author_who_wants_no_email_of_decisions_has_the_inbox_only(crowd, credit_model, alice, carol):
    EmailPreference.objects.create(user=alice, event="suite_change_rejected", email=False)
    proposal = propose(credit_model, alice)
    services.suite_proposal_reject(actor=carol, proposal=proposal, reason="Too low.")
    row = Notification.objects.get(event="suite_change_rejected")
    assert row.recipient == alice and row.email_wanted is False


# --- The review queue -------------------------------------------------------------------------


def queue(user) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(reverse("lifecycle:review_queue"))
    assert response.status_code == 200
    return response.content.decode()


def test_the_review_queue_lists_pending_proposals_for_those_who_may_decide_them(crowd, credit_model, alice, carol, eve):
    proposal = propose(credit_model, alice, reason="The new data is noisier.")
    page = queue(carol)
    assert "Test suite changes to decide" in page
    assert f'href="{proposal_url(proposal)}"' in page and "accuracy at least 0.75 → 0.70" in page
    assert "Alice Tester" in page

    # Not the owner who proposed it (a validator too), a validator without the grant, nor an outsider.
    for person in (alice, crowd["gina"], eve):
        other = queue(person)
        assert proposal_url(proposal) not in other and "Test suite changes to decide" not in other

    services.suite_proposal_reject(actor=carol, proposal=proposal, reason="Too low.")
    assert proposal_url(proposal) not in queue(carol)  # decided: off the queue
