"""Signed checkpoints outside the database catch what the chain alone cannot: a trail rewritten
and rehashed, truncated, rolled back, or purged behind the portal's back, by someone who controls
the database (here: ``tamper``, which on PostgreSQL switches the triggers off as a superuser).
Runs on SQLite and on PostgreSQL."""

import io
import json
import os
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from governance.audit import checkpoints
from governance.audit.hashing import event_hash
from governance.audit.models import AuditEvent, ChainHead
from governance.audit.services import PurgeRefused, audit_append, audit_purge, agent_event_record
from governance.audit.verification import chain_verify

from .conftest import tamper


@pytest.fixture
def keys(settings):
    private, public = checkpoints.generate_keypair()
    settings.GOVERNANCE_AUDIT_CHECKPOINT_KEY = private
    return private, public


@pytest.fixture
def chain(db):
    for number in range(1, 11):
        agent_event_record(agent_name="scheduler", action="job.ran", summary=f"run {number}", data={"n": number})
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()


def _files(settings):
    return sorted(p.name for p in settings.GOVERNANCE_AUDIT_CHECKPOINT_DIR.glob("*.json"))


def _rehash_from(seq: int):
    """Recompute every hash from ``seq`` on and move the head: the chain is intact in itself."""
    prev = AuditEvent.objects.filter(seq__lt=seq).order_by("-seq").values_list("hash", flat=True).first()
    for event in AuditEvent.objects.filter(seq__gte=seq).order_by("seq"):
        event.prev_hash = prev if prev is not None else event.prev_hash
        new = event_hash(event)
        tamper("UPDATE audit_auditevent SET prev_hash = %s, hash = %s WHERE seq = %s", [event.prev_hash, new, event.seq])
        prev = new
    tamper("UPDATE audit_chainhead SET hash = %s WHERE id = 1", [prev])


def _verify_fails():
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("verify_audit", stderr=err, stdout=io.StringIO())
    assert exit_info.value.code == 1
    return err.getvalue()


# --- Writing and reading checkpoints -----------------------------------------------------------


def test_no_checkpoint_no_change(chain):
    result = chain_verify()
    assert result.ok and result.as_dict()["checkpoint"] == {"checked": 0, "latest": None}


def test_checkpoint_file_is_signed_json_of_the_head(chain, keys, settings):
    out = io.StringIO()
    call_command("audit_checkpoint", stdout=out)
    (name,) = _files(settings)
    path = settings.GOVERNANCE_AUDIT_CHECKPOINT_DIR / name
    body = json.loads(path.read_text())
    head = ChainHead.objects.get()
    assert set(body) == {"seq", "hash", "base_seq", "at", "signature"}
    assert (body["seq"], body["hash"], body["base_seq"]) == (head.seq, head.hash, head.base_seq) == (chain, head.hash, 1)
    assert not os.access(path, os.W_OK) or os.geteuid() == 0  # read-only file
    assert oct(path.stat().st_mode & 0o777) == "0o444"
    result = chain_verify()
    assert result.ok and result.checkpoint.checked == 1 and result.checkpoint.latest.seq == chain
    assert result.as_dict()["checkpoint"]["latest"]["file"] == name
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert "Consistent with 1 signed checkpoint" in out.getvalue()


def test_a_host_with_the_public_key_alone_verifies(chain, keys, settings):
    call_command("audit_checkpoint", stdout=io.StringIO())
    settings.GOVERNANCE_AUDIT_CHECKPOINT_KEY = ""
    settings.GOVERNANCE_AUDIT_CHECKPOINT_PUBLIC_KEY = keys[1]
    assert chain_verify().ok
    with pytest.raises(CommandError, match="not set"):
        call_command("audit_checkpoint", stdout=io.StringIO())


def test_checkpoints_without_a_key_to_check_them_fail(chain, keys, settings):
    call_command("audit_checkpoint", stdout=io.StringIO())
    settings.GOVERNANCE_AUDIT_CHECKPOINT_KEY = ""
    result = chain_verify()
    assert not result.ok and result.first_bad.kind == "checkpoint" and "no key" in result.first_bad.message


