"""Warm-up: a committed pass_tests queues one; a worker scores the same inputs with the version and the champion.

The inputs are the rows the scoring gateway recorded lately, else the validation data. The
report holds the error rate, agreement and score differences with the champion, the PSI of
the scores, histograms, the largest disagreements and single-row latency (its statistics are
in warmup_stats.py); it is judged against the risk tier's warm-up policy, and the version moves
to ``pass_warmup`` or ``fail_warmup`` with the report, in one transaction. The run is a job
(see jobs.py), claimed by one delivery at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance.access.services import service_account_get
from governance.registry.models import ModelVersion, VersionState
from workflows.lifecycle.policy import effective_risk_tier

from . import checks, scoring, warmup_stats
from .jobs import WARMUP_AGENT, Heartbeat, RunLog, outcome_record, job_claim, job_error, job_request, stop_reason, worker_name
from .models import RunStatus, WarmupRun, WarmupSource


def warmup_request(*, version_id: int, record_id: int) -> WarmupRun | None:
    """After a committed pass_tests: make the warm-up run for that transition (once) and enqueue it."""
    return job_request(
        WarmupRun,
        version_id=version_id,
        record_id=record_id,
        make=lambda record: WarmupRun.objects.create(version_id=version_id, trigger_record=record),
    )


def warmup_policy(risk_tier: str) -> dict:
    """The warm-up limits of a risk tier, with the number of rows replayed."""
    policy = settings.GOVERNANCE_WARMUP_POLICY
    return {"max_rows": policy["max_rows"], **policy["tiers"][risk_tier]}


def warmup_execute(*, run_id: int, worker: str | None = None) -> str:
    """Run a queued warm-up in this worker; returns what happened (for logs and tests)."""
    worker = worker_name(worker)
    outcome, attempt, run = job_claim(WarmupRun, run_id, worker)
    if outcome != "claimed":
        return outcome
    if run.version.state != VersionState.WARMING_UP:
        job_error(run, f"the version left warming_up (it is {run.version.state})", attempt=attempt)
        return "errored"
    log = RunLog(run)
    log(f"Attempt {attempt} on {worker}: warm-up of {run.version}.")
    try:
        with Heartbeat(WarmupRun, run_id, attempt):
            report = warmup_measure(run.version, log=log)
    except BaseException as exc:  # noqa: BLE001
        log(f"Warm-up stopped: {type(exc).__name__}: {exc}")
        job_error(run, str(exc) if isinstance(exc, (scoring.ModelLoadError, scoring.DatasetError)) else stop_reason(exc), attempt=attempt, log=log.text)
        if not isinstance(exc, Exception):
            raise
        return "errored"
    return _warmup_finish(run, attempt, report, log)


def warmup_measure(version, *, log: Callable[[str], None]) -> dict:
    """Score the same inputs with the version and the champion; return the report's numbers."""
    model = version.model
    policy = warmup_policy(effective_risk_tier(model))
    champion_version = (
        ModelVersion.objects.select_related("model").filter(model=model, state=VersionState.CHAMPION).exclude(pk=version.pk).first()
    )
    timings: dict[str, float] = {}
    start = time.perf_counter()
    # One after the other: the inputs come from the typed copy in milliseconds, so loading the
    # artifacts in a thread meanwhile would only make the two wait on each other for the GIL.
    new = scoring.load_version(version)
    champ = scoring.load_version(champion_version) if champion_version else None
    loaded = time.perf_counter()
    frame = scoring.production_inputs(model, limit=policy["max_rows"])
    source = WarmupSource.PRODUCTION
    if frame is None:
        frame = scoring.load_dataset(version.validation_dataset)
        if not version.validation_dataset.typed_sha256:  # uploaded before typed copies: make it once
            scoring.typed_copy_backfill(version.validation_dataset, frame)
        source = WarmupSource.VALIDATION
        if len(frame) > policy["max_rows"]:
            frame = frame.iloc[: policy["max_rows"]]
    timings["inputs_ms"] = (time.perf_counter() - loaded) * 1000
    timings["inputs_and_load_ms"] = (time.perf_counter() - start) * 1000
    log(f"Source: {source} ({len(frame)} rows); champion: {champion_version.number if champion_version else 'none'}.")
    features = version.feature_names
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise scoring.ModelLoadError(f"the warm-up inputs lack the feature(s) {', '.join(missing[:5])}")
    # Rows are scored in chunks so that a chunk the model fails on costs only its own rows.
    chunk = 50000
    start = time.perf_counter()
    new_values, new_scores, new_ok, new_reasons, new_inputs = _score_in_chunks(new, frame, chunk, log, "new version")
    timings["new_total_ms"] = (time.perf_counter() - start) * 1000
    if champ is not None:
        start = time.perf_counter()
        champ_values, champ_scores, champ_ok, champ_reasons, champ_inputs = _score_in_chunks(
            champ, frame, chunk, log, "champion", inputs=new_inputs if champ.same_inputs_as(new) else None
        )
        timings["champion_total_ms"] = (time.perf_counter() - start) * 1000
    report: dict = {
        "champion": champion_version,
        "source": source,
        "rows": len(frame),
        "errors": int((~new_ok).sum()),
        "error_reasons": new_reasons[:3],
        "policy": policy,
    }
    # Single-row latency is timed after the scoring, one model at a time, with nothing else
    # running in this worker.
    start = time.perf_counter()
    sample_rows = min(settings.GOVERNANCE_WARMUP_POLICY["latency_sample_rows"], len(frame))
    latency = {"new": single_row_latency(new, new_inputs, sample_rows)}
    if champ is not None:
        latency["champion"] = single_row_latency(champ, champ_inputs, sample_rows)
    timings["latency_ms"] = (time.perf_counter() - start) * 1000
    task = model.task
    new_numeric = new_scores if task == "classification" and not np.isnan(new_scores).all() else warmup_stats.as_float(new_values)
    if champ is not None:
        start = time.perf_counter()
        both = new_ok & champ_ok
        all_ok = bool(both.all())
        champ_numeric = champ_scores if task == "classification" and not np.isnan(champ_scores).all() else warmup_stats.as_float(champ_values)

        def on_both(values: np.ndarray) -> np.ndarray:
            # Every row scored by both (the usual case): the arrays as they are, not copies.
            return values if all_ok else values[both]

        if task == "classification":
            report["agreement"] = float(np.mean(on_both(new_values) == on_both(champ_values))) if both.any() else None
        # Each score array is sorted once; the quantiles, the PSI bins and the histograms are then
        # read off the sorted arrays with a few binary searches instead of a pass per statistic.
        new_sorted = warmup_stats.finite_sorted(on_both(new_numeric))
        champ_sorted = warmup_stats.finite_sorted(on_both(champ_numeric))
        report["diff_distribution"] = warmup_stats.quantiles(on_both(new_numeric) - on_both(champ_numeric))
        report["psi"] = checks.psi_sorted(champ_sorted, new_sorted) if both.any() else None
        report["histograms"] = warmup_stats.histograms(
            new_sorted if all_ok else warmup_stats.finite_sorted(new_numeric[new_ok]),
            champ_sorted if all_ok else warmup_stats.finite_sorted(champ_numeric[champ_ok]),
        )
        report["largest_disagreements"] = warmup_stats.largest_disagreements(frame, features, both, new_values, champ_values, new_numeric, champ_numeric, task)
        timings["comparison_ms"] = (time.perf_counter() - start) * 1000
    else:
        report["histograms"] = warmup_stats.histograms(warmup_stats.finite_sorted(new_numeric[new_ok]), None)
        report["diff_distribution"] = {}
    report["latency"] = {**latency, "timings": timings}
    log(f"Scored {report['rows']} rows: {report['errors']} errors; agreement {report.get('agreement')}; PSI {report.get('psi')}.")
    log("Timings: " + ", ".join(f"{name} {value:.1f}" for name, value in timings.items()) + ".")
    return report


