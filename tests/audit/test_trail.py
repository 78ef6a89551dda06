"""One of each recorded action, found in the trail with the right actor; the chain then verifies."""

import pytest
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, format_hotp_value, hotp_value, yield_hotp_counters_from_time
from django.test import Client
from django.urls import reverse

from governance.access.services import token_create, token_revoke, user_deactivate
from governance.audit.context import audit_context
from governance.audit.models import ActorKind, AuditEvent, EventKind
from governance.audit.services import account_event_record, agent_event_record
from governance.audit.verification import chain_verify
from tests import factories
from workflows.lifecycle.services import agent_transition, annotation_add, version_transition

from .conftest import last_event


def _signed_in_client(user) -> Client:
    client = Client()
    response = client.post(reverse("account_login"), {"login": user.username, "password": factories.PASSWORD})
    assert response.status_code == 302, response.content[:500]
    return client


@pytest.mark.django_db
def test_model_created_through_the_api_is_a_change_by_its_creator(alice, api_for):
    response = api_for(alice).post(
        "/api/v1/models/", {"name": "Churn", "risk_tier": "low", "task": "classification"}, format="json"
    )
    assert response.status_code == 201
    event = last_event(action="mlmodel.created")
    assert event.kind == EventKind.CHANGE
    assert (event.actor_username, event.actor_kind) == ("alice", ActorKind.HUMAN)
    assert event.model_slug == "churn"
    assert event.changes["name"] == ["None", "Churn"]
    assert event.correlation_id
    assert chain_verify().ok


@pytest.mark.django_db
def test_one_request_shares_one_correlation_id_and_the_client_may_choose_it(alice, api_for):
    client = api_for(alice)
    response = client.post(
        "/api/v1/models/",
        {"name": "Fraud", "risk_tier": "high", "task": "classification"},
        format="json",
        HTTP_X_CORRELATION_ID="ci-run-42",
    )
    assert response["X-Correlation-ID"] == "ci-run-42"
    created = last_event(action="mlmodel.created")
    assert created.correlation_id == "ci-run-42"
    assert created.remote_addr == "127.0.0.1"


@pytest.mark.django_db
def test_transitions_and_annotations_are_decisions_with_human_or_agent_actor(version, alice, test_runner):
    version_transition(version=version, name="submit", actor=alice, annotation="Ready for tests.")
    agent_transition(
        version=version, name="pass_tests", agent=test_runner, agent_name="test-runner", annotation="All green."
    )
    annotation_add(version=version, author=alice, text="Looked at the calibration plot.")

    submit, passed = AuditEvent.objects.filter(action="version.transition").order_by("seq")
    assert (submit.kind, submit.actor_username, submit.actor_kind) == (EventKind.TRANSITION, "alice", ActorKind.HUMAN)
    assert submit.summary == "Ready for tests."
    assert (submit.model_slug, submit.version_number) == (version.model.slug, version.number)
    assert submit.details["from_state"] == "draft" and submit.details["to_state"] == "testing"
    assert (passed.actor_username, passed.actor_kind, passed.agent_name) == (
        "test-runner",
        ActorKind.AGENT,
        "test-runner",
    )
    note = last_event(action="version.annotated")
    assert (note.kind, note.actor_username, note.summary) == (
        EventKind.ANNOTATION,
        "alice",
        "Looked at the calibration plot.",
    )
    # The state change is recorded once, as the transition, not again as a field change.
    assert not AuditEvent.objects.filter(action="modelversion.updated").exists()
    assert chain_verify().ok


@pytest.mark.django_db
def test_rolled_back_action_leaves_no_event(version, eve):
    before = AuditEvent.objects.count()
    with pytest.raises(Exception):
        version_transition(version=version, name="submit", actor=eve)
    assert AuditEvent.objects.count() == before


