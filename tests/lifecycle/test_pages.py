"""The lifecycle in the browser: the version panel, the forms behind it, signing, the queue."""

import re

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from governance.access.services import service_account_get
from governance.registry.models import ModelVersion, VersionState
from tests import factories
from workflows.lifecycle import services
from workflows.lifecycle.models import Annotation, SignOff, TransitionRecord
from workflows.lifecycle.panels import version_panel_context

from .conftest import grant

pytestmark = pytest.mark.django_db


def page(version, name):
    return reverse(f"lifecycle:{name}", kwargs={"slug": version.model.slug, "number": version.number})


def panel_html(version, user):
    request = RequestFactory().get(version.get_absolute_url())
    request.user = user
    return render_to_string("lifecycle/_version_panel.html", {"panel": version_panel_context(request, version)}, request=request)


def fresh(version):
    return ModelVersion.objects.get(pk=version.pk)


# --- The panel on the version page ------------------------------------------------------------------


def test_panel_offers_the_owner_only_what_she_may_do_now(version, alice):
    html = panel_html(version, alice)
    assert 'value="submit"' in html and 'value="withdraw"' in html
    assert 'value="promote_to_challenger"' not in html and 'value="retire"' not in html
    assert "Sign off this version" not in html
    # withdraw needs a reason, submit does not.
    assert 'id="annotation-withdraw" name="annotation" rows="2" required' in html
    assert 'id="annotation-submit" name="annotation" rows="2"></textarea>' in html


def test_panel_offers_nothing_to_a_viewer(version, audrey):
    html = panel_html(version, audrey)
    assert 'name="transition"' not in html
    assert "Add note" in html  # everyone who sees a version may annotate it


