"""A version taken from submission to champion through the services, its test run and warm-up
really executed in the test process; and reading a PDF's text."""

from __future__ import annotations

import io
import re

import pytest
from django.core.cache import cache

from governance.registry.models import ModelVersion
from tests import factories
from workflows.lifecycle.services import signoff_record, version_transition
from workflows.testsuites import jobs, runs, warmup
from workflows.testsuites.models import TestRun, WarmupRun


@pytest.fixture(autouse=True)
def _fast_and_in_process(settings, monkeypatch):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The jobs run here, not on a worker: nothing is handed to the broker.
    settings.GOVERNANCE_SCORING_OUTSIDE_WORKERS = True
    monkeypatch.setattr(jobs, "job_enqueue", lambda job: False)
    cache.clear()
    yield
    cache.clear()


def champion_journey(version, *, submitter, reviewers, operator, capture, annotation="Evidence reviewed.") -> ModelVersion:
    """Submit, run the suite and the warm-up, sign off by each reviewer, promote to champion."""
    with capture(execute=True):
        version_transition(version=version, name="submit", actor=submitter, annotation="Ready for testing.")
    run = TestRun.objects.get(version=version)
    with capture(execute=True):
        assert runs.test_run_execute(run_id=run.pk, worker="test-worker") == "passed"
    warm = WarmupRun.objects.get(version=version)
    with capture(execute=True):
        assert warmup.warmup_execute(run_id=warm.pk, worker="test-worker") == "passed"
    for reviewer in reviewers:
        signoff_record(
            version=ModelVersion.objects.get(pk=version.pk),
            signer=reviewer,
            decision="approve",
            annotation=annotation,
            password=factories.PASSWORD,
        )
    version_transition(version=version, name="promote_to_challenger", actor=operator, annotation="Into shadow.")
    version_transition(version=version, name="promote_to_champion", actor=operator, annotation="Shadow results good.")
    return ModelVersion.objects.select_related("model", "training_dataset", "validation_dataset").get(pk=version.pk)


@pytest.fixture
def high_model(alice, bob, carol, dave, oscar):
    """A high-risk model: two reviewers sign each version."""
    return factories.make_model(
        alice, name="Credit risk", risk_tier="high", contributor=[bob], reviewer=[carol, dave], operator=[oscar]
    )


@pytest.fixture
def champion(high_model, alice, datasets, carol, dave, oscar, django_capture_on_commit_callbacks):
    version = factories.make_version(high_model, alice, datasets=datasets)
    return champion_journey(
        version, submitter=alice, reviewers=[carol, dave], operator=oscar, capture=django_capture_on_commit_callbacks
    )


def pdf_text(data: bytes) -> str:
    """The text of every page of a PDF, whitespace runs made single spaces."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() or "" for page in reader.pages))


def pdf_pages(data: bytes) -> list[str]:
    from pypdf import PdfReader

    return [re.sub(r"\s+", " ", page.extract_text() or "") for page in PdfReader(io.BytesIO(data)).pages]


def squeezed(text: str) -> str:
    """Without any whitespace: a hash broken over two lines of a printed table is still found."""
    return re.sub(r"\s+", "", text)
