"""Writes to the audit trail: one way in, ``audit_append``, and helpers for each kind of event.

Every event is appended to one hash chain in the transaction of the action it records, so a
rolled-back action leaves no event and a committed one always has its event. Appending locks the
chain head row: concurrent writers queue, and the chain never forks or skips a number.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone as dt_timezone
from json.encoder import c_make_encoder, encode_basestring
from typing import Any, Iterable

from auditlog.context import auditlog_value
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

try:
    import psycopg
except ImportError:  # pragma: no cover - only PostgreSQL installations need it
    psycopg = None

from .context import correlation_id_get, current_agent, current_request
from .models import GENESIS_HASH, HASHED_FIELDS, ActorKind, AuditEvent, ChainHead, EventKind

# Key of the PostgreSQL advisory lock that serialises creating the chain head row.
_HEAD_CREATE_LOCK = 0x617564697448  # "auditH"
_UNSET: Any = object()


# --- Canonical content and hashing --------------------------------------------------------------


def canonical_data(data: dict | None) -> str:
    """Details as canonical JSON text (sorted keys, no whitespace); values JSON cannot hold become text."""
    return json.dumps(data or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_time(at: datetime) -> str:
    """UTC, always with microseconds: ``2026-11-26T10:51:00.000000Z`` (PostgreSQL can write it too)."""
    if at.tzinfo is not dt_timezone.utc:
        at = at.astimezone(dt_timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# One encoder, built once: verification calls it a million times. The C encoder called directly
# gives the same text as JSONEncoder.encode at less than half the cost (it is rebuilt per call there).
# The item separator is ", " because that is what PostgreSQL's json_build_array writes, so the
# database can recompute the same hashes (verification.py); strings are escaped alike by both.
_ENCODER = json.JSONEncoder(separators=(", ", ":"), ensure_ascii=False)
if c_make_encoder is not None:
    _c_encoder = c_make_encoder(None, _ENCODER.default, encode_basestring, None, ":", ", ", False, False, True)

    def encode_values(values: list) -> str:
        return "".join(_c_encoder(values, 0))

else:  # pragma: no cover - CPython always has it
    encode_values = _ENCODER.encode


def canonical_content(row: Iterable) -> str:
    """The canonical form of one event: the JSON array of the ``HASHED_FIELDS`` values in that
    order, items separated by ", ", the time as ``canonical_time``, non-ASCII text as is.

    An array rather than an object with sorted keys: the same information, unambiguous, a third
    of the cost to encode a million times, and exactly what PostgreSQL's ``json_build_array``
    writes, so the database can recompute it."""
    values = list(row)
    at = values[2]
    if not isinstance(at, str):
        values[2] = canonical_time(at)
    return encode_values(values)


def content_hash(row: Iterable) -> str:
    return hashlib.sha256(canonical_content(row).encode("utf-8")).hexdigest()


def event_hash(event: AuditEvent) -> str:
    return content_hash([getattr(event, field) for field in HASHED_FIELDS])


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
    """
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

    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            event = AuditEvent(seq=0, prev_hash="", at=timezone.now(), **fields)
            # One round trip: lock the head, insert the next entry, move the head.
            chained = _append_in_one_statement(event)
            if chained is None:  # no head row yet (fresh or flushed database)
                _lock_head()
                chained = _append_in_one_statement(event)
            event.seq, event.prev_hash, event.hash = chained
        else:
            head = _lock_head()
            event = AuditEvent(seq=head.seq + 1, prev_hash=head.hash, at=timezone.now(), **fields)
            event.hash = event_hash(event)
            event.save(force_insert=True)
            ChainHead.objects.filter(pk=head.pk).update(seq=event.seq, hash=event.hash)
    return event


# Casts for the values handed to PostgreSQL, so json_build_array sees the column types.
_PG_CASTS = {"actor_id": "bigint", "version_number": "integer", "at": "timestamptz"}


def _append_in_one_statement(event: AuditEvent) -> tuple[int, str, str] | None:
    """Append on PostgreSQL in a single statement; the database computes the content hash with
    the same canonical form (``canonical_content``; verified in Python by the tests).

    The head row is locked FOR UPDATE by the statement itself: a concurrent writer waits for it,
    then reads the head its predecessor committed, so numbers never repeat or skip.
    """
    global _APPEND_SQL
    if _APPEND_SQL is None:
        _APPEND_SQL = _append_sql()
    params = [getattr(event, name) for name in _GIVEN_FIELDS]
    connection.ensure_connection()
    # A server-side-binding cursor on Django's own connection (so, in its transaction): psycopg
    # prepares a statement it runs often, which spares the server parsing and planning this one
    # on every append.
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(_APPEND_SQL, params)
        return cursor.fetchone()


