"""Access events off the request path: a read queues its event in Redis, the drain appends the
queue in batches (one chain-head lock per batch), idempotently, and a read without Redis appends
its event directly."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from unittest import mock

import pytest
from celery.signals import worker_shutdown
from django.db import connection
from django.utils import timezone

from governance.audit import access_queue, services
from governance.audit.access_queue import access_drain, queued_count, redis_client
from governance.audit.models import AuditEvent, EventKind
from governance.audit.services import access_append, audit_append_batch
from governance.audit.verification import chain_verify
from tests.testsuites.conftest import free_port


def access_events(**filters):
    return list(AuditEvent.objects.filter(kind=EventKind.ACCESS, **filters).order_by("seq"))


def queue_reads(count: int, actor) -> None:
    for index in range(count):
        access_append(action="model.viewed", actor=actor, object_type="test.thing", object_id=str(index))


def test_a_read_queues_its_event_and_the_drain_appends_it_with_the_time_of_the_read(
    client, audrey, credit_model, drain_access
):
    client.force_login(audrey)
    before = timezone.now()
    response = client.get(f"/models/{credit_model.slug}/", HTTP_USER_AGENT="pytest-agent", HTTP_X_CORRELATION_ID="cid-1")
    after = timezone.now()
    assert response.status_code == 200

    # Nothing in the trail yet: the read wrote nothing to the database.
    assert access_events(action="model.viewed") == []
    assert queued_count() == 1
    time.sleep(0.05)  # the append comes later than the read

    assert drain_access() == 1
    assert queued_count() == 0
    (event,) = access_events(action="model.viewed")
    assert before <= event.at <= after
    assert event.actor_id == audrey.pk and event.actor_username == "audrey" and event.actor_kind == "human"
    assert event.model_slug == credit_model.slug and event.object_id == str(credit_model.pk)
    assert event.user_agent == "pytest-agent" and event.correlation_id == "cid-1"
    assert event.remote_addr == "127.0.0.1"
    assert event.event_id is not None and event.seq > 0
    assert chain_verify().ok


def test_the_drain_appends_a_batch_per_transaction_with_one_head_lock_each(audrey, settings, drain_access):
    queue_reads(25, audrey)
    lock_head = services._lock_head
    batch_append = services.audit_append_batch
    with (
        mock.patch.object(services, "_lock_head", side_effect=lock_head) as locks,
        mock.patch.object(services, "audit_append_batch", side_effect=batch_append) as batches,
    ):
        assert access_drain(batch_size=10) == 25

    assert [len(call.args[0]) for call in batches.call_args_list] == [10, 10, 5]
    # PostgreSQL: the seal locks the head at each batch's commit; SQLite: the batch locks it once.
    assert locks.call_count == (0 if connection.vendor == "postgresql" else 3)
    assert [event.object_id for event in access_events()] == [str(index) for index in range(25)]
    assert queued_count() == 0
    assert chain_verify().ok


def test_a_drain_that_dies_after_its_commit_leaves_its_batch_to_the_next_which_appends_none_twice(
    audrey, drain_access
):
    queue_reads(6, audrey)
    batch_append = services.audit_append_batch

    def append_then_die(batch):
        batch_append(batch)
        raise SystemExit("drainer killed before it trimmed the queue")

    with mock.patch.object(services, "audit_append_batch", side_effect=append_then_die):
        with pytest.raises(SystemExit):
            access_drain(batch_size=4)
    # The first batch is in the trail, and still queued.
    assert len(access_events()) == 4 and queued_count() == 6

    assert drain_access() == 2
    events = access_events()
    assert [event.object_id for event in events] == [str(index) for index in range(6)]
    assert len({event.event_id for event in events}) == 6
    assert queued_count() == 0
    assert chain_verify().ok


def test_a_drain_that_dies_before_its_commit_appends_nothing_and_the_next_appends_all(audrey, drain_access):
    queue_reads(3, audrey)
    with mock.patch.object(services, "_new_event", side_effect=RuntimeError("drainer died mid-batch")):
        with pytest.raises(RuntimeError):
            access_drain()
    assert access_events() == [] and queued_count() == 3
    assert drain_access() == 3
    assert len(access_events()) == 3 and chain_verify().ok


def test_an_event_delivered_twice_is_appended_once(audrey):
    fields = services.event_fields(kind=EventKind.ACCESS, action="model.viewed", actor=audrey)
    fields["event_id"] = uuid.uuid4()
    queued = access_queue.decode(access_queue.encode(fields))
    assert audit_append_batch([queued]) == 1
    assert audit_append_batch([queued, queued]) == 0
    assert len(access_events(event_id=fields["event_id"])) == 1


def test_a_burst_of_reads_schedules_one_drain_and_a_read_after_the_drain_schedules_the_next(audrey, settings):
    settings.GOVERNANCE_AUDIT_ACCESS_DRAIN_SECONDS = 2.5
    with mock.patch("governance.audit.tasks.audit_access_drain.apply_async") as send:
        queue_reads(5, audrey)
        assert send.call_count == 1
        assert send.call_args.kwargs["countdown"] == 2.5
        ttl = redis_client().pttl(access_queue.guard_key())
        assert 0 < ttl <= 2500

        access_drain()
        queue_reads(1, audrey)
        assert send.call_count == 2


def test_the_guard_expires_so_a_lost_drain_task_does_not_stop_the_next_burst(audrey, settings):
    settings.GOVERNANCE_AUDIT_ACCESS_DRAIN_SECONDS = 0.1
    with mock.patch("governance.audit.tasks.audit_access_drain.apply_async") as send:
        queue_reads(1, audrey)
        time.sleep(0.25)
        queue_reads(1, audrey)
    assert send.call_count == 2


def test_a_broker_that_refuses_the_drain_task_leaves_the_event_queued_and_the_next_read_tries_again(
    audrey, caplog
):
    with mock.patch("governance.audit.tasks.audit_access_drain.apply_async", side_effect=OSError("broker down")) as send:
        with caplog.at_level(logging.WARNING, logger="governance.audit.access_queue"):
            queue_reads(2, audrey)
    assert send.call_count == 2  # the guard was dropped after the first refusal
    assert queued_count() == 2
    assert "Access drain not scheduled" in caplog.text


def test_without_redis_a_read_appends_its_event_directly_and_warns(client, audrey, credit_model, settings, caplog):
    settings.GOVERNANCE_AUDIT_ACCESS_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    client.force_login(audrey)
    with caplog.at_level(logging.WARNING, logger="governance.audit.access_queue"):
        response = client.get(f"/models/{credit_model.slug}/")
    assert response.status_code == 200
    (event,) = access_events(action="model.viewed")
    assert event.actor_username == "audrey" and event.model_slug == credit_model.slug
    assert event.event_id is not None
    assert "appended directly" in caplog.text
    assert chain_verify().ok


def test_an_entry_that_is_not_an_event_is_set_aside_and_the_others_appended(audrey, drain_access, caplog):
    queue_reads(1, audrey)
    fields = services.event_fields(kind=EventKind.ACCESS, action="model.viewed", actor=audrey)
    fields["event_id"] = uuid.uuid4()
    wrong_type = {**json.loads(access_queue.encode(fields)), "data": {"not": "text"}}
    redis_client().rpush(
        access_queue.queue_key(), b"not an event", json.dumps({"kind": "access"}), json.dumps(wrong_type)
    )
    queue_reads(1, audrey)
    with caplog.at_level(logging.ERROR, logger="governance.audit.access_queue"):
        assert drain_access() == 2
    assert [event.object_id for event in access_events()] == ["0", "0"]
    assert redis_client().lrange(access_queue.rejected_key(), 0, -1) == [
        b"not an event",
        b'{"kind": "access"}',
        json.dumps(wrong_type).encode(),
    ]
    assert queued_count() == 0
    assert "set aside" in caplog.text


def test_a_worker_that_shuts_down_drains_the_queue(audrey):
    queue_reads(2, audrey)
    worker_shutdown.send(sender=None)
    assert len(access_events()) == 2 and queued_count() == 0


def test_two_drains_at_once_append_each_event_once_and_keep_one_chain(committed_db):
    """Both drains read the same batch before either appends: one appends it, the other finds
    every identifier in the trail; the numbering stays gapless and the chain verifies."""
    count = 30
    queue_reads(count, None)  # anonymous reads: no user to commit for the threads
    start_seq = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    both_read = threading.Barrier(2, timeout=30)
    batch_append = services.audit_append_batch
    waited = threading.local()

    def append_after_both_read(batch):
        if not getattr(waited, "done", False):
            waited.done = True
            both_read.wait()
        return batch_append(batch)

    results, errors = [], []

    def drainer():
        try:
            results.append(access_drain(batch_size=count))
        except Exception as error:  # surfaced in the main thread
            errors.append(error)
        finally:
            connection.close()

    with mock.patch.object(services, "audit_append_batch", side_effect=append_after_both_read):
        threads = [threading.Thread(target=drainer) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

    assert errors == []
    assert sorted(results) == [0, count]
    events = AuditEvent.objects.filter(seq__gt=start_seq).order_by("seq")
    assert [event.seq for event in events] == list(range(start_seq + 1, start_seq + count + 1))
    assert sorted(event.object_id for event in events) == sorted(str(index) for index in range(count))
    assert queued_count() == 0
    assert chain_verify().ok

