"""The scoring gateway's decisions: who may score, which version answers, what is recorded.

``prediction_make`` is the one way to score production inputs (the API's predict endpoint calls
it). In order: the caller must see the model (else 404, as everywhere); the caller's token (or
account) is within its rate (else 429); the body is a non-empty list of objects within the batch
limit (else 400 or 413); the model has a champion now (else 409); every row matches the
champion's input schema (else 400 naming the row and the feature). Only then is anything scored,
and the answer's trace (``ScoringRecord``) is committed before the answer is returned. The
challengers of that moment score the same inputs afterwards in a worker (``shadow_score``),
under the same trace id; they never delay or fail the answer.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import re
import threading
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import FilteredRelation, Q, Value
from django.http import Http404

from governance.access.permissions import sees_all_models, view_granted
from governance.errors import ActionConflict, ActionError
from governance.registry.models import MLModel, ModelVersion, VersionState
from workflows.testsuites.models import ScoringRecord
from workflows.testsuites.scoring import ModelLoadError, ModelOutputError, Predictions

from . import serving
from .validation import InputRejected, inputs_shape_check, inputs_validate

logger = logging.getLogger(__name__)


class NoChampion(ActionConflict):
    code = "no_champion"


class RateLimited(ActionError):
    """Too many requests for this token in the current window (429); retry after ``retry_after`` s."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class ChampionFailed(ActionError):
    """The champion raised or returned something that is not a prediction per row."""

    status = 502
    code = "model_error"


@dataclass(frozen=True)
class Answer:
    trace_id: str
    model_version: int
    predictions: list
    probabilities: list | None

    def as_dict(self) -> dict:
        body = {"model_version": self.model_version, "predictions": self.predictions, "trace_id": self.trace_id}
        if self.probabilities is not None:
            body["probabilities"] = self.probabilities
        return body


def prediction_make(*, slug: str, caller, inputs, token=None) -> Answer:
    """Score ``inputs`` with the champion of the model ``slug`` for ``caller`` (through ``token``
    when the call came with one), record the trace and queue the challengers' shadow scoring."""
    if caller is None or not caller.is_authenticated or not caller.is_active:
        raise Http404("No such model.")
    # One query reads the model, whether the caller sees it and which versions answer (a row per
    # champion or challenger, or one row without a version). It runs for every request: a grant
    # removed, or a promotion, rollback or retirement committed before this point is seen here,
    # in every process.
    visible = Value(True) if sees_all_models(caller) else view_granted(caller)
    found = list(
        MLModel.objects.filter(slug=slug)
        .annotate(
            visible=visible,
            live=FilteredRelation("versions", condition=Q(versions__state__in=[VersionState.CHAMPION, VersionState.CHALLENGER])),
        )
        .order_by()
        .values_list("pk", "visible", "live__pk", "live__state", "live__number", "live__artifact_sha256")
    )
    if not found or not found[0][1]:
        raise Http404("No such model.")
    model_id = found[0][0]
    rate_limit_consume(key=f"token:{token.pk}" if token is not None else f"user:{caller.pk}")
    rows = inputs_shape_check(inputs, max_rows=settings.GOVERNANCE_GATEWAY_MAX_BATCH_ROWS)

    champions = [row for row in found if row[3] == VersionState.CHAMPION]
    if not champions:
        raise NoChampion(f"The model '{slug}' has no champion: nothing can score its inputs yet.")
    _pk, _visible, champion_id, _state, champion_number, champion_sha256 = champions[0]
    challenger_ids = sorted(row[2] for row in found if row[3] == VersionState.CHALLENGER)

    try:
        champion = serving.served_version(champion_id, champion_sha256)
    except ModelLoadError as exc:
        logger.error("The champion of %s cannot be loaded: %s", slug, exc)
        raise ChampionFailed(f"The champion cannot be loaded: {exc}") from exc
    values = inputs_validate(rows, champion.input_schema)
    try:
        predictions, latency_ms = champion.score(values)
    except ModelOutputError as exc:
        logger.error("The champion v%s of %s failed on a valid request: %s", champion_number, slug, exc)
        raise ChampionFailed(f"The champion (version {champion_number}) could not score these inputs: {exc}") from exc
    outputs = outputs_of(predictions)

    trace_id = uuid.uuid4().hex
    # One INSERT, committed on its own (autocommit) unless the caller runs inside a transaction:
    # no savepoint around it. The shadow work is queued once the trace is committed (at once in
    # autocommit, at the outer commit otherwise).
    ScoringRecord.objects.create(
        model_id=model_id,
        version_id=champion.pk,
        trace_id=trace_id,
        inputs=rows,
        outputs=outputs,
        artifact_sha256=champion.artifact_sha256,
        rows=len(rows),
        latency_ms=latency_ms,
        caller=caller,
        via_token=_token_label(token),
    )
    if challenger_ids:
        transaction.on_commit(lambda: _shadow_enqueue(trace_id, challenger_ids, len(rows)))
    return Answer(
        trace_id=trace_id,
        model_version=champion_number,
        predictions=outputs["predictions"],
        probabilities=outputs.get("probabilities"),
    )


