"""PostgreSQL: the portal's own database user (the app role) cannot rewrite the trail.

The suite's database belongs to the user the tests run as; these tests grant the app role its
rights there (``governance.dbroles``, as ``migrate --database owner`` does) and attack the trail
and the lifecycle history through a connection of their own as that role: every rewrite is
refused, while appending (and the seal at commit) still works.
"""

import os

import pytest
from django.db import connection

from governance.dbroles import app_role_grant

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="database roles exist on PostgreSQL only"),
    pytest.mark.django_db(transaction=True),
]

APP_ROLE = os.environ.get("GOVERNANCE_TEST_APP_ROLE", "governance_app")

APPEND_ONLY = [
    "audit_auditevent",
    "auditlog_logentry",
    "lifecycle_transitionrecord",
    "lifecycle_annotation",
    "lifecycle_signoff",
]


@pytest.fixture
def app():
    """A connection to the test database as the app role, with the rights the portal grants it."""
    import psycopg

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE])
        if cursor.fetchone() is None:
            cursor.execute("SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user")
            if not cursor.fetchone()[0]:
                pytest.skip(f"no role {APP_ROLE}, and the tests' user may not create it")
            cursor.execute(f"CREATE ROLE {connection.ops.quote_name(APP_ROLE)} LOGIN")
    app_role_grant(using="default", role=APP_ROLE)
    settings = connection.settings_dict
    conn = psycopg.connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        dbname=settings["NAME"],
        user=APP_ROLE,
        password=os.environ.get("GOVERNANCE_TEST_APP_PASSWORD") or None,
        autocommit=True,
    )
    try:
        yield conn
    finally:
        conn.close()


def refused(conn, sql, params=None):
    """Run ``sql`` in a transaction of its own; True when the database refused it."""
    import psycopg

    try:
        with conn.transaction():
            conn.execute(sql, params)
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.RaiseException) as refusal:
        return str(refusal)
    return False


def _append(conn, summary="run"):
    conn.execute(
        "INSERT INTO audit_auditevent (seq, prev_hash, hash, at, kind, action, actor_username, actor_kind, "
        "agent_name, model_slug, object_type, object_id, object_repr, remote_addr, user_agent, correlation_id, "
        "summary, data) VALUES (-nextval('audit_auditevent_pending'), '', '', now(), 'agent', 'job.ran', '', "
        "'agent', 'scheduler', '', '', '', '', '', '', '', %s, '{}')",
        [summary],
    )


def test_app_role_appends_and_the_seal_numbers_its_entries(app):
    with app.transaction():
        _append(app, "first")
        _append(app, "second")
    rows = app.execute(
        "SELECT seq, summary, hash = governance_audit_hash(e) FROM audit_auditevent e ORDER BY seq DESC LIMIT 2"
    ).fetchall()
    (last, _, _), (before, _, _) = rows
    assert rows == [(last, "second", True), (last - 1, "first", True)] and last > 0
    assert app.execute("SELECT seq FROM audit_chainhead").fetchone() == (last,)


def test_app_role_cannot_switch_the_triggers_off_or_replace_them(app):
    with app.transaction():
        _append(app)
    for sql in (
        "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_append_only",
        "ALTER TABLE audit_auditevent DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_append_only ON audit_auditevent",
        "ALTER TABLE audit_chainhead DISABLE TRIGGER audit_head_forward",
        "SET session_replication_role = replica",
        "CREATE OR REPLACE FUNCTION governance_audit_append_only() RETURNS trigger AS $$ BEGIN RETURN OLD; END $$ LANGUAGE plpgsql",
        "CREATE OR REPLACE FUNCTION governance_audit_seal() RETURNS trigger AS $$ BEGIN RETURN NULL; END $$ LANGUAGE plpgsql",
        "ALTER TABLE lifecycle_signoff DISABLE TRIGGER lifecycle_signoff_append_only",
        "DROP TABLE audit_auditevent",
        "CREATE TABLE audit_evil (id int)",
    ):
        assert refused(app, sql), sql


def _trail(conn):
    return conn.execute("SELECT count(*), max(seq), string_agg(hash, '' ORDER BY seq) FROM audit_auditevent").fetchone()


def test_app_role_cannot_edit_delete_or_truncate_the_trail(app):
    with app.transaction():
        _append(app)
    trail = _trail(app)
    for sql in (
        "UPDATE audit_auditevent SET summary = 'nothing happened'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
        "TRUNCATE audit_auditevent, audit_chainhead",
        "UPDATE audit_chainhead SET seq = seq + 1",
        "DELETE FROM audit_chainhead",
        "TRUNCATE audit_chainhead",
        "INSERT INTO audit_chainhead (id, seq, hash, base_seq, base_prev_hash) VALUES (2, 0, '', 1, '')",
    ):
        assert refused(app, sql), sql
    assert _trail(app) == trail


def test_purge_switch_in_a_session_does_not_let_the_app_role_delete(app):
    with app.transaction():
        _append(app)
    trail = _trail(app)
    assert refused(
        app,
        "SELECT set_config('governance.audit_purge', 'on', true); DELETE FROM audit_auditevent",
    )
    with app.transaction():
        app.execute("SELECT set_config('governance.audit_purge', 'on', false)")
    assert refused(app, "DELETE FROM audit_auditevent")
    assert refused(app, "DELETE FROM auditlog_logentry")
    assert _trail(app) == trail


