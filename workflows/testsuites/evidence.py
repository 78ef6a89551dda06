"""The evidence in words: each check kind's result as a validator reads it.

``check_view`` turns a stored check result into a title, a measured figure and a threshold with
their units, the comparison in words ("at least", "at most"), a sentence and, where the kind
has one, a small table. ``warmup_view`` does the same for a warm-up report. Pages, the signing
page and the compliance report render these; none of them shows stored details as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

METRIC_NAMES = {
    "accuracy": "Accuracy",
    "roc_auc": "ROC AUC",
    "f1": "F1 score",
    "precision": "Precision",
    "recall": "Recall",
    "rmse": "Root mean squared error",
    "mae": "Mean absolute error",
    "r2": "R²",
    "selection_rate": "Selection rate",
}
# Shares of rows, shown as percentages.
SHARE_METRICS = {"accuracy", "f1", "precision", "recall", "selection_rate"}
# Errors in the target's own units.
TARGET_UNIT_METRICS = {"rmse", "mae"}
COMPARISON_WORDS = {">=": "at least", "<=": "at most"}
OUTCOME_WORDS = {"passed": "Passed", "failed": "Failed", "error": "Could not be measured"}
KIND_NAMES = {
    "metric": "Quality threshold",
    "no_regression": "No regression against the champion",
    "schema": "Input schema",
    "fairness": "Fairness between groups",
    "robustness": "Robustness to noise",
    "latency": "Latency",
    "drift": "Data drift",
    "sleep": "Pause (test hook)",
}


def _num(value: float, digits: int = 4) -> str:
    value = float(value)
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.1f}"
    return f"{value:.{digits}g}"


def metric_figure(metric: str, value: float | None) -> str:
    """A metric's value with its unit: 92.3 % for shares, 0.962 for an AUC or R², 51.2 (target units)."""
    if value is None:
        return "not measured"
    if metric in SHARE_METRICS:
        return f"{float(value) * 100:.1f} %"
    if metric in TARGET_UNIT_METRICS:
        return f"{_num(value)} (target units)"
    return f"{float(value):.3f}"


def metric_difference(metric: str, value: float) -> str:
    """A difference of a metric: percentage points for shares, else in the metric's own unit."""
    if metric in SHARE_METRICS:
        return f"{abs(float(value)) * 100:.1f} percentage points"
    if metric in TARGET_UNIT_METRICS:
        return f"{_num(abs(value))} (target units)"
    return f"{abs(float(value)):.3f}"


def percent(value: float | None) -> str:
    return "not measured" if value is None else f"{float(value) * 100:.1f} %"


def milliseconds(value: float | None) -> str:
    return "not measured" if value is None else f"{float(value):.2f} ms"


def rows(count: int | None) -> str:
    if count is None:
        return "an unknown number of rows"
    return f"{int(count):,} row{'s' if int(count) != 1 else ''}"


def psi_figure(value: float | None) -> str:
    return "not measured" if value is None else f"PSI {float(value):.3f}"


@dataclass
class CheckView:
    title: str
    kind: str
    outcome: str
    outcome_label: str
    measured: str
    threshold: str
    sentence: str
    table_head: list[str] = field(default_factory=list)
    table_rows: list[list[str]] = field(default_factory=list)
    items: list[str] = field(default_factory=list)


def check_title(kind: str, spec: dict) -> str:
    """A check's name in words: "Accuracy of at least …" reads as "Accuracy"."""
    metric = METRIC_NAMES.get(spec.get("metric", ""), spec.get("metric", ""))
    if kind == "metric":
        return metric
    if kind == "no_regression":
        return f"{metric} against the champion"
    if kind == "fairness":
        return f"Fairness: {metric.lower()} across groups of {spec.get('column', 'a column')}"
    if kind == "latency":
        per_call = spec.get("rows") or spec.get("rows_per_call") or 1
        return "Latency of single-row calls" if per_call == 1 else f"Latency of batches of {int(per_call):,} rows"
    return KIND_NAMES.get(kind, kind.replace("_", " ").capitalize())


