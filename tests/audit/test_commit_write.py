"""PostgreSQL: a transaction's audit entries are sealed (numbered and hashed) when it commits, by
the deferred constraint trigger ``audit_seal``.

They must still commit and roll back with the action, savepoints included; an entry that cannot
be sealed fails the commit and the action; and the chain head is held only while a transaction
commits.
"""

import threading

import pytest
from django.contrib.auth.models import Group
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from governance.audit.hashing import event_hash
from governance.audit.models import AuditEvent, ChainHead
from governance.audit.services import agent_event_record, audit_flush
from governance.audit.verification import chain_verify

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="entries are sealed at commit on PostgreSQL"),
]


def _events(action: str):
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def _last_seq() -> int:
    """Where the chain ends now (transactional tests elsewhere may have left entries)."""
    return AuditEvent.objects.filter(seq__gt=0).order_by("-seq").values_list("seq", flat=True).first() or 0


def test_entries_are_sealed_at_commit_in_the_order_written(committed_db):
    tricky = 'quotes " and \\ backslash, new\nline, é, 中文, emoji 🙂, \u2028'
    base = _last_seq()
    with transaction.atomic():
        agent_event_record(agent_name="scheduler", action="commit.one", summary=tricky, data={"t": tricky})
        agent_event_record(agent_name="scheduler", action="commit.two")
        # Written plainly, not numbered yet: the head is not locked by this transaction.
        pending = list(AuditEvent.objects.filter(action__startswith="commit.").values_list("seq", "hash"))
        assert len(pending) == 2 and all(seq < 0 and hash_ == "" for seq, hash_ in pending)
        assert not ChainHead.objects.filter(seq__gt=base).exists()
    (first,), (second,) = _events("commit.one"), _events("commit.two")
    assert (first.seq, second.seq) == (base + 1, base + 2) and second.prev_hash == first.hash
    # The database hashes the canonical content exactly as Python does.
    assert event_hash(first) == first.hash and event_hash(second) == second.hash
    assert ChainHead.objects.get(pk=1).seq == second.seq
    assert chain_verify().ok


def test_an_entry_outside_a_transaction_is_sealed_at_once(committed_db):
    base = _last_seq()
    agent_event_record(agent_name="scheduler", action="commit.autocommit")
    (event,) = _events("commit.autocommit")
    assert event.seq == base + 1 and event.hash == event_hash(event)


def test_flush_seals_the_entries_before_the_commit(committed_db):
    base = _last_seq()
    with transaction.atomic():
        agent_event_record(agent_name="scheduler", action="commit.flushed")
        audit_flush()
        (event,) = _events("commit.flushed")
        assert event.seq == base + 1 and event.hash == event_hash(event)
        # Entries after the flush are sealed at commit again.
        agent_event_record(agent_name="scheduler", action="commit.after-flush")
        assert _events("commit.after-flush")[0].seq < 0
    assert _events("commit.after-flush")[0].seq == base + 2
    assert chain_verify().ok


def test_a_rolled_back_savepoint_drops_its_entries(committed_db):
    base = _last_seq()
    with transaction.atomic():
        agent_event_record(agent_name="scheduler", action="commit.outer")
        try:
            with transaction.atomic():
                agent_event_record(agent_name="scheduler", action="commit.inner")
                raise RuntimeError("the inner step fails")
        except RuntimeError:
            pass
        agent_event_record(agent_name="scheduler", action="commit.last")
    assert [event.seq for event in _events("commit.outer") + _events("commit.last")] == [base + 1, base + 2]
    assert _events("commit.inner") == []
    assert chain_verify().ok


def test_a_rolled_back_transaction_leaves_no_entry_and_no_gap(committed_db):
    base = _last_seq()
    with pytest.raises(RuntimeError), transaction.atomic():
        agent_event_record(agent_name="scheduler", action="commit.abandoned")
        raise RuntimeError("the action fails")
    agent_event_record(agent_name="scheduler", action="commit.kept")
    assert _events("commit.abandoned") == []
    assert _events("commit.kept")[0].seq == base + 1


@pytest.mark.usefixtures("db_owner")  # the database's own rules
def test_an_entry_that_cannot_be_sealed_fails_the_commit_and_the_action(committed_db):
    # Someone with database access took the next number behind the application's back.
    agent_event_record(agent_name="scheduler", action="commit.first")
    taken = _last_seq() + 1
    AuditEvent(
        seq=taken, prev_hash="x", hash="x", at=timezone.now(), kind="agent", action="commit.squatter", actor_kind="agent"
    ).save(force_insert=True)
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            Group.objects.create(name="made-with-an-unsealable-entry")
            agent_event_record(agent_name="scheduler", action="commit.failing")
    # Neither the action nor its entry was committed, and the connection goes on working.
    assert not Group.objects.filter(name="made-with-an-unsealable-entry").exists()
    assert _events("commit.failing") == []
    assert ChainHead.objects.get(pk=1).seq == taken - 1


@pytest.mark.usefixtures("db_owner")  # the database's own rules
def test_nobody_but_the_seal_fills_in_an_entry(committed_db):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        agent_event_record(agent_name="scheduler", action="commit.forged")
        with connection.cursor() as cursor:
            cursor.execute("UPDATE audit_auditevent SET seq = 1, hash = 'forged' WHERE seq < 0")
    assert _events("commit.forged") == []


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
            agent_event_record(agent_name="quick-job", action="commit.quick")
        other_done.set()
    finally:
        other_done.set()
        slow.join()
    assert errors == []
    # The quick one committed first, so it comes first in the chain; both are there, gapless.
    (quick,), (long_event,) = _events("commit.quick"), _events("commit.long")
    assert long_event.seq == quick.seq + 1
    assert chain_verify().ok


@pytest.mark.usefixtures("db_owner")  # the database's own rules
def test_the_seal_recreates_a_missing_chain_head(committed_db):
    agent_event_record(agent_name="scheduler", action="commit.before-truncate")
    (last,) = _events("commit.before-truncate")
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {ChainHead._meta.db_table}")
    with transaction.atomic():
        agent_event_record(agent_name="scheduler", action="commit.after-truncate")
    (event,) = _events("commit.after-truncate")
    assert (event.seq, event.prev_hash) == (last.seq + 1, last.hash)
    assert ChainHead.objects.get(pk=1).seq == event.seq
    assert chain_verify().ok