_GIVEN_FIELDS = [name for name in HASHED_FIELDS if name not in ("seq", "prev_hash")]
_APPEND_SQL: str | None = None


def _append_sql() -> str:
    from .verification import pg_content_hash_sql

    quote = connection.ops.quote_name
    select_given = ", ".join(f"%s::{_PG_CASTS.get(name, 'text')} AS {quote(name)}" for name in _GIVEN_FIELDS)
    columns = ", ".join(quote(AuditEvent._meta.get_field(name).column) for name in HASHED_FIELDS)
    events, heads = quote(AuditEvent._meta.db_table), quote(ChainHead._meta.db_table)
    return f"""
        WITH head AS (SELECT seq, hash FROM {heads} WHERE id = 1 FOR UPDATE),
        new AS (SELECT head.seq + 1 AS seq, head.hash AS prev_hash, {select_given} FROM head),
        inserted AS (
            INSERT INTO {events} ({columns}, hash)
            SELECT {columns}, {pg_content_hash_sql()} FROM new
            RETURNING seq, prev_hash, hash
        )
        UPDATE {heads} SET seq = inserted.seq, hash = inserted.hash FROM inserted WHERE {heads}.id = 1
        RETURNING inserted.seq, inserted.prev_hash, inserted.hash
    """


def _lock_head() -> ChainHead:
    """Lock and return the chain head; create it when missing (fresh or flushed database)."""
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is not None:
        return head
    if connection.vendor == "postgresql":
        # Two first writers must not both create the head: the second waits here until the
        # first commits, then finds the row.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_HEAD_CREATE_LOCK])
        head = ChainHead.objects.select_for_update().filter(pk=1).first()
        if head is not None:
            return head
    last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    first = AuditEvent.objects.order_by("seq").values_list("seq", "prev_hash").first()
    return ChainHead.objects.create(
        pk=1,
        seq=last[0] if last else 0,
        hash=last[1] if last else GENESIS_HASH,
        base_seq=first[0] if first else 1,
        base_prev_hash=first[1] if first else GENESIS_HASH,
    )


# --- Helpers for each kind of event -------------------------------------------------------------


def access_record(request, action: str, obj=None, *, summary: str = "", data: dict | None = None) -> AuditEvent:
    """Someone looked at or downloaded something: "model.viewed", "artifact.downloaded", ..."""
    user = getattr(request, "user", None)
    return audit_append(
        kind=EventKind.ACCESS,
        action=action,
        obj=obj,
        summary=summary,
        data=data,
        actor=user if user is not None and user.is_authenticated else None,
        request=request,
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


class PurgeRefused(Exception):
    pass


def audit_purge(*, before: datetime, dry_run: bool = False, reason: str = "", actor=None) -> dict:
    """Remove the entries recorded before ``before``, keeping the rest of the chain verifiable.

    The chain start moves to the first kept entry (its number and its prev_hash are kept on the
    head row), and an "audit.purged" event records that anchor, the count and the reason.
    """
    from auditlog.models import LogEntry

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

    with transaction.atomic():
        head = _lock_head()
        # Events are appended under the head lock with the time taken then, so time follows seq.
        first_kept = (
            AuditEvent.objects.filter(at__gte=before).order_by("seq").values_list("seq", "prev_hash").first()
        )
        new_base, new_prev = first_kept if first_kept else (head.seq + 1, head.hash)
        count = AuditEvent.objects.filter(seq__gte=head.base_seq, seq__lt=new_base).count()
        if dry_run or count == 0:
            return {"count": count, "starts_at_seq": head.base_seq, "event_seq": None}
        ChainHead.objects.filter(pk=head.pk).update(base_seq=new_base, base_prev_hash=new_prev)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # Lets the append-only trigger allow these deletions, in this transaction only.
                cursor.execute("SELECT set_config('governance.audit_purge', 'on', true)")
                cursor.execute("SELECT set_config('governance.audit_purge_before', %s, true)", [before.isoformat()])
            cursor.execute(f"DELETE FROM {AuditEvent._meta.db_table} WHERE seq < %s", [new_base])
            cursor.execute(f"DELETE FROM {LogEntry._meta.db_table} WHERE timestamp < %s", [before])
        event = audit_append(
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
    return {"count": count, "starts_at_seq": new_base, "event_seq": event.seq}
