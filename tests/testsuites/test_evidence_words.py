"""Each check kind read in words, with units, as stored results of real runs look."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from workflows.testsuites import checks, evidence

RAW = re.compile(r"\{'|\{\"|': |\bNone\b|\[\{|\[\'|_")


def result(name, kind, measured, threshold, comparison, outcome="passed", **details):
    return SimpleNamespace(name=name, kind=kind, measured=measured, threshold=threshold, comparison=comparison,
                           outcome=outcome, details=details)


CASES = [
    (
        result("metric:accuracy", "metric", 0.9231, 0.8, ">=", rows=143),
        "Accuracy", "92.3 %", "at least 80.0 %", "Accuracy is 92.3 % on 143 rows of validation data; it meets the threshold of at least 80.0 %.",
    ),
    (
        result("metric:rmse", "metric", 61.2, 55.0, "<=", "failed", rows=111),
        "Root mean squared error", "61.2 (target units)", "at most 55 (target units)", "it does not meet the threshold of at most 55 (target units).",
    ),
    (
        result("metric:roc_auc", "metric", 0.98164, 0.75, ">=", rows=143),
        "ROC AUC", "0.982", "at least 0.750", "ROC AUC is 0.982",
    ),
    (
        result("no_regression:accuracy", "no_regression", -0.021, -0.01, ">=", "failed", new=0.90, champion=0.921, champion_version=3, tolerance=0.01),
        "Accuracy against the champion", "2.1 percentage points worse than the champion", "at most 1.0 percentage points worse",
        "this version 90.0 %, champion v3 92.1 %",
    ),
    (
        result("no_regression:r2", "no_regression", 0.45, None, "", note="The model has no champion yet: nothing to regress against."),
        "R² against the champion", "0.450", "no champion to compare with", "nothing to regress against",
    ),
    (
        result("schema", "schema", 1.0, 0.0, "<=", "failed", features=["a", "b"], champion_features=["a"], validation_columns=["a", "b"],
               problems=["features differ from the champion's (added: b)"]),
        "Input schema", "1 problem", "at most 0 problems", "features differ from the champion's (added: b)",
    ),
    (
        result("fairness:sex:selection_rate", "fairness", 0.12, 0.1, "<=", "failed", column="sex", metric="selection_rate",
               by_group={"female": 0.31, "male": 0.43}, binned_into_quartiles=False),
        "Fairness: selection rate across groups of sex", "gap of 12.0 percentage points", "at most 10.0 percentage points",
        "from 31.0 % in female to 43.0 % in male",
    ),
    (
        result("robustness", "robustness", 0.021, 0.05, "<=", rule="label changed", noise=0.01, perturbed_columns=8, rows=143, changed=3),
        "Robustness to noise", "2.1 % of rows changed", "at most 5.0 %", "changed label on 3 of 143 rows (2.1 %)",
    ),
    (
        result("latency:batch_1000", "latency", 4.2, 500.0, "<=", rows_per_call=1000, calls=10, p50_ms=3.9, p95_ms=4.2, max_ms=4.4),
        "Latency of batches of 1,000 rows", "p95 4.20 ms", "at most 500.00 ms", "median 3.90 ms, slowest 4.40 ms",
    ),
    (
        result("drift", "drift", 0.31, 0.25, "<=", "failed", compared="training data against production inputs", rows=5000,
               psi={"income": 0.31, "age": 0.02}, worst_feature="income"),
        "Data drift", "largest PSI 0.310", "at most PSI 0.250", "the largest is PSI 0.310 on income",
    ),
]


@pytest.mark.parametrize("stored, title, measured, threshold, words", CASES, ids=[c[0].name for c in CASES])
def test_each_check_kind_reads_in_words_with_units(stored, title, measured, threshold, words):
    view = evidence.check_view(stored)
    assert (view.title, view.measured, view.threshold) == (title, measured, threshold)
    assert words in view.sentence
    shown = " ".join([view.title, view.kind, view.measured, view.threshold, view.sentence, *sum(view.table_rows, [])])
    assert not RAW.search(shown), shown


def test_tables_of_groups_features_and_timings():
    fairness = evidence.check_view(CASES[6][0])
    assert fairness.table_head == ["Group of sex", "Selection rate"] and fairness.table_rows[0] == ["female", "31.0 %"]
    drift = evidence.check_view(CASES[9][0])
    assert drift.table_rows == [["income", "PSI 0.310"], ["age", "PSI 0.020"]]
    latency = evidence.check_view(CASES[8][0])
    assert ["Median (p50)", "3.90 ms"] in latency.table_rows


def test_a_check_that_could_not_measure_gives_its_reason():
    view = evidence.check_view(result("metric:roc_auc", "metric", None, 0.8, "", "error", reason="ROC AUC needs probabilities, and the model gives none."))
    assert view.outcome_label == "Could not be measured" and view.measured == "—"
    assert view.sentence == "The check could not be measured: ROC AUC needs probabilities, and the model gives none."


def test_annotations_name_checks_in_words():
    record = checks.CheckRecord("metric:accuracy", "metric", 0.71, 0.8, ">=", "failed", 3.0, {"rows": 143})
    assert checks.describe(record) == "Accuracy 71.0 % (needs at least 80.0 %)"
    broken = checks.CheckRecord("drift", "drift", None, 0.2, "", "error", 1.0, {"reason": "No feature is present in both."})
    assert checks.describe(broken) == "Data drift: error (No feature is present in both.)"


def test_progress_names_the_running_check_in_words():
    assert evidence.title_of_name("metric:roc_auc") == "ROC AUC"
    assert evidence.title_of_name("latency:batch_1000") == "Latency of batches of 1,000 rows"
    assert evidence.title_of_name("fairness:sex:recall") == "Fairness: recall across groups of sex"
    assert evidence.title_of_name("") == ""
