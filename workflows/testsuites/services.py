"""Writes of the test-suite agents: queue, claim, run, record and recover jobs; configure suites.

The flow: a committed ``submit`` or ``rerun_tests`` makes a queued TestRun (one per
transition record) and enqueues it. A worker claims it with a conditional update, runs its
checks under time guards while a heartbeat thread shows it is alive, then writes the evidence,
the run's final status and the version's transition in one transaction. A committed
``pass_tests`` queues a WarmupRun the same way. Every write of a delivery is conditioned on its
attempt number, so a task delivered twice, or a worker presumed dead that wakes up, never
duplicates evidence or transitions. ``jobs_recover`` (scheduled every minute) re-enqueues
jobs the broker never got and recovers jobs whose worker died.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from governance.access.services import service_account_get
from governance.errors import ActionConflict, ActionError, ActionForbidden
from governance.registry.models import ModelVersion, VersionState
from workflows.lifecycle.models import TransitionRecord
from workflows.lifecycle.services import annotation_add, version_transition

from . import checks, scoring
from .models import (
    ACTIVE_STATUSES,
    AgentRun,
    CheckResult,
    RunStatus,
    ScoringRecord,
    TestRun,
    TestSuiteConfig,
    WarmupRun,
    WarmupSource,
)

logger = logging.getLogger(__name__)

TEST_AGENT = "test-runner"
WARMUP_AGENT = "warmup-runner"
RECOVERY_AGENT = "job-recovery"
REVIEW_AGENT = "review-scheduler"


# --- Suite configuration ---------------------------------------------------------------------
def suite_checks_for(model) -> list[dict]:
    """The checks in force for a model: its configuration, else its tier's defaults."""
    config = TestSuiteConfig.objects.filter(model=model).first()
    if config is not None:
        return config.checks
    return checks.default_checks(task=model.task, risk_tier=model.risk_tier)


@transaction.atomic
def suite_config_update(*, model, raw_checks, user) -> TestSuiteConfig:
    """Replace a model's checks: its owners, its reviewers and admins may; auditlog records it.

    Runs already queued keep the checks they were queued with (their config snapshot).
    """
    from .selectors import can_edit_suite

    if not can_edit_suite(user, model):
        raise ActionForbidden("Only the model's owners, validators with the reviewer grant and admins edit its test suite.")
    try:
        clean = checks.validate_checks(raw_checks, task=model.task)
    except checks.CheckConfigError as exc:
        raise ActionError(str(exc), code="invalid_checks", field="checks") from exc
    config = TestSuiteConfig.objects.select_for_update().filter(model=model).first()
    if config is None:
        config = TestSuiteConfig(model=model)
    config.checks = clean
    config.updated_by = user
    config.save()
    return config


# --- Queueing --------------------------------------------------------------------------------
def test_run_request(*, version_id: int, record_id: int) -> TestRun | None:
    """After a committed submit or rerun: make the run for that transition (once) and enqueue it."""
    record = TransitionRecord.objects.get(pk=record_id)
    version = ModelVersion.objects.select_related("model").get(pk=version_id)
    run = TestRun.objects.filter(trigger_record=record).first()
    if run is None:
        try:
            with transaction.atomic():
                sequence = (TestRun.objects.filter(version=version).order_by("-sequence").values_list("sequence", flat=True).first() or 0) + 1
                run = TestRun.objects.create(
                    version=version,
                    sequence=sequence,
                    trigger_record=record,
                    config_snapshot=suite_checks_for(version.model),
                )
        except IntegrityError:
            # Made by a concurrent caller for the same record, or a run is already active.
            run = TestRun.objects.filter(trigger_record=record).first() or TestRun.objects.filter(
                version=version, status__in=ACTIVE_STATUSES
            ).first()
    if run is not None and run.is_active:
        job_enqueue(run)
    return run


def warmup_request(*, version_id: int, record_id: int) -> WarmupRun | None:
    """After a committed pass_tests: make the warm-up run (once) and enqueue it."""
    record = TransitionRecord.objects.get(pk=record_id)
    run = WarmupRun.objects.filter(trigger_record=record).first()
    if run is None:
        try:
            with transaction.atomic():
                run = WarmupRun.objects.create(version_id=version_id, trigger_record=record)
        except IntegrityError:
            run = WarmupRun.objects.filter(trigger_record=record).first() or WarmupRun.objects.filter(
                version_id=version_id, status__in=ACTIVE_STATUSES
            ).first()
    if run is not None and run.is_active:
        job_enqueue(run)
    return run


