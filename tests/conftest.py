"""Named users as fixtures (healthchecks style) and shared settings for the suite.

alice owns the model; bob is a contributor; carol and dave are validators with the reviewer
grant; oscar is an operator with the operator grant; audrey is an auditor; admin is a
superuser; eve is an outsider with a data-scientist role and no grant on the model.
"""

import pytest
from rest_framework.test import APIClient

from governance.access.services import token_create

from . import factories


def pytest_sessionstart(session):
    """A fresh SQLite test database must not meet the write-ahead log of an earlier run that
    was killed (SQLite would replay it into the new file): remove the three files together."""
    from pathlib import Path

    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3" or session.config.getoption("reuse_db", False):
        return
    name = database.get("TEST", {}).get("NAME")
    if name and name != ":memory:" and "mode=memory" not in str(name):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{name}{suffix}").unlink(missing_ok=True)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """On PostgreSQL with ``GOVERNANCE_TEST_APP_ROLE`` set (CI sets ``governance_app``): the test
    database is created and migrated by the tests' own user, as a deployment migrates as the
    owner; then the app role is granted its rights (``governance.dbroles``) and every connection
    of the suite assumes it (``SET ROLE``, Django's ``assume_role``), so the tests run with the
    portal's restricted rights. What only the owner may do steps out of the role for a moment:
    the flush between transactional tests (TRUNCATE), and ``tests/audit/conftest.tamper``."""
    import os

    from django.db import connections

    role = os.environ.get("GOVERNANCE_TEST_APP_ROLE")
    connection = connections["default"]
    if not role or connection.vendor != "postgresql":
        yield
        return
    from django.db.backends.postgresql.operations import DatabaseOperations

    from governance.dbroles import app_role_grant

    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            if cursor.fetchone() is None:
                cursor.execute(f"CREATE ROLE {connection.ops.quote_name(role)} LOGIN")
        app_role_grant(using="default", role=role)
        connection.close()
    flush = DatabaseOperations.execute_sql_flush

    def execute_sql_flush_as_owner(self, sql_list):
        with self.connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
        try:
            flush(self, sql_list)
        finally:
            with self.connection.cursor() as cursor:
                cursor.execute(self.compose_sql("SET ROLE %s", [role]))

    DatabaseOperations.execute_sql_flush = execute_sql_flush_as_owner
    connection.settings_dict["OPTIONS"]["assume_role"] = role
    try:
        yield
    finally:
        connection.settings_dict["OPTIONS"].pop("assume_role", None)
        DatabaseOperations.execute_sql_flush = flush
        with django_db_blocker.unblock():
            connection.close()


@pytest.fixture
def db_owner(django_db_blocker):
    """This test acts as the tests' own user, the owner of the tables, not the app role: for tests
    of the database's own rules and of what an attacker with the owner's power does."""
    from django.db import connection

    role = connection.settings_dict["OPTIONS"].get("assume_role") if connection.vendor == "postgresql" else None
    if not role:
        yield
        return
    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
    try:
        yield
    finally:
        with django_db_blocker.unblock():
            try:
                with connection.cursor() as cursor:
                    cursor.execute(connection.ops.compose_sql("SET ROLE %s", [role]))
            except Exception:
                connection.close()  # a new connection assumes the role again


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # No audit checkpoints unless a test makes them (tests/audit/test_checkpoints.py).
    settings.GOVERNANCE_AUDIT_CHECKPOINT_DIR = tmp_path / "audit-checkpoints"
    settings.GOVERNANCE_AUDIT_CHECKPOINT_KEY = ""
    settings.GOVERNANCE_AUDIT_CHECKPOINT_PUBLIC_KEY = ""
    settings.CELERY_TASK_ALWAYS_EAGER = False


@pytest.fixture(autouse=True)
def _access_queue(settings):
    """Each test queues its access events under keys of its own in the test Redis, removed after
    it: no test appends another's reads. Tests read them in the trail after ``drain_access()``."""
    import uuid

    import redis

    from governance.audit import access_queue

    settings.GOVERNANCE_AUDIT_ACCESS_QUEUE_KEY = f"governance:test:{uuid.uuid4().hex}:access-events"
    yield
    try:
        access_queue.redis_client().delete(
            access_queue.queue_key(), access_queue.guard_key(), access_queue.rejected_key()
        )
    except redis.RedisError:
        pass


@pytest.fixture
def drain_access():
    """drain_access() appends the access events queued so far to the trail, now, with the drain
    the task runs (``governance.audit.access_queue.access_drain``); returns how many were new."""
    from governance.audit.access_queue import access_drain

    return access_drain


@pytest.fixture
def alice(db):
    return factories.make_user("alice", "data_scientist")


@pytest.fixture
def bob(db):
    return factories.make_user("bob", "data_scientist")


@pytest.fixture
def carol(db):
    return factories.make_user("carol", "validator")


@pytest.fixture
def dave(db):
    return factories.make_user("dave", "validator")


@pytest.fixture
def oscar(db):
    return factories.make_user("oscar", "operator")


@pytest.fixture
def audrey(db):
    return factories.make_user("audrey", "auditor")


@pytest.fixture
def admin_user(db):
    return factories.make_user("admin", "admin", is_superuser=True, is_staff=True)


@pytest.fixture
def eve(db):
    return factories.make_user("eve", "data_scientist")


@pytest.fixture
def credit_model(alice, bob, carol, dave, oscar):
    return factories.make_model(
        alice, contributor=[bob], reviewer=[carol, dave], operator=[oscar]
    )


@pytest.fixture
def datasets(alice):
    return factories.make_datasets(alice)


@pytest.fixture
def version(credit_model, alice, datasets):
    return factories.make_version(credit_model, alice, datasets=datasets)


def _api_client_for(user):
    client = APIClient()
    _, raw = token_create(actor=user, user=user, label="tests")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def api_for():
    """api_for(user) -> an APIClient that sends that user's Bearer token."""
    return _api_client_for


@pytest.fixture(autouse=True)
def _audit_entries_sealed_as_written(request):
    """On PostgreSQL the trail numbers and hashes a transaction's entries when it commits, and a
    test run inside one transaction (``db``) never commits: there, seal each entry as it is
    written, so tests read numbered entries. Tests that really commit keep the commit-time seal."""
    marker = request.node.get_closest_marker("django_db")
    transactional = {"transactional_db", "live_server"} & set(request.fixturenames) or (
        marker is not None and (marker.kwargs.get("transaction") or (marker.args and marker.args[0]))
    )
    if transactional or not ("db" in request.fixturenames or marker is not None):
        return
    request.getfixturevalue("db")
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS audit_seal IMMEDIATE")
