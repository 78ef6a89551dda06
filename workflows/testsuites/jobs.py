"""Job handling shared by test runs and warm-ups: request, enqueue, claim, heartbeat, recover.

A job (a TestRun or a WarmupRun) is a database row first: ``job_request`` makes it once per
transition record and hands it to the broker. A worker's delivery claims it with
``job_claim``, a conditional update that raises its attempt number, and beats a
``Heartbeat`` while it works. Every later write of that delivery is conditioned on its attempt,
so a task delivered twice, or a worker presumed dead that wakes up, never duplicates evidence
or transitions. ``jobs_recover`` (scheduled every minute) re-enqueues jobs the broker never got
and takes back jobs whose worker died.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from governance.access.services import service_account_get
from governance.errors import ActionConflict
from governance.registry.models import ModelVersion
from workflows.lifecycle.models import TransitionRecord
from workflows.lifecycle.services import agent_annotation_add, agent_transition

from .models import ACTIVE_STATUSES, AgentRun, RunStatus, TestRun, WarmupRun

logger = logging.getLogger(__name__)

TEST_AGENT = "test-runner"
WARMUP_AGENT = "warmup-runner"
RECOVERY_AGENT = "job-recovery"

Job = TypeVar("Job", TestRun, WarmupRun)


# --- Requesting and enqueueing ---------------------------------------------------------------
def job_request(model_cls: type[Job], *, version_id: int, record_id: int, make: Callable[[TransitionRecord], Job]) -> Job | None:
    """After a committed transition: make its job (once per transition record) and enqueue it.

    ``make(record)`` creates the row. Called twice for one record (an after-commit hook run
    again), or while another job of the version is active, it makes nothing new.
    """
    record = TransitionRecord.objects.get(pk=record_id)
    job = model_cls.objects.filter(trigger_record=record).first()
    if job is None:
        try:
            with transaction.atomic():
                job = make(record)
        except IntegrityError:
            # Made by a concurrent caller for the same record, or a job is already active.
            job = model_cls.objects.filter(trigger_record=record).first() or model_cls.objects.filter(
                version_id=version_id, status__in=ACTIVE_STATUSES
            ).first()
    if job is not None and job.is_active:
        job_enqueue(job)
    return job


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
def _stale_before() -> datetime:
    return timezone.now() - timedelta(seconds=settings.GOVERNANCE_JOB_STALE_SECONDS)


def job_claim(model_cls: type[Job], job_id: int, worker: str) -> tuple[str, int, Job | None]:
    """Claim a job for this delivery: ("claimed", attempt, job), ("skipped", 0, None) or ("errored", attempt, job).

    A queued job, or a running one whose heartbeat is stale (its worker died), is claimed by
    raising its attempt; the job comes back with its version, model and datasets, read in the
    same locked query. A job running with a fresh heartbeat belongs to a live worker and a
    finished job is done: both make a redelivered task a no-op. A job whose attempts are used
    up is marked errored (and its version failed) instead.
    """
    with transaction.atomic():
        # of=("self",): only the job's row is locked (PostgreSQL), not the rows joined to it.
        job = (
            model_cls.objects.select_for_update(of=("self",))
            .select_related("version__model", "version__training_dataset", "version__validation_dataset")
            .filter(pk=job_id)
            .first()
        )
        if job is None or job.status not in ACTIVE_STATUSES:
            return "skipped", 0, None
        if job.status == RunStatus.RUNNING and job.heartbeat_at and job.heartbeat_at >= _stale_before():
            return "skipped", 0, None
        exhausted = job.attempt >= settings.GOVERNANCE_JOB_MAX_ATTEMPTS
        if not exhausted:
            now = timezone.now()
            attempt = job.attempt + 1
            updated = model_cls.objects.filter(pk=job_id, status=job.status, attempt=job.attempt).update(
                status=RunStatus.RUNNING, attempt=attempt, started_at=now, heartbeat_at=now, worker=worker[:200]
            )
            if not updated:
                return "skipped", 0, None
            job.status, job.attempt, job.started_at, job.heartbeat_at, job.worker = RunStatus.RUNNING, attempt, now, now, worker[:200]
            return "claimed", attempt, job
    job_error(job, f"its worker stopped before finishing on each of {job.attempt} attempt(s)")
    return "errored", job.attempt, job


class Heartbeat:
    """Refresh a job's heartbeat from a thread while the delivery that owns it works.

    ``lost`` is set when the job is no longer this delivery's (recovered and claimed again).
    """

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
    """The worker's log of one job: kept with the evidence and sent to the logger."""

    def __init__(self, job):
        self.lines: list[str] = []
        self.job = job

    def __call__(self, message: str) -> None:
        self.lines.append(f"{timezone.now():%Y-%m-%dT%H:%M:%S.%fZ} {message}")
        logger.info("%s: %s", self.job, message)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def worker_name(worker: str | None) -> str:
    return worker or socket.gethostname()


def stop_reason(exc: BaseException) -> str:
    """Why a delivery stopped, for the job's error and the version's annotation."""
    from celery.exceptions import SoftTimeLimitExceeded

    if isinstance(exc, SoftTimeLimitExceeded):
        return "it ran past its time limit"
    return f"the worker hit an unexpected error ({type(exc).__name__}: {str(exc)[:300]})"


# --- Outcomes --------------------------------------------------------------------------------
def outcome_record(version, name: str, agent, agent_name: str, annotation: str, details: dict) -> bool:
    """Run an agent transition; a version that already moved (a redelivery, a withdrawal) is a no-op."""
    try:
        agent_transition(version=version, name=name, agent=agent, agent_name=agent_name, annotation=annotation, details=details)
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
        moved = outcome_record(
            version, "fail_tests" if is_test else "fail_warmup", agent, agent_name, text, {"errored": True, "reason": reason}
        )
        if not moved:
            agent_annotation_add(version=version, agent=agent, agent_name=agent_name, text=text)
    return True


# --- Scheduled agents ------------------------------------------------------------------------
def agent_run_record(*, agent_name: str, action: str, summary: str, data: dict, started_at: datetime) -> AgentRun:
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
    """Re-enqueue jobs the broker never got; recover jobs whose worker died (stale heartbeat);
    queue again the notification emails still unsent (``notifications.mail.emails_recover``).

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
    # Emails that were never handed to the broker, or failed, are sent again.
    from workflows.notifications.mail import emails_recover

    data["emails_resent"] = emails_recover(now=started)
    summary = (
        f"Enqueued {len(data['enqueued'])} waiting job(s), re-queued {len(data['requeued'])} and "
        f"marked {len(data['errored'])} errored whose worker died; {len(data['emails_resent'])} unsent email(s) queued again."
    )
    return agent_run_record(agent_name=RECOVERY_AGENT, action="recover_stuck_jobs", summary=summary, data=data, started_at=started)


def _stuck_reason(job, overdue: datetime) -> str:
    if job.started_at and job.started_at < overdue:
        return f"it ran past its time limit of {settings.CELERY_TASK_TIME_LIMIT} s on its last allowed attempt ({job.attempt})"
    since = f" since {job.heartbeat_at:%H:%M:%S} UTC" if job.heartbeat_at else ""
    return f"its worker stopped responding on its last allowed attempt ({job.attempt}; no heartbeat{since})"
