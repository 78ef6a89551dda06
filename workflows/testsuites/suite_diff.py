"""A test suite in words: each check's requirement as a validator reads it, and the difference
between two suites, check by check (added, removed, changed), with units.

Checks are matched by ``checks.check_name`` (one check of each name per suite), so a changed
threshold shows as one changed check rather than a removal and an addition. Nothing here
touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .checks import check_name

METRIC_LABELS = {
    "accuracy": "accuracy",
    "roc_auc": "ROC AUC",
    "f1": "F1 score",
    "precision": "precision",
    "recall": "recall",
    "rmse": "RMSE",
    "mae": "mean absolute error",
    "r2": "R²",
    "selection_rate": "selection rate",
}
# Error metrics are in the units of the target column.
TARGET_UNITS = {"rmse", "mae"}
COMPARISON_WORDS = {">=": "at least", "<=": "at most"}


def number(value: float | int | None) -> str:
    """0.8 -> "0.80", 0.005 -> "0.005", 50.0 -> "50", 1000 -> "1,000"."""
    if value is None:
        return "—"
    value = float(value)
    if value.is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    text = f"{value:.6f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}"


def _metric(name: str) -> str:
    return METRIC_LABELS.get(name, name.replace("_", " "))


def _metric_value(metric: str, value: float) -> str:
    return f"{number(value)} in the target's units" if metric in TARGET_UNITS else number(value)


def _rows(rows: int) -> str:
    return "1 row" if rows == 1 else f"a batch of {number(rows)} rows"


def check_title(spec: dict) -> str:
    """What the check is about, e.g. "Accuracy", "Latency for 1 row"."""
    kind = spec["kind"]
    if kind == "metric":
        label = _metric(spec["metric"])
    elif kind == "no_regression":
        label = f"no regression in {_metric(spec['metric'])} against the champion"
    elif kind == "schema":
        label = "input schema"
    elif kind == "fairness":
        label = f"fairness: gap in {_metric(spec['metric'])} between the groups of “{spec['column']}”"
    elif kind == "robustness":
        label = "robustness to noise"
    elif kind == "latency":
        label = f"latency for {_rows(spec['rows'])}"
    elif kind == "drift":
        label = "drift of the inputs (PSI)"
    elif kind == "sleep":
        label = "pause (test hook)"
    else:
        label = kind.replace("_", " ")
    return label[:1].upper() + label[1:]


def check_requirement(spec: dict) -> str:
    """The whole requirement in one sentence, with its threshold and units."""
    kind = spec["kind"]
    if kind == "metric":
        word = COMPARISON_WORDS[spec["comparison"]]
        return f"{check_title(spec)} {word} {_metric_value(spec['metric'], spec['threshold'])}"
    if kind == "no_regression":
        return (
            f"{_metric(spec['metric'])[:1].upper()}{_metric(spec['metric'])[1:]} no worse than the champion's, "
            f"by at most {_metric_value(spec['metric'], spec['tolerance'])}"
        )
    if kind == "schema":
        return "Inputs match the champion's and the validation data's columns"
    if kind == "fairness":
        return (
            f"Largest gap in {_metric(spec['metric'])} between the groups of “{spec['column']}” "
            f"at most {_metric_value(spec['metric'], spec['threshold'])}"
        )
    if kind == "robustness":
        text = (
            f"Share of predictions that change under noise of {number(spec['noise'])} standard deviations "
            f"at most {number(spec['threshold'])}"
        )
        if "tolerance" in spec:
            text += f" (a prediction changes when it moves more than {number(spec['tolerance'])} standard deviations)"
        return text
    if kind == "latency":
        return (
            f"Latency for {_rows(spec['rows'])} at most {number(spec['threshold'])} ms "
            f"(95th percentile of {number(spec['repeats'])} calls)"
        )
    if kind == "drift":
        return f"Largest drift of an input (PSI), training data against recent inputs, at most {number(spec['threshold'])}"
    if kind == "sleep":
        return f"Pause of {number(spec['seconds'])} s (test hook)"
    return check_title(spec)


# The settings of a check that a change can touch, each with the words and unit to show it.
def _settings(spec: dict) -> dict[str, str]:
    kind = spec["kind"]
    metric = spec.get("metric", "")
    found: dict[str, str] = {}
    if kind == "metric":
        found["threshold"] = f"{COMPARISON_WORDS[spec['comparison']]} {_metric_value(metric, spec['threshold'])}"
    elif kind == "no_regression":
        found["tolerance"] = f"tolerance {_metric_value(metric, spec['tolerance'])}"
    elif kind == "fairness":
        found["threshold"] = f"at most {_metric_value(metric, spec['threshold'])}"
    elif kind == "robustness":
        found["threshold"] = f"at most {number(spec['threshold'])}"
        found["noise"] = f"noise {number(spec['noise'])} standard deviations"
        if "tolerance" in spec:
            found["tolerance"] = f"tolerance {number(spec['tolerance'])} standard deviations"
    elif kind == "latency":
        found["threshold"] = f"at most {number(spec['threshold'])} ms"
        found["repeats"] = f"{number(spec['repeats'])} calls"
    elif kind == "drift":
        found["threshold"] = f"at most {number(spec['threshold'])}"
    elif kind == "sleep":
        found["seconds"] = f"{number(spec['seconds'])} s"
    return found


@dataclass
class CheckChange:
    """One row of a suite diff."""

    title: str
    status: str  # "added", "removed", "changed" or "unchanged"
    old: str  # the requirement before, or "" when added
    new: str  # the requirement after, or "" when removed
    changes: list[str] = field(default_factory=list)  # e.g. "accuracy at least 0.80 → 0.75"

    @property
    def summary(self) -> str:
        if self.status == "added":
            return f"added: {self.new}"
        if self.status == "removed":
            return f"removed: {self.old}"
        if self.status == "changed":
            return "; ".join(self.changes)
        return f"unchanged: {self.new}"


def suite_diff(old: list[dict], new: list[dict]) -> list[CheckChange]:
    """Every check of either suite, in the old suite's order and then the added ones."""
    before = {check_name(spec): spec for spec in old}
    after = {check_name(spec): spec for spec in new}
    rows: list[CheckChange] = []
    for name in list(before) + [name for name in after if name not in before]:
        was, now = before.get(name), after.get(name)
        if was is None:
            rows.append(CheckChange(check_title(now), "added", "", check_requirement(now)))
        elif now is None:
            rows.append(CheckChange(check_title(was), "removed", check_requirement(was), ""))
        elif was == now:
            rows.append(CheckChange(check_title(now), "unchanged", check_requirement(was), check_requirement(now)))
        else:
            rows.append(
                CheckChange(check_title(now), "changed", check_requirement(was), check_requirement(now), _changes(was, now))
            )
    return rows