def timeline_text(html: str) -> str:
    """The words of the panel's timeline, without its markup."""
    listed = html.split('<ol class="timeline lifecycle-timeline">', 1)[1].split("</ol>", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", " ", listed).split())


def test_version_page_timeline_speaks_in_words_not_codes(version_in, alice, oscar, client):
    factories.shadow_minimums()
    old = version_in("champion")
    new = version_in("challenger")
    services.version_transition(version=new, name="promote_to_champion", actor=oscar, annotation="AUC +0.02")
    client.force_login(alice)
    for version in (fresh(old), fresh(new)):
        html = client.get(version.get_absolute_url()).content.decode()
        # The fixture's own notes name its steps by code ("walk: submit"): people's words are
        # theirs, so only what the portal writes is read here.
        text = timeline_text(re.sub(r'<div class="why">walk: [a-z_]+</div>', "", html))
        assert "Promote to challenger (shadow scoring): Approved → Challenger" in text
        assert "Signed: Approve" in text
        for code in ("promote_to_challenger", "promote_to_champion", "in_review", "pass_tests", "warming_up", "_"):
            assert code not in text, code
    assert "Replaced as champion by version 2 (promote to champion)." in timeline_text(client.get(fresh(old).get_absolute_url()).content.decode())


def test_timeline_names_a_request_for_changes(in_review, carol, alice):
    from datetime import timedelta

    from django.utils import timezone

    PASSWORD = factories.PASSWORD
    due = (timezone.now() + timedelta(days=30)).date().isoformat()
    services.signoff_record(
        version=in_review, signer=carol, decision="request_changes", annotation="Fix the drift.", password=PASSWORD,
        findings=[{"description": "Income drifts.", "severity": "high", "due": due}],
    )
    text = timeline_text(panel_html(fresh(in_review), alice))
    assert "Signed: Request changes" in text
    assert "Changes requested by a reviewer: In review → Changes requested" in text
    assert "request_changes" not in text and "changes_requested" not in text


def test_timeline_names_an_approval_with_conditions(in_review, carol, alice):
    from datetime import timedelta

    from django.utils import timezone

    PASSWORD = factories.PASSWORD
    due = (timezone.now() + timedelta(days=30)).date().isoformat()
    services.signoff_record(
        version=in_review, signer=carol, decision="approve", annotation="With monitoring.", password=PASSWORD,
        conditions=[{"description": "Monitor income drift weekly.", "severity": "high", "due": due}],
    )
    text = timeline_text(panel_html(fresh(in_review), alice))
    assert "Signed: Approve with conditions" in text
    assert ">Approve with conditions</span>" in panel_html(fresh(in_review), alice)  # the sign-off table


def test_panel_links_a_reviewer_to_the_signing_form_only_while_they_may_sign(in_review, alice, carol, dave):
    assert page(in_review, "sign") in panel_html(in_review, carol)
    assert "Sign off this version" not in panel_html(in_review, alice)  # the owner and submitter
    assert "0 of 1 required approval." in panel_html(in_review, dave)


def test_panel_timeline_says_who_when_human_or_agent_and_why(version_in, alice, oscar):
    factories.shadow_minimums()  # the timeline, not the shadow guardrail
    old = version_in("champion")
    new = version_in("challenger")
    services.version_transition(version=new, name="promote_to_champion", actor=oscar, annotation="AUC +0.02")
    services.annotation_add(version=old, author=alice, text="Kept for rollback.")
    html = panel_html(fresh(old), alice)
    assert "Send the version to its test suite: Draft → Testing" in html
    assert "Tests passed: Testing → Warming up" in html
    assert "test-runner" in html and ">agent<" in html and ">human<" in html
    assert "Oscar Tester" in html
    assert f"Replaced by version {new.number}." in html
    assert "Kept for rollback." in html
    assert "Policy in force: medium tier, 1 approval." in html


# --- Transitions and notes by form -------------------------------------------------------------------


def test_owner_submits_by_form_and_comes_back_to_the_version(version, alice, client):
    client.force_login(alice)
    response = client.post(page(version, "transition"), {"name": "submit", "annotation": ""})
    assert response.status_code == 302
    assert response.url == version.get_absolute_url()
    assert fresh(version).state == VersionState.TESTING
    assert TransitionRecord.objects.get(version=version).actor == alice


def test_missing_annotation_is_shown_and_nothing_moves(version, alice, client):
    client.force_login(alice)
    response = client.post(page(version, "transition"), {"name": "withdraw", "annotation": ""})
    assert response.status_code == 400
    assert "needs an annotation" in response.content.decode()
    assert fresh(version).state == VersionState.DRAFT


def test_form_refusals_have_the_api_status_codes(version_in, version, alice, carol, eve, client):
    client.force_login(carol)
    assert client.post(page(version, "transition"), {"name": "submit"}).status_code == 403
    client.force_login(eve)
    assert client.post(page(version, "transition"), {"name": "submit"}).status_code == 404
    client.force_login(alice)
    approved = version_in("approved")
    response = client.post(page(approved, "transition"), {"name": "withdraw", "annotation": "too late?"})
    assert response.status_code == 409
    body = response.content.decode()
    assert "cannot &#x27;withdraw&#x27;" in body and "too late?" in body  # the text typed is kept
    assert client.post(page(approved, "transition"), {"name": "approve", "annotation": "x"}).status_code == 403


def test_transition_form_page_for_one_transition(version, alice, client):
    client.force_login(alice)
    response = client.get(page(version, "transition") + "?name=withdraw")
    assert response.status_code == 200
    assert "Withdraw the version" in response.content.decode()
    assert client.get(page(version, "transition") + "?name=pass_tests").status_code == 404


def test_note_by_form(version, audrey, eve, client):
    client.force_login(audrey)
    response = client.post(page(version, "annotate"), {"text": "Audit sample."})
    assert response.status_code == 302
    assert Annotation.objects.get(version=version).author == audrey
    assert client.post(page(version, "annotate"), {"text": "  "}).status_code == 400
    client.force_login(eve)
    assert client.post(page(version, "annotate"), {"text": "hello"}).status_code == 404
    assert Annotation.objects.count() == 1


def test_anonymous_visitors_are_sent_to_sign_in(version, client):
    response = client.post(page(version, "transition"), {"name": "submit"})
    assert response.status_code == 302 and "/accounts/login/" in response.url


# --- The signing form ---------------------------------------------------------------------------


def test_signing_form_asks_for_the_password_and_a_code_only_with_mfa(in_review, carol, dave, client):
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    client.force_login(carol)
    body = client.get(page(in_review, "sign")).content.decode()
    assert 'type="password"' in body and 'name="otp"' not in body
    assert f'name="artifact_sha256" value="{in_review.artifact_sha256}"' in body
    TOTP.activate(dave, generate_totp_secret())
    client.force_login(dave)
    assert 'name="otp"' in client.get(page(in_review, "sign")).content.decode()


def test_signing_form_refuses_the_owner_and_outsiders(in_review, alice, eve, client):
    client.force_login(alice)
    response = client.get(page(in_review, "sign"))
    assert response.status_code == 403
    assert "own this model" in response.content.decode() or "submitted this version" in response.content.decode()
    assert client.post(page(in_review, "sign"), {"decision": "approve", "annotation": "x", "password": factories.PASSWORD}).status_code == 403
    client.force_login(eve)
    assert client.get(page(in_review, "sign")).status_code == 404
    assert not SignOff.objects.exists()


def test_signing_form_with_a_wrong_password_records_nothing_and_keeps_the_text(in_review, carol, client):
    client.force_login(carol)
    response = client.post(
        page(in_review, "sign"), {"decision": "approve", "annotation": "Fairness report read.", "password": "nope",
         "artifact_sha256": in_review.artifact_sha256, "evidence_reviewed": "on"}
    )
    assert response.status_code == 403
    body = response.content.decode()
    assert "password is not right" in body
    assert "Fairness report read." in body
    assert "nope" not in body  # a password is never sent back
    assert not SignOff.objects.exists()


def test_signing_form_approves(in_review, carol, client):
    client.force_login(carol)
    response = client.post(
        page(in_review, "sign"),
        {"decision": "approve", "meaning": "", "annotation": "All checks read.", "password": factories.PASSWORD,
         "artifact_sha256": in_review.artifact_sha256, "evidence_reviewed": "on"},
    )
    assert response.status_code == 302
    assert fresh(in_review).state == VersionState.APPROVED
    assert SignOff.objects.get().meaning == (
        "Reviewed and approved for production use. I have reviewed the evidence summary."
    )


def test_signing_form_outside_review_is_409(version_in, carol, client):
    approved = version_in("approved")
    client.force_login(carol)
    response = client.post(
        page(approved, "sign"),
        {"decision": "approve", "annotation": "late", "password": factories.PASSWORD, "artifact_sha256": approved.artifact_sha256,
         "evidence_reviewed": "on"},
    )
    assert response.status_code == 409


# --- The review queue ---------------------------------------------------------------------------


def test_review_queue_lists_what_waits_for_me_oldest_first(version_in, alice, carol, dave, client):
    first, second, third = version_in("in_review"), version_in("in_review"), version_in("in_review")
    version_in("testing")
    ModelVersion.objects.filter(pk=first.pk).update(state_changed_at="2026-01-03T00:00:00Z")
    ModelVersion.objects.filter(pk=second.pk).update(state_changed_at="2026-01-01T00:00:00Z")
    ModelVersion.objects.filter(pk=third.pk).update(state_changed_at="2026-01-02T00:00:00Z")
    services.signoff_record(version=third, signer=dave, decision="reject", annotation="no", password=factories.PASSWORD)

    client.force_login(carol)
    response = client.get(reverse("lifecycle:review_queue"))
    assert response.status_code == 200
    assert [row["version"].pk for row in response.context["rows"]] == [second.pk, first.pk]
    client.force_login(dave)
    # dave signed the third (now rejected) version; the other two still wait for him.
    assert [row["version"].pk for row in client.get(reverse("lifecycle:review_queue")).context["rows"]] == [second.pk, first.pk]
    client.force_login(alice)  # the owner: nothing to sign
    assert list(client.get(reverse("lifecycle:review_queue")).context["rows"]) == []


def test_review_queue_skips_what_i_signed_and_models_i_do_not_review(version_in, carol, dave, frank, client, credit_model):
    from workflows.lifecycle.models import ApprovalPolicy

    ApprovalPolicy.objects.filter(risk_tier="medium").update(required_approvals=2)
    waiting = version_in("in_review")
    services.signoff_record(version=waiting, signer=carol, decision="approve", annotation="ok", password=factories.PASSWORD)
    client.force_login(carol)
    assert list(client.get(reverse("lifecycle:review_queue")).context["rows"]) == []
    client.force_login(dave)
    rows = client.get(reverse("lifecycle:review_queue")).context["rows"]
    assert [(row["version"].pk, row["version"].approvals_count, row["required"]) for row in rows] == [(waiting.pk, 1, 2)]
    client.force_login(frank)  # a validator without the reviewer grant
    assert list(client.get(reverse("lifecycle:review_queue")).context["rows"]) == []


def test_review_queue_does_not_query_per_row(version_in, carol, client):
    client.force_login(carol)
    version_in("in_review")
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("lifecycle:review_queue"))
    for _ in range(3):
        version_in("in_review")
    with CaptureQueriesContext(connection) as four:
        response = client.get(reverse("lifecycle:review_queue"))
    assert len(response.context["rows"]) == 4
    assert len(four) == len(one)


