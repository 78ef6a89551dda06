"""A real Celery worker on a real Redis: submit to in_review, to tests_failed, redelivery, faults.

These tests run the worker in a thread (solo pool) or as a real ``celery worker`` process, on
Redis database 15 or on a throwaway redis-server of their own, against the test database.
"""

from __future__ import annotations

import os
import signal

import pytest

from governance.registry.models import ModelVersion
from workflows.lifecycle.models import Annotation, TransitionRecord
from workflows.lifecycle.services import version_transition
from workflows.testsuites import jobs, runs, services, tasks
from workflows.testsuites.models import AgentRun, CheckResult, TestRun, WarmupRun

from .conftest import in_thread_worker, use_broker, wait_for, worker_subprocess

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def state_of(version) -> str:
    return ModelVersion.objects.get(pk=version.pk).state


def agent_records(version, name):
    return list(TransitionRecord.objects.filter(version=version, name=name))


def test_submit_reaches_in_review_with_evidence_and_agent_annotations(celery_worker, version, alice, api_for):
    version_transition(version=version, name="submit", actor=alice)

    wait_for(lambda: state_of(version) == "in_review", timeout=60, message="the version to reach in_review")

    run = TestRun.objects.get(version=version)
    assert run.status == "passed" and run.attempt == 1 and run.worker
    results = list(run.results.all())
    assert [r.name for r in results] == [
        "metric:accuracy", "metric:roc_auc", "no_regression:accuracy", "schema", "robustness",
        "latency:single_row", "latency:batch_1000", "drift",
    ]
    accuracy = results[0]
    assert accuracy.outcome == "passed" and 0.85 < accuracy.measured <= 1 and accuracy.threshold == 0.75
    assert accuracy.comparison == ">=" and accuracy.duration_ms > 0
    assert {"scikit-learn", "onnxruntime", "numpy"} <= set(run.library_versions)
    assert "Accuracy 92.3 %" in run.log and "Suite passed" in run.log and "Chart data computed" in run.log
    # The chart data was computed by the worker on the validation data and kept with the run.
    assert run.charts["task"] == "classification" and run.charts["rows"] == 143
    assert run.charts["new"]["roc"]["auc"] == pytest.approx(results[1].measured, abs=1e-4)

    (passed,) = agent_records(version, "pass_tests")
    assert passed.actor.username == "test-runner" and passed.actor_kind == "agent" and passed.agent_name == "test-runner"
    assert "passed all 8 checks" in passed.annotation and "Accuracy 92.3 % (needs at least 75.0 %)" in passed.annotation

    warmup = WarmupRun.objects.get(version=version)
    assert warmup.status == "passed" and warmup.source == "validation" and warmup.rows == 143 and warmup.errors == 0
    (warmed,) = agent_records(version, "pass_warmup")
    assert warmed.actor.username == "warmup-runner" and warmed.agent_name == "warmup-runner"
    assert "validation data (no production traffic yet)" in warmed.annotation

    # The version's one history (API) carries the agents' runs beside the transitions.
    history = api_for(alice).get(f"/api/v1/models/{version.model.slug}/versions/{version.number}/history/").json()
    kinds = [entry["kind"] for entry in history]
    assert kinds.count("test_run") == 1 and kinds.count("warmup") == 1
    test_run_entry = next(entry for entry in history if entry["kind"] == "test_run")
    assert test_run_entry["actor"] == "test-runner" and test_run_entry["actor_kind"] == "agent"
    assert "8 of 8 checks passed" in test_run_entry["annotation"]


def test_failing_threshold_moves_to_tests_failed_naming_the_check(celery_worker, version, alice, carol):
    services.suite_config_set(
        model=version.model,
        raw_checks=[
            {"kind": "metric", "metric": "accuracy", "threshold": 0.99},
            {"kind": "schema"},
        ],
        actor=carol,
        reason="A bar the version cannot reach.",
    )
    version_transition(version=version, name="submit", actor=alice)

    wait_for(lambda: state_of(version) == "tests_failed", timeout=60, message="the version to reach tests_failed")

    run = TestRun.objects.get(version=version)
    assert run.status == "failed"
    outcomes = {r.name: r.outcome for r in run.results.all()}
    assert outcomes == {"metric:accuracy": "failed", "schema": "passed"}
    (failed,) = agent_records(version, "fail_tests")
    assert failed.actor.username == "test-runner"
    assert "failed 1 of 2 checks" in failed.annotation
    assert "Accuracy 92.3 % (needs at least 99.0 %)" in failed.annotation
    assert not WarmupRun.objects.filter(version=version).exists()