def title_of_name(name: str) -> str:
    """A check's title from its stored name alone ("metric:accuracy" reads "Accuracy")."""
    if not name:
        return ""
    kind = name.split(":")[0]
    return check_title(kind, _spec_of(name, kind, {}))


def _spec_of(name: str, kind: str, details: dict) -> dict:
    """What the name and details say about the check's configuration (metric, column, rows)."""
    parts = name.split(":")
    spec = dict(details)
    if kind in ("metric", "no_regression") and len(parts) > 1:
        spec["metric"] = parts[1]
    if kind == "fairness" and len(parts) > 2:
        spec.setdefault("column", parts[1])
        spec.setdefault("metric", parts[2])
    if kind == "latency":
        spec["rows"] = details.get("rows_per_call") or (1 if parts[-1] == "single_row" else _batch_rows(parts[-1]))
    return spec


def _batch_rows(part: str) -> int | None:
    try:
        return int(part.removeprefix("batch_"))
    except ValueError:
        return None


def threshold_words(comparison: str, figure: str) -> str:
    words = COMPARISON_WORDS.get(comparison)
    return f"{words} {figure}" if words else figure


def check_view(result) -> CheckView:
    """How one stored check result reads (a CheckResult, or anything with its fields)."""
    details = result.details or {}
    spec = _spec_of(result.name, result.kind, details)
    title = check_title(result.kind, spec)
    view = CheckView(
        title=title,
        kind=KIND_NAMES.get(result.kind, result.kind),
        outcome=result.outcome,
        outcome_label=OUTCOME_WORDS.get(result.outcome, result.outcome),
        measured="—",
        threshold="—",
        sentence="",
    )
    if result.outcome == "error":
        view.sentence = f"The check could not be measured: {details.get('reason', 'no reason was recorded')}"
        return view
    render = _RENDERERS.get(result.kind, _render_other)
    render(view, result, spec, details)
    return view


def _render_metric(view: CheckView, result, spec: dict, details: dict) -> None:
    metric = spec.get("metric", "")
    name = METRIC_NAMES.get(metric, metric)
    view.measured = metric_figure(metric, result.measured)
    view.threshold = threshold_words(result.comparison, metric_figure(metric, result.threshold))
    on = f" on {rows(details['rows'])} of validation data" if details.get("rows") is not None else " on the validation data"
    verdict = "meets" if result.outcome == "passed" else "does not meet"
    view.sentence = f"{name} is {view.measured}{on}; it {verdict} the threshold of {view.threshold}."


def _render_no_regression(view: CheckView, result, spec: dict, details: dict) -> None:
    metric = spec.get("metric", "")
    name = METRIC_NAMES.get(metric, metric)
    if "champion" not in details:
        view.measured = metric_figure(metric, result.measured) if result.measured is not None else "—"
        view.threshold = "no champion to compare with"
        view.sentence = f"{name} of this version is {view.measured}. The model has no champion yet, so there is nothing to regress against."
        return
    delta = result.measured or 0.0
    tolerance = details.get("tolerance", -(result.threshold or 0.0))
    better_or_worse = "better than" if delta > 0 else ("worse than" if delta < 0 else "the same as")
    gap = metric_difference(metric, delta)
    view.measured = f"{gap} {better_or_worse} the champion" if delta else "the same as the champion"
    view.threshold = f"at most {metric_difference(metric, tolerance)} worse"
    champion = f"champion v{details['champion_version']}" if details.get("champion_version") else "the champion"
    view.sentence = (
        f"{name}: this version {metric_figure(metric, details.get('new'))}, {champion} {metric_figure(metric, details.get('champion'))}; "
        f"this version is {view.measured.replace(' the champion', '')} it, and may be {view.threshold}."
    )
    view.table_head = ["", name]
    view.table_rows = [["This version", metric_figure(metric, details.get("new"))], [champion.capitalize(), metric_figure(metric, details.get("champion"))]]


