"""Writes to the audit trail: one way in, ``audit_append``, and helpers for each kind of event.

Every event is appended to one hash chain in the transaction of the action it records, so a
rolled-back action leaves no event and a committed one always has its event. Numbering an event
locks the chain head row: concurrent writers queue, and the chain never forks or skips a number.

- On PostgreSQL an event is inserted plainly, with a provisional negative number and no hashes;
  the database seals it when the transaction commits (the deferred constraint trigger
  ``audit_seal`` of migration 0004 numbers and hashes it and moves the head), so the head is
  locked only while a transaction commits. ``audit_flush`` seals the transaction's events now.
- On SQLite, which runs one writer at a time, the event is numbered and hashed here, under the
  write lock the transaction holds already.

Access events (reads) are the exception: a read changes nothing, so its event need not share a
transaction, and it must not wait for the head. ``access_append`` takes its fields now and
queues them in Redis; the drain appends queued events in batches, one head lock per batch
(``audit_append_batch``, ``access_queue``).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from auditlog.context import auditlog_value
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from governance.errors import ActionConflict

from .context import correlation_id_get, current_agent, current_request
from .hashing import canonical_data, event_hash
from .models import GENESIS_HASH, HASHED_FIELDS, ActorKind, AuditEvent, ChainHead, EventKind

_UNSET: Any = object()


# --- Describing actors and objects --------------------------------------------------------------


def describe_object(obj) -> dict:
    """The model slug, version number and type/id/repr of what an event is about."""
    if obj is None:
        return {}
    from governance.registry.models import MLModel, ModelVersion

    found: dict = {
        "object_type": obj._meta.label_lower,
        "object_id": str(obj.pk) if obj.pk is not None else "",
        "object_repr": str(obj)[:300],
    }
    if isinstance(obj, MLModel):
        found["model_slug"] = obj.slug
    elif isinstance(obj, ModelVersion):
        found["model_slug"] = obj.model.slug
        found["version_number"] = obj.number
    else:
        # Records about a version (transitions, sign-offs, test runs) or a model (grants).
        version = getattr(obj, "version", None) if _has_field(obj, "version") else None
        if isinstance(version, ModelVersion):
            found["model_slug"] = version.model.slug
            found["version_number"] = version.number
        elif _has_field(obj, "model") and isinstance(getattr(obj, "model", None), MLModel):
            found["model_slug"] = obj.model.slug
    return found


def _has_field(obj, name: str) -> bool:
    try:
        obj._meta.get_field(name)
    except Exception:
        return False
    return True


def _actor_fields(actor, agent_name: str | None) -> dict:
    """actor, actor_username, actor_kind and agent_name for an event."""
    agent = current_agent()
    if actor is _UNSET:
        if agent is not None:
            actor = agent.actor
        else:
            # Whoever auditlog's context names (``set_actor`` in services, tasks and commands),
            # else the request's user (API token users are known only once DRF has run).
            actor = _auditlog_actor()
            if actor is None:
                user = getattr(current_request(), "user", None)
                actor = user if user is not None and user.is_authenticated else None
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    if agent_name is None:
        agent_name = agent.agent_name if agent is not None else ""
    if agent_name or (actor is not None and actor.is_service_account) or (agent is not None and actor is None):
        kind = ActorKind.AGENT
    elif actor is not None:
        kind = ActorKind.HUMAN
    else:
        kind = ActorKind.ANONYMOUS
    return {
        "actor": actor,
        "actor_username": actor.get_username() if actor is not None else "",
        "actor_kind": kind,
        "agent_name": agent_name or "",
    }


def _auditlog_actor():
    try:
        return auditlog_value.get().get("actor")
    except LookupError:
        return None


def client_address(request) -> str:
    """The client's address. X-Forwarded-For is believed only behind a proxy that sets it
    (GOVERNANCE_AUDIT_TRUST_FORWARDED_FOR): otherwise any client could write its own address."""
    if request is None:
        return ""
    address = request.META.get("REMOTE_ADDR", "")
    if getattr(settings, "GOVERNANCE_AUDIT_TRUST_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        address = forwarded.split(",")[0].strip() or address
    return (address or "")[:45]


# --- The one way in -----------------------------------------------------------------------------


def audit_append(
    *,
    kind: str,
    action: str,
    summary: str = "",
    data: dict | None = None,
    obj=None,
    actor=_UNSET,
    agent_name: str | None = None,
    model_slug: str | None = None,
    version_number: int | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    object_repr: str | None = None,
    request=None,
    remote_addr: str | None = None,
    correlation_id: str | None = None,
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction (or its own).

    ``actor`` defaults to the agent of ``audit_context`` or the request's user; pass ``None`` for
    an anonymous event. Address and user agent come from ``request`` (or the current request).
    On PostgreSQL the database numbers and hashes the event when its transaction commits: the
    returned event's ``seq`` is None and its hashes are empty.
    """
    return _append_one(
        event_fields(
            kind=kind,
            action=action,
            summary=summary,
            data=data,
            obj=obj,
            actor=actor,
            agent_name=agent_name,
            model_slug=model_slug,
            version_number=version_number,
            object_type=object_type,
            object_id=object_id,
            object_repr=object_repr,
            request=request,
            remote_addr=remote_addr,
            correlation_id=correlation_id,
        )
    )


