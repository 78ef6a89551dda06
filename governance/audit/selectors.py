"""Reads of the audit trail, for auditors and admins only, and the champion-on-a-date question."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from governance.access.permissions import sees_all_models

from .models import AuditEvent, ChainHead, EventKind

# The filters the page, the API and the exports accept.
FILTERS = ("model", "version", "actor", "kind", "action", "since", "until", "correlation_id")


# What the page and the API answer (403) to a signed-in user who may not read the trail.
TRAIL_REFUSED = "Only auditors and admins read the audit trail."


def can_read_trail(user) -> bool:
    """The trail names every model and person: auditors and admins read it, nobody else."""
    return sees_all_models(user)


def events_filter(
    *,
    model: str = "",
    version: int | None = None,
    actor: str = "",
    kind: str = "",
    action: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    correlation_id: str = "",
    before_seq: int | None = None,
) -> QuerySet[AuditEvent]:
    """Events newest first. Each filter has an index that ends in ``seq``, so a filtered page is
    an index range scan however long the trail is; ``before_seq`` pages by key, not offset."""
    events = AuditEvent.objects.all()
    if model:
        events = events.filter(model_slug=model)
    if version is not None:
        events = events.filter(version_number=version)
    if actor:
        events = events.filter(actor_username=actor)
    if kind:
        events = events.filter(kind=kind)
    if action:
        # "login" matches every login.* action; "login.failed" exactly that one.
        events = events.filter(Q(action=action) | Q(action__startswith=f"{action}."))
    if since is not None:
        events = events.filter(at__gte=since)
    if until is not None:
        events = events.filter(at__lt=until)
    if correlation_id:
        events = events.filter(correlation_id=correlation_id)
    if before_seq is not None:
        events = events.filter(seq__lt=before_seq)
    return events.order_by("-seq")


def events_count(**filters) -> int:
    """How many events ``events_filter(**filters)`` gives. Unfiltered, the chain head says it
    without reading the trail: the sealed entries are numbered without gaps from the chain start
    (``base_seq``, after purges) to the head, which verification checks; on PostgreSQL the
    entries the current transaction appended and the seal has not numbered yet (negative
    numbers, seen by this transaction only) are added."""
    if any(value not in (None, "") for value in filters.values()):
        return events_filter(**filters).count()
    head = ChainHead.objects.filter(pk=1).values_list("seq", "base_seq").first()
    sealed = max(head[0] - head[1] + 1, 0) if head else 0
    return sealed + AuditEvent.objects.filter(seq__lt=0).count()


def event_kinds() -> list[tuple[str, str]]:
    return list(EventKind.choices)


@dataclass(frozen=True)
class ChampionAt:
    version_number: int
    since: datetime
    by: str


def champion_on(*, model, at: datetime) -> ChampionAt | None:
    """Which version was the model's champion at ``at``, replayed from the transition events of
    the trail (action "version.transition", with ``from_state`` and ``to_state`` in their data)."""
    events = (
        AuditEvent.objects.filter(
            kind=EventKind.TRANSITION, action="version.transition", model_slug=model.slug, at__lte=at
        )
        # Only transitions into or out of champion matter; the data is canonical JSON text.
        .filter(Q(data__contains='"to_state":"champion"') | Q(data__contains='"from_state":"champion"'))
        .order_by("at", "seq")
        .values_list("version_number", "at", "actor_username", "agent_name", "data")
    )
    champion: ChampionAt | None = None
    for version_number, when, username, agent_name, data in events:
        states = json.loads(data)
        if states.get("to_state") == "champion":
            champion = ChampionAt(version_number, when, username or agent_name or "an agent")
        elif champion is not None and champion.version_number == version_number:
            champion = None
    return champion
