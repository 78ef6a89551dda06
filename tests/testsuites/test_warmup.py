"""Warm-up without a worker: replaying production inputs against the champion, the policy, the report on the page and in the API."""

from __future__ import annotations

import pytest

from governance.demo import sample_models
from workflows.lifecycle.models import TransitionRecord
from workflows.testsuites import selectors, warmup
from workflows.testsuites.models import CheckResult, TestRun, WarmupRun

from .. import factories
from .helpers import (
    disagreeing_classifier_onnx,
    make_champion,
    record_production,
    state_of,
    to_warming_up,
    upload_version,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def champion(credit_model, alice, oscar, datasets):
    return make_champion(factories.make_version(credit_model, alice, datasets=datasets), submitter=alice, operator=oscar)



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
    run = to_warming_up(new, alice)
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
    run = to_warming_up(new, alice)
    warmup.warmup_execute(run_id=run.pk, worker="w1")
    test_run = TestRun.objects.create(version=new, sequence=1, config_snapshot=[{"kind": "schema"}], status="failed")
    CheckResult.objects.create(run=test_run, position=0, name="metric:accuracy", kind="metric", measured=0.71,
                               threshold=0.8, comparison=">=", outcome="failed", duration_ms=3.5, details={"rows": 143})

    request = rf.get("/")
    request.user = alice
    context = selectors.version_panel_context(request, new)
    html = render_to_string("testsuites/_version_panel.html", context, request=request)
    assert "Accuracy" in html and "71.0 %" in html and "at least 80.0 %" in html and "metric:accuracy" not in html
    # A run from before the charts has none, and says so; the warm-up's two charts are drawn.
    assert "recorded no chart data" in html
    assert html.count("<svg") == 2 and "Score distribution: new version and champion" in html
    assert "Largest disagreements" in html and "champion v1" in html
    assert 'data-active="false"' in html

    # The real version page shows the same evidence through the registered panel.
    client = Client()
    client.force_login(alice)
    page = client.get(f"/models/{credit_model.slug}/versions/{new.number}/").content.decode()
    assert "Test run 1" in page and "Accuracy is 71.0 % on 143 rows" in page
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
