"""Job handling shared by test runs and warm-ups: one job per transition, claims, heartbeats, recovery."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from workflows.lifecycle.models import TransitionRecord
from workflows.lifecycle.services import version_transition
from workflows.testsuites import checks, jobs, runs
from workflows.testsuites.models import AgentRun, TestRun

from .helpers import state_of, submit

pytestmark = pytest.mark.django_db


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
