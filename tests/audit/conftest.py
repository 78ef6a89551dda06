import pytest
from django.db import connection

from governance.access.services import service_account_get
from governance.audit.access_queue import access_drain
from governance.audit.models import GENESIS_HASH, AuditEvent, ChainHead


@pytest.fixture
def test_runner(db):
    """The service account of the test-running agent."""
    return service_account_get("test-runner")


def events(**filters):
    """The trail's entries matching ``filters``, the access events queued so far appended first."""
    access_drain()
    return list(AuditEvent.objects.filter(**filters).order_by("seq"))


def last_event(**filters) -> AuditEvent:
    """The last entry matching ``filters``, the access events queued so far appended first."""
    access_drain()
    event = AuditEvent.objects.filter(**filters).order_by("-seq").first()
    assert event is not None, f"no audit event with {filters}"
    return event


def tamper(sql: str, params=()):
    """Change the trail behind the application's back, as someone with database access would.

    On PostgreSQL the append-only trigger refuses this to the application; a superuser can turn
    triggers off for the current transaction, which is what an attacker with that power does.
    """
    with connection.cursor() as cursor:
        role = None
        if connection.vendor == "postgresql":
            # The suite may run as the app role (SET ROLE): step back to the tests' own user.
            cursor.execute("SELECT current_user, session_user")
            current, session = cursor.fetchone()
            if current != session:
                role = current
                cursor.execute("RESET ROLE")
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")
            if role is not None:
                cursor.execute(connection.ops.compose_sql("SET ROLE %s", [role]))


@pytest.fixture
def committed_db(django_db_setup, django_db_blocker):
    """Real commits from several threads, without pytest-django's transactional flush, which
    would also empty the role groups that a data migration made for the tests after this one.
    Only the trail is written here, and it is emptied afterwards."""
    with django_db_blocker.unblock():
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                # TRUNCATE, because the triggers refuse DELETE and moving the head back on PostgreSQL;
                # as the tests' own user (the owner) when the suite runs as the app role.
                role = connection.settings_dict["OPTIONS"].get("assume_role")
                if connection.vendor == "postgresql" and role:
                    cursor.execute("RESET ROLE")
                verb = "TRUNCATE" if connection.vendor == "postgresql" else "DELETE FROM"
                cursor.execute(f"{verb} {AuditEvent._meta.db_table}")
                cursor.execute(f"{verb} {ChainHead._meta.db_table}")
                ChainHead.objects.create(pk=1, seq=0, hash=GENESIS_HASH, base_seq=1, base_prev_hash=GENESIS_HASH)
                if connection.vendor == "postgresql" and role:
                    cursor.execute(connection.ops.compose_sql("SET ROLE %s", [role]))