@pytest.mark.django_db
def test_viewing_a_model_version_and_dataset_are_access_events(version, datasets, alice, audrey, api_for):
    slug = version.model.slug
    assert api_for(audrey).get(f"/api/v1/models/{slug}/").status_code == 200
    assert api_for(audrey).get(f"/api/v1/models/{slug}/versions/{version.number}/").status_code == 200
    assert api_for(alice).get(f"/api/v1/datasets/{datasets[0].pk}/").status_code == 200

    model_viewed = last_event(action="model.viewed")
    assert (model_viewed.kind, model_viewed.actor_username, model_viewed.model_slug) == (
        EventKind.ACCESS,
        "audrey",
        slug,
    )
    assert model_viewed.remote_addr == "127.0.0.1"
    version_viewed = last_event(action="version.viewed")
    assert (version_viewed.actor_username, version_viewed.version_number) == ("audrey", version.number)
    assert last_event(action="dataset.viewed").actor_username == "alice"


@pytest.mark.django_db
def test_outsider_refused_a_model_leaves_no_access_event(credit_model, eve, api_for, drain_access):
    assert api_for(eve).get(f"/api/v1/models/{credit_model.slug}/").status_code == 404
    drain_access()
    assert not AuditEvent.objects.filter(action="model.viewed").exists()


@pytest.mark.django_db
def test_sign_in_failed_sign_in_and_sign_out(alice):
    client = Client(HTTP_USER_AGENT="pytest-browser/1.0")
    client.post(reverse("account_login"), {"login": "alice", "password": "wrong-password"})
    failed = last_event(action="login.failed")
    assert failed.kind == EventKind.LOGIN
    assert failed.actor_kind == ActorKind.ANONYMOUS and failed.actor_id is None
    assert failed.details["username_tried"] == "alice"
    assert "wrong-password" not in failed.data
    assert failed.user_agent == "pytest-browser/1.0"

    response = client.post(reverse("account_login"), {"login": "alice", "password": factories.PASSWORD})
    assert response.status_code == 302
    signed_in = last_event(action="login.succeeded")
    assert (signed_in.actor_username, signed_in.actor_kind, signed_in.remote_addr) == (
        "alice",
        ActorKind.HUMAN,
        "127.0.0.1",
    )

    client.post(reverse("account_logout"))
    assert last_event(action="login.signed_out").actor_username == "alice"
    assert chain_verify().ok


@pytest.mark.django_db
def test_mfa_enrolment_and_removal(alice, django_capture_on_commit_callbacks):
    client = _signed_in_client(alice)
    # allauth asks for the password again before MFA changes.
    client.post(reverse("account_reauthenticate"), {"password": factories.PASSWORD})
    client.get(reverse("mfa_activate_totp"))
    secret = client.session[SECRET_SESSION_KEY]
    code = format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("mfa_activate_totp"), {"code": code})
    assert response.status_code == 302, response.content[:400]
    enrolled = AuditEvent.objects.filter(action="mfa.enrolled")
    assert {(event.actor_username, event.details["type"]) for event in enrolled} == {
        ("alice", "totp"),
        ("alice", "recovery_codes"),
    }

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("mfa_deactivate_totp"))
    assert response.status_code == 302, response.content[:400]
    removed = last_event(action="mfa.removed")
    assert removed.actor_username == "alice"
    assert chain_verify().ok


@pytest.mark.django_db
def test_password_change_is_recorded_without_the_password(alice):
    client = _signed_in_client(alice)
    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": factories.PASSWORD, "password1": "a-new-long-passphrase-9", "password2": "a-new-long-passphrase-9"},
    )
    assert response.status_code == 302, response.content[:400]
    changed = last_event(action="password.changed")
    assert (changed.kind, changed.actor_username, changed.object_repr) == (EventKind.LOGIN, "alice", "alice")
    assert "a-new-long-passphrase-9" not in changed.data


