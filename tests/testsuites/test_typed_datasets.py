"""Workers and the typed copies of datasets: a changed copy fails the run with its reason; a
dataset from before typed copies gets one on its first run."""

from __future__ import annotations

import os

import pytest

from governance.registry.models import Dataset
from governance.registry.storage import blob_path
from workflows.lifecycle.models import TransitionRecord
from workflows.testsuites import runs, warmup
from workflows.testsuites.models import CheckResult, TestRun, WarmupRun

from .. import factories
from .helpers import disagreeing_classifier_onnx, make_champion, state_of, submit, to_warming_up, upload_version

pytestmark = pytest.mark.django_db


def _tamper(dataset) -> None:
    path = blob_path(dataset.typed_path)
    os.chmod(path, 0o644)
    data = path.read_bytes()
    path.write_bytes(data[:-8] + bytes(8))


def _forget_typed_copies(*datasets) -> None:
    for dataset in datasets:
        blob_path(dataset.typed_path).unlink()
    Dataset.objects.filter(pk__in=[d.pk for d in datasets]).update(typed_path="", typed_sha256="")


def test_a_changed_copy_fails_the_checks_with_the_reason(version, alice, django_capture_on_commit_callbacks):
    _tamper(version.validation_dataset)
    submit(version, alice, django_capture_on_commit_callbacks)
    run = TestRun.objects.get(version=version)
    assert runs.test_run_execute(run_id=run.pk, worker="w1") == "failed"
    results = list(CheckResult.objects.filter(run=run))
    assert results and all(r.outcome == "error" for r in results)
    reason = results[0].details["reason"]
    assert "typed copy of dataset 'validation'" in reason and "recorded at upload" in reason
    assert state_of(version) == "tests_failed"


def test_a_changed_copy_errors_the_warm_up_with_the_reason(credit_model, alice, oscar, datasets):
    make_champion(factories.make_version(credit_model, alice, datasets=datasets), submitter=alice, operator=oscar)
    new = upload_version(credit_model, alice, disagreeing_classifier_onnx(), datasets)
    run = to_warming_up(new, alice)
    _tamper(datasets[1])
    assert warmup.warmup_execute(run_id=run.pk, worker="w1") == "errored"
    run.refresh_from_db()
    assert run.status == "errored" and "typed copy of dataset 'validation'" in run.error
    assert "SHA-256" in run.error
    assert state_of(new) == "warmup_failed"
    record = TransitionRecord.objects.get(version=new, name="fail_warmup")
    assert "typed copy" in record.annotation


def test_a_test_run_makes_the_copies_of_older_datasets(version, alice, django_capture_on_commit_callbacks):
    training, validation = version.training_dataset, version.validation_dataset
    recorded = {d.pk: (d.typed_path, d.typed_sha256) for d in (training, validation)}
    _forget_typed_copies(training, validation)
    submit(version, alice, django_capture_on_commit_callbacks)
    run = TestRun.objects.get(version=version)
    assert runs.test_run_execute(run_id=run.pk, worker="w1") in ("passed", "failed")
    assert all(r.outcome != "error" for r in CheckResult.objects.filter(run=run))
    for dataset in Dataset.objects.filter(pk__in=recorded):
        assert (dataset.typed_path, dataset.typed_sha256) == recorded[dataset.pk]
        assert blob_path(dataset.typed_path).exists()


def test_a_warm_up_makes_the_copy_of_an_older_validation_dataset(credit_model, alice, oscar, datasets):
    make_champion(factories.make_version(credit_model, alice, datasets=datasets), submitter=alice, operator=oscar)
    validation = datasets[1]
    recorded = (validation.typed_path, validation.typed_sha256)
    _forget_typed_copies(validation)
    new = upload_version(credit_model, alice, disagreeing_classifier_onnx(), datasets)
    run = to_warming_up(new, alice)
    assert warmup.warmup_execute(run_id=run.pk, worker="w1") in ("passed", "failed")
    assert WarmupRun.objects.get(pk=run.pk).rows == validation.rows
    stored = Dataset.objects.get(pk=validation.pk)
    assert (stored.typed_path, stored.typed_sha256) == recorded
