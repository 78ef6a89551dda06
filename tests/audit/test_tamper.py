"""Tampering directly in the database, in each of the four ways, is found at the right entry."""

import io

import pytest
from django.core.management import call_command
from django.db import connection

from governance.audit.models import AuditEvent
from governance.audit.hashing import event_hash
from governance.audit.services import agent_event_record
from governance.audit.verification import chain_verify as _chain_verify

from .conftest import tamper

# On PostgreSQL the database recomputes the chain by default; Python can do it independently.
# Both must find each kind of tampering at the same entry.
# Tampering is done with the owner's power (``tamper``, forged inserts).
pytestmark = pytest.mark.usefixtures("db_owner")

MODES = [True, False] if connection.vendor == "postgresql" else [False]


@pytest.fixture(params=MODES, ids=lambda in_db: "in-database" if in_db else "in-python")
def chain_verify(request):
    return lambda: _chain_verify(in_database=request.param)


@pytest.fixture
def chain(db, chain_verify):
    """Ten agent events, seq 1 to 10."""
    for number in range(1, 11):
        agent_event_record(agent_name="scheduler", action="job.ran", summary=f"run {number}", data={"n": number})
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == list(range(1, 11))
    return chain_verify()


def _hash_of(seq: int) -> str:
    return AuditEvent.objects.get(seq=seq).hash


def test_untouched_chain_verifies(chain, chain_verify):
    assert chain.ok and chain.checked == 10 and chain.head["seq"] == 10
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert "10 entries verified" in out.getvalue()


def test_changed_entry_is_found(chain, chain_verify):
    tamper("UPDATE audit_auditevent SET summary = %s WHERE seq = 5", ["nothing happened"])
    result = chain_verify()
    assert not result.ok
    assert (result.first_bad.seq, result.first_bad.kind) == (5, "changed")
    assert result.checked == 4


def test_changed_entry_with_recomputed_own_hash_is_found_by_the_next_link(chain, chain_verify):
    tamper("UPDATE audit_auditevent SET summary = %s WHERE seq = 5", ["nothing happened"])
    forged = AuditEvent.objects.get(seq=5)
    tamper("UPDATE audit_auditevent SET hash = %s WHERE seq = 5", [event_hash(forged)])
    result = chain_verify()
    assert (result.first_bad.seq, result.first_bad.kind) == (6, "changed")


def test_deleted_entry_is_found(chain, chain_verify):
    tamper("DELETE FROM audit_auditevent WHERE seq = 5")
    result = chain_verify()
    assert (result.first_bad.seq, result.first_bad.kind) == (5, "deleted")


def test_deleted_last_entry_is_found_against_the_head(chain, chain_verify):
    tamper("DELETE FROM audit_auditevent WHERE seq = 10")
    result = chain_verify()
    assert (result.first_bad.seq, result.first_bad.kind) == (10, "deleted")


def test_deleted_entry_hidden_by_renumbering_is_found(chain, chain_verify):
    tamper("DELETE FROM audit_auditevent WHERE seq = 5")
    tamper("UPDATE audit_auditevent SET seq = seq + 1000 WHERE seq > 5")
    tamper("UPDATE audit_auditevent SET seq = seq - 1001 WHERE seq > 1000")
    result = chain_verify()
    assert (result.first_bad.seq, result.first_bad.kind) == (5, "deleted")


def test_inserted_entry_is_found(chain, chain_verify):
    """Make room at 5 and insert a forged entry that links to 4 and carries a correct own hash."""
    tamper("UPDATE audit_auditevent SET seq = seq + 1000 WHERE seq >= 5")
    tamper("UPDATE audit_auditevent SET seq = seq - 999 WHERE seq > 1000")
    template = AuditEvent.objects.get(seq=4)
    forged = AuditEvent(
        seq=5,
        prev_hash=template.hash,
        at=template.at,
        kind="agent",
        action="job.ran",
        actor_kind="agent",
        agent_name="scheduler",
        summary="a run that never happened",
        data='{"n":99}',
    )
    forged.hash = event_hash(forged)
    forged.save(force_insert=True)
    result = chain_verify()
    assert (result.first_bad.seq, result.first_bad.kind) == (5, "inserted")


def test_inserted_entry_at_the_end_is_found_against_the_head(chain, chain_verify):
    last = AuditEvent.objects.get(seq=10)
    forged = AuditEvent(
        seq=11, prev_hash=last.hash, at=last.at, kind="agent", action="job.ran", actor_kind="agent", data="{}"
    )
    forged.hash = event_hash(forged)
    forged.save(force_insert=True)
    result = chain_verify()
    assert (result.first_bad.seq, result.first_bad.kind) == (11, "inserted")


def test_moved_entry_is_found(chain, chain_verify):
    """Swap entries 4 and 7: the first one out of place is named."""
    tamper("UPDATE audit_auditevent SET seq = -4 WHERE seq = 4")
    tamper("UPDATE audit_auditevent SET seq = 4 WHERE seq = 7")
    tamper("UPDATE audit_auditevent SET seq = 7 WHERE seq = -4")
    result = chain_verify()
    assert (result.first_bad.seq, result.first_bad.kind) == (4, "moved")
    assert "position 7" in result.first_bad.message


def test_moved_neighbour_is_found(chain, chain_verify):
    tamper("UPDATE audit_auditevent SET seq = -5 WHERE seq = 5")
    tamper("UPDATE audit_auditevent SET seq = 5 WHERE seq = 6")
    tamper("UPDATE audit_auditevent SET seq = 6 WHERE seq = -5")
    result = chain_verify()
    assert (result.first_bad.seq, result.first_bad.kind) == (5, "moved")


def test_verify_audit_command_exits_1_naming_the_first_bad_entry(chain, chain_verify):
    tamper("UPDATE audit_auditevent SET action = %s WHERE seq = 3", ["job.skipped"])
    for flags in ([], ["--python"]):
        err = io.StringIO()
        with pytest.raises(SystemExit) as exit_info:
            call_command("verify_audit", *flags, stderr=err)
        assert exit_info.value.code == 1
        assert "entry 3 (changed)" in err.getvalue()


def test_verify_api_names_the_first_bad_entry(chain, audrey, api_for, drain_access):
    client = api_for(audrey)
    body = client.get("/api/v1/audit/verify/").json()
    drain_access()  # the verification's own access event, after the head it checked
    # Every entry up to the head is checked: the chain's ten, plus audrey's user, roles and token.
    assert body["ok"] is True and body["checked"] == body["head"]["seq"] == AuditEvent.objects.count() - 1
    assert body["checked"] > 10
    tamper("DELETE FROM audit_auditevent WHERE seq = 2")
    body = client.get("/api/v1/audit/verify/").json()
    assert body["ok"] is False
    assert body["first_bad"]["seq"] == 2 and body["first_bad"]["kind"] == "deleted"