def _render_schema(view: CheckView, result, spec: dict, details: dict) -> None:
    problems = details.get("problems") or []
    features = details.get("features") or []
    champion_features = details.get("champion_features")
    view.measured = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    view.threshold = "at most 0 problems"
    count = f"{len(features)} input feature{'s' if len(features) != 1 else ''}"
    if problems:
        view.sentence = f"The version expects {count}; the schema check found: " + "; ".join(problems) + "."
    elif champion_features is None:
        view.sentence = f"The version expects {count}, all present in the validation data. The model has no champion to compare the schema with."
    else:
        view.sentence = f"The version expects {count}, all present in the validation data, with the same names, order and types as the champion's."
    view.items = list(problems)


def _render_fairness(view: CheckView, result, spec: dict, details: dict) -> None:
    metric = spec.get("metric", "")
    name = METRIC_NAMES.get(metric, metric)
    column = details.get("column") or spec.get("column", "")
    view.measured = f"gap of {metric_difference(metric, result.measured or 0.0)}"
    view.threshold = f"at most {metric_difference(metric, result.threshold or 0.0)}"
    by_group = details.get("by_group") or {}
    binned = " (its values cut into quartiles)" if details.get("binned_into_quartiles") else ""
    if by_group:
        best = max(by_group, key=by_group.get)
        worst = min(by_group, key=by_group.get)
        view.sentence = (
            f"{name} differs between the {len(by_group)} groups of {column}{binned} by {view.measured.removeprefix('gap of ')}: "
            f"from {metric_figure(metric, by_group[worst])} in {worst} to {metric_figure(metric, by_group[best])} in {best}; "
            f"the gap may be {view.threshold}."
        )
    else:
        view.sentence = f"{name} gap between groups of {column}: {view.measured}; allowed {view.threshold}."
    view.table_head = [f"Group of {column}", name]
    view.table_rows = [[group, metric_figure(metric, value)] for group, value in by_group.items()]


def _render_robustness(view: CheckView, result, spec: dict, details: dict) -> None:
    view.measured = f"{percent(result.measured)} of rows changed"
    view.threshold = f"at most {percent(result.threshold)}"
    if details.get("note"):
        view.sentence = details["note"]
        return
    noise = details.get("noise")
    noise_words = f"noise of {float(noise) * 100:g} % of each input's standard deviation" if noise is not None else "noise"
    rule = details.get("rule", "changed")
    rule_words = "changed label" if rule == "label changed" else rule.replace("prediction moved", "moved")
    inputs = details.get("perturbed_columns")
    on_inputs = f" added to {inputs} numeric input{'s' if inputs != 1 else ''}" if inputs is not None else ""
    changed, total = details.get("changed"), details.get("rows")
    count = f"{changed:,} of {rows(total)}" if changed is not None and total is not None else view.measured
    view.sentence = (
        f"With {noise_words}{on_inputs}, the prediction {rule_words} on {count} ({percent(result.measured)}); "
        f"the limit is {view.threshold}."
    )


def _render_latency(view: CheckView, result, spec: dict, details: dict) -> None:
    view.measured = f"p95 {milliseconds(result.measured)}"
    view.threshold = f"at most {milliseconds(result.threshold)}"
    per_call = details.get("rows_per_call") or spec.get("rows") or 1
    calls = details.get("calls")
    what = "single-row calls" if per_call == 1 else f"calls of {int(per_call):,} rows each"
    view.sentence = (
        f"Over {calls if calls is not None else 'repeated'} {what}, the 95th percentile was {milliseconds(result.measured)} "
        f"(median {milliseconds(details.get('p50_ms'))}, slowest {milliseconds(details.get('max_ms'))}); the budget is {view.threshold}."
    )
    view.table_head = ["Statistic", "Time per call"]
    view.table_rows = [
        ["Median (p50)", milliseconds(details.get("p50_ms"))],
        ["95th percentile (p95)", milliseconds(details.get("p95_ms", result.measured))],
        ["Slowest", milliseconds(details.get("max_ms"))],
    ]


