"""The data behind a test run's evidence charts: pure functions of labels, scores and predictions.

A test run computes it on the validation data, for the version and for the champion, and keeps
it in ``TestRun.charts`` (drawn by charts.py). Curves are cut to at most ``CURVE_POINTS`` points
and scatter plots to ``SCATTER_POINTS`` rows, and every number is rounded to five significant
digits, so the stored data stays a few kilobytes whatever the size of the data. Nothing here
touches the database or a model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CURVE_POINTS = 80
SCATTER_POINTS = 300
CALIBRATION_BINS = 10
MAX_CLASSES = 20
FORMAT = 1  # the layout of the stored data; older runs have none


def _round(values) -> list[float]:
    return [float(f"{float(v):.5g}") for v in values]


def thin(count: int, limit: int) -> np.ndarray:
    """Indices of at most ``limit`` of ``count`` points, evenly spread, first and last kept."""
    if count <= limit:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, limit).round().astype(int))


def comparable_labels(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both label arrays as numbers when both are numbers, else both as text."""
    if y_true.dtype.kind in "biuf" and y_pred.dtype.kind in "biuf":
        return y_true.astype(float), y_pred.astype(float)
    return y_true.astype(str), y_pred.astype(str)


def _label_text(label) -> str:
    if isinstance(label, (float, np.floating)) and float(label).is_integer():
        return str(int(label))
    return str(label)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, also_predicted: np.ndarray | None = None) -> dict | None:
    """Counts of actual (rows) against predicted (columns) labels; None past MAX_CLASSES labels.

    ``also_predicted`` (the champion's labels) joins the label set, so that both matrices of a
    run have the same rows and columns.
    """
    from sklearn.metrics import confusion_matrix

    actual, predicted = comparable_labels(np.asarray(y_true), np.asarray(y_pred))
    pooled = [actual, predicted]
    if also_predicted is not None:
        pooled.append(comparable_labels(np.asarray(y_true), np.asarray(also_predicted))[1])
    labels = np.unique(np.concatenate(pooled))
    if len(labels) > MAX_CLASSES:
        return None
    matrix = confusion_matrix(actual, predicted, labels=labels)
    return {"labels": [_label_text(label) for label in labels], "counts": matrix.astype(int).tolist()}


def positive_label(y_true: np.ndarray):
    """The positive class of a binary target: the greater label, as scikit-learn takes it."""
    return np.unique(y_true)[-1]


def roc(y_true: np.ndarray, scores: np.ndarray) -> dict:
    from sklearn.metrics import roc_auc_score, roc_curve

    positive = positive_label(y_true)
    fpr, tpr, _ = roc_curve(y_true, scores, pos_label=positive)
    keep = thin(len(fpr), CURVE_POINTS)
    return {"fpr": _round(fpr[keep]), "tpr": _round(tpr[keep]), "auc": float(f"{roc_auc_score(y_true == positive, scores):.5g}")}


def precision_recall(y_true: np.ndarray, scores: np.ndarray) -> dict:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    positive = positive_label(y_true)
    precision, recall, _ = precision_recall_curve(y_true, scores, pos_label=positive)
    # scikit-learn gives recall from 1 down to 0; the chart reads it left to right.
    precision, recall = precision[::-1], recall[::-1]
    keep = thin(len(recall), CURVE_POINTS)
    return {
        "recall": _round(recall[keep]),
        "precision": _round(precision[keep]),
        "average_precision": float(f"{average_precision_score(y_true == positive, scores):.5g}"),
        "prevalence": float(f"{float(np.mean(y_true == positive)):.5g}"),
    }


def calibration(y_true: np.ndarray, scores: np.ndarray, bins: int = CALIBRATION_BINS) -> dict:
    """Mean predicted probability against the observed share of positives, in even bins of the score."""
    positive = np.asarray(y_true == positive_label(y_true), dtype=float)
    index = np.clip((np.asarray(scores, dtype=float) * bins).astype(int), 0, bins - 1)
    predicted, observed, counts = [], [], []
    for b in range(bins):
        in_bin = index == b
        n = int(in_bin.sum())
        if n:
            predicted.append(float(np.mean(scores[in_bin])))
            observed.append(float(np.mean(positive[in_bin])))
            counts.append(n)
    brier = float(np.mean((np.asarray(scores, dtype=float) - positive) ** 2))
    return {"predicted": _round(predicted), "observed": _round(observed), "counts": counts, "brier": float(f"{brier:.5g}")}


def classifier_series(y_true: np.ndarray, values: np.ndarray, scores: np.ndarray | None, other_values: np.ndarray | None = None) -> dict:
    """A classifier's confusion matrix and, for a binary target with scores, its ROC,
    precision-recall and calibration curves. ``other_values``: the labels the series it is drawn
    beside predicts (see ``confusion``)."""
    y_true = np.asarray(y_true)
    series: dict = {"rows": int(len(y_true))}
    matrix = confusion(y_true, np.asarray(values), other_values)
    if matrix is not None:
        series["confusion"] = matrix
    if scores is not None and len(np.unique(y_true)) == 2:
        scores = np.asarray(scores, dtype=float)
        series["roc"] = roc(y_true, scores)
        series["pr"] = precision_recall(y_true, scores)
        series["calibration"] = calibration(y_true, scores)
    return series