def _score_in_chunks(model: scoring.LoadedModel, frame: pd.DataFrame, chunk: int, log: RunLog, who: str, inputs=None):
    """Score all rows in chunks; a chunk the model fails on counts its rows as errors.

    Returns (values, scores, ok, reasons, inputs): values as numbers where they are numbers
    (NaN for failed rows), scores the positive-class probabilities (NaN where absent).
    """
    n = len(frame)
    inputs = model.inputs_for(frame) if inputs is None else inputs
    ok = np.ones(n, dtype=bool)
    reasons: list[str] = []
    value_parts: list[np.ndarray] = []
    score_parts: list[np.ndarray] = []
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        try:
            predicted = model.predict_inputs(scoring.LoadedModel.slice_inputs(inputs, start, stop), stop - start)
        except scoring.ModelOutputError as exc:
            reasons.append(str(exc))
            ok[start:stop] = False
            value_parts.append(np.full(stop - start, np.nan))
            score_parts.append(np.full(stop - start, np.nan))
            continue
        value_parts.append(predicted.values)
        score_parts.append(predicted.scores if predicted.scores is not None else np.full(stop - start, np.nan))
    values = np.concatenate(value_parts) if value_parts else np.empty(0)
    scores = np.concatenate(score_parts) if score_parts else np.empty(0)
    if reasons:
        log(f"{who}: {int((~ok).sum())} rows failed; first reason: {reasons[0]}")
    return values, scores, ok, reasons, inputs


