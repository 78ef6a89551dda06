"""Champion against challengers on live traffic: agreement, score distributions, latency and errors.

Each challenger's shadow records are paired with the champion's answer under the same trace id.
The comparison reads the newest ``GOVERNANCE_GATEWAY_COMPARISON_MAX_REQUESTS`` answers of the
window and the shadow records of those traces: three queries, whatever the traffic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from numbers import Number

import numpy as np
from django.conf import settings
from django.db.models import Subquery
from django.utils import timezone

from governance.errors import ActionError
from governance.registry.models import MLModel, ModelVersion, Task, VersionState
from workflows.testsuites.models import ScoringRecord


@dataclass(frozen=True)
class Window:
    key: str
    label: str
    length: timedelta


WINDOWS = {
    "1h": Window("1h", "the last hour", timedelta(hours=1)),
    "24h": Window("24h", "the last 24 hours", timedelta(hours=24)),
    "7d": Window("7d", "the last 7 days", timedelta(days=7)),
    "30d": Window("30d", "the last 30 days", timedelta(days=30)),
}
DEFAULT_WINDOW = "24h"
PROBABILITY_BINS = 10
VALUE_BINS = 20


def window_get(value: str | None) -> Window:
    """The window a query parameter names (``1h``, ``24h``, ``7d``, ``30d``); the default when empty."""
    key = (value or "").strip().lower() or DEFAULT_WINDOW
    if key not in WINDOWS:
        choices = ", ".join(WINDOWS)
        raise ActionError(f"'{value[:20]}' is not a window this page knows: choose one of {choices}.", field="window")
    return WINDOWS[key]


@dataclass
class Side:
    """The figures of one side of the comparison: the champion's answers or one challenger."""

    label: str
    version_numbers: list[int]
    requests: int = 0  # records read (answers, or shadow scorings)
    rows: int = 0
    errors: int = 0
    latency: dict | None = None  # {"p50": ms, "p95": ms, "p99": ms} per request
    histogram: list[int] | None = None
    scores: list[float] = field(default_factory=list, repr=False)
    from_probabilities: bool = True  # every score read is a probability
    latencies: list[float] = field(default_factory=list, repr=False)


@dataclass
class Challenger(Side):
    state_label: str = ""
    paired_requests: int = 0  # shadow scorings without error, paired with the champion's answer
    paired_rows: int = 0
    agreement: float | None = None  # classification: share of rows with the champion's label
    mean_abs_diff: float | None = None  # regression, in the target's units
    max_abs_diff: float | None = None
    within_tolerance: float | None = None  # regression: share of rows within the tolerance


@dataclass
class Comparison:
    model: MLModel
    window: Window
    since: datetime
    until: datetime
    task: str
    champion_now: int | None  # the current champion's number, if any
    champion: Side | None  # None when no answer in the window
    challengers: list[Challenger]
    capped: bool
    max_requests: int
    tolerance: float
    edges: list[float] | None = None
    score_name: str = ""

    @property
    def is_classification(self) -> bool:
        return self.task == Task.CLASSIFICATION

    @property
    def sides(self) -> list[Side]:
        """The champion's side (when it answered in the window), then each challenger's."""
        return ([self.champion] if self.champion else []) + self.challengers

    @property
    def scores_label(self) -> str:
        """What the distributions count, in the plural."""
        return {"probability": "probabilities", "prediction": "predictions"}.get(self.score_name, "scores")


