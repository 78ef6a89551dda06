"""Celery tasks of the notifications: thin, scheduled by beat (CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from . import services


@shared_task(name="notifications.flag_reviews_due", acks_late=True)
def flag_reviews_due() -> str:
    return services.reviews_flag_due().summary
