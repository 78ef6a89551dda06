"""Celery tasks of the notifications: thin, by id; the periodic ones scheduled by beat."""

from celery import shared_task

from . import mail, services


@shared_task(name="notifications.send_email", bind=True, acks_late=True, max_retries=3)
def send_notification_email(self, notification_id: int) -> str:
    """Send one notification's email; a failure is recorded and retried with backoff (then by
    the recovery agent). Safe to run twice: the email is claimed before it is sent."""
    try:
        return mail.notification_email_send(notification_id=notification_id)
    except mail.EmailNotSent as exc:
        # After max_retries the failure stands; the recovery agent takes it from there.
        raise self.retry(exc=exc, countdown=mail.retry_countdown(self.request.retries)) from exc


@shared_task(name="notifications.flag_reviews_due", acks_late=True)
def flag_reviews_due() -> str:
    return services.reviews_flag_due().summary


@shared_task(name="notifications.review_alerts", acks_late=True)
def review_alerts() -> str:
    fired = services.review_alerts_run()
    return f"{len(fired)} reminder(s) and escalation(s) sent."
