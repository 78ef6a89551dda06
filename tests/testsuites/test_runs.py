"""Test runs without a worker: immutable evidence, a version that moved on, reruns with the current suite."""

from __future__ import annotations

import pytest

from workflows.lifecycle.models import Annotation
from workflows.lifecycle.services import version_transition
from workflows.testsuites import jobs, runs, services
from workflows.testsuites.models import CheckResult, TestRun

from .helpers import state_of, submit

pytestmark = pytest.mark.django_db


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


def test_rerun_after_failed_tests_queues_a_new_run_with_the_current_suite(
    version, alice, carol, django_capture_on_commit_callbacks
):
    submit(version, alice, django_capture_on_commit_callbacks)
    first = TestRun.objects.get(version=version)
    assert jobs.job_claim(TestRun, first.pk, "w1")[:2] == ("claimed", 1)
    jobs.job_error(first, "the worker hit an unexpected error (test)", attempt=1)
    assert state_of(version) == "tests_failed"
    services.suite_config_set(actor=carol, model=version.model, raw_checks=[{"kind": "schema"}], reason="Schema only.")

    with django_capture_on_commit_callbacks(execute=True):
        version_transition(version=version, name="rerun_tests", actor=carol, annotation="flaky worker")

    second = TestRun.objects.get(version=version, sequence=2)
    assert second.status == "queued" and second.config_snapshot == [{"kind": "schema"}]
    assert TestRun.objects.get(pk=first.pk).config_snapshot != second.config_snapshot