def regressor_series(y_true: np.ndarray, predicted: np.ndarray, limit: int = SCATTER_POINTS) -> dict:
    """Predicted and actual values of an even sample of rows, with the error figures of all rows."""
    actual = np.asarray(y_true, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    residual = actual - predicted
    keep = thin(len(actual), limit)
    return {
        "rows": int(len(actual)),
        "predicted": _round(predicted[keep]),
        "actual": _round(actual[keep]),
        "rmse": float(f"{float(np.sqrt(np.mean(residual ** 2))):.5g}"),
        "mae": float(f"{float(np.mean(np.abs(residual))):.5g}"),
        "mean_residual": float(f"{float(np.mean(residual)):.5g}"),
    }


def fairness_groups(frame: pd.DataFrame, column: str) -> tuple[pd.Series, bool]:
    """The groups of a fairness check: the column's values, or its quartiles when it is a
    number with more than ten distinct values. Returns (groups, binned)."""
    groups = frame[column]
    if not pd.api.types.is_numeric_dtype(groups) or pd.api.types.is_bool_dtype(groups):
        return groups.astype(str), False
    if groups.nunique() > 10:
        bins = pd.qcut(groups, q=4, duplicates="drop")
        return bins.map(lambda b: f"{b.left:.4g} to {b.right:.4g}").astype(str), True
    # Few distinct numbers (a coded column): each value is a group, named without float noise.
    return groups.map(lambda v: "missing" if pd.isna(v) else f"{v:.6g}"), False


def fairness_by_group(metric: str, y_true: np.ndarray, y_pred: np.ndarray, groups: pd.Series) -> tuple[dict, float]:
    """The metric in each group and the largest gap between two groups (fairlearn's MetricFrame)."""
    from fairlearn.metrics import MetricFrame, selection_rate
    from sklearn import metrics as m

    func = {
        "selection_rate": selection_rate,
        "accuracy": m.accuracy_score,
        "recall": lambda t, p: m.recall_score(t, p, zero_division=0),
        "precision": lambda t, p: m.precision_score(t, p, zero_division=0),
        "f1": lambda t, p: m.f1_score(t, p, zero_division=0),
        "mae": m.mean_absolute_error,
        "rmse": lambda t, p: float(np.sqrt(m.mean_squared_error(t, p))),
    }[metric]
    frame = MetricFrame(metrics=func, y_true=y_true, y_pred=y_pred, sensitive_features=groups)
    by_group = {str(k): float(v) for k, v in frame.by_group.items()}
    return dict(sorted(by_group.items(), key=lambda item: _group_order(item[0]))), float(frame.difference())


def _group_order(label: str) -> tuple:
    """Groups named by numbers ("7.76 to 11.9", "0.05") in numeric order, the others by name."""
    try:
        return (0, float(label.split(" to ")[0]), label)
    except ValueError:
        return (1, 0.0, label)


def run_charts(*, task: str, y_true, new, champion=None, champion_number: int | None = None,
               validation: pd.DataFrame | None = None, fairness_specs: tuple = ()) -> dict:
    """The chart data of one test run. ``new`` and ``champion`` are scoring.Predictions of the
    same validation rows; ``fairness_specs`` the run's fairness checks, drawn per group."""
    y_true = np.asarray(y_true)
    notes: list[str] = []

    def series(predictions, beside) -> dict:
        if task == "classification":
            return classifier_series(y_true, predictions.values, predictions.scores, beside.values if beside is not None else None)
        return regressor_series(y_true, predictions.values)

    data: dict = {"format": FORMAT, "task": task, "rows": int(len(y_true)), "new": series(new, champion), "champion": None,
                  "champion_version": None, "fairness": [], "notes": notes}
    if champion is not None:
        data["champion"] = series(champion, new)
        data["champion_version"] = champion_number
    if task == "classification" and "roc" not in data["new"]:
        notes.append("ROC, precision-recall and calibration curves are drawn for binary classifiers that give probabilities.")
    for spec in fairness_specs:
        column, metric = spec["column"], spec["metric"]
        if validation is None or column not in validation.columns:
            continue
        groups, binned = fairness_groups(validation, column)
        entry = {"column": column, "metric": metric, "binned": binned, "threshold": spec["threshold"]}
        entry["new"], _ = fairness_by_group(metric, y_true, new.values, groups)
        if champion is not None:
            entry["champion"], _ = fairness_by_group(metric, y_true, champion.values, groups)
        data["fairness"].append(entry)
    return data