def job_enqueue(job: TestRun | WarmupRun) -> bool:
    """Hand the job to the broker. With Redis down, log and leave it queued for the recovery job."""
    from . import tasks

    task = tasks.run_test_suite if isinstance(job, TestRun) else tasks.run_warmup
    try:
        # No publish retries: the web request must not hang on a broken broker.
        task.apply_async(args=[job.pk], retry=False)
    except Exception as exc:  # noqa: BLE001 - any broker failure: the job stays queued
        logger.warning("Could not enqueue %s (it stays queued and is retried): %s", job, exc)
        return False
    type(job).objects.filter(pk=job.pk, status=RunStatus.QUEUED).update(enqueued_at=timezone.now())
    return True


# --- Claiming and heartbeats -----------------------------------------------------------------
def _stale_before():
    return timezone.now() - timedelta(seconds=settings.GOVERNANCE_JOB_STALE_SECONDS)


def job_claim(model_cls, job_id: int, worker: str) -> tuple[str, int]:
    """Claim a job for this delivery: ("claimed", attempt), ("skip", 0) or ("exhausted", attempt).

    A queued job, or a running one whose heartbeat is stale (its worker died), is claimed by
    raising its attempt. A job running with a fresh heartbeat belongs to a live worker and a
    finished job is done: both make a redelivered task a no-op.
    """
    status, attempt, _job = _job_claim(model_cls, job_id, worker)
    return status, attempt


def _job_claim(model_cls, job_id: int, worker: str, related: tuple[str, ...] = ()):
    """``job_claim``, also returning the job as claimed (None when skipped), fetched with
    ``related`` in the same locked read: the worker needs no second read after its claim."""
    with transaction.atomic():
        # of=("self",): only the job's row is locked (PostgreSQL), not the rows joined to it.
        job = model_cls.objects.select_for_update(of=("self",)).select_related(*related).filter(pk=job_id).first()
        if job is None or job.status not in ACTIVE_STATUSES:
            return "skip", 0, None
        if job.status == RunStatus.RUNNING and job.heartbeat_at and job.heartbeat_at >= _stale_before():
            return "skip", 0, None
        if job.attempt >= settings.GOVERNANCE_JOB_MAX_ATTEMPTS:
            return "exhausted", job.attempt, job
        now = timezone.now()
        attempt = job.attempt + 1
        updated = model_cls.objects.filter(pk=job_id, status=job.status, attempt=job.attempt).update(
            status=RunStatus.RUNNING, attempt=attempt, started_at=now, heartbeat_at=now, worker=worker[:200]
        )
        if not updated:
            return "skip", 0, None
        job.status, job.attempt, job.started_at, job.heartbeat_at, job.worker = RunStatus.RUNNING, attempt, now, now, worker[:200]
        return "claimed", attempt, job


def _job_start(model_cls, job_id: int, worker: str):
    """Claim a test run or warm-up for this delivery, with its version, model and datasets.

    Returns ("", attempt, job) when claimed, else the outcome to report ("skipped", or "errored"
    once its attempts are used up, which marks it so) with the job or None."""
    status, attempt, job = _job_claim(
        model_cls, job_id, worker, related=("version__model", "version__training_dataset", "version__validation_dataset")
    )
    if status == "skip":
        return "skipped", 0, None
    if status == "exhausted":
        job_error(job, f"its worker stopped before finishing on each of {job.attempt} attempt(s)")
        return "errored", attempt, job
    return "", attempt, job


class Heartbeat:
    """Refresh a job's heartbeat from a thread while the delivery that owns it works."""

    def __init__(self, model_cls, job_id: int, attempt: int):
        self.model_cls, self.job_id, self.attempt = model_cls, job_id, attempt
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {model_cls.__name__} {job_id}", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)

    def _beat(self):
        try:
            while not self._stop.wait(settings.GOVERNANCE_JOB_HEARTBEAT_SECONDS):
                updated = self.model_cls.objects.filter(
                    pk=self.job_id, attempt=self.attempt, status=RunStatus.RUNNING
                ).update(heartbeat_at=timezone.now())
                if not updated:
                    self.lost.set()
                    return
        except Exception:  # noqa: BLE001 - a failed beat only makes the job look stale sooner
            logger.exception("Heartbeat of %s %s failed", self.model_cls.__name__, self.job_id)
        finally:
            connection.close()