def test_redelivered_task_duplicates_no_evidence_or_transition(celery_worker, version, alice):
    version_transition(version=version, name="submit", actor=alice)
    run = TestRun.objects.get(version=version)
    # The same run delivered twice more while the first delivery may still be going.
    tasks.run_test_suite.delay(run.pk)
    tasks.run_test_suite.delay(run.pk)

    wait_for(lambda: state_of(version) == "in_review", timeout=90, message="the version to reach in_review")
    # Once more, directly, after it finished.
    assert runs.test_run_execute(run_id=run.pk, worker="again") == "skipped"

    run.refresh_from_db()
    assert run.attempt == 1
    assert CheckResult.objects.filter(run__version=version).count() == len(run.config_snapshot)
    assert len(agent_records(version, "pass_tests")) == 1
    assert len(agent_records(version, "pass_warmup")) == 1
    assert TestRun.objects.filter(version=version).count() == 1


def test_redis_down_at_submit_keeps_the_submission_and_tests_start_when_it_is_back(throwaway_redis, version, alice):
    use_broker(throwaway_redis.url)
    throwaway_redis.stop()

    version_transition(version=version, name="submit", actor=alice)

    assert state_of(version) == "testing"
    run = TestRun.objects.get(version=version)
    assert run.status == "queued" and run.enqueued_at is None

    throwaway_redis.start()
    use_broker(throwaway_redis.url)
    with in_thread_worker():
        # The scheduled recovery agent (every minute under beat) finds the run the broker never got.
        agent_run = jobs.jobs_recover()
        assert agent_run.data["enqueued"] == [f"test_run:{run.pk}"]
        wait_for(lambda: state_of(version) == "in_review", timeout=60, message="the version to reach in_review")
    assert TestRun.objects.get(pk=run.pk).status == "passed"
    assert AgentRun.objects.filter(agent_name="job-recovery", action="recover_stuck_jobs").exists()


def _slow_suite(version, carol, seconds):
    services.suite_config_set(
        model=version.model,
        raw_checks=[{"kind": "sleep", "seconds": seconds}, {"kind": "metric", "metric": "accuracy", "threshold": 0.5}],
        actor=carol,
        reason="A slow check to kill the worker in.",
    )


def _kill_worker_mid_run(process, run):
    wait_for(
        lambda: TestRun.objects.get(pk=run.pk).status == "running",
        timeout=60,
        message="the worker process to start the run",
    )
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def test_killed_worker_run_is_picked_up_again(throwaway_redis, version, alice, carol, settings, tmp_path):
    _slow_suite(version, carol, seconds=4)
    use_broker(throwaway_redis.url)
    process = worker_subprocess(broker_url=throwaway_redis.url, media_root=settings.MEDIA_ROOT, name="doomed", log_path=tmp_path / "worker.log")
    try:
        version_transition(version=version, name="submit", actor=alice)
        run = TestRun.objects.get(version=version)
        _kill_worker_mid_run(process, run)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert TestRun.objects.get(pk=run.pk).worker.startswith("doomed@")

    # Redis hands the unacknowledged task back after the visibility timeout; the new worker
    # finds the run's heartbeat stale and takes it over as attempt 2.
    with in_thread_worker():
        wait_for(lambda: state_of(version) == "in_review", timeout=90, message="the version to reach in_review")

    run = TestRun.objects.get(pk=run.pk)
    assert run.status == "passed" and run.attempt == 2
    assert run.results.count() == 2
    assert len(agent_records(version, "pass_tests")) == 1


def test_killed_worker_on_last_attempt_is_marked_errored_by_the_recovery_agent(throwaway_redis, version, alice, carol, settings, tmp_path):
    settings.GOVERNANCE_JOB_MAX_ATTEMPTS = 1
    _slow_suite(version, carol, seconds=30)
    use_broker(throwaway_redis.url)
    process = worker_subprocess(broker_url=throwaway_redis.url, media_root=settings.MEDIA_ROOT, name="doomed", log_path=tmp_path / "worker.log")
    try:
        version_transition(version=version, name="submit", actor=alice)
        run = TestRun.objects.get(version=version)
        _kill_worker_mid_run(process, run)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)

    wait_for(
        lambda: jobs.jobs_recover().data["errored"],
        timeout=30,
        interval=0.5,
        message="the recovery agent to find the dead worker's run",
    )

    run = TestRun.objects.get(pk=run.pk)
    assert run.status == "errored" and "stopped responding" in run.error
    assert state_of(version) == "tests_failed"
    (failed,) = agent_records(version, "fail_tests")
    assert failed.agent_name == "test-runner" and "Test run 1 errored" in failed.annotation
    assert run.results.count() == 0
    assert not Annotation.objects.filter(version=version).exists()
