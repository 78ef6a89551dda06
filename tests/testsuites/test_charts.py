"""The evidence charts: the data a run keeps (chart_data) and the SVG drawn from it (charts).

Plain functions, no database: synthetic labels and scores with known answers, escaping of
every label, empty data, and the champion's series present or absent.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pytest
from django.utils.safestring import SafeString
from sklearn.metrics import average_precision_score, roc_auc_score

from workflows.testsuites import chart_data, charts
from workflows.testsuites.scoring import Predictions

SVG = "{http://www.w3.org/2000/svg}"


def binary_case(n: int = 2000, seed: int = 1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    scores = np.clip(0.35 * y + rng.random(n) * 0.65, 0, 1)
    return y, (scores > 0.5).astype(int), scores


def regression_case(n: int = 1500, seed: int = 2):
    rng = np.random.default_rng(seed)
    actual = rng.normal(150, 40, n)
    return actual, actual + rng.normal(0, 12, n)


def svgs(html: str) -> list[ElementTree.Element]:
    """Each <svg> of a figure, parsed as XML: the markup is well formed."""
    return [ElementTree.fromstring(match) for match in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]


def assert_accessible(html: str) -> ElementTree.Element:
    assert isinstance(html, SafeString)
    (svg,) = svgs(html)
    assert svg.get("role") == "img" and svg.get("aria-label")
    assert svg.find(f"{SVG}title").text == svg.get("aria-label")
    assert "<figcaption>" in html
    return svg


# --- chart data ------------------------------------------------------------------------------
def test_classifier_data_matches_scikit_learn_and_stays_compact():
    y, labels, scores = binary_case()
    data = chart_data.classifier_series(y, labels, scores)
    assert data["roc"]["auc"] == pytest.approx(roc_auc_score(y, scores), abs=1e-4)
    assert data["pr"]["average_precision"] == pytest.approx(average_precision_score(y, scores), abs=1e-4)
    assert len(data["roc"]["fpr"]) <= chart_data.CURVE_POINTS and len(data["pr"]["recall"]) <= chart_data.CURVE_POINTS
    assert data["roc"]["fpr"][0] == 0 and data["roc"]["tpr"][-1] == 1
    assert data["pr"]["recall"] == sorted(data["pr"]["recall"])  # read left to right
    counts = data["confusion"]["counts"]
    assert data["confusion"]["labels"] == ["0", "1"] and sum(map(sum, counts)) == len(y)
    assert counts[1][1] == int(((y == 1) & (labels == 1)).sum())
    calibration = data["calibration"]
    assert sum(calibration["counts"]) == len(y) and len(calibration["predicted"]) <= chart_data.CALIBRATION_BINS
    assert all(0 <= v <= 1 for v in calibration["observed"])
    assert calibration["brier"] == pytest.approx(np.mean((scores - y) ** 2), abs=1e-4)
    assert len(json.dumps(data)) < 8000


def test_multiclass_and_label_only_classifiers_get_a_confusion_matrix_only():
    y = np.array(["a", "b", "c", "a", "b", "c"])
    data = chart_data.classifier_series(y, np.array(["a", "b", "b", "a", "c", "c"]), None)
    assert data["confusion"]["labels"] == ["a", "b", "c"] and "roc" not in data and "calibration" not in data
    wrapped = chart_data.run_charts(task="classification", y_true=y, new=Predictions(y, None))
    assert "binary classifiers" in wrapped["notes"][0]


def test_version_and_champion_matrices_share_their_labels():
    y = np.array([0, 1, 2, 1])
    data = chart_data.run_charts(task="classification", y_true=y, new=Predictions(np.array([0, 1, 1, 1]), None),
                                 champion=Predictions(np.array([0, 3, 2, 1]), None), champion_number=1)
    assert data["new"]["confusion"]["labels"] == data["champion"]["confusion"]["labels"] == ["0", "1", "2", "3"]
    assert len(data["new"]["confusion"]["counts"]) == 4


def test_float_and_integer_labels_are_compared_as_numbers():
    data = chart_data.confusion(np.array([0.0, 1.0, 1.0]), np.array([0, 1, 0]))
    assert data["labels"] == ["0", "1"] and data["counts"] == [[1, 0], [1, 1]]


def test_regressor_data_samples_a_few_hundred_rows_and_keeps_the_errors_of_all():
    actual, predicted = regression_case()
    data = chart_data.regressor_series(actual, predicted)
    assert data["rows"] == len(actual) and len(data["predicted"]) == len(data["actual"]) <= chart_data.SCATTER_POINTS
    residual = actual - predicted
    assert data["rmse"] == pytest.approx(np.sqrt(np.mean(residual**2)), rel=1e-4)
    assert data["mae"] == pytest.approx(np.mean(np.abs(residual)), rel=1e-4)
    assert data["actual"][0] == pytest.approx(actual[0], rel=1e-4) and data["actual"][-1] == pytest.approx(actual[-1], rel=1e-4)


def test_run_data_holds_the_champion_and_the_groups_of_each_fairness_check():
    y, labels, scores = binary_case(400)
    frame = pd.DataFrame({"age": np.linspace(18, 90, 400), "region": ["north", "south"] * 200})
    specs = (
        {"kind": "fairness", "column": "age", "metric": "accuracy", "threshold": 0.1},
        {"kind": "fairness", "column": "region", "metric": "selection_rate", "threshold": 0.1},
        {"kind": "fairness", "column": "postcode", "metric": "accuracy", "threshold": 0.1},
    )
    data = chart_data.run_charts(
        task="classification", y_true=y, new=Predictions(labels, scores), champion=Predictions(1 - labels, 1 - scores),
        champion_number=3, validation=frame, fairness_specs=specs,
    )
    assert data["champion_version"] == 3 and data["champion"]["roc"]["auc"] < 0.5 < data["new"]["roc"]["auc"]
    age, region = data["fairness"]  # the column the data lacks is the check's error, not a chart
    assert age["binned"] is True and len(age["new"]) == 4 and list(age["new"]) == ["18 to 36", "36 to 54", "54 to 72", "72 to 90"]
    assert set(region["new"]) == {"north", "south"} and set(region["champion"]) == {"north", "south"}
    json.dumps(data)  # stored as JSON as it is


def test_coded_numeric_groups_are_named_without_float_noise():
    groups, binned = chart_data.fairness_groups(pd.DataFrame({"sex": [0.0506801187398186, -0.044641636506989144] * 3}), "sex")
    assert not binned and set(groups) == {"0.0506801", "-0.0446416"}


# --- the charts ------------------------------------------------------------------------------
def test_roc_and_pr_charts_with_and_without_a_champion():
    y, labels, scores = binary_case()
    new = chart_data.classifier_series(y, labels, scores)
    old = chart_data.classifier_series(y, labels, np.clip(scores * 0.8, 0, 1))
    alone = charts.roc_chart(new["roc"])
    svg = assert_accessible(alone)
    assert len(svg.findall(f".//{SVG}polyline")) == 1 and "champion" not in alone
    assert f"AUC {new['roc']['auc']:.3f}" in alone
    both = charts.roc_chart(new["roc"], old["roc"], champion_label="champion v4")
    svg = assert_accessible(both)
    assert len(svg.findall(f".//{SVG}polyline")) == 2 and "champion v4 (AUC" in both
    axis = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "axis-label"]
    assert axis == ["False positive rate (share of negatives flagged)", "True positive rate (recall)"]
    pr = charts.precision_recall_chart(new["pr"], old["pr"], champion_label="champion v4")
    assert_accessible(pr)
    assert f"AP {new['pr']['average_precision']:.3f}" in pr and "Share of positives in the validation data" in pr


def test_confusion_and_calibration_charts_draw_every_cell_and_bin():
    y, labels, scores = binary_case()
    new = chart_data.classifier_series(y, labels, scores)
    matrix = charts.confusion_chart(new["confusion"], new["confusion"], champion_label="champion v1")
    svg = assert_accessible(matrix)
    assert len([r for r in svg.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]) == 8  # 2 x 2, twice
    assert "<table" in matrix and "rows on the diagonal" in matrix
    calibration = charts.calibration_chart(new["calibration"])
    svg = assert_accessible(calibration)
    assert len(svg.findall(f".//{SVG}circle")) == len(new["calibration"]["counts"])
    assert "Brier score" in calibration


def test_regression_charts_with_and_without_a_champion():
    actual, predicted = regression_case()
    new = chart_data.regressor_series(actual, predicted)
    old = chart_data.regressor_series(actual, predicted + 5)
    residuals = charts.residuals_chart(new)
    svg = assert_accessible(residuals)
    assert len(svg.findall(f".//{SVG}circle")) == len(new["predicted"]) + 1  # the dots and the legend's mark
    assert "RMSE" in residuals and "target units" in residuals
    both = charts.predicted_actual_chart(new, old, champion_label="champion v2")
    svg = assert_accessible(both)
    assert "champion v2" in both and len(svg.findall(f".//{SVG}g")) >= 3


def test_fairness_chart_has_a_bar_per_group_and_series_and_a_table():
    entry = {"column": "region", "metric": "recall", "binned": False, "threshold": 0.1,
             "new": {"north": 0.8, "south": 0.7}, "champion": {"north": 0.75, "south": 0.74}}
    html = charts.fairness_chart(entry, champion_label="champion v1")
    svg = assert_accessible(html)
    bars = [r for r in svg.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(bars) == 4 and "80.0 %" in html and "10.0 percentage points" in html
    assert "<table" in html and html.count("<tr>") == 3
    alone = charts.fairness_chart({**entry, "champion": None})
    assert "champion" not in alone


def test_labels_from_the_data_are_escaped():
    hostile = '<script>alert("x")</script>'
    entry = {"column": hostile, "metric": "accuracy", "binned": False, "threshold": 0.1, "new": {hostile: 0.5, "b&c": 0.6}}
    html = charts.fairness_chart(entry, champion_label=hostile)
    assert "<script>" not in html and "&lt;script&gt;" in html and "b&amp;c" in html
    svgs(html)  # still well-formed XML
    matrix = charts.confusion_chart({"labels": [hostile, "ok"], "counts": [[1, 2], [3, 4]]}, champion_label=hostile)
    assert "<script>" not in matrix
    svgs(matrix)
    roc = charts.roc_chart({"fpr": [0, 1], "tpr": [0, 1], "auc": 0.5}, {"fpr": [0, 1], "tpr": [0, 1], "auc": 0.5}, champion_label=hostile)
    assert "<script>" not in roc


@pytest.mark.parametrize(
    "draw",
    [
        lambda: charts.roc_chart(None),
        lambda: charts.precision_recall_chart({}),
        lambda: charts.calibration_chart(None, None),
        lambda: charts.confusion_chart(None),
        lambda: charts.residuals_chart({}, None),
        lambda: charts.predicted_actual_chart(None),
        lambda: charts.fairness_chart(None),
        lambda: charts.fairness_chart({"column": "a", "metric": "accuracy", "new": {}}),
    ],
)
def test_empty_data_gives_a_sentence_not_an_error(draw):
    html = draw()
    assert isinstance(html, SafeString) and "<svg" not in html and html.startswith('<p class="muted chart-empty">No ')


def test_a_run_without_chart_data_says_so():
    for stored in ({}, None):
        shown = charts.run_evidence_charts(SimpleNamespace(charts=stored))
        assert shown["figures"] == [] and "recorded no chart data" in shown["note"]
    failed = charts.run_evidence_charts(SimpleNamespace(charts={"unavailable": "The charts could not be computed: no target."}))
    assert failed == {"figures": [], "note": "The charts could not be computed: no target."}


def test_a_run_draws_the_standard_charts_of_its_task():
    y, labels, scores = binary_case(300)
    stored = json.loads(json.dumps(chart_data.run_charts(task="classification", y_true=y, new=Predictions(labels, scores),
                                                         champion=Predictions(labels, scores), champion_number=2)))
    shown = charts.run_evidence_charts(SimpleNamespace(charts=stored))
    assert [name for name, _ in shown["figures"]] == ["ROC curve", "Precision-recall curve", "Confusion matrix", "Calibration"]
    assert all("champion v2" in html for _, html in shown["figures"])
    actual, predicted = regression_case(200)
    stored = chart_data.run_charts(task="regression", y_true=actual, new=Predictions(predicted, None))
    shown = charts.run_evidence_charts(SimpleNamespace(charts=stored))
    assert [name for name, _ in shown["figures"]] == ["Residuals", "Predicted against actual"]
    assert "no champion" in shown["note"]


def test_warmup_charts_label_their_axes_with_and_without_a_champion():
    histogram = charts.score_histogram({"edges": [0, 0.5, 1], "new": [3, 7]}, title="Scores", x_label="Score <probability>")
    (svg,) = svgs(histogram)
    assert [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "axis-label"] == ["Score <probability>", "Rows"]
    assert "champion" not in histogram
    both = charts.score_histogram({"edges": [0, 0.5, 1], "new": [3, 7], "champion": [5, 5]}, title="Scores")
    assert len([r for r in svgs(both)[0].iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]) == 4
    latency = charts.latency_bars({"new": {"p50_ms": 1.5, "p95_ms": 2.5}, "champion": {"p50_ms": 1.0, "p95_ms": 2.0}}, title="Latency")
    texts = [t.text for t in svgs(latency)[0].iter(f"{SVG}text")]
    assert "new version p95" in texts and "champion p50" in texts and "2.50 ms" in texts
    assert charts.latency_bars({}, title="Latency") is None and charts.score_histogram({}, title="Scores") is None
