"""Celery task of the reports: a few lines that load by id and call the service."""

from celery import shared_task

from . import services


@shared_task(name="reports.build_version_report", acks_late=True, reject_on_worker_lost=True)
def build_version_report(version_id: int, user_id: int, anchor_seq: int, anchor_hash: str) -> str:
    return services.version_report_build_queued(
        version_id=version_id, user_id=user_id, anchor_seq=anchor_seq, anchor_hash=anchor_hash
    )