def test_service_accounts_have_no_queue(in_review, credit_model, client):
    robot = service_account_get("ci-bot")
    grant(credit_model, "reviewer", robot)
    client.force_login(robot)
    assert list(client.get(reverse("lifecycle:review_queue")).context["rows"]) == []


def test_version_page_costs_the_same_with_more_approvals(version_in, carol, dave, frank, gina, alice, client, credit_model):
    """The approvals that count are read for every signer in one query: three approvals cost
    what one costs, on the version page as on its panel."""
    from workflows.lifecycle.models import ApprovalPolicy

    ApprovalPolicy.objects.update(required_approvals=5)
    for reviewer in (frank, gina):
        grant(credit_model, "reviewer", reviewer)
    waiting = version_in("in_review")
    services.signoff_record(version=waiting, signer=carol, decision="approve", annotation="ok", password=factories.PASSWORD)
    client.force_login(alice)
    url = fresh(waiting).get_absolute_url()
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200
    for reviewer in (dave, frank):
        services.signoff_record(
            version=fresh(waiting), signer=reviewer, decision="approve", annotation="ok", password=factories.PASSWORD
        )
    # gina's approval stops counting once her account is deactivated; the page reads that too.
    services.signoff_record(version=fresh(waiting), signer=gina, decision="approve", annotation="ok", password=factories.PASSWORD)
    type(gina).objects.filter(pk=gina.pk).update(is_active=False)
    assert fresh(waiting).state == "in_review"
    with CaptureQueriesContext(connection) as four:
        response = client.get(url)
    assert response.status_code == 200
    assert response.context["panel"]["approvals"] == 3
    assert len(four) == len(one)