@pytest.mark.parametrize("change", ["hash", "seq", "signature", "garbage"])
def test_a_bad_signature_fails_naming_the_checkpoint(chain, keys, settings, change):
    call_command("audit_checkpoint", stdout=io.StringIO())
    (name,) = _files(settings)
    path = settings.GOVERNANCE_AUDIT_CHECKPOINT_DIR / name
    body = json.loads(path.read_text())
    if change == "hash":
        body["hash"] = "f" * 64
    elif change == "seq":
        body["seq"] -= 1
    elif change == "signature":
        body["signature"] = checkpoints.sign(body["seq"], body["hash"], body["base_seq"], body["at"],
                                             key=_other_key()).signature
    path.chmod(0o644)
    path.write_text("{not json" if change == "garbage" else json.dumps(body))
    result = chain_verify()
    assert not result.ok and result.first_bad.kind == "checkpoint"
    assert name in result.first_bad.message and "signature" in result.first_bad.message


def _other_key():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


def test_a_broken_trail_is_not_signed(chain, keys, settings):
    tamper("UPDATE audit_auditevent SET summary = 'x' WHERE seq = 3")
    with pytest.raises(CommandError, match="does not verify"):
        call_command("audit_checkpoint", stdout=io.StringIO())
    assert _files(settings) == []


def test_beat_task_writes_a_checkpoint_with_a_key_and_skips_without(chain, settings):
    from governance.audit.tasks import audit_checkpoint

    assert settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]["task"] == "audit.checkpoint"
    assert audit_checkpoint() is None and _files(settings) == []
    settings.GOVERNANCE_AUDIT_CHECKPOINT_KEY = checkpoints.generate_keypair()[0]
    assert audit_checkpoint().endswith(".json") and len(_files(settings)) == 1


def test_later_entries_after_a_checkpoint_are_fine(chain, keys):
    call_command("audit_checkpoint", stdout=io.StringIO())
    agent_event_record(agent_name="scheduler", action="job.ran")
    call_command("audit_checkpoint", stdout=io.StringIO())
    agent_event_record(agent_name="scheduler", action="job.ran")
    result = chain_verify()
    assert result.ok and result.checkpoint.checked == 2


# --- The three rewrites, and a roll-back ---------------------------------------------------------


def test_rewritten_and_rehashed_trail_fails_against_the_checkpoint(chain, keys, settings):
    call_command("audit_checkpoint", stdout=io.StringIO())
    (name,) = _files(settings)
    tamper("UPDATE audit_auditevent SET summary = %s WHERE seq = %s", ["nothing happened", chain - 5])
    _rehash_from(chain - 5)
    settings.GOVERNANCE_AUDIT_CHECKPOINT_DIR = settings.GOVERNANCE_AUDIT_CHECKPOINT_DIR / "elsewhere"
    assert chain_verify().ok  # without the checkpoint the forgery is perfect
    settings.GOVERNANCE_AUDIT_CHECKPOINT_DIR = settings.GOVERNANCE_AUDIT_CHECKPOINT_DIR.parent
    for in_database in {None, False}:
        result = chain_verify(in_database=in_database)
        assert not result.ok and result.first_bad.kind == "checkpoint" and result.first_bad.seq == chain
        assert name in result.first_bad.message and "rewritten" in result.first_bad.message
    assert name in _verify_fails()


def test_truncated_trail_fails_and_an_empty_trail_is_not_ok(chain, keys, settings):
    call_command("audit_checkpoint", stdout=io.StringIO())
    (name,) = _files(settings)
    tamper("DELETE FROM audit_auditevent")
    tamper("DELETE FROM audit_chainhead")
    result = chain_verify()
    assert result.checked == 0
    assert not result.ok and result.first_bad.kind == "checkpoint"
    assert name in result.first_bad.message and "truncated" in result.first_bad.message
    assert "BROKEN" in _verify_fails()


def test_rolled_back_trail_fails(chain, keys, settings):
    call_command("audit_checkpoint", stdout=io.StringIO())
    (name,) = _files(settings)
    tamper("DELETE FROM audit_auditevent WHERE seq > %s", [chain - 3])
    last = AuditEvent.objects.get(seq=chain - 3)
    tamper("UPDATE audit_chainhead SET seq = %s, hash = %s WHERE id = 1", [last.seq, last.hash])
    result = chain_verify()
    assert not result.ok and result.first_bad.kind == "checkpoint" and name in result.first_bad.message


@pytest.fixture
def old_and_new(db, monkeypatch):
    long_ago = timezone.now() - timedelta(days=400)
    with monkeypatch.context() as patch:
        patch.setattr(timezone, "now", lambda: long_ago)
        for number in range(5):
            agent_event_record(agent_name="scheduler", action="job.ran", data={"n": number})
    for number in range(3):
        agent_event_record(agent_name="scheduler", action="job.ran", data={"n": 5 + number})