def event_fields(
    *,
    kind: str,
    action: str,
    summary: str = "",
    data: dict | None = None,
    obj=None,
    actor=_UNSET,
    agent_name: str | None = None,
    model_slug: str | None = None,
    version_number: int | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    object_repr: str | None = None,
    request=None,
    remote_addr: str | None = None,
    correlation_id: str | None = None,
) -> dict:
    """The fields of an event as ``audit_append`` records it, taken now: who (``actor`` is the
    user), when, from where, under which correlation id, about what. No database access."""
    request = request if request is not None else current_request()
    fields = {
        "kind": kind,
        "action": action[:60],
        "summary": summary or "",
        "data": canonical_data(data),
        "correlation_id": (correlation_id or correlation_id_get() or "")[:64],
        "remote_addr": (remote_addr if remote_addr is not None else client_address(request)) or "",
        "user_agent": (request.META.get("HTTP_USER_AGENT", "") if request is not None else "")[:300],
        "model_slug": "",
        "version_number": None,
        "object_type": "",
        "object_id": "",
        "object_repr": "",
    }
    fields.update(describe_object(obj))
    if model_slug is not None:
        fields["model_slug"] = model_slug
    if version_number is not None:
        fields["version_number"] = version_number
    if object_type is not None:
        fields["object_type"] = object_type[:100]
    if object_id is not None:
        fields["object_id"] = str(object_id)[:64]
    if object_repr is not None:
        fields["object_repr"] = object_repr[:300]
    fields.update(_actor_fields(actor, agent_name))
    fields["at"] = timezone.now()
    return fields


def _append_one(fields: dict) -> AuditEvent:
    """Append the event of ``fields`` (see ``event_fields``) in the caller's transaction."""
    if connection.vendor == "postgresql":
        event = _new_event(fields)
        with connection.cursor() as cursor:
            cursor.execute(_PG_INSERT, [getattr(event, name) for name in _PG_INSERTED])
        return event

    with transaction.atomic(savepoint=False):
        head = _lock_head()
        fields.update(seq=head.seq + 1, prev_hash=head.hash)
        event = _new_event(fields)
        event.hash = event_hash(event)
        event.save(force_insert=True)
        ChainHead.objects.filter(pk=head.pk).update(seq=event.seq, hash=event.hash)
    return event


def audit_append_batch(batch: list[dict]) -> int:
    """Append access events (``event_fields``, the user as ``actor`` or by its ``actor_id``, and an
    ``event_id``) in one transaction, each identifier at most once; return how many were new.
    The drain calls it with a queued batch, a read without Redis with its one event.

    The chain head is taken once for the whole batch: on SQLite it is locked once and moved once;
    on PostgreSQL the seal numbers the batch's entries at its one commit. An identifier already
    in the trail (a batch delivered again after a drain died past its commit) is skipped; two
    drains of the same events queue on the head (SQLite) or on the identifier's unique index
    (PostgreSQL), and the second finds them appended.
    """
    unique: dict[uuid.UUID, dict] = {}
    for fields in batch:
        event_id = fields["event_id"] if isinstance(fields["event_id"], uuid.UUID) else uuid.UUID(fields["event_id"])
        unique.setdefault(event_id, {**fields, "event_id": event_id})
    if not unique:
        return 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            return _append_batch_postgresql(list(unique.values()))
        head = _lock_head()
        present = set(AuditEvent.objects.filter(event_id__in=list(unique)).values_list("event_id", flat=True))
        events = []
        seq, prev_hash = head.seq, head.hash
        for event_id, fields in unique.items():
            if event_id in present:
                continue
            seq += 1
            event = _new_event({**fields, "seq": seq, "prev_hash": prev_hash})
            event.hash = prev_hash = event_hash(event)
            events.append(event)
        if events:
            AuditEvent.objects.bulk_create(events)
            ChainHead.objects.filter(pk=head.pk).update(seq=seq, hash=prev_hash)
    return len(events)


