"""Scheduled audit jobs (Celery beat, CELERY_BEAT_SCHEDULE)."""

import logging

from celery import shared_task
from celery.signals import worker_shutdown
from django.conf import settings

logger = logging.getLogger(__name__)


@shared_task(name="audit.checkpoint", acks_late=True)
def audit_checkpoint() -> str | None:
    """Sign the chain head into GOVERNANCE_AUDIT_CHECKPOINT_DIR; without a key, nothing to do.
    A trail that does not verify is not signed, and the task fails loudly."""
    from .checkpoints import checkpoint_write

    if not settings.GOVERNANCE_AUDIT_CHECKPOINT_KEY:
        logger.info("audit checkpoint skipped: GOVERNANCE_AUDIT_CHECKPOINT_KEY is not set")
        return None
    path = checkpoint_write()
    logger.info("audit checkpoint written: %s", path)
    return str(path)


@shared_task(name="audit.access_drain", acks_late=True, ignore_result=True)
def audit_access_drain() -> int:
    """Append the queued access events to the trail in batches (``access_queue.access_drain``).
    Scheduled by the first read of a burst, and by beat as a backstop."""
    from .access_queue import access_drain

    appended = access_drain()
    if appended:
        logger.info("access drain: %d event(s) appended to the trail", appended)
    return appended


@worker_shutdown.connect
def _access_drain_at_shutdown(**kwargs) -> None:
    """A worker that stops drains once more, so that reads queued just before are appended now
    rather than by the next worker or beat. A failure is logged: the events stay queued."""
    from .access_queue import access_drain

    try:
        appended = access_drain()
    except Exception:  # noqa: BLE001 - shutting down: log, never stop the shutdown
        logger.warning("access drain at worker shutdown failed; the events stay queued", exc_info=True)
        return
    if appended:
        logger.info("access drain at worker shutdown: %d event(s) appended to the trail", appended)