@pytest.mark.parametrize("table", APPEND_ONLY)
def test_app_role_cannot_change_append_only_tables(app, table):
    for sql in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}", f"TRUNCATE {table}"):
        if table == "audit_auditevent":
            sql = sql.replace("id = id", "seq = seq")
        assert refused(app, sql), sql
    app.execute(f"SELECT count(*) FROM {table}")  # it may read them


def test_app_role_uses_ordinary_tables(app):
    """Nothing else is taken away: the app reads and writes its ordinary tables."""
    with app.transaction():
        app.execute("INSERT INTO auth_group (name) VALUES ('temporary')")
        app.execute("UPDATE auth_group SET name = 'renamed' WHERE name = 'temporary'")
        app.execute("DELETE FROM auth_group WHERE name = 'renamed'")
    assert refused(app, "TRUNCATE auth_group")


def _append_at(conn, days_ago: int, summary: str):
    conn.execute(
        "INSERT INTO audit_auditevent (seq, prev_hash, hash, at, kind, action, actor_username, actor_kind, "
        "agent_name, model_slug, object_type, object_id, object_repr, remote_addr, user_agent, correlation_id, "
        "summary, data) VALUES (-nextval('audit_auditevent_pending'), '', '', now() - make_interval(days => %s), "
        "'agent', 'job.ran', '', 'agent', 'scheduler', '', '', '', '', '', '', '', %s, '{}')",
        [days_ago, summary],
    )


@pytest.mark.usefixtures("db_owner")  # the set-up empties the trail as the owner
def test_app_role_purges_only_through_the_function_and_within_the_rule(app):
    from governance.audit.verification import chain_verify

    with connection.cursor() as cursor:  # a trail that starts with the old entries (test set-up, as the owner)
        cursor.execute("TRUNCATE audit_auditevent, audit_chainhead")
    with app.transaction():
        for number in range(3):
            _append_at(app, 400, f"old {number}")
    with app.transaction():
        _append(app, "new")
    # Too young for the configured days, and for the 183-day floor whatever the caller passes.
    for before_days, retention in ((300, 365), (100, 1), (100, None)):
        message = refused(
            app, "SELECT * FROM governance_audit_purge(now() - make_interval(days => %s), 'r', %s)", [before_days, retention]
        )
        assert message and ("kept for" in message or "kept forever" in message), (before_days, retention, message)
    with app.transaction():
        removed, starts_at, event_seq = app.execute(
            "SELECT * FROM governance_audit_purge(now() - interval '300 days', 'Yearly retention.', 200)"
        ).fetchone()
    assert (removed, starts_at, event_seq) == (3, 4, 5)
    purge = app.execute("SELECT action, summary, data::json->>'retention_days' FROM audit_auditevent WHERE seq = %s", [event_seq]).fetchone()
    assert purge == ("audit.purged", "Yearly retention.", "200")
    assert app.execute("SELECT count(*) FROM audit_auditevent WHERE summary LIKE 'old %%'").fetchone() == (0,)
    result = chain_verify()
    assert result.ok, result.as_dict()
    # Deleting more by hand afterwards, the switch on or off, is still refused.
    assert refused(app, "SELECT set_config('governance.audit_purge', 'on', true); DELETE FROM audit_auditevent")


def test_app_role_cannot_insert_numbered_entries(app):
    with app.transaction():
        _append(app)
    seq, digest = app.execute("SELECT seq, hash FROM audit_chainhead").fetchone()
    for forged in (seq + 1, 0):
        assert refused(
            app,
            "INSERT INTO audit_auditevent (seq, prev_hash, hash, at, kind, action, actor_username, actor_kind, "
            "agent_name, model_slug, object_type, object_id, object_repr, remote_addr, user_agent, correlation_id, "
            "summary, data) VALUES (%s, %s, '', now(), 'agent', 'job.ran', '', 'agent', '', '', '', '', '', '', "
            "'', '', 'forged', '{}')",
            [forged, digest],
        )


def test_app_role_can_count_what_a_purge_would_remove(app, settings):
    """The dry run of ``audit_purge`` reads the chain head without locking it (no UPDATE right)."""
    import subprocess
    import sys

    from django.conf import settings as django_settings

    database = connection.settings_dict
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{APP_ROLE}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/{database['NAME']}",
        GOVERNANCE_AUDIT_RETENTION_DAYS="365",
        DJANGO_ENV="test",
    )
    env.pop("DATABASE_MIGRATE_URL", None)
    done = subprocess.run(
        [sys.executable, "manage.py", "audit_purge", "--before", "2020-01-01"],
        cwd=django_settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "0 entries would be removed" in done.stdout


@pytest.mark.skipif(not os.environ.get("GOVERNANCE_TEST_APP_ROLE"), reason="the suite runs as its own user")
def test_the_suite_itself_runs_as_the_app_role():
    """With GOVERNANCE_TEST_APP_ROLE (as in CI), every test's connection has the app role's rights."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, has_table_privilege(current_user, 'audit_auditevent', 'UPDATE')")
        assert cursor.fetchone() == (APP_ROLE, False)
