"""PostgreSQL only: the append-only trigger."""

import pytest
from auditlog.models import LogEntry
from django.db import DatabaseError, connection, transaction

from governance.audit.models import AuditEvent
from governance.audit.services import agent_event_record

pytestmark = [
    pytest.mark.postgres,
    # The database's own rules, behind the app role's missing rights (tests/audit/test_roles.py).
    pytest.mark.usefixtures("db_owner"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only"),
]


@pytest.mark.django_db
def test_trigger_refuses_update_and_delete_of_audit_events():
    agent_event_record(agent_name="scheduler", action="job.ran")
    with connection.cursor() as cursor:
        for sql in ("UPDATE audit_auditevent SET summary = 'x'", "DELETE FROM audit_auditevent"):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                cursor.execute(sql)
    assert AuditEvent.objects.get().summary == ""


@pytest.mark.django_db
def test_trigger_refuses_update_and_delete_of_auditlog_entries(credit_model):
    assert LogEntry.objects.exists()
    with connection.cursor() as cursor:
        for sql in ("UPDATE auditlog_logentry SET object_repr = 'x'", "DELETE FROM auditlog_logentry"):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                cursor.execute(sql)


@pytest.mark.django_db
def test_purge_switch_does_not_allow_updates_or_deleting_kept_entries():
    agent_event_record(agent_name="scheduler", action="job.ran")
    with connection.cursor() as cursor:
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            cursor.execute("SELECT set_config('governance.audit_purge', 'on', true)")
            cursor.execute("DELETE FROM audit_auditevent")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            cursor.execute("SELECT set_config('governance.audit_purge', 'on', true)")
            cursor.execute("UPDATE audit_auditevent SET summary = 'x'")


@pytest.mark.django_db
def test_chain_head_only_moves_forward():
    """Cutting entries from the end and walking the head back would hide them: refused."""
    from governance.audit.models import ChainHead

    agent_event_record(agent_name="scheduler", action="job.ran")
    with connection.cursor() as cursor:
        for sql in (
            "UPDATE audit_chainhead SET seq = seq - 1",
            "UPDATE audit_chainhead SET base_seq = 0",
            "DELETE FROM audit_chainhead",
        ):
            with pytest.raises(DatabaseError, match="only moves forward"), transaction.atomic():
                cursor.execute(sql)
    assert ChainHead.objects.get().seq == 1


@pytest.mark.django_db
def test_purge_function_keeps_183_days_whatever_it_is_told():
    agent_event_record(agent_name="scheduler", action="job.ran")
    with connection.cursor() as cursor:
        for sql in (
            "SELECT * FROM governance_audit_purge(now() - interval '100 days', 'r', 1)",
            "SELECT * FROM governance_audit_purge(now() - interval '100 days', 'r', NULL)",
            "SELECT * FROM governance_audit_purge(now() + interval '1 day', 'r', 0)",
        ):
            with pytest.raises(DatabaseError, match="kept"), transaction.atomic():
                cursor.execute(sql)
    assert AuditEvent.objects.count() == 1
