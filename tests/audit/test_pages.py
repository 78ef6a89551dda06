"""Access events from the registry's pages and downloads; sign-offs in the trail; the model page's
champion-on-a-date panel."""

import pytest
from django.test import Client
from django.utils import timezone

from governance.audit.models import ActorKind, AuditEvent, EventKind
from governance.audit.verification import chain_verify
from tests import factories
from workflows.lifecycle.services import agent_transition, signoff_record, version_transition

from .conftest import last_event


def _browser(user) -> Client:
    client = Client(HTTP_USER_AGENT="pytest-browser/2.0")
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_pages_and_downloads_are_access_events(version, datasets, audrey, drain_access):
    client = _browser(audrey)
    slug, number = version.model.slug, version.number
    for url in (
        f"/models/{slug}/",
        f"/models/{slug}/versions/{number}/",
        f"/models/{slug}/versions/{number}/artifact",
        f"/datasets/{datasets[0].pk}/",
        f"/datasets/{datasets[0].pk}/download",
    ):
        assert client.get(url).status_code == 200, url
    expected = ["model.viewed", "version.viewed", "artifact.downloaded", "dataset.viewed", "dataset.downloaded"]
    drain_access()
    seen = list(AuditEvent.objects.filter(kind=EventKind.ACCESS).order_by("seq"))
    assert [event.action for event in seen] == expected
    assert {(event.actor_username, event.user_agent) for event in seen} == {("audrey", "pytest-browser/2.0")}
    download = last_event(action="artifact.downloaded")
    assert (download.model_slug, download.version_number) == (slug, number)
    assert download.details["sha256"] == version.artifact_sha256


@pytest.mark.django_db
def test_outsider_refused_a_download_leaves_no_access_event(version, eve, drain_access):
    response = _browser(eve).get(f"/models/{version.model.slug}/versions/{version.number}/artifact")
    assert response.status_code == 404
    drain_access()
    assert not AuditEvent.objects.filter(kind=EventKind.ACCESS).exists()


def _in_review(version, alice, test_runner):
    version_transition(version=version, name="submit", actor=alice)
    agent_transition(version=version, name="pass_tests", agent=test_runner, agent_name="test-runner", annotation="ok")
    agent_transition(version=version, name="pass_warmup", agent=test_runner, agent_name="warmup", annotation="ok")


@pytest.mark.django_db
def test_signoff_is_a_decision_in_the_trail_without_the_password(version, alice, carol, test_runner):
    _in_review(version, alice, test_runner)
    signoff_record(
        version=version,
        signer=carol,
        decision="approve",
        annotation="Metrics and fairness report reviewed.",
        password=factories.PASSWORD,
    )
    event = last_event(kind=EventKind.SIGNOFF)
    assert (event.action, event.actor_username, event.actor_kind) == ("version.signoff.approve", "carol", ActorKind.HUMAN)
    assert event.summary == "Metrics and fairness report reviewed."
    assert (event.model_slug, event.version_number) == (version.model.slug, version.number)
    assert event.details["artifact_sha256"] == version.artifact_sha256
    assert factories.PASSWORD not in event.data
    # Recorded once, as the decision, not again as auditlog's copy of the row.
    assert not AuditEvent.objects.filter(action__in=["signoff.created", "transitionrecord.created"]).exists()
    assert chain_verify().ok


@pytest.mark.django_db
def test_model_page_answers_which_version_was_champion(credit_model, datasets, alice, carol, oscar, test_runner, audrey):
    version = factories.make_version(credit_model, alice, datasets=datasets)
    _in_review(version, alice, test_runner)
    signoff_record(version=version, signer=carol, decision="approve", annotation="Fine.", password=factories.PASSWORD)
    version_transition(version=version, name="promote_to_challenger", actor=oscar, annotation="Shadow first.")
    version_transition(version=version, name="promote_to_champion", actor=oscar, annotation="Better AUC.")

    page = _browser(audrey).get(f"/models/{credit_model.slug}/", {"champion_on": timezone.now().isoformat()})
    text = page.content.decode()
    assert page.status_code == 200 and "Champion on a date" in text
    assert f"Version <strong>{version.number}</strong> was champion then" in text and "oscar" in text
    before = _browser(audrey).get(f"/models/{credit_model.slug}/", {"champion_on": "2020-01-01"}).content.decode()
    assert "No version was champion then." in before