def _append_batch_postgresql(batch: list[dict]) -> int:
    """One INSERT of the batch's entries, unsealed (the seal numbers them at commit); an entry
    whose identifier is in the trail already, or being appended by a transaction that then
    commits, is left out (the unique index makes the second writer wait for the first)."""
    events = [_new_event(dict(fields)) for fields in batch]
    row = "(-nextval('audit_auditevent_pending'), '', '', {})".format(", ".join(["%s"] * len(_PG_QUEUED)))
    sql = "INSERT INTO {} (seq, prev_hash, hash, {}) VALUES {} ON CONFLICT (event_id) WHERE event_id IS NOT NULL DO NOTHING".format(
        AuditEvent._meta.db_table,
        ", ".join(AuditEvent._meta.get_field(name).column for name in _PG_QUEUED),
        ", ".join([row] * len(events)),
    )
    params = [
        AuditEvent._meta.get_field(name).get_db_prep_value(getattr(event, name), connection)
        for event in events
        for name in _PG_QUEUED
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


_EVENT_ATTNAMES: list[str] = []


def _new_event(values: dict) -> AuditEvent:
    """An unsaved AuditEvent from ``values`` (``actor`` may be given as the user). Built from
    positional values, Django's fast path: a third of the cost of keyword arguments, paid on
    every audited action."""
    if not _EVENT_ATTNAMES:
        _EVENT_ATTNAMES.extend(field.attname for field in AuditEvent._meta.concrete_fields)
    actor = values.pop("actor", None)
    values.setdefault("prev_hash", "")
    values.setdefault("hash", "")
    event = AuditEvent(*[values.get(name) for name in _EVENT_ATTNAMES])
    if actor is not None:
        event.actor = actor  # sets actor_id, and keeps the user at hand
    return event


# PostgreSQL: the entry as given, with a provisional negative number and no hashes; the seal
# trigger numbers and hashes it at commit (migration 0004).
_PG_INSERTED = [name for name in HASHED_FIELDS if name not in ("seq", "prev_hash")]
_PG_INSERT = "INSERT INTO {} (seq, prev_hash, hash, {}) VALUES (-nextval('audit_auditevent_pending'), '', '', {})".format(
    AuditEvent._meta.db_table,
    ", ".join(AuditEvent._meta.get_field(name).column for name in _PG_INSERTED),
    ", ".join(["%s"] * len(_PG_INSERTED)),
)
# Queued access events also carry their identifier.
_PG_QUEUED = [*_PG_INSERTED, "event_id"]


def audit_flush() -> None:
    """Seal now the entries this transaction has appended (PostgreSQL seals them at commit
    otherwise): for a caller that needs their numbers before committing. The chain head stays
    locked until the transaction ends."""
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            # Setting a deferred constraint IMMEDIATE runs its pending checks at once.
            cursor.execute("SET CONSTRAINTS audit_seal IMMEDIATE")
            cursor.execute("SET CONSTRAINTS audit_seal DEFERRED")


def _lock_head() -> ChainHead:
    """Lock and return the chain head; create it when missing (fresh or emptied database).

    SQLite only: on PostgreSQL the seal trigger keeps the head. SQLite runs one writer at a
    time, so two first writers cannot both create it."""
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is not None:
        return head
    sealed = AuditEvent.objects.filter(seq__gt=0)
    last = sealed.order_by("-seq").values_list("seq", "hash").first()
    first = sealed.order_by("seq").values_list("seq", "prev_hash").first()
    return ChainHead.objects.create(
        pk=1,
        seq=last[0] if last else 0,
        hash=last[1] if last else GENESIS_HASH,
        base_seq=first[0] if first else 1,
        base_prev_hash=first[1] if first else GENESIS_HASH,
    )


# --- Helpers for each kind of event -------------------------------------------------------------


def access_record(request, action: str, obj=None, *, summary: str = "", data: dict | None = None) -> None:
    """Someone looked at or downloaded something: "model.viewed", "artifact.downloaded", ...

    Recorded off the request path (``access_append``)."""
    user = getattr(request, "user", None)
    access_append(
        action=action,
        obj=obj,
        summary=summary,
        data=data,
        actor=user if user is not None and user.is_authenticated else None,
        request=request,
    )


def access_append(
    *,
    action: str,
    obj=None,
    summary: str = "",
    data: dict | None = None,
    actor=_UNSET,
    request=None,
    object_type: str | None = None,
    object_id: str | None = None,
    object_repr: str | None = None,
) -> None:
    """An access event (kind "access"), taken now and appended off the request path: queued in
    Redis and appended by the drain with others in one transaction, so that a read never waits
    for the chain head (``access_queue``). Without Redis it is appended here, as
    ``audit_append`` would. The event's time is the time of this call."""
    from .access_queue import access_event_queue

    access_event_queue(
        event_fields(
            kind=EventKind.ACCESS,
            action=action,
            obj=obj,
            summary=summary,
            data=data,
            actor=actor,
            request=request,
            object_type=object_type,
            object_id=object_id,
            object_repr=object_repr,
        )
    )


def account_event_record(
    *, action: str, user=None, request=None, obj=None, summary: str = "", data: dict | None = None, actor=_UNSET
) -> AuditEvent:
    """A sign-in, sign-out, MFA, password, token or activation event about ``user``."""
    target = obj if obj is not None else user
    if actor is _UNSET and request is not None:
        request_user = getattr(request, "user", None)
        if request_user is not None and request_user.is_authenticated:
            actor = request_user
        elif user is not None and action.startswith("login."):
            actor = user
    return audit_append(
        kind=EventKind.LOGIN,
        action=action,
        obj=target,
        summary=summary,
        data=data,
        actor=actor,
        request=request,
    )


def agent_event_record(
    *,
    agent_name: str,
    action: str,
    summary: str = "",
    data: dict | None = None,
    obj=None,
    actor=None,
) -> AuditEvent:
    """What a scheduled or event-triggered job did, as its own event beside the human actions.

    ``actor`` is the service account the job ran as (optional); ``obj`` what it worked on.
    """
    return audit_append(
        kind=EventKind.AGENT,
        action=action,
        summary=summary,
        data=data,
        obj=obj,
        actor=actor,
        agent_name=agent_name,
    )


# --- Retention ----------------------------------------------------------------------------------


class PurgeRefused(ActionConflict):
    """The retention rules keep the entries asked for."""

    code = "purge_refused"


def audit_purge(*, before: datetime, dry_run: bool = False, reason: str = "", actor=None) -> dict:
    """Remove the entries recorded before ``before``, keeping the rest of the chain verifiable.

    The chain start moves to the first kept entry (its number and its prev_hash are kept on the
    head row), and an "audit.purged" event records that anchor, the count and the reason. With a
    checkpoint key configured, a signed checkpoint of the new chain is written at once (call it
    outside a transaction of your own, as the command does, so that it signs what is committed).
    """
    retention = getattr(settings, "GOVERNANCE_AUDIT_RETENTION_DAYS", None)
    if retention is None:
        raise PurgeRefused(
            "The audit trail is kept forever (GOVERNANCE_AUDIT_RETENTION_DAYS is not set): nothing may be purged."
        )
    days = max(int(retention), settings.GOVERNANCE_AUDIT_MIN_RETENTION_DAYS)
    oldest_allowed = timezone.now() - timedelta(days=days)
    if before > oldest_allowed:
        raise PurgeRefused(
            f"Entries are kept for {days} days: the cut-off must be on or before {oldest_allowed.date().isoformat()}."
        )

    from . import checkpoints

    if not dry_run and checkpoints.load_all() and checkpoints.private_key() is None:
        # A purge moves the chain start: without a new signed checkpoint, verification fails.
        raise PurgeRefused(
            "The trail is checkpointed and GOVERNANCE_AUDIT_CHECKPOINT_KEY is not set here: purge where the key is."
        )
    if connection.vendor == "postgresql" and not dry_run:
        # The configured days as they are: the function applies the 183-day floor itself.
        result = _purge_in_database(before=before, days=int(retention), reason=reason, actor=actor)
    else:
        result = _purge_here(before=before, days=days, dry_run=dry_run, reason=reason, actor=actor)
    if not dry_run and result["event_seq"] is not None and checkpoints.private_key() is not None:
        result["checkpoint"] = str(checkpoints.checkpoint_write(after_purge=True))
    return result


def _purge_here(*, before: datetime, days: int, dry_run: bool, reason: str, actor) -> dict:
    """The purge in Python: SQLite, and counting for a dry run."""
    from auditlog.models import LogEntry

    with transaction.atomic():
        # Entries this transaction appended before are numbered first, so that everything below
        # sees only sealed entries; then the head stays locked until the purge commits.
        audit_flush()
        if connection.vendor == "postgresql":
            # Only counting (the purge itself is the database function): read the head without
            # locking it, which the portal's database user may not do.
            head = ChainHead.objects.filter(pk=1).first() or ChainHead(pk=1)
        else:
            head = _lock_head()
        # The cut is the first entry, in chain order, recorded at or after ``before``: everything
        # removed is older than that. (An entry's time is taken when it is appended and its number
        # when its transaction commits, so an entry of a late-committing transaction may sit just
        # after a newer one; it is then kept a little longer, never removed early.)
        first_kept = (
            AuditEvent.objects.filter(at__gte=before).order_by("seq").values_list("seq", "prev_hash").first()
        )
        new_base, new_prev = first_kept if first_kept else (head.seq + 1, head.hash)
        count = AuditEvent.objects.filter(seq__gte=head.base_seq, seq__lt=new_base).count()
        if dry_run or count == 0:
            return {"count": count, "starts_at_seq": head.base_seq, "event_seq": None}
        ChainHead.objects.filter(pk=head.pk).update(base_seq=new_base, base_prev_hash=new_prev)
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {AuditEvent._meta.db_table} WHERE seq < %s", [new_base])
            cursor.execute(f"DELETE FROM {LogEntry._meta.db_table} WHERE timestamp < %s", [before])
        audit_append(
            kind=EventKind.ADMIN,
            action="audit.purged",
            summary=reason or f"Retention purge of entries recorded before {before.date().isoformat()}.",
            data={
                "starts_at_seq": new_base,
                "starts_from_hash": new_prev,
                "removed": count,
                "before": before.isoformat(),
                "retention_days": days,
            },
            actor=actor,
            agent_name="" if actor is not None else "audit-purge",
        )
        audit_flush()
        # This transaction holds the head: the purge event is the last entry.
        event_seq = ChainHead.objects.values_list("seq", flat=True).get(pk=head.pk)
    return {"count": count, "starts_at_seq": new_base, "event_seq": event_seq}


def _purge_in_database(*, before: datetime, days: int, reason: str, actor) -> dict:
    """PostgreSQL: the privileged function ``governance_audit_purge`` (migration 0006) checks the
    retention rule again (never under 183 days), moves the chain start, deletes and appends the
    purge entry, with the owner's rights; the portal's own database user cannot delete."""
    from django.db import DatabaseError

    with transaction.atomic():
        with connection.cursor() as cursor:
            try:
                with transaction.atomic():
                    cursor.execute(
                        "SELECT removed, starts_at_seq, event_seq FROM governance_audit_purge(%s, %s, %s, %s, %s, %s, %s)",
                        [
                            before,
                            reason or "",
                            days,
                            actor.pk if actor is not None else None,
                            actor.get_username() if actor is not None else "",
                            "" if actor is not None else "audit-purge",
                            (correlation_id_get() or "")[:64],
                        ],
                    )
                    count, starts_at_seq, event_seq = cursor.fetchone()
            except DatabaseError as error:
                cause = getattr(error, "__cause__", None)
                diag = getattr(cause, "diag", None)
                message = getattr(diag, "message_primary", None) or str(error)
                if "kept" in message:
                    raise PurgeRefused(message) from error
                raise
    return {"count": count, "starts_at_seq": starts_at_seq, "event_seq": event_seq}