@pytest.mark.django_db
def test_token_creation_and_revocation_without_the_secret(alice):
    token, raw = token_create(actor=alice, user=alice, label="ci")
    created = last_event(action="token.created")
    assert created.details["label"] == "ci" and created.details["prefix"] == token.key_prefix
    assert raw not in created.data and token.key_hash not in created.data
    token_revoke(actor=token.user, token=token)
    revoked = last_event(action="token.revoked")
    assert revoked.details["token_id"] == token.pk
    token_revoke(actor=token.user, token=token)  # revoking twice records it once
    assert AuditEvent.objects.filter(action="token.revoked").count() == 1
    # One entry each: no field-change entry beside the decision.
    assert not AuditEvent.objects.filter(object_type="access.apitoken", kind=EventKind.CHANGE).exists()


@pytest.mark.django_db
def test_deactivation_is_one_entry_with_the_admin_as_actor(alice, admin_user):
    before = AuditEvent.objects.count()
    user_deactivate(actor=admin_user, user=alice)
    event = last_event(action="user.deactivated")
    assert (event.actor_username, event.actor_kind, event.object_repr) == ("admin", ActorKind.HUMAN, "alice")
    assert AuditEvent.objects.count() == before + 1


@pytest.mark.django_db
def test_agent_jobs_record_their_own_events_and_their_changes(credit_model):
    monitor = factories.make_user("drift-monitor", is_service_account=True)
    with audit_context(actor=monitor, agent_name="drift-monitor", correlation_id="task-7"):
        agent_event_record(
            agent_name="drift-monitor",
            action="drift.checked",
            summary="No drift on credit_model.",
            data={"psi": 0.02},
            obj=credit_model,
            actor=monitor,
        )
        credit_model.description = "Checked nightly for drift."
        credit_model.save()
    job = last_event(action="drift.checked")
    assert (job.kind, job.actor_username, job.actor_kind, job.agent_name) == (
        EventKind.AGENT,
        "drift-monitor",
        ActorKind.AGENT,
        "drift-monitor",
    )
    assert job.model_slug == credit_model.slug and job.details == {"psi": 0.02}
    change = last_event(action="mlmodel.updated")
    assert (change.actor_username, change.actor_kind, change.correlation_id) == (
        "drift-monitor",
        ActorKind.AGENT,
        "task-7",
    )
    assert change.changes["description"][1] == "Checked nightly for drift."
    assert job.correlation_id == "task-7"
    assert chain_verify().ok


@pytest.mark.django_db
def test_forwarded_address_is_believed_only_behind_a_trusted_proxy(credit_model, audrey, api_for, settings):
    client = api_for(audrey)
    client.get(f"/api/v1/models/{credit_model.slug}/", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert last_event(action="model.viewed").remote_addr == "127.0.0.1"
    settings.GOVERNANCE_AUDIT_TRUST_FORWARDED_FOR = True
    client.get(f"/api/v1/models/{credit_model.slug}/", HTTP_X_FORWARDED_FOR="203.0.113.9, 10.0.0.1")
    assert last_event(action="model.viewed").remote_addr == "203.0.113.9"


@pytest.mark.django_db
def test_actor_set_for_auditlog_is_the_actor_of_account_events(alice, admin_user):
    from auditlog.context import set_actor

    with set_actor(admin_user):
        account_event_record(action="password.changed", user=alice, summary="Password set.")
    assert last_event(action="password.changed").actor_username == "admin"


@pytest.mark.django_db
def test_a_celery_task_gets_its_task_id_as_correlation_id():
    from celery.signals import task_postrun, task_prerun

    from governance.audit.context import correlation_id_get

    task_prerun.send(sender=None, task_id="abc123", task=None, args=(), kwargs={})
    agent_event_record(agent_name="scheduler", action="job.ran")
    task_postrun.send(sender=None, task_id="abc123", task=None, args=(), kwargs={}, retval=None, state="SUCCESS")
    assert last_event(action="job.ran").correlation_id == "task-abc123"
    assert correlation_id_get() is None
