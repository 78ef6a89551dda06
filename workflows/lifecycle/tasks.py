"""Celery tasks of the lifecycle: thin, scheduled by beat (CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from . import findings


@shared_task(name="lifecycle.flag_overdue_conditions", acks_late=True)
def flag_overdue_conditions() -> str:
    flagged = findings.conditions_flag_overdue()
    return f"Checked open conditions: {len(flagged)} newly past their due date."
