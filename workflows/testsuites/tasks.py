"""Celery tasks of the test-suite agents: thin, by id, idempotent (see jobs.py).

acks_late + reject_on_worker_lost: a task whose worker dies goes back to the queue, and the
job's claim (a conditional update on its attempt) makes a second delivery harmless.
"""

from celery import shared_task

from . import jobs, runs, warmup

JOB_OPTIONS = {"bind": True, "acks_late": True, "reject_on_worker_lost": True}


@shared_task(name="testsuites.run_test_suite", **JOB_OPTIONS)
def run_test_suite(self, run_id: int) -> str:
    return runs.test_run_execute(run_id=run_id, worker=self.request.hostname)


@shared_task(name="testsuites.run_warmup", **JOB_OPTIONS)
def run_warmup(self, run_id: int) -> str:
    return warmup.warmup_execute(run_id=run_id, worker=self.request.hostname)


@shared_task(name="testsuites.recover_stuck_jobs", acks_late=True)
def recover_stuck_jobs() -> str:
    return jobs.jobs_recover().summary
