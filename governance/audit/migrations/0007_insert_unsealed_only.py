"""On PostgreSQL, the portal's database user may insert only unsealed entries.

Entries are numbered and hashed by the seal at commit; the app role has no reason to insert an
entry with a number of its own (a forged entry after the head, or in the purged range before the
chain start). Only the owner of the table may (a restore, or the tests that simulate tampering).
"""

from django.db import migrations

FORWARD_SQL = """
CREATE OR REPLACE FUNCTION governance_audit_insert_unsealed() RETURNS trigger AS $$
BEGIN
    IF NEW.seq < 0 OR pg_has_role(current_user, (SELECT c.relowner FROM pg_class c WHERE c.oid = TG_RELID), 'MEMBER') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'Audit entries are numbered by the seal at commit: INSERT of entry % refused.', NEW.seq
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS audit_insert_unsealed ON audit_auditevent;
CREATE TRIGGER audit_insert_unsealed BEFORE INSERT ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION governance_audit_insert_unsealed();
"""

BACKWARD_SQL = """
DROP TRIGGER IF EXISTS audit_insert_unsealed ON audit_auditevent;
DROP FUNCTION IF EXISTS governance_audit_insert_unsealed();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD_SQL, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD_SQL, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_purge_function")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
