"""Access events off the request path: queued in Redis by the request, appended in batches.

A read (a page, a download, an export, a search) must not wait for the chain head, which every
write of every process takes. So the request takes the event's fields as ``audit_append`` would
(actor, time of the access, address, user agent, correlation id, object, action, data), gives the
event a fresh identifier and pushes it, serialized, onto a Redis list (``RPUSH``, one round trip,
no database write). The first read of a burst also sets a guard key that expires after
``GOVERNANCE_AUDIT_ACCESS_DRAIN_SECONDS`` and schedules one drain task for when it expires, so a
burst of reads schedules one drain; beat runs the same drain as a backstop, and a worker drains
once more when it shuts down.

The drain (``access_drain``) reads up to ``GOVERNANCE_AUDIT_ACCESS_BATCH_SIZE`` events from the
head of the list (``LRANGE``), appends them in one transaction (``audit_append_batch``: one
chain-head lock per batch) and only after the commit removes them from the list, with a script
that trims only if the list still starts with the batch's first event (another drain may have
trimmed it meanwhile). A drain that dies before trimming leaves its batch in the list: the next
drain reads it again, and the events already committed are known by their identifier and not
appended twice (at-least-once delivery, idempotent append).

The queue lives on ``GOVERNANCE_AUDIT_ACCESS_REDIS_URL`` (``REDIS_URL`` by default). When it
cannot be reached, the request appends its event directly (as every other event is)
and logs a warning: an access event is never dropped silently.

Keys, from ``GOVERNANCE_AUDIT_ACCESS_QUEUE_KEY`` (K): K is the list of queued events,
``K:drain-scheduled`` the guard, ``K:rejected`` the entries that could not be read as an event
(kept for a person to look at, never appended).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from .models import HASHED_FIELDS

logger = logging.getLogger(__name__)

# What a queued event carries: the hashed fields but its place in the chain, and its identifier.
QUEUED_FIELDS = frozenset(name for name in HASHED_FIELDS if name not in ("seq", "prev_hash")) | {"event_id"}

# Trim the drained batch only if the list still starts with it; set aside what could not be read.
_TRIM_SCRIPT = """
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then
    redis.call('LTRIM', KEYS[1], tonumber(ARGV[2]), -1)
    for i = 3, #ARGV do
        redis.call('RPUSH', KEYS[2], ARGV[i])
    end
    return 1
