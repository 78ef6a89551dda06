"""PostgreSQL: a transaction's audit entries are written with its COMMIT (governance.audit.db).

They must still commit and roll back with the action, savepoints included; a reader inside the
transaction must see them; and the chain head is held only while a transaction commits.
"""

import threading

import pytest
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection, transaction

from governance.audit import services
from governance.audit.models import AuditEvent, ChainHead
from governance.audit.services import agent_event_record, event_hash
from governance.audit.verification import chain_verify

from .test_concurrency import committed_db  # noqa: F401 - fixture

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="entries are written at commit on PostgreSQL"),
]


def _events(action: str):
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_entries_are_written_with_the_commit_and_hashed_as_python_does(committed_db):
    tricky = 'quotes " and \\ backslash, new\nline, é, 中文, emoji 🙂, \u2028'
    with transaction.atomic():
        first = agent_event_record(agent_name="scheduler", action="commit.one", summary=tricky, data={"t": tricky})
        second = agent_event_record(agent_name="scheduler", action="commit.two")
        # Kept by the connection until the COMMIT: no number yet.
        assert first.seq is None and second.seq is None
        assert len(connection.audit_entries) == 2
    assert connection.audit_entries == []
    assert second.seq == first.seq + 1 and second.prev_hash == first.hash
    stored = _events("commit.one")[0]
    assert (stored.seq, stored.hash) == (first.seq, first.hash)
    # The database function hashes the canonical content exactly as Python does.
    assert event_hash(stored) == stored.hash == event_hash(first)
    assert ChainHead.objects.get(pk=1).seq == second.seq
    assert chain_verify().ok


def test_an_entry_outside_a_transaction_is_written_at_once(committed_db):
    event = agent_event_record(agent_name="scheduler", action="commit.autocommit")
    assert event.seq is not None
    assert _events("commit.autocommit")[0].hash == event.hash


@pytest.mark.django_db
def test_a_reader_inside_the_transaction_sees_its_own_entries():
    agent_event_record(agent_name="scheduler", action="commit.read-own")
    assert AuditEvent.objects.filter(action="commit.read-own").count() == 1
    # Written now, so nothing is left for the commit.
    assert len(connection.audit_entries) == connection.audit_written


def test_a_rolled_back_savepoint_drops_its_entries_and_restores_the_ones_it_undid(committed_db):
    with transaction.atomic():
        outer = agent_event_record(agent_name="scheduler", action="commit.outer")
        try:
            with transaction.atomic():
                # A read inside the savepoint writes the outer entry there...
                assert AuditEvent.objects.filter(action="commit.outer").exists()
                agent_event_record(agent_name="scheduler", action="commit.inner")
                raise RuntimeError("the inner step fails")
        except RuntimeError:
            pass
        # ...so rolling the savepoint back undid it: it is due again, the inner one is gone.
        assert not AuditEvent.objects.filter(action="commit.inner").exists()
    assert [event.seq for event in _events("commit.outer")] == [outer.seq]
    assert _events("commit.inner") == []
    assert chain_verify().ok


def test_an_entry_that_cannot_be_written_fails_the_commit_and_the_action(committed_db, monkeypatch):
    def failing_calls(count: int) -> str:
        # The same parameters, but a statement that fails in the database.
        return "; ".join(["SELECT 1 / 0 WHERE " + " AND ".join(["%s::text IS NULL OR true"] * 17)] * count)

    monkeypatch.setattr(services, "append_call_sql", failing_calls)
    with pytest.raises(DatabaseError, match="division by zero"):
        with transaction.atomic():
            Group.objects.create(name="made-with-a-failing-entry")
            agent_event_record(agent_name="scheduler", action="commit.failing")
    monkeypatch.undo()
    # Neither the action nor its entry was committed, and the connection goes on working.
    assert not Group.objects.filter(name="made-with-a-failing-entry").exists()
    assert _events("commit.failing") == []
    agent_event_record(agent_name="scheduler", action="commit.after-failure")
    assert len(_events("commit.after-failure")) == 1
    assert chain_verify().ok


def test_the_chain_head_is_held_only_while_a_transaction_commits(committed_db):
    """A long transaction with an entry does not make every other audited action wait for it."""
    appended, other_done = threading.Event(), threading.Event()
    errors = []

    def long_transaction():
        try:
            with transaction.atomic():
                agent_event_record(agent_name="slow-job", action="commit.long")
                appended.set()
                # Stay open until the other transaction has committed (or give up).
                other_done.wait(timeout=20)
        except Exception as error:  # surfaced in the main thread
            errors.append(error)
        finally:
            connection.close()

    slow = threading.Thread(target=long_transaction)
    slow.start()
    try:
        assert appended.wait(timeout=20)
        with transaction.atomic():
            quick = agent_event_record(agent_name="quick-job", action="commit.quick")
        other_done.set()
    finally:
        other_done.set()
        slow.join()
    assert errors == []
    # The quick one committed first, so it comes first in the chain; both are there, gapless.
    (long_event,) = _events("commit.long")
    assert long_event.seq == quick.seq + 1
    assert chain_verify().ok


def test_the_function_recreates_a_missing_chain_head(committed_db):
    last = agent_event_record(agent_name="scheduler", action="commit.before-flush")
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {ChainHead._meta.db_table}")
    with transaction.atomic():
        event = agent_event_record(agent_name="scheduler", action="commit.after-flush")
    assert (event.seq, event.prev_hash) == (last.seq + 1, last.hash)
    assert ChainHead.objects.get(pk=1).seq == event.seq
    assert chain_verify().ok