def _render_drift(view: CheckView, result, spec: dict, details: dict) -> None:
    view.measured = f"largest {psi_figure(result.measured)}"
    view.threshold = f"at most {psi_figure(result.threshold)}"
    compared = details.get("compared", "the training data against the compared data")
    worst = details.get("worst_feature")
    on = f" ({rows(details['rows'])})" if details.get("rows") is not None else ""
    view.sentence = (
        f"Shift of each input's distribution, {compared}{on}: the largest is {psi_figure(result.measured)}"
        + (f" on {worst}" if worst else "")
        + f"; the limit is {view.threshold} (under 0.1 is usually read as stable, over 0.25 as a marked shift)."
    )
    per_feature = details.get("psi") or {}
    ranked = sorted(((f, v) for f, v in per_feature.items() if v is not None), key=lambda item: -item[1])
    view.table_head = ["Input feature", "Shift"]
    view.table_rows = [[feature, psi_figure(value)] for feature, value in ranked[:10]]
    if len(ranked) > 10:
        view.table_rows.append([f"{len(ranked) - 10} more features", f"each {psi_figure(ranked[10][1])} or less"])


def _render_other(view: CheckView, result, spec: dict, details: dict) -> None:
    view.measured = _num(result.measured) if result.measured is not None else "—"
    view.threshold = threshold_words(result.comparison, _num(result.threshold)) if result.threshold is not None else "—"
    view.sentence = details.get("note") or f"{view.title}: {view.measured}."


_RENDERERS = {
    "metric": _render_metric,
    "no_regression": _render_no_regression,
    "schema": _render_schema,
    "fairness": _render_fairness,
    "robustness": _render_robustness,
    "latency": _render_latency,
    "drift": _render_drift,
}


def warmup_view(run) -> dict:
    """The warm-up report's figures in words, with units, for the evidence summary."""
    if run is None:
        return {}
    source = (
        "recent production inputs"
        if run.source == "production"
        else "the validation data (the model has no production traffic yet)"
    )
    latency = run.latency or {}
    new, champion = latency.get("new") or {}, latency.get("champion") or {}
    diff = run.diff_distribution or {}
    champion_name = f"champion v{run.champion.number}" if run.champion_id else None
    return {
        "status": run.get_status_display(),
        "source": source,
        "rows": rows(run.rows),
        "errors": rows(run.errors),
        "champion": champion_name,
        "agreement": percent(run.agreement) if run.agreement is not None else None,
        "psi": psi_figure(run.psi) if run.psi is not None else None,
        "shift": _shift_words(diff, run.version.model.task) if diff else None,
        "latency_new": _latency_words(new),
        "latency_champion": _latency_words(champion) if champion else None,
        "reasons": list(run.outcome_reasons or []),
    }


def _shift_words(diff: dict, task: str) -> str:
    unit = "probability points" if task == "classification" else "target units"
    if task == "classification":
        def shown(v):
            return f"{float(v) * 100:+.1f} percentage points"
        mean_abs = f"{float(diff.get('mean_abs', 0)) * 100:.1f} percentage points"
    else:
        def shown(v):
            return f"{float(v):+.4g} ({unit})"
        mean_abs = f"{float(diff.get('mean_abs', 0)):.4g} ({unit})"
    what = "score (probability)" if task == "classification" else "prediction"
    return (
        f"Mean absolute change in the {what}: {mean_abs}; middle 90 % of rows between "
        f"{shown(diff.get('p5', 0))} and {shown(diff.get('p95', 0))}, median {shown(diff.get('p50', 0))}."
    )


def _latency_words(figures: dict) -> str | None:
    if figures.get("error"):
        return f"single-row scoring failed: {figures['error']}"
    if "p50_ms" not in figures:
        return None
    calls = f" over {figures['calls']} single-row calls" if figures.get("calls") else ""
    return f"p50 {milliseconds(figures['p50_ms'])}, p95 {milliseconds(figures['p95_ms'])}{calls}"