end
return 0
"""

_clients: dict[tuple, redis.Redis] = {}


def redis_client() -> redis.Redis:
    """The queue's client on ``GOVERNANCE_AUDIT_ACCESS_REDIS_URL`` (one connection pool per
    process; redis-py makes a new pool after a fork). Short timeouts and one retry: a request
    does not wait long for a Redis that is gone, it appends directly instead."""
    timeout = settings.GOVERNANCE_AUDIT_ACCESS_REDIS_TIMEOUT
    key = (settings.GOVERNANCE_AUDIT_ACCESS_REDIS_URL, timeout)
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = redis.Redis.from_url(
            settings.GOVERNANCE_AUDIT_ACCESS_REDIS_URL,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
        )
    return client


def queue_key() -> str:
    return settings.GOVERNANCE_AUDIT_ACCESS_QUEUE_KEY


def guard_key() -> str:
    return f"{queue_key()}:drain-scheduled"


def rejected_key() -> str:
    return f"{queue_key()}:rejected"


# --- The request's side -------------------------------------------------------------------------


def access_event_queue(fields: dict) -> None:
    """Queue the access event of ``fields`` (``services.event_fields``) for the drain, or append it
    now when Redis cannot be reached."""
    from .services import audit_append_batch

    fields["event_id"] = uuid.uuid4()
    interval = settings.GOVERNANCE_AUDIT_ACCESS_DRAIN_SECONDS
    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.rpush(queue_key(), encode(fields))
        pipe.set(guard_key(), "1", nx=True, px=max(1, int(interval * 1000)))
        _, first_of_burst = pipe.execute()
    except redis.RedisError as error:
        # Pushed or not (a reply may be lost after the push), the event is appended here; if it
        # was pushed too, the drain finds its identifier in the trail and skips it.
        logger.warning(
            "Access event %s appended directly: the access queue's Redis cannot be reached (%s)",
            fields.get("action"),
            error,
        )
        audit_append_batch([fields])
        return
    if first_of_burst:
        drain_schedule(interval)


def drain_schedule(countdown: float) -> None:
    """Send one drain task to run after ``countdown`` seconds, when the guard has expired: the
    events queued meanwhile go in its batch. If the broker refuses, the guard is dropped so that
    the next read tries again (and beat's backstop drains anyway)."""
    from .tasks import audit_access_drain

    try:
        audit_access_drain.apply_async(countdown=countdown, retry=False)
    except Exception as error:  # noqa: BLE001 - kombu's errors vary by transport; the event is safe in Redis
        logger.warning("Access drain not scheduled (%s): the next read or beat's backstop drains the queue", error)
        try:
            redis_client().delete(guard_key())
        except redis.RedisError:
            pass


def encode(fields: dict) -> bytes:
    """The queued form of an event: JSON of its fields, the actor by id, the time in ISO 8601."""
    actor = fields.get("actor")
    payload = {name: fields.get(name) for name in QUEUED_FIELDS}
    payload["actor_id"] = fields.get("actor_id") if actor is None else actor.pk
    payload["at"] = fields["at"].isoformat()
    payload["event_id"] = fields["event_id"].hex
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def decode(raw: bytes) -> dict:
    """The fields of a queued event; ValueError when ``raw`` is not one."""
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not JSON: {error}") from error
    if not isinstance(payload, dict) or set(payload) != QUEUED_FIELDS:
        raise ValueError("not the fields of an access event")
    try:
        payload["at"] = datetime.fromisoformat(payload["at"])
        payload["event_id"] = uuid.UUID(payload["event_id"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"bad time or identifier: {error}") from error
    if payload["at"].tzinfo is None:
        raise ValueError("time without a time zone")
    for name in QUEUED_FIELDS - {"at", "event_id", "actor_id", "version_number"}:
        if not isinstance(payload[name], str):
            raise ValueError(f"{name} is not text")
    for name in ("actor_id", "version_number"):
        if payload[name] is not None and (not isinstance(payload[name], int) or isinstance(payload[name], bool)):
            raise ValueError(f"{name} is not a number")
    return payload


# --- The drain ----------------------------------------------------------------------------------


def access_drain(*, batch_size: int | None = None) -> int:
    """Append the queued access events to the trail, a batch per transaction, until the queue is
    empty (or holds less than a batch); return how many events were new to the trail.

    What the task, beat's backstop, the worker's shutdown and the tests call. Safe to run in
    several processes at once: batches read twice are appended once (see the module)."""
    from .services import audit_append_batch

    client = redis_client()
    size = batch_size or settings.GOVERNANCE_AUDIT_ACCESS_BATCH_SIZE
    key = queue_key()
    # From here on a new read schedules a drain of its own; the ones before are in the list.
    client.delete(guard_key())
    trim = client.register_script(_TRIM_SCRIPT)
    appended = 0
    while True:
        raw = client.lrange(key, 0, size - 1)
        if not raw:
            return appended
        batch, rejected = [], []
        for item in raw:
            try:
                batch.append(decode(item))
            except ValueError as error:
                logger.error("Queued access entry set aside in %s, not appended: %s", rejected_key(), error)
                rejected.append(item)
        appended += audit_append_batch(batch)
        trimmed = trim(keys=[key, rejected_key()], args=[raw[0], len(raw), *rejected])
        # Not trimmed: another drain took (part of) this batch off first; read the list again.
        if trimmed and len(raw) < size:
            return appended


def queued_count() -> int:
    """How many access events wait in the queue."""
    return int(redis_client().llen(queue_key()))
