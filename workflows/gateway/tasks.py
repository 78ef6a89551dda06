"""Celery tasks of the gateway: the challengers' shadow scoring of answered requests, drift."""

from celery import shared_task

from . import services


@shared_task(name="gateway.shadow_score", acks_late=True, reject_on_worker_lost=True, soft_time_limit=60, time_limit=90)
def shadow_score(trace_id: str, version_ids: list[int]) -> int:
    """Score the trace's inputs with each challenger; safe to run twice. Returns how many recorded."""
    return sum(services.shadow_score(trace_id=trace_id, version_id=version_id) is not None for version_id in version_ids)


@shared_task(
    name="gateway.shadow_score_batch", acks_late=True, reject_on_worker_lost=True, soft_time_limit=120, time_limit=150
)
def shadow_score_batch(traces: list[list]) -> int:
    """Score each trace's inputs with its challengers: ``traces`` is ``[[trace_id, [version id, ...]], ...]``,
    as a web process queued them. Safe to run twice. Returns how many records were added."""
    return services.shadow_score_batch([(trace_id, version_ids) for trace_id, version_ids in traces])


@shared_task(name="gateway.drift_check", acks_late=True)
def drift_check() -> str:
    from .drift import drift_check_all

    return drift_check_all().summary