def single_row_latency(model: scoring.LoadedModel, inputs, rows: int) -> dict:
    """Single-row latency: ``rows`` calls, one per row, on rows spread evenly over the
    (already converted) warm-up inputs rather than only the first ones."""
    total = len(next(iter(inputs.values()))) if isinstance(inputs, dict) else len(inputs)
    rows = min(rows, total)
    if not rows:
        return {}
    picked = np.linspace(0, total - 1, rows).astype(int)
    try:
        if isinstance(inputs, dict):
            spread = {name: array[picked] for name, array in inputs.items()}
        else:
            spread = inputs.iloc[picked]
        model.predict_inputs(scoring.LoadedModel.slice_inputs(spread, 0, 1), 1)  # the first call is not timed
        timings = scoring.latency_sample(model, spread, n=rows, batch_rows=1, repeats=rows)
    except scoring.ModelOutputError as exc:
        return {"error": str(exc)}
    return {
        "p50_ms": float(np.percentile(timings, 50)),
        "p95_ms": float(np.percentile(timings, 95)),
        "calls": len(timings),
        "rows_spread_over": total,
    }


def warmup_judge(report: dict, task: str) -> list[str]:
    """The policy's criteria the report does not meet (empty: it passes)."""
    policy = report["policy"]
    reasons = []
    rows = max(report["rows"], 1)
    error_rate = report["errors"] / rows
    if error_rate > policy["max_error_rate"]:
        reasons.append(f"error rate {error_rate:.2%} over the limit of {policy['max_error_rate']:.2%}")
    if report.get("champion") is not None:
        agreement = report.get("agreement")
        if task == "classification" and agreement is not None and agreement < policy["min_agreement"]:
            reasons.append(f"agreement with the champion {agreement:.2%} under the minimum of {policy['min_agreement']:.2%}")
        if report.get("psi") is not None and report["psi"] > policy["max_psi"]:
            reasons.append(f"score distribution shift PSI {report['psi']:.3f} over the limit of {policy['max_psi']}")
    p95 = report["latency"].get("new", {}).get("p95_ms")
    if p95 is not None and p95 > policy["max_p95_latency_ms"]:
        reasons.append(f"single-row latency p95 {p95:.1f} ms over the budget of {policy['max_p95_latency_ms']} ms")
    if report["latency"].get("new", {}).get("error"):
        reasons.append(f"single-row scoring failed: {report['latency']['new']['error']}")
    return reasons


def _warmup_finish(run: WarmupRun, attempt: int, report: dict, log: RunLog) -> str:
    task = run.version.model.task
    reasons = warmup_judge(report, task)
    passed = not reasons
    champion = report.get("champion")
    with transaction.atomic():
        # One conditional UPDATE saves the report: it applies only while this delivery still
        # holds the run (the row lock it takes orders it after a concurrent recovery).
        saved = WarmupRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, attempt=attempt).update(
            status=RunStatus.PASSED if passed else RunStatus.FAILED,
            finished_at=timezone.now(),
            champion=champion,
            source=report["source"],
            rows=report["rows"],
            errors=report["errors"],
            agreement=report.get("agreement"),
            diff_distribution=report.get("diff_distribution") or {},
            psi=report.get("psi"),
            latency=report["latency"],
            histograms=report.get("histograms") or {},
            largest_disagreements=report.get("largest_disagreements") or [],
            policy=report["policy"],
            outcome_reasons=reasons,
            library_versions=scoring.library_versions(),
            log=log.text,
        )
        if not saved:
            return "lost"
        agent = service_account_get(WARMUP_AGENT)
        annotation = warmup_summary(report, task, reasons)
        outcome_record(
            run.version, "pass_warmup" if passed else "fail_warmup", agent, WARMUP_AGENT, annotation,
            {"warmup_run": run.pk, "reasons": reasons},
        )
    return "passed" if passed else "failed"


def warmup_summary(report: dict, task: str, reasons: list[str]) -> str:
    champion = report.get("champion")
    source = "recent production inputs" if report["source"] == WarmupSource.PRODUCTION else "the validation data (no production traffic yet)"
    parts = [f"Warm-up {'passed' if not reasons else 'failed'} on {report['rows']} rows of {source}; {report['errors']} errors"]
    if champion is None:
        parts.append("no champion to compare with")
    else:
        if task == "classification" and report.get("agreement") is not None:
            parts.append(f"agreement with champion v{champion.number} {report['agreement']:.2%}")
        elif report.get("diff_distribution"):
            parts.append(f"mean absolute difference from champion v{champion.number} {report['diff_distribution']['mean_abs']:.4g}")
        if report.get("psi") is not None:
            parts.append(f"score PSI {report['psi']:.3f}")
    new_latency = report["latency"].get("new", {})
    if "p95_ms" in new_latency:
        parts.append(f"latency p50 {new_latency['p50_ms']:.2f} ms, p95 {new_latency['p95_ms']:.2f} ms")
    text = "; ".join(parts) + "."
    if reasons:
        text += " Not met: " + "; ".join(reasons) + "."
    return text
