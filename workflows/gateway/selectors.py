"""Reads of the gateway's traces, filtered by what the caller may see (404 otherwise)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from governance.access.permissions import can_view_model
from governance.registry.models import MLModel, ModelVersion, VersionState
from workflows.lifecycle.models import Decision, SignOff, TransitionRecord
from workflows.testsuites.models import ScoringRecord


def trace_get(*, user, trace_id: str) -> ScoringRecord:
    """The answer's record of a trace, with its version, datasets and caller (404 for anyone
    who may not see its model, and for an id that names no trace)."""
    record = (
        ScoringRecord.objects.select_related(
            "model", "version", "version__model", "version__training_dataset", "version__validation_dataset", "caller"
        )
        .filter(trace_id=(trace_id or "").strip()[:64], shadow=False)
        .first()
    )
    if record is None or not can_view_model(user, record.model):
        raise Http404("No such trace.")
    return record


def shadow_of(record: ScoringRecord) -> list[ScoringRecord]:
    """The challengers' scorings of the same inputs recorded so far, by version number."""
    return list(
        ScoringRecord.objects.filter(trace_id=record.trace_id, shadow=True)
        .select_related("version")
        .order_by("version__number")
    )


def shadow_by_trace(trace_ids: list[str]) -> dict[str, list[ScoringRecord]]:
    """The shadow records of many traces in one query (a page of the traces list)."""
    found: dict[str, list[ScoringRecord]] = {trace_id: [] for trace_id in trace_ids}
    records = (
        ScoringRecord.objects.filter(trace_id__in=trace_ids, shadow=True)
        .select_related("version")
        .order_by("version__number")
    )
    for record in records:
        found[record.trace_id].append(record)
    return found


def approvals_of(version: ModelVersion) -> list[SignOff]:
    """The approvals that approved the version (those its approval counted), oldest first."""
    approval = TransitionRecord.objects.filter(version=version, name="approve").order_by("-at").first()
    signoffs = SignOff.objects.filter(version=version, decision=Decision.APPROVE)
    counted = (approval.details or {}).get("signoffs") if approval is not None else None
    if counted:
        signoffs = signoffs.filter(pk__in=counted)
    return list(signoffs.order_by("at", "id"))


@dataclass(frozen=True)
class ChampionPeriod:
    version_number: int
    since: datetime
    until: datetime | None
    by: str

    def holds(self, at: datetime) -> bool:
        return self.since <= at and (self.until is None or at < self.until)


def champion_history(model: MLModel) -> list[ChampionPeriod]:
    """Every period in which a version was the model's champion, oldest first, from the
    versions' transition records (into champion, and out of it)."""
    records = (
        TransitionRecord.objects.filter(version__model=model)
        .filter(Q(to_state=VersionState.CHAMPION) | Q(from_state=VersionState.CHAMPION))
        .select_related("version", "actor")
        .order_by("at", "id")
    )
    periods: list[dict] = []
    for record in records:
        if record.to_state == VersionState.CHAMPION:
            by = record.actor.username if record.actor is not None else (record.agent_name or "an agent")
            periods.append({"version_number": record.version.number, "since": record.at, "until": None, "by": by})
        else:
            for period in reversed(periods):
                if period["version_number"] == record.version.number and period["until"] is None:
                    period["until"] = record.at
                    break
    return [ChampionPeriod(**period) for period in periods]


def champion_history_around(model: MLModel, at: datetime) -> list[ChampionPeriod]:
    """The champion periods just before, during and just after ``at``."""
    periods = champion_history(model)
    holding = [index for index, period in enumerate(periods) if period.holds(at)]
    if holding:
        index = holding[-1]
    else:
        index = max([i for i, period in enumerate(periods) if period.since <= at], default=0)
    return periods[max(0, index - 1) : index + 2]


def traces_of(*, model: MLModel, since: datetime | None = None, until: datetime | None = None) -> QuerySet[ScoringRecord]:
    """The model's answered requests, newest first, within ``[since, until)``."""
    records = ScoringRecord.objects.filter(model=model, shadow=False)
    if since is not None:
        records = records.filter(at__gte=since)
    if until is not None:
        records = records.filter(at__lt=until)
    return records.select_related("version", "caller").order_by("-at", "-id")


def shadow_summary(*, model: MLModel, since: datetime | None = None, until: datetime | None = None) -> list[dict]:
    """Per version that shadowed in the window: scorings recorded and how many failed."""
    records = ScoringRecord.objects.filter(model=model, shadow=True)
    if since is not None:
        records = records.filter(at__gte=since)
    if until is not None:
        records = records.filter(at__lt=until)
    # Grouped by the version's id (the index holds it), then named: no join per scoring.
    rows = list(
        records.order_by().values("version_id").annotate(scored=Count("version"), errors=Count("version", filter=~Q(error="")))
    )
    if not rows:
        return []
    numbers = dict(ModelVersion.objects.filter(pk__in=[row["version_id"] for row in rows]).values_list("pk", "number"))
    summary = [
        {"version_number": numbers[row["version_id"]], "scored": row["scored"], "errors": row["errors"]} for row in rows
    ]
    return sorted(summary, key=lambda row: row["version_number"])


def traffic_summary(*, model: MLModel, hours: int = 24) -> dict:
    """Answered requests and rows of the last ``hours``, and the shadow scorings of that window."""
    since = timezone.now() - timedelta(hours=hours)
    answered = ScoringRecord.objects.filter(model=model, shadow=False, at__gte=since).order_by().aggregate(
        requests=Count("id")
    )
    return {"hours": hours, "requests": answered["requests"] or 0, "shadow": shadow_summary(model=model, since=since)}