def test_forged_purge_fails_against_the_checkpoint(old_and_new, keys, settings):
    call_command("audit_checkpoint", stdout=io.StringIO())
    (name,) = _files(settings)
    first_kept = AuditEvent.objects.get(seq=4)
    tamper("DELETE FROM audit_auditevent WHERE seq < 4")
    tamper("UPDATE audit_chainhead SET base_seq = 4, base_prev_hash = %s WHERE id = 1", [first_kept.prev_hash])
    audit_append(
        kind="admin", action="audit.purged", summary="Retention purge.", actor=None, agent_name="audit-purge",
        data={"starts_at_seq": 4, "starts_from_hash": first_kept.prev_hash, "removed": 3},
    )
    settings.GOVERNANCE_AUDIT_CHECKPOINT_DIR = settings.GOVERNANCE_AUDIT_CHECKPOINT_DIR / "elsewhere"
    assert chain_verify().ok  # the chain and its purge record agree
    settings.GOVERNANCE_AUDIT_CHECKPOINT_DIR = settings.GOVERNANCE_AUDIT_CHECKPOINT_DIR.parent
    result = chain_verify()
    assert not result.ok and result.first_bad.kind == "checkpoint"
    assert name in result.first_bad.message and "start moved" in result.first_bad.message
    # The forger cannot make the portal sign it either.
    with pytest.raises(CommandError, match="does not verify"):
        call_command("audit_checkpoint", stdout=io.StringIO())


def test_real_purge_writes_a_checkpoint_and_verifies(old_and_new, keys, settings):
    settings.GOVERNANCE_AUDIT_RETENTION_DAYS = 365
    call_command("audit_checkpoint", stdout=io.StringIO())
    before = timezone.now() - timedelta(days=380)
    result = audit_purge(before=before, reason="Yearly retention.")
    assert result["count"] == 5 and result["checkpoint"].endswith(".json")
    assert len(_files(settings)) == 2
    verified = chain_verify()
    assert verified.ok and verified.checkpoint.checked == 2, verified.as_dict()
    assert verified.checkpoint.latest.base_seq == 6


def test_purge_refused_where_checkpoints_exist_but_no_key(old_and_new, keys, settings):
    settings.GOVERNANCE_AUDIT_RETENTION_DAYS = 365
    call_command("audit_checkpoint", stdout=io.StringIO())
    settings.GOVERNANCE_AUDIT_CHECKPOINT_PUBLIC_KEY = keys[1]
    settings.GOVERNANCE_AUDIT_CHECKPOINT_KEY = ""
    with pytest.raises(PurgeRefused, match="checkpointed"):
        audit_purge(before=timezone.now() - timedelta(days=380))
    assert AuditEvent.objects.count() == 8


def test_verify_api_reports_the_checkpoint(chain, keys, settings, audrey, api_for):
    call_command("audit_checkpoint", stdout=io.StringIO())
    body = api_for(audrey).get("/api/v1/audit/verify/").json()
    assert body["ok"] is True and body["checkpoint"]["checked"] == 1
    # Sealed entries only: on PostgreSQL the request's own entries may wait for the commit-time seal.
    tamper("DELETE FROM audit_auditevent WHERE seq > 0")
    tamper("DELETE FROM audit_chainhead")
    body = api_for(audrey).get("/api/v1/audit/verify/").json()
    assert body["ok"] is False and body["first_bad"]["kind"] == "checkpoint"
    assert body["checkpoint"]["contradicted"] == _files(settings)[0]


def test_a_purge_whose_checkpoint_was_lost_is_signed_only_when_accepted(old_and_new, keys, settings, monkeypatch):
    settings.GOVERNANCE_AUDIT_RETENTION_DAYS = 365
    call_command("audit_checkpoint", stdout=io.StringIO())
    with monkeypatch.context() as patch:
        patch.setattr(checkpoints, "private_key", lambda: None)  # the checkpoint after the purge is lost
        patch.setattr(checkpoints, "load_all", lambda where=None: [])
        audit_purge(before=timezone.now() - timedelta(days=380))
    assert chain_verify().checkpoint.reason == "start"
    with pytest.raises(CommandError, match="does not verify"):
        call_command("audit_checkpoint", stdout=io.StringIO())
    call_command("audit_checkpoint", "--accept-purge", stdout=io.StringIO())
    assert chain_verify().ok