class RunLog:
    """The worker's log of one run: kept with the evidence and sent to the logger."""

    def __init__(self, job):
        self.lines: list[str] = []
        self.job = job

    def __call__(self, message: str) -> None:
        self.lines.append(f"{timezone.now():%Y-%m-%dT%H:%M:%S.%fZ} {message}")
        logger.info("%s: %s", self.job, message)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _worker_name(worker: str | None) -> str:
    return worker or socket.gethostname()


# --- Test runs -------------------------------------------------------------------------------
def test_run_execute(*, run_id: int, worker: str | None = None) -> str:
    """Run a queued test run in this worker; returns what happened (for logs and tests)."""
    worker = _worker_name(worker)
    outcome, attempt, run = _job_start(TestRun, run_id, worker)
    if outcome:
        return outcome
    version = run.version
    if version.state != VersionState.TESTING:
        job_error(run, f"the version left testing (it is {version.state}) before the run started", attempt=attempt)
        return "errored"
    log = RunLog(run)
    log(f"Attempt {attempt} on {worker}: {len(run.config_snapshot)} checks for {version}.")
    # Datasets uploaded before typed copies get theirs here, in this thread (it writes their row),
    # so that the checks, in their own threads, read the copy rather than parse the CSV.
    for dataset in (version.training_dataset, version.validation_dataset):
        scoring.typed_copy_backfill(dataset)
    try:
        with Heartbeat(TestRun, run_id, attempt) as heartbeat:
            records = _run_checks(run, attempt, log, heartbeat)
    except BaseException as exc:  # noqa: BLE001 - soft time limit, or a bug: the run errors, the worker goes on
        log(f"Run stopped: {type(exc).__name__}: {exc}")
        job_error(run, _stop_reason(exc), attempt=attempt, log=log.text)
        if not isinstance(exc, Exception):
            raise
        return "errored"
    if records is None:
        log("Another delivery took this run over; nothing recorded by this one.")
        return "lost"
    return _test_run_finish(run, attempt, records, log)


def _stop_reason(exc: BaseException) -> str:
    from celery.exceptions import SoftTimeLimitExceeded

    if isinstance(exc, SoftTimeLimitExceeded):
        return "it ran past its time limit"
    return f"the worker hit an unexpected error ({type(exc).__name__}: {str(exc)[:300]})"


def _run_checks(run: TestRun, attempt: int, log: RunLog, heartbeat: Heartbeat) -> list[checks.CheckRecord] | None:
    version = run.version
    champion = (
        ModelVersion.objects.select_related("model", "training_dataset", "validation_dataset")
        .filter(model_id=version.model_id, state=VersionState.CHAMPION)
        .exclude(pk=version.pk)
        .first()
    )
    ctx = checks.CheckContext(version=version, champion=champion, production_inputs=production_inputs(version.model, limit=settings.GOVERNANCE_WARMUP_POLICY["max_rows"]))
    specs = run.config_snapshot
    TestRun.objects.filter(pk=run.pk, attempt=attempt, status=RunStatus.RUNNING).update(
        checks_total=len(specs), checks_done=0, library_versions=scoring.library_versions()
    )
    records = []
    for position, spec in enumerate(specs):
        if heartbeat.lost.is_set():
            return None
        name = checks.check_name(spec)
        TestRun.objects.filter(pk=run.pk, attempt=attempt, status=RunStatus.RUNNING).update(current_check=name)
        limit = float(spec.get("time_limit") or settings.GOVERNANCE_CHECK_TIME_LIMIT)
        record = checks.run_check(spec, ctx, time_limit=limit)
        log(f"{checks.describe(record)}: {record.outcome} in {record.duration_ms:.0f} ms")
        records.append(record)
        TestRun.objects.filter(pk=run.pk, attempt=attempt, status=RunStatus.RUNNING).update(checks_done=position + 1)
    return records