def outputs_of(predictions: Predictions) -> dict:
    outputs = {"predictions": predictions.values.tolist()}
    if predictions.scores is not None:
        outputs["probabilities"] = predictions.scores.tolist()
    return outputs


def rate_limit_consume(*, key: str) -> None:
    """Count one request for ``key`` in the current window of the shared cache; ``RateLimited``
    past ``GOVERNANCE_GATEWAY_RATE_LIMIT`` requests per ``GOVERNANCE_GATEWAY_RATE_WINDOW_SECONDS``
    (a limit of 0 turns it off). Fixed windows: the cache's atomic increment counts each request
    once across every process."""
    limit = settings.GOVERNANCE_GATEWAY_RATE_LIMIT
    if limit <= 0:
        return
    window = max(1, int(settings.GOVERNANCE_GATEWAY_RATE_WINDOW_SECONDS))
    now = time.time()
    slot = int(now // window)
    cache_key = f"gateway:rate:{key}:{slot}"
    try:
        count = _count(cache_key, timeout=window + 5)
    except Exception:  # noqa: BLE001 - an unreachable cache lets requests through, uncounted
        logger.exception("The rate limit of %s could not be counted", key)
        return
    if count > limit:
        retry_after = max(1, math.ceil((slot + 1) * window - now))
        raise RateLimited(
            f"More than {limit} scoring requests in {window} s with these credentials: retry in {retry_after} s.",
            retry_after=retry_after,
        )


_REDIS_CACHE_BACKEND = "django.core.cache.backends.redis.RedisCache"
_counter_clients: dict[str, object] = {}


def _count(cache_key: str, *, timeout: int) -> int:
    """Add one to the counter ``cache_key`` of the default cache (made with ``timeout`` seconds
    to live by the window's first request) and return its new value.

    On Redis (the shared cache of a deployment) one round trip does it: SET NX with the expiry,
    then INCR, pipelined, on the cache's own key (its ``KEY_PREFIX`` and version), where Django's
    ``cache.incr`` takes two (EXISTS, then INCR). Other caches use ``cache.incr`` and ``cache.add``.
    """
    config = settings.CACHES["default"]
    if config.get("BACKEND") == _REDIS_CACHE_BACKEND:
        location = config["LOCATION"]
        # The first server is the primary, which takes the writes (as Django's RedisCache does).
        location = re.split("[;,]", location)[0] if isinstance(location, str) else location[0]
        client = _counter_clients.get(location)
        if client is None:
            import redis

            # The cache's connection options (timeouts...) as Django's RedisCache passes them to its pool.
            options = {k: v for k, v in config.get("OPTIONS", {}).items() if k not in {"parser_class", "pool_class", "serializer"}}
            pool = redis.ConnectionPool.from_url(location, **options)
            client = _counter_clients.setdefault(location, redis.Redis(connection_pool=pool))
        pipe = client.pipeline(transaction=False)
        key = cache.make_key(cache_key)
        pipe.set(key, 0, ex=timeout, nx=True)
        pipe.incr(key)
        return pipe.execute()[1]
    # Every request but the window's first finds the counter: increment it first.
    try:
        return cache.incr(cache_key)
    except ValueError:  # the window's first request opens it (or another one just did)
        if cache.add(cache_key, 1, timeout=timeout):
            return 1
        return cache.incr(cache_key)


def _token_label(token) -> str:
    if token is None:
        return ""
    return f"{token.label or 'token'} ({token.key_prefix}…)"[:120]


# Shadow work is handed to the broker by one thread per process, off the request's path: a slow
# or unreachable broker never delays an answer. The thread sends what has queued up as one task
# (``gateway.shadow_score_batch``), at most one every ``GOVERNANCE_GATEWAY_SHADOW_BATCH_SECONDS``:
# under load a worker scores many traces per task instead of paying a task's overhead for each
# one. Should the queue fill up (the broker down for long), further shadow work is dropped and
# logged; the answers are unaffected.
_outbox: queue.Queue | None = None
_outbox_pid: int | None = None
_outbox_lock = threading.Lock()


def _shadow_enqueue(trace_id: str, version_ids: list[int], rows: int = 1) -> None:
    try:
        _publisher().put_nowait((trace_id, version_ids, rows))
    except queue.Full:
        logger.error("Shadow scoring of trace %s dropped: the broker has not taken the earlier ones.", trace_id)


def _publisher() -> queue.Queue:
    """This process's outbox, with its publishing thread (started on first use after a fork)."""
    global _outbox, _outbox_pid
    with _outbox_lock:
        if _outbox is None or _outbox_pid != os.getpid():
            _outbox = queue.Queue(maxsize=settings.GOVERNANCE_GATEWAY_SHADOW_BACKLOG)
            _outbox_pid = os.getpid()
            threading.Thread(target=_publish_forever, args=(_outbox,), name="gateway-shadow-publisher", daemon=True).start()
        return _outbox


def _outbox_batch(outbox: queue.Queue, *, max_rows: int) -> list[tuple[str, list[int], int]]:
    """The next batch of queued shadow work: the first item (waiting for it), then whatever else
    is queued, until the batch holds ``max_rows`` rows of inputs or more."""
    batch = [outbox.get()]
    rows = batch[0][2]
    while rows < max_rows:
        try:
            item = outbox.get_nowait()
        except queue.Empty:
            break
        batch.append(item)
        rows += item[2]
    return batch


def _publish_forever(outbox: queue.Queue) -> None:
    from .tasks import shadow_score_batch

    while True:
        batch = _outbox_batch(outbox, max_rows=max(1, settings.GOVERNANCE_GATEWAY_SHADOW_BATCH_ROWS))
        sent = time.monotonic()
        traces = [[trace_id, version_ids] for trace_id, version_ids, _rows in batch]
        try:
            shadow_score_batch.apply_async(kwargs={"traces": traces}, retry=False)
        except Exception as exc:  # noqa: BLE001 - the answers are committed; only this shadow scoring is lost
            logger.error("Could not queue the shadow scoring of %d traces (first %s): %s", len(traces), traces[0][0], exc)
        # At most one task per interval: what arrives meanwhile waits in the outbox for the next.
        pause = settings.GOVERNANCE_GATEWAY_SHADOW_BATCH_SECONDS - (time.monotonic() - sent)
        if pause > 0:
            time.sleep(pause)


def shadow_score(*, trace_id: str, version_id: int) -> ScoringRecord | None:
    """Score the inputs of trace ``trace_id`` with version ``version_id`` (a challenger when the
    request came) and record its outputs, or why it gave none, under the same trace id.

    Safe to run twice: a second run finds the record and does nothing. Returns the record, or
    None when the trace does not exist.
    """
    answer = ScoringRecord.objects.filter(trace_id=trace_id, shadow=False).first()
    if answer is None:
        return None
    existing = ScoringRecord.objects.filter(trace_id=trace_id, version_id=version_id).first()
    if existing is not None:
        return existing
    version = ModelVersion.objects.only("pk", "artifact_sha256").get(pk=version_id)
    record = _shadow_record(answer, version)
    try:
        with transaction.atomic():
            record.save(force_insert=True)
            return record
    except IntegrityError:  # another delivery recorded it meanwhile
        return ScoringRecord.objects.filter(trace_id=trace_id, version_id=version_id).first()


def shadow_score_batch(traces: list[tuple[str, list[int]]]) -> int:
    """``shadow_score`` for many traces at once, each with its own challengers: three reads (the
    answers, the scorings already recorded, the versions) and one insert for the whole batch.

    Safe to run twice: what is already recorded is skipped, and a record another delivery adds
    meanwhile is left as it is. Unknown traces are skipped. Returns how many records were added.
    """
    wanted = {trace_id: [int(v) for v in version_ids] for trace_id, version_ids in traces}
    if not wanted:
        return 0
    answers = {
        record.trace_id: record
        for record in ScoringRecord.objects.filter(trace_id__in=list(wanted), shadow=False).order_by()
    }
    done = set(
        ScoringRecord.objects.filter(trace_id__in=list(answers), shadow=True).order_by().values_list("trace_id", "version_id")
    )
    version_ids = {version_id for trace_id in answers for version_id in wanted[trace_id]}
    versions = ModelVersion.objects.only("pk", "artifact_sha256").in_bulk(list(version_ids))
    records = [
        _shadow_record(answers[trace_id], versions[version_id])
        for trace_id, answer in answers.items()
        for version_id in wanted[trace_id]
        if (trace_id, version_id) not in done and version_id in versions
    ]
    if not records:
        return 0
    with transaction.atomic():
        # A record another delivery added since the read above stays; this one is dropped.
        ScoringRecord.objects.bulk_create(records, ignore_conflicts=True)
    return len(records)


def _shadow_record(answer: ScoringRecord, version: ModelVersion) -> ScoringRecord:
    """The (unsaved) shadow record of ``version`` scoring the inputs of ``answer``."""
    outputs: dict = {}
    error = ""
    latency_ms = None
    try:
        served = serving.served_version(version.pk, version.artifact_sha256)
        values = inputs_validate(answer.inputs, served.input_schema)
        predictions, latency_ms = served.score(values)
        outputs = outputs_of(predictions)
    except InputRejected as exc:
        error = f"The inputs do not match this version's input schema: {exc.message}"
    except (ModelLoadError, ModelOutputError) as exc:
        error = str(exc)
    return ScoringRecord(
        model_id=answer.model_id,
        version_id=version.pk,
        trace_id=answer.trace_id,
        inputs=[],
        outputs=outputs,
        shadow=True,
        artifact_sha256=version.artifact_sha256,
        rows=answer.rows,
        latency_ms=latency_ms,
        caller_id=answer.caller_id,
        via_token=answer.via_token,
        error=error[:2000],
    )
