"""Retention: purging old entries is refused within the retention, audited, and keeps the chain verifiable."""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from governance.audit.models import AuditEvent, ChainHead
from governance.audit.services import agent_event_record
from governance.audit.verification import chain_verify

from .conftest import tamper


@pytest.fixture
def old_and_new(db, monkeypatch):
    """Five entries from 400 days ago, then three from today."""
    long_ago = timezone.now() - timedelta(days=400)
    with monkeypatch.context() as patch:
        patch.setattr(timezone, "now", lambda: long_ago)
        for number in range(5):
            agent_event_record(agent_name="scheduler", action="job.ran", data={"n": number})
    for number in range(3):
        agent_event_record(agent_name="scheduler", action="job.ran", data={"n": 5 + number})


def _before(days: int) -> str:
    return (timezone.now() - timedelta(days=days)).date().isoformat()


def test_purge_refused_when_the_trail_is_kept_forever(old_and_new, settings):
    settings.GOVERNANCE_AUDIT_RETENTION_DAYS = None
    with pytest.raises(CommandError, match="kept forever"):
        call_command("audit_purge", before=_before(300), confirm=True)
    assert AuditEvent.objects.count() == 8


def test_purge_refused_within_the_retention_and_never_under_six_months(old_and_new, settings):
    settings.GOVERNANCE_AUDIT_RETENTION_DAYS = 30  # raised to the 183-day minimum
    with pytest.raises(CommandError, match="kept for 183 days"):
        call_command("audit_purge", before=_before(100), confirm=True)
    assert AuditEvent.objects.count() == 8


def test_purge_without_confirm_only_counts(old_and_new, settings):
    settings.GOVERNANCE_AUDIT_RETENTION_DAYS = 365
    out = io.StringIO()
    call_command("audit_purge", before=_before(380), stdout=out)
    assert "5 entries would be removed" in out.getvalue()
    assert AuditEvent.objects.count() == 8


def test_purge_is_audited_and_the_chain_still_verifies(old_and_new, settings):
    settings.GOVERNANCE_AUDIT_RETENTION_DAYS = 365
    first_kept = AuditEvent.objects.get(seq=6)
    call_command("audit_purge", before=_before(380), confirm=True, reason="Yearly retention.", stdout=io.StringIO())

    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == [6, 7, 8, 9]
    purge = AuditEvent.objects.get(seq=9)
    assert (purge.action, purge.summary, purge.agent_name) == ("audit.purged", "Yearly retention.", "audit-purge")
    assert purge.details["starts_at_seq"] == 6 and purge.details["starts_from_hash"] == first_kept.prev_hash
    assert purge.details["removed"] == 5
    head = ChainHead.objects.get()
    assert (head.base_seq, head.base_prev_hash) == (6, first_kept.prev_hash)
    result = chain_verify()
    assert result.ok and result.checked == 4


def test_deleting_the_first_kept_entry_after_a_purge_is_found(old_and_new, settings):
    settings.GOVERNANCE_AUDIT_RETENTION_DAYS = 365
    call_command("audit_purge", before=_before(380), confirm=True, stdout=io.StringIO())
    tamper("DELETE FROM audit_auditevent WHERE seq = 6")
    result = chain_verify()
    assert (result.first_bad.seq, result.first_bad.kind) == (6, "deleted")


@pytest.mark.usefixtures("db_owner")  # moves the chain head as the owner could
def test_moving_the_chain_start_without_an_audited_purge_is_found(old_and_new):
    tamper("DELETE FROM audit_auditevent WHERE seq < 6")
    first_kept = AuditEvent.objects.get(seq=6)
    ChainHead.objects.filter(pk=1).update(base_seq=6, base_prev_hash=first_kept.prev_hash)
    result = chain_verify()
    assert not result.ok and result.first_bad.kind == "deleted"