def _test_run_finish(run: TestRun, attempt: int, records: list[checks.CheckRecord], log: RunLog) -> str:
    failing = [r for r in records if r.outcome != "passed"]
    passed = not failing
    log(f"Suite {'passed' if passed else 'failed'}: {len(records) - len(failing)} of {len(records)} checks passed.")
    agent = service_account_get(TEST_AGENT)
    with transaction.atomic():
        locked = TestRun.objects.select_for_update().get(pk=run.pk)
        if locked.status != RunStatus.RUNNING or locked.attempt != attempt:
            return "lost"
        CheckResult.objects.bulk_create(
            CheckResult(
                run=locked, position=i, name=r.name, kind=r.kind, measured=r.measured, threshold=r.threshold,
                comparison=r.comparison, outcome=r.outcome, duration_ms=r.duration_ms, details=r.details,
            )
            for i, r in enumerate(records)
        )
        TestRun.objects.filter(pk=run.pk).update(
            status=RunStatus.PASSED if passed else RunStatus.FAILED,
            finished_at=timezone.now(),
            log=log.text,
            current_check="",
        )
        if passed:
            summary = "; ".join(checks.describe(r) for r in records)
            annotation = f"Test run {run.sequence} passed all {len(records)} checks: {summary}."
        else:
            summary = "; ".join(checks.describe(r) for r in failing)
            annotation = f"Test run {run.sequence} failed {len(failing)} of {len(records)} checks: {summary}."
        _agent_transition(
            run.version, "pass_tests" if passed else "fail_tests", agent, TEST_AGENT, annotation,
            {"test_run": run.sequence, "failing_checks": [r.name for r in failing]},
        )
    return "passed" if passed else "failed"


def _agent_transition(version, name: str, agent, agent_name: str, annotation: str, details: dict) -> bool:
    """Run an agent transition; a version that already moved (a redelivery, a withdrawal) is a no-op."""
    try:
        version_transition(version=version, name=name, actor=agent, agent_name=agent_name, annotation=annotation, details=details)
    except ActionConflict as exc:
        logger.info("%s: %s not applied: %s", version, name, exc)
        return False
    return True


def job_error(job: TestRun | WarmupRun, reason: str, *, attempt: int | None = None, log: str | None = None) -> bool:
    """Mark an active job errored and fail its version, with an annotation that says why."""
    is_test = isinstance(job, TestRun)
    agent_name = TEST_AGENT if is_test else WARMUP_AGENT
    agent = service_account_get(agent_name)
    label = f"Test run {job.sequence}" if is_test else "Warm-up"
    text = f"{label} errored: {reason}. No evidence was recorded for this run."
    with transaction.atomic():
        filters = {"pk": job.pk, "status__in": ACTIVE_STATUSES}
        if attempt is not None:
            filters["attempt"] = attempt
        changes = {"status": RunStatus.ERRORED, "finished_at": timezone.now(), "error": reason}
        if log is not None:
            changes["log"] = log
        if is_test:
            changes["current_check"] = ""
        if not type(job).objects.filter(**filters).update(**changes):
            return False
        version = ModelVersion.objects.get(pk=job.version_id)
        moved = _agent_transition(
            version, "fail_tests" if is_test else "fail_warmup", agent, agent_name, text, {"errored": True, "reason": reason}
        )
        if not moved:
            annotation_add(version=version, author=agent, text=text, agent_name=agent_name, _internal=True)
    return True


# --- Warm-up ---------------------------------------------------------------------------------
def production_inputs(model, *, limit: int) -> pd.DataFrame | None:
    """The most recent rows the scoring gateway recorded for the model (not shadow scoring)."""
    rows: list[dict] = []
    records = ScoringRecord.objects.filter(model=model, shadow=False).order_by("-at", "-id").values_list("inputs", flat=True)
    for inputs in records.iterator(chunk_size=200):
        rows.extend(inputs if isinstance(inputs, list) else [inputs])
        if len(rows) >= limit:
            break
    if not rows:
        return None
    return pd.DataFrame(rows[:limit])


def warmup_policy(risk_tier: str) -> dict:
    policy = settings.GOVERNANCE_WARMUP_POLICY
    return {"max_rows": policy["max_rows"], **policy["tiers"][risk_tier]}


def warmup_execute(*, run_id: int, worker: str | None = None) -> str:
    worker = _worker_name(worker)
    outcome, attempt, run = _job_start(WarmupRun, run_id, worker)
    if outcome:
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
        job_error(run, str(exc) if isinstance(exc, (scoring.ModelLoadError, scoring.DatasetError)) else _stop_reason(exc), attempt=attempt, log=log.text)
        if not isinstance(exc, Exception):
            raise
        return "errored"
    return _warmup_finish(run, attempt, report, log)


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


