"""Celery tasks of the test-suite agents: thin, by id, idempotent (see services).

acks_late + reject_on_worker_lost: a task whose worker dies goes back to the queue, and the
run's claim (a conditional update on its attempt) makes a second delivery harmless.
"""

from celery import shared_task

from . import services

JOB_OPTIONS = {"bind": True, "acks_late": True, "reject_on_worker_lost": True}


@shared_task(name="testsuites.run_test_suite", **JOB_OPTIONS)
def run_test_suite(self, run_id: int) -> str:
    return services.test_run_execute(run_id=run_id, worker=self.request.hostname)


@shared_task(name="testsuites.run_warmup", **JOB_OPTIONS)
def run_warmup(self, run_id: int) -> str:
    return services.warmup_execute(run_id=run_id, worker=self.request.hostname)


@shared_task(name="testsuites.recover_stuck_jobs", acks_late=True)
def recover_stuck_jobs() -> str:
    return services.jobs_recover().summary


@shared_task(name="testsuites.flag_reviews_due", acks_late=True)
def flag_reviews_due() -> str:
    return services.reviews_flag_due().summary
