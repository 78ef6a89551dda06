"""The evidence after a real test run and warm-up (run in this process, no broker): the chart data
the run keeps, the version page's charts and checks in words, the signing page's summary."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from governance.registry.models import ModelVersion
from workflows.lifecycle.models import Finding
from workflows.testsuites import runs, services, warmup
from workflows.testsuites.models import TestRun, WarmupRun

from .. import factories
from .helpers import EVERY_KIND_CLASSIFIER, regression_version, submit

pytestmark = pytest.mark.django_db

RAW = re.compile(r"\{'|\{\"|': |\bNone\b|\[\{|\bnan\b")


def to_in_review(version, submitter, capture) -> ModelVersion:
    """Submit, then run the test run and the warm-up here as a worker would."""
    submit(version, submitter, capture)
    run = TestRun.objects.filter(version=version).latest("sequence")
    with capture(execute=True):
        outcome = runs.test_run_execute(run_id=run.pk, worker="test")
    assert outcome == "passed", TestRun.objects.get(pk=run.pk).log
    warm = WarmupRun.objects.filter(version=version).latest("id")
    assert warmup.warmup_execute(run_id=warm.pk, worker="test") == "passed", WarmupRun.objects.get(pk=warm.pk).log
    version.refresh_from_db()
    assert version.state == "in_review"
    return version


def visible_text(html: str) -> str:
    """The page's text as a reader sees it (tags, scripts and styles left out)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_classifier_run_keeps_chart_data_and_both_pages_show_the_evidence(version, alice, carol, client, api_for, django_capture_on_commit_callbacks):
    services.suite_config_set(
        actor=carol,
        model=version.model,
        raw_checks=EVERY_KIND_CLASSIFIER,
        reason="Every kind of check, with bars this sample passes.",
    )
    to_in_review(version, alice, django_capture_on_commit_callbacks)
    run = TestRun.objects.get(version=version)
    data = run.charts
    assert data["task"] == "classification" and data["champion"] is None
    assert set(data["new"]) >= {"roc", "pr", "calibration", "confusion"}
    assert len(data["new"]["roc"]["fpr"]) <= 100 and 0.5 < data["new"]["roc"]["auc"] <= 1
    assert data["fairness"][0]["column"] == "mean radius" and len(data["fairness"][0]["new"]) == 4

    api = api_for(carol).get(f"/api/v1/models/{version.model.slug}/versions/{version.number}/").json()
    assert api["test_runs"][0]["charts"] == data

    client.force_login(carol)
    page = client.get(version.get_absolute_url()).content.decode()
    for css in ("chart-roc", "chart-pr", "chart-confusion", "chart-calibration", "chart-fairness"):
        assert f"chart-figure {css}" in page
    text = visible_text(page)
    assert not RAW.search(text), RAW.search(text)
    assert "Accuracy" in text and " %" in text and " ms" in text and "PSI " in text

    sign = client.get(reverse("lifecycle:sign", kwargs={"slug": version.model.slug, "number": version.number})).content.decode()
    text = visible_text(sign)
    assert "Evidence summary" in text and "at least 80.0 %" in text and "p95" in text
    assert "the validation data (the model has no production traffic yet)" in text
    assert "No open findings or conditions" in text
    assert not RAW.search(text), RAW.search(text)



def test_regressor_run_keeps_residuals_and_predicted_against_actual(credit_model, alice, carol, client, django_capture_on_commit_callbacks):
    model = factories.make_model(alice, name="Progression", task="regression", reviewer=[carol])
    version = to_in_review(regression_version(model, alice, factories.regressor_files()["onnx"]), alice, django_capture_on_commit_callbacks)
    data = TestRun.objects.get(version=version).charts
    assert data["task"] == "regression" and data["rows"] == 111
    assert len(data["new"]["predicted"]) == len(data["new"]["actual"]) == 111 and data["new"]["rmse"] > 0

    client.force_login(carol)
    sign = client.get(reverse("lifecycle:sign", kwargs={"slug": model.slug, "number": version.number})).content.decode()
    assert "chart-figure chart-residuals" in sign and "chart-figure chart-predicted-actual" in sign
    text = visible_text(sign)
    assert "R²" in text and "(target units)" in text and not RAW.search(text)


def test_charts_that_cannot_be_computed_say_why_and_the_run_goes_on(credit_model, alice, datasets):
    import numpy as np

    from workflows.testsuites import checks

    from .helpers import matmul_onnx, upload_version

    broken = upload_version(credit_model, alice, matmul_onnx(np.full((8, 1), np.nan)), datasets)
    ctx = checks.CheckContext(version=broken)
    data = checks.charts_measure([{"kind": "schema"}], ctx, time_limit=30)
    assert data == {"unavailable": "The charts could not be computed: The model returned 143 non-finite prediction(s) (NaN or infinity) out of 143."}


def test_summary_lists_open_findings_conditions_first_and_flags_the_overdue(version, alice, carol):
    import datetime

    from workflows.testsuites.selectors import evidence_summary

    Finding.objects.create(version=version, kind="finding", severity="low", raised_by=carol, description="Label the axes.")
    late = Finding.objects.create(version=version, kind="condition", severity="high", raised_by=carol, owner=alice,
                                  description="Monitor recall monthly.", due=datetime.date(2020, 1, 1))
    Finding.objects.create(version=version, kind="condition", severity="medium", raised_by=carol, status="closed",
                           description="Closed already.")
    summary = evidence_summary(version)
    assert [(row["finding"].description, row["overdue"]) for row in summary["findings"]] == [
        ("Monitor recall monthly.", True), ("Label the axes.", False),
    ]
    assert summary["run"] is None and summary["checks"] == [] and summary["warmup"] is None and late.pk