def comparison_compute(
    *, model: MLModel, window: Window, now: datetime | None = None, max_requests: int | None = None
) -> Comparison:
    """Pair each challenger's shadow scorings with the champion's answers of the window and
    compute the figures of both sides (the newest ``max_requests`` answers at most)."""
    until = now or timezone.now()
    since = until - window.length
    cap = max_requests or settings.GOVERNANCE_GATEWAY_COMPARISON_MAX_REQUESTS
    tolerance = settings.GOVERNANCE_GATEWAY_REGRESSION_TOLERANCE
    states = dict(ModelVersion.objects.filter(model=model).values_list("number", "state"))
    champion_now = next((number for number, state in states.items() if state == VersionState.CHAMPION), None)

    answered = ScoringRecord.objects.filter(model=model, shadow=False, at__gte=since, at__lt=until).order_by("-at", "-id")
    answers = list(answered.values_list("trace_id", "version__number", "outputs", "latency_ms", "rows", "error")[: cap + 1])
    capped = len(answers) > cap
    answers = answers[:cap]
    shadow = []
    if answers:
        newest = answered.values("trace_id")[:cap]
        shadow = list(
            ScoringRecord.objects.filter(model=model, shadow=True, trace_id__in=Subquery(newest))
            .order_by("version__number", "-at")
            .values_list("trace_id", "version__number", "outputs", "latency_ms", "rows", "error")
        )

    comparison = Comparison(
        model=model,
        window=window,
        since=since,
        until=until,
        task=model.task,
        champion_now=champion_now,
        champion=None,
        challengers=[],
        capped=capped,
        max_requests=cap,
        tolerance=tolerance,
    )
    classification = comparison.is_classification
    by_trace: dict[str, list] = {}
    if answers:
        numbers = sorted({answer[1] for answer in answers})
        champion = Side(label=_champion_label(numbers), version_numbers=numbers)
        for trace_id, _number, outputs, latency_ms, rows, error in answers:
            champion.requests += 1
            _add_latency(champion, latency_ms)
            if error:
                champion.errors += 1
                continue
            champion.rows += rows
            predictions = (outputs or {}).get("predictions") or []
            by_trace[trace_id] = predictions
            _add_scores(champion, outputs, classification)
        comparison.champion = champion

    challengers: dict[int, Challenger] = {}
    shadowing = sorted({record[1] for record in shadow} | {n for n, s in states.items() if s == VersionState.CHALLENGER})
    for number in shadowing:
        state = states.get(number)
        state_label = "challenger" if state == VersionState.CHALLENGER else f"now {VersionState(state).label.lower()}"
        challengers[number] = Challenger(label=f"Version {number}", version_numbers=[number], state_label=state_label)
    differences: dict[int, list[np.ndarray]] = {number: [] for number in challengers}
    agreeing: dict[int, int] = {number: 0 for number in challengers}
    for trace_id, number, outputs, latency_ms, rows, error in shadow:
        challenger = challengers[number]
        challenger.requests += 1
        _add_latency(challenger, latency_ms)
        if error:
            challenger.errors += 1
            continue
        challenger.rows += rows
        _add_scores(challenger, outputs, classification)
        theirs = (outputs or {}).get("predictions") or []
        ours = by_trace.get(trace_id)
        if ours is None or len(ours) != len(theirs) or not theirs:
            continue
        challenger.paired_requests += 1
        challenger.paired_rows += len(theirs)
        if classification:
            agreeing[number] += sum(1 for a, b in zip(ours, theirs) if a == b)
        else:
            pairs = [(a, b) for a, b in zip(ours, theirs) if _is_number(a) and _is_number(b)]
            if pairs:
                champion_values, challenger_values = (np.asarray(side, dtype=float) for side in zip(*pairs))
                differences[number].append(np.stack([champion_values, challenger_values]))
    for number, challenger in challengers.items():
        if not challenger.paired_rows:
            continue
        if classification:
            challenger.agreement = agreeing[number] / challenger.paired_rows
        elif differences[number]:
            both = np.concatenate(differences[number], axis=1)
            gap = np.abs(both[1] - both[0])
            challenger.mean_abs_diff = float(gap.mean())
            challenger.max_abs_diff = float(gap.max())
            challenger.within_tolerance = float(np.mean(gap <= tolerance * np.abs(both[0])))
    comparison.challengers = list(challengers.values())

    sides = comparison.sides
    for side in sides:
        if side.latencies:
            p50, p95, p99 = np.percentile(np.asarray(side.latencies), [50, 95, 99])
            side.latency = {"p50": float(p50), "p95": float(p95), "p99": float(p99)}
    _histograms(comparison, sides)
    return comparison


def _histograms(comparison: Comparison, sides: list[Side]) -> None:
    """Counts of every side's scores on the same bins: [0, 1] in tenths for probabilities, else
    even bins from the smallest to the largest score of any side."""
    present = [np.asarray(side.scores, dtype=float) for side in sides if side.scores]
    if not present:
        return
    if comparison.is_classification and all(side.from_probabilities for side in sides if side.scores):
        edges = np.linspace(0.0, 1.0, PROBABILITY_BINS + 1)
        comparison.score_name = "probability"
    else:
        low = min(float(values.min()) for values in present)
        high = max(float(values.max()) for values in present)
        if low == high:
            high = low + 1.0
        edges = np.linspace(low, high, VALUE_BINS + 1)
        comparison.score_name = "prediction"
    comparison.edges = [float(edge) for edge in edges]
    for side in sides:
        counts, _ = np.histogram(np.asarray(side.scores, dtype=float), bins=edges)
        side.histogram = [int(count) for count in counts]


def _add_scores(side: Side, outputs: dict | None, classification: bool) -> None:
    """The numbers whose distribution is compared: a classifier's probabilities when it gives
    them, else the predictions that are numbers."""
    outputs = outputs or {}
    if classification and outputs.get("probabilities"):
        side.scores.extend(float(value) for value in outputs["probabilities"] if _is_number(value))
        return
    side.from_probabilities = False
    side.scores.extend(float(value) for value in outputs.get("predictions") or [] if _is_number(value))


def _is_number(value) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool) and np.isfinite(value)


def _add_latency(side: Side, latency_ms: float | None) -> None:
    if latency_ms is not None:
        side.latencies.append(float(latency_ms))


def _champion_label(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return f"Champion (version {numbers[0]})"
    return "Champion (versions " + ", ".join(str(number) for number in numbers) + ")"