def warmup_measure(version, *, log: Callable[[str], None]) -> dict:
    """Score the same inputs with the version and the champion; return the report's numbers."""
    model = version.model
    policy = warmup_policy(model.risk_tier)
    champion_version = (
        ModelVersion.objects.select_related("model").filter(model=model, state=VersionState.CHAMPION).exclude(pk=version.pk).first()
    )
    timings: dict[str, float] = {}
    start = time.perf_counter()
    # One after the other: with the typed copy the inputs take milliseconds, and loading the
    # artifacts in a thread meanwhile only makes the two wait on the GIL.
    new = scoring.load_version(version)
    champ = scoring.load_version(champion_version) if champion_version else None
    loaded = time.perf_counter()
    frame = production_inputs(model, limit=policy["max_rows"])
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
    latency = {"new": _latency(new, new_inputs, sample_rows)}
    if champ is not None:
        latency["champion"] = _latency(champ, champ_inputs, sample_rows)
    timings["latency_ms"] = (time.perf_counter() - start) * 1000
    task = model.task
    new_numeric = new_scores if task == "classification" and not np.isnan(new_scores).all() else _as_float(new_values)
    if champ is not None:
        start = time.perf_counter()
        both = new_ok & champ_ok
        all_ok = bool(both.all())
        champ_numeric = champ_scores if task == "classification" and not np.isnan(champ_scores).all() else _as_float(champ_values)

        def on_both(values: np.ndarray) -> np.ndarray:
            # Every row scored by both (the usual case): the arrays as they are, not copies.
            return values if all_ok else values[both]

        if task == "classification":
            report["agreement"] = float(np.mean(on_both(new_values) == on_both(champ_values))) if both.any() else None
        # Each score array is sorted once; the quantiles, the PSI bins and the histograms are then
        # read off the sorted arrays with a few binary searches instead of a pass per statistic.
        new_sorted = _finite_sorted(on_both(new_numeric))
        champ_sorted = _finite_sorted(on_both(champ_numeric))
        report["diff_distribution"] = _quantiles(on_both(new_numeric) - on_both(champ_numeric))
        report["psi"] = checks.psi_sorted(champ_sorted, new_sorted) if both.any() else None
        report["histograms"] = _histograms_sorted(
            new_sorted if all_ok else _finite_sorted(new_numeric[new_ok]),
            champ_sorted if all_ok else _finite_sorted(champ_numeric[champ_ok]),
        )
        report["largest_disagreements"] = _largest(frame, features, both, new_values, champ_values, new_numeric, champ_numeric, task)
        timings["comparison_ms"] = (time.perf_counter() - start) * 1000
    else:
        report["histograms"] = _histograms_sorted(_finite_sorted(new_numeric[new_ok]), None)
        report["diff_distribution"] = {}
    report["latency"] = {**latency, "timings": timings}
    log(f"Scored {report['rows']} rows: {report['errors']} errors; agreement {report.get('agreement')}; PSI {report.get('psi')}.")
    log("Timings: " + ", ".join(f"{name} {value:.1f}" for name, value in timings.items()) + ".")
    return report


def _as_float(values: np.ndarray) -> np.ndarray:
    try:
        return values.astype(float)
    except (TypeError, ValueError):
        return np.full(len(values), np.nan)


def _latency(model: scoring.LoadedModel, inputs, rows: int) -> dict:
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


def _finite_sorted(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    return np.sort(values if finite.all() else values[finite])


def _quantiles(diff: np.ndarray) -> dict:
    """p5..p95 (NumPy's linear interpolation), mean, mean and max absolute difference."""
    diff = _finite_sorted(diff)
    n = len(diff)
    if not n:
        return {}
    quantiles = (5, 25, 50, 75, 95)
    # One sort, then each quantile is two look-ups: cheaper than np.percentile's partitions.
    position = np.array(quantiles, dtype=float) / 100 * (n - 1)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, n - 1)
    values = diff[lower] + (diff[upper] - diff[lower]) * (position - lower)
    points = {f"p{q}": float(v) for q, v in zip(quantiles, values)}
    absolute = np.abs(diff)
    return {**points, "mean": float(diff.mean()), "mean_abs": float(absolute.mean()), "max_abs": float(max(abs(diff[0]), abs(diff[-1])))}


