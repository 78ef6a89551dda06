"""The checks, measured directly on real artifacts and data (no worker needed)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from workflows.testsuites import checks, scoring

from .. import factories
from .helpers import make_champion, matmul_onnx, regression_version, reshape_onnx


def spec(**raw):
    return checks.validate_checks([raw], task=raw.pop("_task", "classification"))[0]


def run(spec_, ctx, limit=30.0):
    return checks.run_check(spec_, ctx, time_limit=limit)


# --- configuration -----------------------------------------------------------------------
def test_defaults_of_every_tier_are_valid_and_stricter_with_risk():
    low = checks.default_checks(task="classification", risk_tier="low")
    critical = checks.default_checks(task="classification", risk_tier="critical")
    assert [checks.check_name(s) for s in low] == [checks.check_name(s) for s in critical]
    assert low[0] == {"kind": "metric", "metric": "accuracy", "threshold": 0.7, "comparison": ">="}
    assert critical[0]["threshold"] == 0.85
    regression = checks.default_checks(task="regression", risk_tier="high")
    assert regression[0]["metric"] == "r2"


@pytest.mark.parametrize(
    "raw, message",
    [
        ([], "non-empty list"),
        ([{"kind": "magic"}], "Check 1: unknown kind 'magic'"),
        ([{"kind": "metric", "metric": "rmse", "threshold": 1}], "metric must be one of accuracy"),
        ([{"kind": "metric", "metric": "accuracy"}], "'threshold' is required"),
        ([{"kind": "metric", "metric": "accuracy", "threshold": "high"}], "'threshold' must be a number"),
        ([{"kind": "fairness", "metric": "selection_rate", "threshold": 0.1}], "names the 'column'"),
        ([{"kind": "robustness", "threshold": 3}], "share between 0 and 1"),
        ([{"kind": "schema"}, {"kind": "schema"}], "the same check appears twice: schema"),
    ],
)
def test_invalid_configuration_is_refused_naming_the_problem(raw, message):
    with pytest.raises(checks.CheckConfigError, match=message):
        checks.validate_checks(raw, task="classification")


def test_error_metrics_default_to_at_or_below(settings):
    clean = checks.validate_checks([{"kind": "metric", "metric": "rmse", "threshold": 60}], task="regression")
    assert clean[0]["comparison"] == "<="


def test_sleep_hook_exists_only_in_tests(settings):
    settings.GOVERNANCE_TEST_HOOKS = False
    with pytest.raises(checks.CheckConfigError, match="unknown kind 'sleep'"):
        checks.validate_checks([{"kind": "sleep", "seconds": 1}], task="classification")


# --- measurements on a real classifier ------------------------------------------------------
@pytest.fixture
def ctx(version):
    return checks.CheckContext(version=version)


def test_metric_check_measures_with_scikit_learn_and_compares_to_threshold(ctx):
    expected = accuracy_score(ctx.y_true, ctx.model.predict(ctx.validation).values)
    passing = run(spec(kind="metric", metric="accuracy", threshold=0.8), ctx)
    assert passing.outcome == "passed" and passing.measured == pytest.approx(expected)
    failing = run(spec(kind="metric", metric="accuracy", threshold=0.99), ctx)
    assert failing.outcome == "failed" and failing.threshold == 0.99 and failing.comparison == ">="
    assert checks.describe(failing) == f"Accuracy {expected * 100:.1f} % (needs at least 99.0 %)"
    for metric in ("roc_auc", "f1", "precision", "recall"):
        record = run(spec(kind="metric", metric=metric, threshold=0.5), ctx)
        assert record.outcome == "passed" and 0.5 < record.measured <= 1, metric


def test_fairness_check_reports_the_gap_between_groups(ctx):
    record = run(spec(kind="fairness", column="mean radius", metric="selection_rate", threshold=0.05), ctx)
    groups = record.details["by_group"]
    assert record.details["binned_into_quartiles"] is True and len(groups) == 4
    assert record.measured == pytest.approx(max(groups.values()) - min(groups.values()))
    assert record.outcome == "failed"  # tumour size strongly drives the prediction
    missing = run(spec(kind="fairness", column="postcode", metric="selection_rate", threshold=0.1), ctx)
    assert missing.outcome == "error" and "no column 'postcode'" in missing.details["reason"]


def test_robustness_latency_and_schema_checks(ctx):
    robust = run(spec(kind="robustness", noise=0.01, threshold=0.05), ctx)
    assert robust.outcome == "passed" and 0 <= robust.measured <= 0.05
    noisy = run(spec(kind="robustness", noise=2.0, threshold=0.01), ctx)
    assert noisy.outcome == "failed" and noisy.measured > 0.01
    latency = run(spec(kind="latency", rows=1, threshold=1000), ctx)
    assert latency.outcome == "passed" and latency.details["calls"] == 30
    too_tight = run(spec(kind="latency", rows=1000, threshold=0.000001), ctx)
    assert too_tight.outcome == "failed" and too_tight.details["rows_per_call"] == 1000
    schema = run(spec(kind="schema"), ctx)
    assert schema.outcome == "passed" and schema.details["champion_features"] is None


def test_drift_compares_training_with_production_inputs_when_there_are_some(version):
    plain = checks.CheckContext(version=version)
    calm = run(spec(kind="drift", threshold=0.25), plain)
    assert calm.outcome == "passed" and calm.details["compared"] == "training data against validation data"
    shifted = plain.validation.copy()
    shifted["mean radius"] = shifted["mean radius"] * 3
    drifting = checks.CheckContext(version=version, production_inputs=shifted)
    record = run(spec(kind="drift", threshold=0.25), drifting)
    assert record.outcome == "failed" and record.details["worst_feature"] == "mean radius"
    assert record.details["compared"] == "training data against production inputs"


def test_no_regression_and_schema_against_the_champion(credit_model, alice, oscar, datasets):
    champion = make_champion(factories.make_version(credit_model, alice, datasets=datasets), submitter=alice, operator=oscar)
    new = factories.make_version(credit_model, alice, datasets=datasets, fmt="skops")
    ctx = checks.CheckContext(version=new, champion=champion)
    record = run(spec(kind="no_regression", metric="accuracy", tolerance=0.0), ctx)
    assert record.outcome == "passed", record.details
    assert record.details["champion_version"] == 1
    assert record.measured == pytest.approx(0.0, abs=0.02)
    schema = run(spec(kind="schema"), ctx)
    assert schema.outcome == "passed", schema.details["problems"]


# --- models that misbehave ------------------------------------------------------------------
@pytest.fixture
def regression_model(alice):
    return factories.make_model(alice, name="House prices", task="regression")


def test_model_returning_nan_fails_its_checks_with_a_clear_reason(regression_model, alice):
    version = regression_version(regression_model, alice, matmul_onnx(np.full((10, 1), np.nan)))
    record = run(spec(kind="metric", metric="r2", threshold=0.1, _task="regression"), checks.CheckContext(version=version))
    assert record.outcome == "error"
    assert record.details["reason"] == "The model returned 111 non-finite prediction(s) (NaN or infinity) out of 111."


def test_model_returning_the_wrong_shape_fails_its_checks(regression_model, alice):
    version = regression_version(regression_model, alice, matmul_onnx(np.ones((10, 3))))
    record = run(spec(kind="metric", metric="mae", threshold=100, _task="regression"), checks.CheckContext(version=version))
    assert record.outcome == "error" and "output of shape (111, 3) for 111 rows" in record.details["reason"]


def test_model_that_raises_fails_its_checks(regression_model, alice):
    version = regression_version(regression_model, alice, reshape_onnx(10))
    record = run(spec(kind="metric", metric="mae", threshold=100, _task="regression"), checks.CheckContext(version=version))
    assert record.outcome == "error" and record.details["reason"].startswith("The model raised")


def test_check_that_hangs_is_abandoned_after_its_time_limit(ctx):
    record = run(spec(kind="sleep", seconds=5), ctx, limit=0.2)
    assert record.outcome == "error" and "did not finish within its limit of 0.2 s" in record.details["reason"]
    assert record.duration_ms < 2000


def test_probabilities_outside_zero_and_one_are_garbage():
    with pytest.raises(scoring.ModelOutputError, match="probabilities that are not finite numbers in"):
        scoring._validated(np.array([0, 1]), np.array([0.2, 1.7]), 2, "classification")


def test_psi_is_zero_for_the_same_distribution_and_grows_with_shift():
    import pandas as pd

    rng = np.random.default_rng(1)
    base = pd.Series(rng.normal(size=5000))
    assert checks.psi(base, base) == pytest.approx(0.0, abs=1e-9)
    assert checks.psi(base, base + 0.1) < checks.psi(base, base + 1.0)
    assert checks.psi(pd.Series(["a", "b"] * 50), pd.Series(["a"] * 100)) > 1


def test_submitted_models_are_not_loaded_outside_a_worker(version, settings):
    settings.GOVERNANCE_SCORING_OUTSIDE_WORKERS = False
    with pytest.raises(scoring.NotInWorker, match="only in Celery workers"):
        scoring.load_version(version)
    record = run(spec(kind="metric", metric="accuracy", threshold=0.5), checks.CheckContext(version=version))
    assert record.outcome == "error" and "only in Celery workers" in record.details["reason"]


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"kind": "latency", "rows": 1e10, "threshold": 50}, "'rows' must be a whole number between 1 and 100000 "
         "for a latency check, not 10000000000.0"),
        ({"kind": "latency", "rows": 2.5, "threshold": 50}, "'rows' must be a whole number"),
        ({"kind": "latency", "rows": 10, "repeats": 10**6, "threshold": 50}, "'repeats' must be a whole number "
         "between 1 and 1000"),
        ({"kind": "latency", "threshold": 1e12}, "'threshold' must be a finite number between 0 and 600000 "
         "for a latency check"),
        ({"kind": "latency", "rows": True, "threshold": 5}, "'rows' must be a number for a latency check"),
        ({"kind": "metric", "metric": "accuracy", "threshold": 80}, "'threshold' must be a finite number "
         "between 0 and 1 for a metric check"),
        ({"kind": "metric", "metric": "accuracy", "threshold": float("nan")}, "'threshold' must be a finite number"),
        ({"kind": "no_regression", "metric": "f1", "tolerance": 5}, "'tolerance' must be a finite number "
         "between 0 and 1 for a no_regression check"),
        ({"kind": "fairness", "column": "sex", "threshold": 2}, "'threshold' must be a finite number "
         "between 0 and 1 for a fairness check"),
        ({"kind": "robustness", "noise": 1e9, "threshold": 0.1}, "'noise' must be a finite number "
         "between 0 and 10 for a robustness check"),
        ({"kind": "drift", "threshold": 1e9}, "'threshold' must be a finite number between 0 and 100 "
         "for a drift check"),
    ],
)
def test_every_numeric_knob_has_a_range_and_the_refusal_names_check_and_field(raw, message):
    with pytest.raises(checks.CheckConfigError, match="^Check 2: " + message):
        checks.validate_checks([{"kind": "schema"}, raw], task="classification")


@pytest.mark.django_db
def test_api_refuses_a_latency_batch_of_1e10_rows_naming_check_and_field(api_for, credit_model, alice, carol):
    url = f"/api/v1/models/{credit_model.slug}/test-suite/"
    huge = {"checks": [{"kind": "latency", "rows": 1e10, "threshold": 50}], "reason": "Bigger batches."}
    for response in (
        api_for(carol).put(url, huge, format="json"),  # a validator's change
        api_for(alice).post(url + "proposals/", huge, format="json"),  # an owner's proposal
    ):
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "invalid_checks"
        assert body["detail"].startswith("Check 1: 'rows' must be a whole number between 1 and 100000 for a latency check")
    assert api_for(alice).get(url).json()["customised"] is False
    assert api_for(alice).get(url + "proposals/").json()["count"] == 0


def test_knobs_at_their_bounds_are_accepted():
    clean = checks.validate_checks(
        [
            {"kind": "latency", "rows": 100_000, "repeats": 1000, "threshold": 600_000},
            {"kind": "metric", "metric": "accuracy", "threshold": 1},
            {"kind": "robustness", "noise": 10, "threshold": 1, "tolerance": 1000},
        ],
        task="classification",
    )
    assert clean[0] == {"kind": "latency", "rows": 100_000, "threshold": 600_000.0, "repeats": 1000}
    regression = checks.validate_checks(
        [{"kind": "metric", "metric": "rmse", "threshold": 1e6}, {"kind": "metric", "metric": "r2", "threshold": -3}],
        task="regression",
    )
    assert [spec["threshold"] for spec in regression] == [1e6, -3.0]
