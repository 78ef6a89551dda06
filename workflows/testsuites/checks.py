"""The checks of a test suite: what each measures, how a configuration is validated, defaults.

A configuration is a list of check specs, e.g. ``{"kind": "metric", "metric": "accuracy",
"threshold": 0.8}``. ``validate_checks`` turns user input into clean specs (or raises
``CheckConfigError`` naming the bad entry); ``run_check`` measures one spec against a
``CheckContext`` and returns a ``Measured``. Metrics come from scikit-learn, fairness from
fairlearn. Nothing here touches the database.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings

from . import chart_data, evidence, scoring

HIGHER_IS_BETTER = {"accuracy", "roc_auc", "f1", "precision", "recall", "r2"}
CLASSIFICATION_METRICS = ["accuracy", "roc_auc", "f1", "precision", "recall"]
REGRESSION_METRICS = ["rmse", "mae", "r2"]
FAIRNESS_METRICS = {
    "classification": ["selection_rate", "accuracy", "recall", "precision", "f1"],
    "regression": ["mae", "rmse"],
}
KINDS = ["metric", "no_regression", "schema", "fairness", "robustness", "latency", "drift"]
COMPARISONS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b}


class CheckConfigError(ValueError):
    def __init__(self, message: str, index: int | None = None):
        super().__init__(message if index is None else f"Check {index + 1}: {message}")
        self.index = index


class CheckFailure(Exception):
    """The check could not measure (bad data, missing column); the reason is shown as is."""


@dataclass
class Measured:
    measured: float | None
    threshold: float | None
    comparison: str
    passed: bool
    details: dict = field(default_factory=dict)


# --- Configuration ---------------------------------------------------------------------------
def test_hooks_enabled() -> bool:
    return bool(getattr(settings, "GOVERNANCE_TEST_HOOKS", False))


# The range of every numeric knob. A suite is configured by people and agents alike: a knob
# past its range (a latency batch of 1e10 rows) would have a worker build inputs it cannot
# hold, so each is bounded, and the refusal names the check and the field.
SHARE = (0.0, 1.0)  # accuracy, recall, ... and shares of rows
UNBOUNDED_ERROR = (0.0, 1e15)  # rmse, mae: in the target's units
LATENCY_MAX_ROWS = 100_000
LATENCY_MAX_REPEATS = 1_000
LATENCY_MAX_MS = 600_000.0
ROBUSTNESS_MAX_NOISE = 10.0  # standard deviations of each input
ROBUSTNESS_MAX_TOLERANCE = 1_000.0  # standard deviations of the predictions
DRIFT_MAX_PSI = 100.0
SLEEP_MAX_SECONDS = 3_600.0


def _metric_range(metric: str) -> tuple[float, float]:
    if metric == "r2":
        return (-1e15, 1.0)
    return UNBOUNDED_ERROR if metric in ("rmse", "mae") else SHARE


def _number(
    spec: dict,
    key: str,
    index: int,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    default=None,
    whole: bool = False,
) -> float:
    kind = spec.get("kind")
    value = spec.get(key, default)
    if value is None:
        raise CheckConfigError(f"'{key}' is required for a {kind} check.", index)
    if isinstance(value, bool):
        raise CheckConfigError(f"'{key}' must be a number for a {kind} check, not {value!r}.", index)
    given = value
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise CheckConfigError(f"'{key}' must be a number for a {kind} check, not {value!r}.", index) from None
    low = "" if minimum is None else f"{minimum:g}"
    high = "" if maximum is None else f"{maximum:g}"
    what = "a whole number" if whole else "a finite number"
    if minimum is not None and maximum is not None:
        expected = f"{what} between {low} and {high}"
    elif minimum is not None:
        expected = f"{what} of at least {low}"
    elif maximum is not None:
        expected = f"{what} of at most {high}"
    else:
        expected = what
    if (
        not math.isfinite(value)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
        or (whole and not value.is_integer())
    ):
        raise CheckConfigError(f"'{key}' must be {expected} for a {kind} check, not {given!r}.", index)
    return value


def validate_checks(raw: Any, *, task: str) -> list[dict]:
    """Clean, complete specs from user input, or CheckConfigError naming the first bad one."""
    if not isinstance(raw, list) or not raw:
        raise CheckConfigError("A test suite is a non-empty list of checks.")
    metrics = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    kinds = KINDS + (["sleep"] if test_hooks_enabled() else [])
    clean: list[dict] = []
    for index, spec in enumerate(raw):
        if not isinstance(spec, dict):
            raise CheckConfigError("each check is an object with a 'kind'.", index)
        kind = spec.get("kind")
        if kind not in kinds:
            raise CheckConfigError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}.", index)
        out: dict[str, Any] = {"kind": kind}
        if kind in ("metric", "no_regression"):
            metric = spec.get("metric")
            if metric not in metrics:
                raise CheckConfigError(f"metric must be one of {', '.join(metrics)} for {task}.", index)
            out["metric"] = metric
            low, high = _metric_range(metric)
            if kind == "metric":
                out["threshold"] = _number(spec, "threshold", index, minimum=low, maximum=high)
                default_cmp = ">=" if metric in HIGHER_IS_BETTER else "<="
                comparison = spec.get("comparison") or default_cmp
                if comparison not in COMPARISONS:
                    raise CheckConfigError("comparison must be '>=' or '<='.", index)
                out["comparison"] = comparison
            else:
                out["tolerance"] = _number(spec, "tolerance", index, minimum=0, maximum=high, default=0.0)
        elif kind == "fairness":
            column = str(spec.get("column") or "").strip()
            if not column:
                raise CheckConfigError("a fairness check names the 'column' that holds the groups.", index)
            metric = spec.get("metric") or FAIRNESS_METRICS[task][0]
            if metric not in FAIRNESS_METRICS[task]:
                raise CheckConfigError(f"metric must be one of {', '.join(FAIRNESS_METRICS[task])}.", index)
            threshold = _number(spec, "threshold", index, minimum=0, maximum=_metric_range(metric)[1])
            out.update(column=column, metric=metric, threshold=threshold)
        elif kind == "robustness":
            out["noise"] = _number(spec, "noise", index, minimum=0, maximum=ROBUSTNESS_MAX_NOISE, default=0.01)
            out["threshold"] = _number(spec, "threshold", index, minimum=0)
            if out["threshold"] > 1:
                raise CheckConfigError("a robustness threshold is a share between 0 and 1.", index)
            if task == "regression":
                out["tolerance"] = _number(
                    spec, "tolerance", index, minimum=0, maximum=ROBUSTNESS_MAX_TOLERANCE, default=0.1
                )
        elif kind == "latency":
            rows = _number(spec, "rows", index, minimum=1, maximum=LATENCY_MAX_ROWS, default=1, whole=True)
            out["rows"] = int(rows)
            out["threshold"] = _number(spec, "threshold", index, minimum=0, maximum=LATENCY_MAX_MS)
            repeats = _number(
                spec, "repeats", index, minimum=1, maximum=LATENCY_MAX_REPEATS,
                default=30 if out["rows"] == 1 else 10, whole=True,
            )
            out["repeats"] = int(repeats)
        elif kind == "drift":
            out["threshold"] = _number(spec, "threshold", index, minimum=0, maximum=DRIFT_MAX_PSI)
        elif kind == "sleep":
            out["seconds"] = _number(spec, "seconds", index, minimum=0, maximum=SLEEP_MAX_SECONDS)
        clean.append(out)
    names = [check_name(spec) for spec in clean]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise CheckConfigError(f"the same check appears twice: {', '.join(duplicates)}.")
    return clean


def check_name(spec: dict) -> str:
    kind = spec["kind"]
    if kind in ("metric", "no_regression"):
        return f"{kind}:{spec['metric']}"
    if kind == "fairness":
        return f"fairness:{spec['column']}:{spec['metric']}"
    if kind == "latency":
        return "latency:single_row" if spec["rows"] == 1 else f"latency:batch_{spec['rows']}"
    return kind


# Per risk tier: the stricter the tier, the tighter the thresholds.
_TIER = {
    "low": {"metric": 0.70, "tolerance": 0.05, "robust": 0.10, "psi": 0.30, "r2": 0.20},
    "medium": {"metric": 0.75, "tolerance": 0.02, "robust": 0.05, "psi": 0.25, "r2": 0.30},
    "high": {"metric": 0.80, "tolerance": 0.01, "robust": 0.05, "psi": 0.20, "r2": 0.35},
    "critical": {"metric": 0.85, "tolerance": 0.005, "robust": 0.02, "psi": 0.20, "r2": 0.40},
}


def default_checks(*, task: str, risk_tier: str) -> list[dict]:
    """The suite a model runs until its owners or validators configure one."""
    tier = _TIER[risk_tier]
    if task == "classification":
        quality = [
            {"kind": "metric", "metric": "accuracy", "threshold": tier["metric"]},
            {"kind": "metric", "metric": "roc_auc", "threshold": tier["metric"]},
            {"kind": "no_regression", "metric": "accuracy", "tolerance": tier["tolerance"]},
        ]
    else:
        quality = [
            {"kind": "metric", "metric": "r2", "threshold": tier["r2"]},
            {"kind": "no_regression", "metric": "r2", "tolerance": tier["tolerance"]},
        ]
    rest = [
        {"kind": "schema"},
        {"kind": "robustness", "noise": 0.01, "threshold": tier["robust"]},
        {"kind": "latency", "rows": 1, "threshold": 50.0},
        {"kind": "latency", "rows": 1000, "threshold": 500.0},
        {"kind": "drift", "threshold": tier["psi"]},
    ]
    return validate_checks(quality + rest, task=task)


# --- What a check runs against ---------------------------------------------------------------
class CheckContext:
    """The version under test, its champion, and the data, loaded lazily and once."""

    def __init__(self, *, version, champion=None, production_inputs: pd.DataFrame | None = None):
        self.version = version
        self.champion_version = champion
        # Read the related rows here, in the caller's thread: checks run in threads of their
        # own and must not query the database.
        for related in (version, champion):
            if related is not None:
                _ = related.model, related.training_dataset, related.validation_dataset
        self.task = version.model.task
        self.features = version.feature_names
        self.target = version.validation_dataset.target
        self.production_inputs = production_inputs
        self._cache: dict[str, Any] = {}
        # Re-entrant: computing predictions loads the model under the same lock.
        self._lock = threading.RLock()

    def _once(self, key: str, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._cache:
                try:
                    self._cache[key] = ("ok", make())
                except Exception as exc:  # noqa: BLE001 - remembered, re-raised to each check
                    self._cache[key] = ("error", exc)
            status, value = self._cache[key]
        if status == "error":
            raise value
        return value

    @property
    def model(self) -> scoring.LoadedModel:
        return self._once("model", lambda: scoring.load_version(self.version))

    @property
    def champion(self) -> scoring.LoadedModel | None:
        if self.champion_version is None:
            return None
        return self._once("champion", lambda: scoring.load_version(self.champion_version))

    @property
    def validation(self) -> pd.DataFrame:
        return self._once("validation", lambda: scoring.load_dataset(self.version.validation_dataset))

    @property
    def training(self) -> pd.DataFrame:
        return self._once("training", lambda: scoring.load_dataset(self.version.training_dataset))

    @property
    def y_true(self) -> np.ndarray:
        if not self.target or self.target not in self.validation.columns:
            raise CheckFailure("The validation data has no target column, so quality cannot be measured.")
        return self.validation[self.target].to_numpy()

    def predictions(self) -> scoring.Predictions:
        return self._once("predictions", lambda: self.model.predict(self.validation))

    def champion_predictions(self) -> scoring.Predictions:
        return self._once("champion_predictions", lambda: self.champion.predict(self.validation))


# --- The checks ------------------------------------------------------------------------------
def metric_value(metric: str, y_true: np.ndarray, predictions: scoring.Predictions) -> float:
    from sklearn import metrics as m

    if metric == "accuracy":
        return float(m.accuracy_score(y_true, predictions.values))
    if metric in ("f1", "precision", "recall"):
        average = "binary" if len(np.unique(y_true)) <= 2 else "macro"
        func = {"f1": m.f1_score, "precision": m.precision_score, "recall": m.recall_score}[metric]
        return float(func(y_true, predictions.values, average=average, zero_division=0))
    if metric == "roc_auc":
        if predictions.scores is None:
            raise CheckFailure("ROC AUC needs probabilities, and the model gives none.")
        if len(np.unique(y_true)) != 2:
            raise CheckFailure("ROC AUC is measured here for binary targets only.")
        return float(m.roc_auc_score(y_true, predictions.scores))
    if metric == "rmse":
        return float(np.sqrt(m.mean_squared_error(y_true, predictions.values)))
    if metric == "mae":
        return float(m.mean_absolute_error(y_true, predictions.values))
    if metric == "r2":
        return float(m.r2_score(y_true, predictions.values))
    raise CheckFailure(f"Unknown metric {metric}.")


def _check_metric(spec: dict, ctx: CheckContext) -> Measured:
    value = metric_value(spec["metric"], ctx.y_true, ctx.predictions())
    passed = COMPARISONS[spec["comparison"]](value, spec["threshold"])
    return Measured(value, spec["threshold"], spec["comparison"], passed, {"rows": int(len(ctx.y_true))})


def _check_no_regression(spec: dict, ctx: CheckContext) -> Measured:
    metric, tolerance = spec["metric"], spec["tolerance"]
    new = metric_value(metric, ctx.y_true, ctx.predictions())
    if ctx.champion is None:
        return Measured(new, None, "", True, {"note": "The model has no champion yet: nothing to regress against."})
    old = metric_value(metric, ctx.y_true, ctx.champion_predictions())
    higher_better = metric in HIGHER_IS_BETTER
    # measured = how much better the new version is (negative: worse), compared with -tolerance.
    delta = (new - old) if higher_better else (old - new)
    details = {"new": new, "champion": old, "champion_version": ctx.champion_version.number, "tolerance": tolerance}
    return Measured(delta, -tolerance, ">=", delta >= -tolerance, details)


def _check_schema(spec: dict, ctx: CheckContext) -> Measured:
    features = ctx.features
    problems = []
    missing_in_validation = [f for f in features if f not in ctx.validation.columns]
    if missing_in_validation:
        problems.append(f"validation data lacks {', '.join(missing_in_validation[:10])}")
    champion_features = ctx.champion_version.feature_names if ctx.champion_version else None
    if champion_features is not None and champion_features != features:
        added = [f for f in features if f not in champion_features]
        dropped = [f for f in champion_features if f not in features]
        if added or dropped:
            problems.append(
                "features differ from the champion's"
                + (f" (added: {', '.join(added[:10])})" if added else "")
                + (f" (dropped: {', '.join(dropped[:10])})" if dropped else "")
            )
        else:
            problems.append("features are in a different order from the champion's")
    if champion_features is not None:
        champion_types = {f["name"]: _type_family(f.get("type")) for f in ctx.champion_version.input_schema}
        changed = [
            f["name"] for f in ctx.version.input_schema
            if f["name"] in champion_types and None not in (champion_types[f["name"]], _type_family(f.get("type")))
            and champion_types[f["name"]] != _type_family(f.get("type"))
        ]
        if changed:
            problems.append(f"types differ from the champion's for {', '.join(changed[:10])}")
    details = {
        "features": features,
        "champion_features": champion_features,
        "validation_columns": list(ctx.validation.columns),
        "problems": problems,
    }
    return Measured(float(len(problems)), 0.0, "<=", not problems, details)


def _type_family(type_name: str | None) -> str | None:
    """ONNX says float or double, a CSV says float or integer: all are numbers to a schema check."""
    if not type_name or type_name == "unknown":
        return None
    name = type_name.lower()
    if name.startswith(("float", "double", "int", "uint")) or name in ("number", "numeric"):
        return "number"
    if name.startswith("bool"):
        return "boolean"
    return "string"


def _check_fairness(spec: dict, ctx: CheckContext) -> Measured:
    column = spec["column"]
    if column not in ctx.validation.columns:
        raise CheckFailure(f"The validation data has no column '{column}' to group by.")
    groups, binned = chart_data.fairness_groups(ctx.validation, column)
    metric = spec["metric"]
    by_group, gap = chart_data.fairness_by_group(metric, ctx.y_true, ctx.predictions().values, groups)
    details = {"column": column, "metric": metric, "by_group": by_group, "binned_into_quartiles": binned}
    return Measured(gap, spec["threshold"], "<=", gap <= spec["threshold"], details)


def _check_robustness(spec: dict, ctx: CheckContext) -> Measured:
    frame = ctx.validation[ctx.features]
    numeric = [c for c in ctx.features if pd.api.types.is_numeric_dtype(frame[c])]
    if not numeric:
        return Measured(0.0, spec["threshold"], "<=", True, {"note": "No numeric inputs to perturb."})
    rng = np.random.default_rng(20240601)
    noisy = frame.copy()
    for column in numeric:
        std = float(frame[column].std()) or 1.0
        noisy[column] = frame[column].astype(float) + rng.normal(0.0, spec["noise"] * std, len(frame))
    base = ctx.predictions().values
    perturbed = ctx.model.predict(noisy).values
    if ctx.task == "classification":
        changed = base != perturbed
        details = {"rule": "label changed"}
    else:
        scale = float(np.std(base)) or 1.0
        changed = np.abs(perturbed - base) > spec["tolerance"] * scale
        details = {"rule": f"prediction moved more than {spec['tolerance']} standard deviations of the predictions"}
    share = float(np.mean(changed))
    details.update(noise=spec["noise"], perturbed_columns=len(numeric), rows=int(len(frame)), changed=int(changed.sum()))
    return Measured(share, spec["threshold"], "<=", share <= spec["threshold"], details)


def _check_latency(spec: dict, ctx: CheckContext) -> Measured:
    frame = ctx.validation[ctx.features]
    rows = spec["rows"]
    if len(frame) < rows:
        # Repeat the validation rows to reach the batch size the budget is written for.
        frame = pd.concat([frame] * (rows // max(len(frame), 1) + 1), ignore_index=True)
    inputs = ctx.model.inputs_for(frame)
    ctx.model.predict_inputs(ctx.model.slice_inputs(inputs, 0, rows), rows)  # warm up, untimed
    timings = scoring.latency_sample(ctx.model, inputs, n=len(frame), batch_rows=rows, repeats=spec["repeats"])
    p50, p95 = (float(np.percentile(timings, q)) for q in (50, 95))
    details = {"rows_per_call": rows, "calls": len(timings), "p50_ms": p50, "p95_ms": p95, "max_ms": float(max(timings))}
    return Measured(p95, spec["threshold"], "<=", p95 <= spec["threshold"], details)


def psi_sorted(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float:
    """``psi`` for numeric scores already sorted (and without NaN): bins from quantiles of all of
    ``expected``, each bin's share counted with two binary searches on the sorted arrays."""
    eps = 1e-4
    if len(expected) == 0 or len(actual) == 0:
        return 0.0
    distinct = int(np.count_nonzero(np.diff(expected))) + 1
    if distinct <= bins:
        return psi(pd.Series(expected), pd.Series(actual), bins)
    inner = np.unique(_sorted_quantiles(expected, np.linspace(0, 1, bins + 1)))[1:-1]

    def shares(values: np.ndarray) -> np.ndarray:
        # A value v falls in bin i when inner[i-1] <= v < inner[i] (as psi's searchsorted with
        # side="right"): the values before bin i are those < inner[i-1], a "left" search.
        bounds = np.concatenate(([0], np.searchsorted(values, inner, side="left"), [len(values)]))
        return np.diff(bounds) / len(values)

    e = np.clip(shares(expected), eps, None)
    a = np.clip(shares(actual), eps, None)
    return float(np.sum((a - e) * np.log(a / e)))