def _sorted_counts(sorted_values: np.ndarray, edges: np.ndarray) -> list[int]:
    """np.histogram(values, edges) counts (last bin closed) for already sorted values."""
    inner = np.searchsorted(sorted_values, edges[1:-1], side="left")
    bounds = np.concatenate(([np.searchsorted(sorted_values, edges[0], side="left")], inner,
                             [np.searchsorted(sorted_values, edges[-1], side="right")]))
    return np.diff(bounds).tolist()


def _histograms(new: np.ndarray, champion: np.ndarray | None, bins: int = 20) -> dict:
    return _histograms_sorted(_finite_sorted(new), _finite_sorted(champion) if champion is not None else None, bins)


def _histograms_sorted(new: np.ndarray, champion: np.ndarray | None, bins: int = 20) -> dict:
    """Histograms on common, even bins of finite, sorted scores."""
    present = [a for a in (new, champion) if a is not None and len(a)]
    if not present:
        return {}
    low, high = min(float(a[0]) for a in present), max(float(a[-1]) for a in present)
    if low == high:
        high = low + 1.0
    edges = np.linspace(low, high, bins + 1)
    result = {"edges": [float(e) for e in edges], "new": _sorted_counts(new, edges)}
    if champion is not None:
        result["champion"] = _sorted_counts(champion, edges)
    return result


def _largest(frame, features, both, new_values, champ_values, new_numeric, champ_numeric, task, count: int = 5) -> list[dict]:
    gap = np.where(both, np.abs(new_numeric - champ_numeric), -1.0)
    gap = np.nan_to_num(gap, nan=-1.0)
    if len(gap) > count:
        top = np.argpartition(-gap, count)[:count]  # the largest few without sorting every row
        order = top[np.argsort(-gap[top])]
    else:
        order = np.argsort(-gap)
    out = []
    for index in order:
        if gap[index] <= 0:
            break
        row = frame.iloc[int(index)]
        out.append(
            {
                "row": int(index),
                "inputs": {f: checks._jsonable(row[f]) for f in features[:12]},
                "new": checks._jsonable(new_values[index] if task == "classification" else new_numeric[index]),
                "champion": checks._jsonable(champ_values[index] if task == "classification" else champ_numeric[index]),
                "new_score": checks._jsonable(new_numeric[index]),
                "champion_score": checks._jsonable(champ_numeric[index]),
                "difference": checks._jsonable(gap[index]),
            }
        )
    return out


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
        _agent_transition(
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


# --- Scheduled agents ------------------------------------------------------------------------
def agent_run_record(*, agent_name: str, action: str, summary: str, data: dict, started_at) -> AgentRun:
    """Keep the run of a scheduled job, and put it in the audit trail as that agent's event."""
    from governance.audit.services import agent_event_record

    with transaction.atomic():
        run = AgentRun.objects.create(
            agent_name=agent_name,
            action=action,
            summary=summary,
            data=data,
            started_at=started_at,
            finished_at=timezone.now(),
        )
        agent_event_record(
            agent_name=agent_name,
            action=f"agent.{action}",
            summary=summary,
            data={**data, "agent_run": run.pk, "started_at": started_at.isoformat()},
            actor=service_account_get(agent_name),
        )
    return run


def jobs_recover() -> AgentRun:
    """Re-enqueue jobs the broker never got; recover jobs whose worker died (stale heartbeat).

    A dead worker's job is queued again while it has attempts left, else marked errored and
    its version moved to tests_failed / warmup_failed with an annotation.
    """
    started = timezone.now()
    data = {"enqueued": [], "requeued": [], "errored": []}
    for model_cls, label in ((TestRun, "test_run"), (WarmupRun, "warmup_run")):
        resend_before = started - timedelta(seconds=settings.GOVERNANCE_JOB_REQUEUE_SECONDS)
        never_sent = model_cls.objects.filter(status=RunStatus.QUEUED, enqueued_at__isnull=True)
        long_waiting = model_cls.objects.filter(status=RunStatus.QUEUED, enqueued_at__lt=resend_before)
        for job in list(never_sent) + list(long_waiting):
            if job_enqueue(job):
                data["enqueued"].append(f"{label}:{job.pk}")
        # A dead worker stops beating; a stuck one may beat on (its heartbeat is a thread), so a
        # run past the task's hard time limit is recovered too.
        overdue = started - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + settings.GOVERNANCE_JOB_STALE_SECONDS)
        stuck = model_cls.objects.filter(status=RunStatus.RUNNING).filter(
            Q(heartbeat_at__lt=_stale_before()) | Q(heartbeat_at__isnull=True) | Q(started_at__lt=overdue)
        )
        for job in stuck:
            if job.attempt < settings.GOVERNANCE_JOB_MAX_ATTEMPTS:
                requeued = model_cls.objects.filter(pk=job.pk, status=RunStatus.RUNNING, attempt=job.attempt).update(
                    status=RunStatus.QUEUED, enqueued_at=None, heartbeat_at=None
                )
                if requeued:
                    data["requeued"].append(f"{label}:{job.pk}")
                    job_enqueue(job)
            elif job_error(job, _stuck_reason(job, overdue), attempt=job.attempt):
                data["errored"].append(f"{label}:{job.pk}")
    summary = (
        f"Enqueued {len(data['enqueued'])} waiting job(s), re-queued {len(data['requeued'])} and "
        f"marked {len(data['errored'])} errored whose worker died."
    )
    return agent_run_record(agent_name=RECOVERY_AGENT, action="recover_stuck_jobs", summary=summary, data=data, started_at=started)


