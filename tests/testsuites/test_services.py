"""Queueing, claiming, evidence, recovery, warm-up and suite configuration, without a worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from governance.access.services import service_account_get
from governance.errors import ActionError, ActionForbidden
from governance.demo import sample_models
from governance.registry.models import ModelVersion
from workflows.lifecycle.models import Annotation, TransitionRecord
from workflows.lifecycle.services import version_transition
from workflows.testsuites import checks, jobs, runs, selectors, services, warmup
from workflows.testsuites.models import AgentRun, CheckResult, TestRun, WarmupRun

from .. import factories
from .helpers import (
    disagreeing_classifier_onnx,
    make_champion,
    record_production,
    upload_version,
)

pytestmark = pytest.mark.django_db


def submit(version, user, capture):
    with capture(execute=True):
        version_transition(version=version, name="submit", actor=user)


def state_of(version):
    return ModelVersion.objects.get(pk=version.pk).state


def test_submit_queues_one_run_with_the_suite_in_force(version, alice, django_capture_on_commit_callbacks):
    submit(version, alice, django_capture_on_commit_callbacks)
    run = TestRun.objects.get(version=version)
    assert run.status == "queued" and run.sequence == 1 and run.enqueued_at is not None
    assert run.config_snapshot == checks.default_checks(task="classification", risk_tier="medium")
    record = TransitionRecord.objects.get(version=version, name="submit")
    # The after-commit hook delivered twice makes no second run.
    assert runs.test_run_request(version_id=version.pk, record_id=record.pk) == run
    assert TestRun.objects.filter(version=version).count() == 1


def test_database_allows_one_active_run_per_version(version, alice, django_capture_on_commit_callbacks):
    submit(version, alice, django_capture_on_commit_callbacks)
    with pytest.raises(IntegrityError), transaction.atomic():
        TestRun.objects.create(version=version, sequence=2, config_snapshot=[])


def _finished_run(version):
    run = TestRun.objects.create(version=version, sequence=1, config_snapshot=[{"kind": "schema"}], status="passed")
    result = CheckResult.objects.create(run=run, position=0, name="schema", kind="schema", outcome="passed", duration_ms=1)
    return run, result


def test_evidence_is_immutable(version):
    run, result = _finished_run(version)
    run.log = "rewritten"
    with pytest.raises(TypeError, match="immutable"):
        run.save()
    with pytest.raises(TypeError, match="written once"):
        result.save()
    with pytest.raises(TypeError):
        result.delete()
    with pytest.raises(TypeError):
        run.delete()


def test_claim_is_taken_once_and_a_fresh_heartbeat_keeps_others_out(version, alice, django_capture_on_commit_callbacks):
    submit(version, alice, django_capture_on_commit_callbacks)
    run = TestRun.objects.get(version=version)
    assert jobs.job_claim(TestRun, run.pk, "w1")[:2] == ("claimed", 1)
    assert jobs.job_claim(TestRun, run.pk, "w2") == ("skipped", 0, None)
    # The first worker died: its heartbeat goes stale and a redelivery takes over.
    TestRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=60))
    assert jobs.job_claim(TestRun, run.pk, "w2")[:2] == ("claimed", 2)
    TestRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=60))
    # Its attempts are used up: the next delivery marks it errored and fails the version.
    assert jobs.job_claim(TestRun, run.pk, "w3")[:2] == ("errored", 2)
    run.refresh_from_db()
    assert run.status == "errored" and "on each of 2 attempt(s)" in run.error
    assert state_of(version) == "tests_failed"


def test_recovery_requeues_a_dead_workers_run_then_errors_it_with_an_annotation(
    version, alice, django_capture_on_commit_callbacks
):
    submit(version, alice, django_capture_on_commit_callbacks)
    run = TestRun.objects.get(version=version)
    jobs.job_claim(TestRun, run.pk, "w1")
    TestRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=60))

    first = jobs.jobs_recover()
    assert first.data["requeued"] == [f"test_run:{run.pk}"]
    run.refresh_from_db()
    assert run.status == "queued" and run.attempt == 1 and run.enqueued_at is not None

    jobs.job_claim(TestRun, run.pk, "w2")
    TestRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=60))
    second = jobs.jobs_recover()
    assert second.data["errored"] == [f"test_run:{run.pk}"]
    run.refresh_from_db()
    assert run.status == "errored" and "stopped responding" in run.error
    assert state_of(version) == "tests_failed"
    record = TransitionRecord.objects.get(version=version, name="fail_tests")
    assert record.agent_name == "test-runner" and "Test run 1 errored" in record.annotation
    assert AgentRun.objects.filter(agent_name="job-recovery").count() == 2
    assert "marked 1 errored" in second.summary
    # Each run of the scheduled job is its own agent event in the audit trail.
    from governance.audit.models import AuditEvent

    events = AuditEvent.objects.filter(kind="agent", action="agent.recover_stuck_jobs").order_by("seq")
    assert events.count() == 2
    assert events.last().actor_username == "job-recovery" and events.last().actor_kind == "agent"
    assert "marked 1 errored" in events.last().summary


def test_run_of_a_withdrawn_version_errors_without_moving_it(version, alice, django_capture_on_commit_callbacks):
    submit(version, alice, django_capture_on_commit_callbacks)
    version_transition(version=version, name="withdraw", actor=alice, annotation="wrong data")
    run = TestRun.objects.get(version=version)
    assert runs.test_run_execute(run_id=run.pk, worker="w1") == "errored"
    run.refresh_from_db()
    assert run.status == "errored" and "left testing" in run.error
    assert state_of(version) == "withdrawn"
    note = Annotation.objects.get(version=version)
    assert note.agent_name == "test-runner" and "errored" in note.text


# --- warm-up ---------------------------------------------------------------------------------
@pytest.fixture
def champion(credit_model, alice, oscar, datasets):
    return make_champion(factories.make_version(credit_model, alice, datasets=datasets), submitter=alice, operator=oscar)


def _to_warming_up(version, alice):
    agent = service_account_get("test-runner")
    version_transition(version=version, name="submit", actor=alice)
    version_transition(version=version, name="pass_tests", actor=agent, agent_name="test-runner", annotation="ok")
    return WarmupRun.objects.create(version=version)


def test_warmup_replays_recent_production_inputs_against_the_champion(champion, credit_model, alice, datasets):
    _train, valid, target = sample_models.breast_cancer_frames()
    features = champion.feature_names
    record_production(credit_model, champion, valid[features].head(100))
    new = upload_version(credit_model, alice, disagreeing_classifier_onnx(), datasets)
    report = warmup.warmup_measure(new, log=lambda line: None)
    assert report["source"] == "production" and report["rows"] == 100 and report["errors"] == 0
    assert report["champion"] == champion
    assert 0.5 < report["agreement"] < 1
    assert report["psi"] > 0
    assert set(report["latency"]) >= {"new", "champion"}
    assert report["latency"]["champion"]["p95_ms"] > 0
    assert sum(report["histograms"]["new"]) == 100 and sum(report["histograms"]["champion"]) == 100
    largest = report["largest_disagreements"]
    assert 1 <= len(largest) <= 5 and largest[0]["difference"] >= largest[-1]["difference"]
    assert set(largest[0]["inputs"]) == set(features)


def test_warmup_fails_on_the_policy_and_says_why(champion, credit_model, alice, datasets, settings):
    settings.GOVERNANCE_WARMUP_POLICY = {
        **settings.GOVERNANCE_WARMUP_POLICY,
        "tiers": {**settings.GOVERNANCE_WARMUP_POLICY["tiers"], "medium": {
            "max_error_rate": 0.0, "min_agreement": 0.99, "max_psi": 10.0, "max_p95_latency_ms": 1000.0}},
    }
    new = upload_version(credit_model, alice, disagreeing_classifier_onnx(), datasets)
    run = _to_warming_up(new, alice)
    assert warmup.warmup_execute(run_id=run.pk, worker="w1") == "failed"

    assert state_of(new) == "warmup_failed"
    record = TransitionRecord.objects.get(version=new, name="fail_warmup")
    assert record.actor.username == "warmup-runner"
    assert "validation data (no production traffic yet)" in record.annotation
    assert "agreement with the champion" in record.annotation and "under the minimum of 99.00%" in record.annotation
    run.refresh_from_db()
    assert run.status == "failed" and run.source == "validation" and run.champion == champion
    # The same task delivered again changes nothing.
    assert warmup.warmup_execute(run_id=run.pk, worker="w2") == "skipped"
    assert TransitionRecord.objects.filter(version=new, name="fail_warmup").count() == 1


def test_version_panel_and_api_show_evidence_and_warmup_charts(champion, credit_model, alice, datasets, rf, eve, api_for):
    from django.template.loader import render_to_string
    from django.test import Client

    new = upload_version(credit_model, alice, disagreeing_classifier_onnx(), datasets)
    run = _to_warming_up(new, alice)
    warmup.warmup_execute(run_id=run.pk, worker="w1")
    test_run = TestRun.objects.create(version=new, sequence=1, config_snapshot=[{"kind": "schema"}], status="failed")
    CheckResult.objects.create(run=test_run, position=0, name="metric:accuracy", kind="metric", measured=0.71,
                               threshold=0.8, comparison=">=", outcome="failed", duration_ms=3.5, details={"rows": 143})

    request = rf.get("/")
    request.user = alice
    context = selectors.version_panel_context(request, new)
    html = render_to_string("testsuites/_version_panel.html", context, request=request)
    assert "metric:accuracy" in html and "0.7100" in html and "&gt;= 0.8000" in html
    assert html.count("<svg") == 2 and "Score distribution: new version and champion" in html
    assert "Largest disagreements" in html and "champion v1" in html
    assert 'data-active="false"' in html

    # The real version page shows the same evidence through the registered panel.
    client = Client()
    client.force_login(alice)
    page = client.get(f"/models/{credit_model.slug}/versions/{new.number}/").content.decode()
    assert "Test run 1" in page and "metric:accuracy" in page and "0.7100" in page
    assert "No test run yet" not in page and page.count("<svg") >= 2

    data = api_for(alice).get(f"/api/v1/models/{credit_model.slug}/versions/{new.number}/").json()
    assert data["test_runs"][0]["results"][0] == {
        "name": "metric:accuracy", "kind": "metric", "measured": 0.71, "threshold": 0.8, "comparison": ">=",
        "outcome": "failed", "duration_ms": 3.5, "details": {"rows": 143},
    }
    assert data["warmup"]["champion"] == 1 and data["warmup"]["source"] == "validation"
    assert data["warmup"]["reasons"] == WarmupRun.objects.get(pk=run.pk).outcome_reasons
    assert any("score distribution shift PSI" in reason for reason in data["warmup"]["reasons"])
    assert api_for(eve).get(f"/api/v1/models/{credit_model.slug}/versions/{new.number}/").status_code == 404

    entries = selectors.history_entries(new)
    assert sorted(e.kind for e in entries) == ["test_run", "warmup"]
    assert all(e.actor_kind == "agent" for e in entries)


# --- suite configuration ---------------------------------------------------------------------
def test_owner_and_reviewer_edit_the_suite_contributor_and_outsider_cannot(credit_model, alice, bob, carol, eve, admin_user):
    services.suite_config_update(model=credit_model, raw_checks=[{"kind": "schema"}], user=alice)
    services.suite_config_update(model=credit_model, raw_checks=[{"kind": "drift", "threshold": 0.2}], user=carol)
    services.suite_config_update(model=credit_model, raw_checks=[{"kind": "schema"}], user=admin_user)
    for user in (bob, eve):
        with pytest.raises(ActionForbidden):
            services.suite_config_update(model=credit_model, raw_checks=[{"kind": "schema"}], user=user)
    with pytest.raises(ActionError, match="Check 1: unknown kind"):
        services.suite_config_update(model=credit_model, raw_checks=[{"kind": "nope"}], user=alice)


def test_recovery_errors_a_run_past_its_hard_time_limit_even_with_a_live_heartbeat(
    version, alice, settings, django_capture_on_commit_callbacks
):
    settings.GOVERNANCE_JOB_MAX_ATTEMPTS = 1
    settings.CELERY_TASK_TIME_LIMIT = 60
    submit(version, alice, django_capture_on_commit_callbacks)
    run = TestRun.objects.get(version=version)
    jobs.job_claim(TestRun, run.pk, "w1")
    # A model stuck in native code: the heartbeat thread still beats, the run never ends.
    TestRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(minutes=5), heartbeat_at=timezone.now())

    assert jobs.jobs_recover().data["errored"] == [f"test_run:{run.pk}"]
    run.refresh_from_db()
    assert run.status == "errored" and "ran past its time limit of 60 s" in run.error
    assert state_of(version) == "tests_failed"


def test_rerun_after_failed_tests_queues_a_new_run_with_the_current_suite(
    version, alice, carol, django_capture_on_commit_callbacks
):
    submit(version, alice, django_capture_on_commit_callbacks)
    first = TestRun.objects.get(version=version)
    assert jobs.job_claim(TestRun, first.pk, "w1")[:2] == ("claimed", 1)
    jobs.job_error(first, "the worker hit an unexpected error (test)", attempt=1)
    assert state_of(version) == "tests_failed"
    services.suite_config_update(model=version.model, raw_checks=[{"kind": "schema"}], user=carol)

    with django_capture_on_commit_callbacks(execute=True):
        version_transition(version=version, name="rerun_tests", actor=carol, annotation="flaky worker")

    second = TestRun.objects.get(version=version, sequence=2)
    assert second.status == "queued" and second.config_snapshot == [{"kind": "schema"}]
    assert TestRun.objects.get(pk=first.pk).config_snapshot != second.config_snapshot


@pytest.mark.django_db(transaction=True)
def test_two_deliveries_claiming_at_once_get_one_claim(version, alice):
    import threading

    from django.db import connection

    version_transition(version=version, name="submit", actor=alice)
    run = TestRun.objects.get(version=version)
    barrier = threading.Barrier(4)
    outcomes = []

    def claim(name):
        try:
            barrier.wait()
            outcomes.append(jobs.job_claim(TestRun, run.pk, name)[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["claimed", "skipped", "skipped", "skipped"]
    assert TestRun.objects.get(pk=run.pk).attempt == 1