def _sorted_quantiles(values: np.ndarray, q: np.ndarray) -> np.ndarray:
    """np.quantile(values, q) (linear interpolation) of an already sorted array."""
    position = np.asarray(q, dtype=float) * (len(values) - 1)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, len(values) - 1)
    return values[lower] + (values[upper] - values[lower]) * (position - lower)


def psi(expected: pd.Series, actual: pd.Series, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected`` (quantile bins of expected)."""
    eps = 1e-4
    expected = expected.dropna()
    actual = actual.dropna()
    if len(expected) == 0 or len(actual) == 0:
        return 0.0
    numeric = pd.api.types.is_numeric_dtype(expected) and pd.api.types.is_numeric_dtype(actual)
    reference = expected.to_numpy(dtype=float) if numeric else None
    if numeric and len(reference) > 20000:
        # Bin edges from an even sample: the same bins to a rounding, at a fraction of the cost.
        reference = reference[:: len(reference) // 20000]
    if numeric and np.unique(reference).size > bins:
        inner = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))[1:-1]
        # searchsorted + bincount: np.histogram sorts the data when the bins are uneven.
        def shares(values: pd.Series) -> np.ndarray:
            index = np.searchsorted(inner, values.to_numpy(dtype=float), side="right")
            return np.bincount(index, minlength=len(inner) + 1) / len(values)

        e, a = shares(expected), shares(actual)
    else:
        categories = sorted(set(expected.astype(str)) | set(actual.astype(str)))
        e_counts = expected.astype(str).value_counts()
        a_counts = actual.astype(str).value_counts()
        e = np.array([e_counts.get(c, 0) for c in categories]) / len(expected)
        a = np.array([a_counts.get(c, 0) for c in categories]) / len(actual)
    e = np.clip(e, eps, None)
    a = np.clip(a, eps, None)
    return float(np.sum((a - e) * np.log(a / e)))


def _check_drift(spec: dict, ctx: CheckContext) -> Measured:
    if ctx.production_inputs is not None and len(ctx.production_inputs):
        actual, against = ctx.production_inputs, "production inputs"
    else:
        actual, against = ctx.validation, "validation data"
    per_feature = {}
    for feature in ctx.features:
        if feature in ctx.training.columns and feature in actual.columns:
            per_feature[feature] = psi(ctx.training[feature], actual[feature])
    if not per_feature:
        raise CheckFailure("No feature is present in both the training data and the compared data.")
    worst = max(per_feature, key=per_feature.get)
    value = per_feature[worst]
    details = {"compared": f"training data against {against}", "rows": int(len(actual)), "psi": per_feature, "worst_feature": worst}
    return Measured(value, spec["threshold"], "<=", value <= spec["threshold"], details)


def _check_sleep(spec: dict, ctx: CheckContext) -> Measured:
    """Test hook (GOVERNANCE_TEST_HOOKS only): a check that takes a while, to kill a worker in."""
    deadline = time.monotonic() + spec["seconds"]
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return Measured(spec["seconds"], None, "", True, {"note": "test hook"})


RUNNERS: dict[str, Callable[[dict, CheckContext], Measured]] = {
    "metric": _check_metric,
    "no_regression": _check_no_regression,
    "schema": _check_schema,
    "fairness": _check_fairness,
    "robustness": _check_robustness,
    "latency": _check_latency,
    "drift": _check_drift,
    "sleep": _check_sleep,
}


@dataclass
class CheckRecord:
    """What a run stores for one check."""

    name: str
    kind: str
    measured: float | None
    threshold: float | None
    comparison: str
    outcome: str  # passed | failed | error
    duration_ms: float
    details: dict


def run_check(spec: dict, ctx: CheckContext, *, time_limit: float) -> CheckRecord:
    """Run one check under a time guard; any failure of the model becomes an 'error' outcome.

    The guard runs the check in a daemon thread and stops waiting after ``time_limit``
    seconds: the run goes on with its other checks, and the task's own hard time limit
    (in a prefork worker) ends the process if the stuck code never returns.
    """
    name = check_name(spec)
    box: dict[str, Any] = {}

    def target():
        try:
            box["result"] = RUNNERS[spec["kind"]](spec, ctx)
        except BaseException as exc:  # noqa: BLE001 - reported as the check's error
            box["error"] = exc

    start = time.perf_counter()
    thread = threading.Thread(target=target, name=f"check {name}", daemon=True)
    thread.start()
    thread.join(time_limit)
    duration = (time.perf_counter() - start) * 1000
    threshold = spec.get("threshold")
    if thread.is_alive():
        return CheckRecord(name, spec["kind"], None, threshold, "", "error", duration,
                           {"reason": f"The check did not finish within its limit of {time_limit:g} s (the model hangs or is too slow)."})
    if "error" in box:
        exc = box["error"]
        reason = str(exc) if isinstance(exc, (CheckFailure, scoring.ModelOutputError, scoring.ModelLoadError, scoring.DatasetError)) else f"{type(exc).__name__}: {exc}"
        return CheckRecord(name, spec["kind"], None, threshold, "", "error", duration, {"reason": reason[:1000]})
    result: Measured = box["result"]
    measured = result.measured
    if measured is not None and not math.isfinite(measured):
        return CheckRecord(name, spec["kind"], None, result.threshold, result.comparison, "error", duration,
                           {**jsonable(result.details), "reason": f"The measured value is not a finite number ({measured})."})
    return CheckRecord(
        name, spec["kind"], measured, result.threshold, result.comparison,
        "passed" if result.passed else "failed", duration, jsonable(result.details),
    )


def charts_measure(specs: list[dict], ctx: CheckContext, *, time_limit: float) -> dict:
    """The run's chart data (see chart_data.py) on the validation data, under the same kind of
    time guard as a check. When it cannot be computed (no target, a model that fails or hangs),
    the data holds the reason as a sentence in ``unavailable``, and the run goes on."""
    box: dict[str, Any] = {}

    def target():
        try:
            champion = None
            if ctx.champion_version is not None:
                try:
                    champion = ctx.champion_predictions()
                except Exception:  # noqa: BLE001 - the version's charts are drawn without it
                    champion = None
            box["result"] = chart_data.run_charts(
                task=ctx.task,
                y_true=ctx.y_true,
                new=ctx.predictions(),
                champion=champion,
                champion_number=ctx.champion_version.number if champion is not None else None,
                validation=ctx.validation,
                fairness_specs=tuple(s for s in specs if s["kind"] == "fairness"),
            )
        except BaseException as exc:  # noqa: BLE001 - reported as the reason there are no charts
            box["error"] = exc

    thread = threading.Thread(target=target, name="evidence charts", daemon=True)
    thread.start()
    thread.join(time_limit)
    if thread.is_alive():
        return {"unavailable": f"The charts were not computed within {time_limit:g} s."}
    if "error" in box:
        exc = box["error"]
        known = (CheckFailure, scoring.ModelOutputError, scoring.ModelLoadError, scoring.DatasetError)
        reason = str(exc) if isinstance(exc, known) else f"{type(exc).__name__}: {exc}"
        return {"unavailable": f"The charts could not be computed: {reason[:500]}"}
    return jsonable(box["result"])


def jsonable(value):
    """Details as plain JSON: NumPy scalars to Python, NaN to None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def describe(record: CheckRecord) -> str:
    """'Accuracy 71.0 % (needs at least 80.0 %)': how annotations name a check's result."""
    view = evidence.check_view(record)
    if record.outcome == "error":
        return f"{view.title}: error ({record.details.get('reason', 'no reason given')})"
    if record.threshold is None:
        return f"{view.title} {view.measured}"
    return f"{view.title} {view.measured} (needs {view.threshold})"
