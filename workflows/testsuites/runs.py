"""Test runs: a committed submit or rerun_tests queues one; a worker runs its checks and records the evidence.

The run is a job (see jobs.py): made once per transition record, claimed by one delivery at a
time. The worker runs the checks of the run's config snapshot under time guards while its
heartbeat beats, then writes the evidence, the run's final status and the version's
``pass_tests`` / ``fail_tests`` transition in one transaction.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance.access.services import service_account_get
from governance.registry.models import ModelVersion, VersionState

from . import checks, scoring
from .jobs import TEST_AGENT, Heartbeat, RunLog, outcome_record, job_claim, job_error, job_request, stop_reason, worker_name
from .models import CheckResult, RunStatus, TestRun
from .selectors import suite_config_of


def test_run_request(*, version_id: int, record_id: int) -> TestRun | None:
    """After a committed submit or rerun_tests: make the run for that transition (once) and enqueue it.

    The run keeps the checks in force now (its config snapshot), whatever the suite becomes later.
    """

    def make(record) -> TestRun:
        version = ModelVersion.objects.select_related("model").get(pk=version_id)
        last = TestRun.objects.filter(version=version).order_by("-sequence").values_list("sequence", flat=True).first()
        return TestRun.objects.create(
            version=version,
            sequence=(last or 0) + 1,
            trigger_record=record,
            config_snapshot=suite_config_of(version.model)[0],
        )

    return job_request(TestRun, version_id=version_id, record_id=record_id, make=make)


def test_run_execute(*, run_id: int, worker: str | None = None) -> str:
    """Run a queued test run in this worker; returns what happened (for logs and tests)."""
    worker = worker_name(worker)
    outcome, attempt, run = job_claim(TestRun, run_id, worker)
    if outcome != "claimed":
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
            measured = _run_checks(run, attempt, log, heartbeat)
    except BaseException as exc:  # noqa: BLE001 - soft time limit, or a bug: the run errors, the worker goes on
        log(f"Run stopped: {type(exc).__name__}: {exc}")
        job_error(run, stop_reason(exc), attempt=attempt, log=log.text)
        if not isinstance(exc, Exception):
            raise
        return "errored"
    if measured is None:
        log("Another delivery took this run over; nothing recorded by this one.")
        return "lost"
    records, chart_data = measured
    return _test_run_finish(run, attempt, records, log, chart_data)


def _run_checks(run: TestRun, attempt: int, log: RunLog, heartbeat: Heartbeat) -> tuple[list[checks.CheckRecord], dict] | None:
    """The checks' records and the run's chart data, or None when another delivery took the run."""
    version = run.version
    champion = (
        ModelVersion.objects.select_related("model", "training_dataset", "validation_dataset")
        .filter(model_id=version.model_id, state=VersionState.CHAMPION)
        .exclude(pk=version.pk)
        .first()
    )
    recorded = scoring.production_inputs(version.model, limit=settings.GOVERNANCE_WARMUP_POLICY["max_rows"])
    ctx = checks.CheckContext(version=version, champion=champion, production_inputs=recorded)
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
    if heartbeat.lost.is_set():
        return None
    # The charts reuse the predictions the checks made; they are evidence like the checks, kept
    # with the run's final status.
    chart_data = checks.charts_measure(specs, ctx, time_limit=float(settings.GOVERNANCE_CHECK_TIME_LIMIT))
    log(chart_data.get("unavailable") or "Chart data computed on the validation data.")
    return records, chart_data


def _test_run_finish(run: TestRun, attempt: int, records: list[checks.CheckRecord], log: RunLog, chart_data: dict) -> str:
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
            charts=chart_data,
        )
        if passed:
            summary = "; ".join(checks.describe(r) for r in records)
            annotation = f"Test run {run.sequence} passed all {len(records)} checks: {summary}."
        else:
            summary = "; ".join(checks.describe(r) for r in failing)
            annotation = f"Test run {run.sequence} failed {len(failing)} of {len(records)} checks: {summary}."
        outcome_record(
            run.version, "pass_tests" if passed else "fail_tests", agent, TEST_AGENT, annotation,
            {"test_run": run.sequence, "failing_checks": [r.name for r in failing]},
        )
    return "passed" if passed else "failed"