def _changes(was: dict, now: dict) -> list[str]:
    """What moved in one check, e.g. "accuracy at least 0.80 → 0.75"."""
    old_settings, new_settings = _settings(was), _settings(now)
    title = check_title(now)
    lowered = title if title[:3].isupper() or title[:2] == "R²" else title[:1].lower() + title[1:]
    changes = []
    for key, new_text in new_settings.items():
        old_text = old_settings.get(key)
        if old_text == new_text:
            continue
        if key == "threshold":
            changes.append(f"{lowered} {_arrow(old_text, new_text)}")
        else:
            changes.append(_arrow(old_text, new_text))
    return changes or [f"{check_requirement(was)} → {check_requirement(now)}"]


def _arrow(old: str | None, new: str) -> str:
    """"at least 0.80" and "at least 0.75" -> "at least 0.80 → 0.75" (the shared words once)."""
    if old is None:
        return new
    old_words, new_words = old.split(" "), new.split(" ")
    shared = 0
    while shared < min(len(old_words), len(new_words)) - 1 and old_words[shared] == new_words[shared]:
        shared += 1
    # Keep a trailing unit ("ms", "calls") after the arrow only.
    head = " ".join(old_words[:shared])
    old_rest = " ".join(old_words[shared:])
    new_rest = " ".join(new_words[shared:])
    tail_old, tail_new = old_rest.split(" "), new_rest.split(" ")
    if len(tail_old) > 1 and tail_old[1:] == tail_new[1:]:
        old_rest = tail_old[0]
    return f"{head} {old_rest} → {new_rest}".strip()


def suite_lines(checks: list[dict]) -> list[str]:
    """Each check's requirement, in the suite's order."""
    return [check_requirement(spec) for spec in checks]
