"""Scheduled audit jobs (Celery beat, CELERY_BEAT_SCHEDULE)."""

import logging

from celery import shared_task
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
