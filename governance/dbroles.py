"""The rights of the portal's own database user on PostgreSQL (the app role).

The app role owns nothing. It may read and write the ordinary tables; on the append-only tables
(the audit trail, django-auditlog's entries and the lifecycle history) it may only SELECT and
INSERT; the chain head it may only read. It has TRUNCATE nowhere. Everything else it needs is done
by SECURITY DEFINER functions owned by the owner role: sealing entries at commit
(``governance_audit_seal``) and purging within the retention rule (``governance_audit_purge``).

``app_role_grant`` runs as the owner (``manage.py migrate --database owner`` calls it at the end,
``manage.py db_grant_app ROLE`` on demand) and is safe to run again.
"""

from __future__ import annotations

from django.db import connections

# Rows are only ever added to these tables; UPDATE and DELETE are refused by triggers as well.
APPEND_ONLY_TABLES = (
    "audit_auditevent",
    "auditlog_logentry",
    "lifecycle_transitionrecord",
    "lifecycle_annotation",
    "lifecycle_signoff",
    "lifecycle_versionauthor",
    "lifecycle_findingevent",
)
# Read only: moved by the seal and the purge functions alone.
READ_ONLY_TABLES = ("audit_chainhead", "django_migrations")
# Functions the app role may call that run with the owner's rights.
DEFINER_FUNCTIONS = ("governance_audit_purge(timestamptz, text, integer, bigint, text, text, text)",)


def app_role_grant(*, using: str, role: str) -> list[str]:
    """Grant ``role`` the app's rights in the database of the alias ``using`` (run as the owner).
    Returns the statements run."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    quote = connection.ops.quote_name
    app = quote(role)
    statements: list[str] = []
    with connection.cursor() as cursor:
        # Granting "the app's rights" to the owner of the tables would take the owner's own rights
        # on the append-only tables away, and the seal, which runs as the owner, would fail.
        cursor.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'audit_auditevent'")
        owner = cursor.fetchone()
        if owner is not None and owner[0] == role:
            raise ValueError(f"{role} owns the tables: give the app's rights to another role.")
        cursor.execute("SELECT current_schema()")
        schema = quote(cursor.fetchone()[0])
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
        )
        tables = {row[0] for row in cursor.fetchall()}
        functions = []
        for signature in DEFINER_FUNCTIONS:
            cursor.execute("SELECT to_regprocedure(%s) IS NOT NULL", [signature])
            if cursor.fetchone()[0]:
                functions.append(signature)

        statements += [
            f"GRANT USAGE ON SCHEMA {schema} TO {app}",
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {app}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {app}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {app}",
            # Tables and sequences later migrations create (run by the same owner) get the same.
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {app}",
        ]
        for table in APPEND_ONLY_TABLES:
            if table in tables:
                statements.append(f"REVOKE UPDATE, DELETE, TRUNCATE ON {quote(table)} FROM {app}")
        for table in READ_ONLY_TABLES:
            if table in tables:
                statements.append(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {quote(table)} FROM {app}")
        for signature in functions:
            # Callable by the app role only, not by every role of the cluster.
            statements.append(f"REVOKE EXECUTE ON FUNCTION {signature} FROM PUBLIC")
            statements.append(f"GRANT EXECUTE ON FUNCTION {signature} TO {app}")
        for statement in statements:
            cursor.execute(statement)
    return statements