def _stuck_reason(job, overdue) -> str:
    if job.started_at and job.started_at < overdue:
        return f"it ran past its time limit of {settings.CELERY_TASK_TIME_LIMIT} s on its last allowed attempt ({job.attempt})"
    since = f" since {job.heartbeat_at:%H:%M:%S} UTC" if job.heartbeat_at else ""
    return f"its worker stopped responding on its last allowed attempt ({job.attempt}; no heartbeat{since})"


def review_due_at(version, now: datetime) -> datetime | None:
    """The latest due date of the champion's periodic review that has passed, or None."""
    days = settings.GOVERNANCE_REVIEW_INTERVAL_DAYS[version.model.risk_tier]
    since = version.state_changed_at
    periods = int((now - since) / timedelta(days=days))
    if periods < 1:
        return None
    return since + periods * timedelta(days=days)


def reviews_flag_due() -> AgentRun:
    """Flag champions whose periodic review is due and mail their owners, once per due date."""
    from django.core.mail import send_mail
    from django.template.loader import render_to_string

    from governance.access.roles import ObjectRole

    started = timezone.now()
    flagged = []
    agent = service_account_get(REVIEW_AGENT)
    for version in ModelVersion.objects.select_related("model").filter(state=VersionState.CHAMPION):
        due = review_due_at(version, started)
        if due is None:
            continue
        from .models import ReviewReminder

        owners = _owners_of(version.model, ObjectRole.OWNER)
        try:
            with transaction.atomic():
                reminder = ReviewReminder.objects.create(version=version, due_at=due, notified=[u.username for u in owners])
                annotation_add(
                    version=version, author=agent, agent_name=REVIEW_AGENT, _internal=True,
                    text=f"Periodic review due since {due:%Y-%m-%d} ({version.model.risk_tier} risk: every "
                    f"{settings.GOVERNANCE_REVIEW_INTERVAL_DAYS[version.model.risk_tier]} days). Owners notified: "
                    f"{', '.join(u.username for u in owners) or 'none'}.",
                )
        except IntegrityError:
            continue  # already flagged for this due date
        recipients = [u.email for u in owners if u.email]
        if recipients:
            body = render_to_string("emails/review_due.txt", {"version": version, "model": version.model, "due": due, "reminder": reminder})
            send_mail(f"Periodic review due: {version.model.name} v{version.number}", body, None, recipients)
        flagged.append({"version": str(version), "due": due.isoformat(), "notified": reminder.notified})
    summary = f"Checked champions: {len(flagged)} newly due for periodic review."
    return agent_run_record(agent_name=REVIEW_AGENT, action="flag_reviews_due", summary=summary, data={"flagged": flagged}, started_at=started)


def _owners_of(model, role) -> list:
    from governance.access.models import ModelGrant

    grants = ModelGrant.objects.filter(model=model, role=role).select_related("user", "group")
    users: dict[int, object] = {}
    for grant in grants:
        if grant.user_id and grant.user.is_active:
            users[grant.user_id] = grant.user
        elif grant.group_id:
            for user in grant.group.user_set.filter(is_active=True):
                users[user.pk] = user
    return sorted(users.values(), key=lambda u: u.username)
