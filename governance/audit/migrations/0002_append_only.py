"""The chain head row, and on PostgreSQL a trigger that refuses UPDATE and DELETE on the trail
(and one that lets the chain head move only forward).

The trigger covers our events and django-auditlog's entries. The one exception is the audited
retention purge (``manage.py audit_purge``): in its own transaction it sets
``governance.audit_purge`` and moves the chain start forward first, and only entries before that
start may then be deleted. Nothing may ever be updated.
"""

from django.db import migrations

TRIGGER_SQL = """
CREATE OR REPLACE FUNCTION governance_audit_append_only() RETURNS trigger AS $$
BEGIN
    -- Nested IFs: PL/pgSQL does not promise to short-circuit AND, and OLD has different
    -- columns in the two tables.
    IF TG_OP = 'DELETE' AND current_setting('governance.audit_purge', true) = 'on' THEN
        IF TG_TABLE_NAME = 'audit_auditevent' THEN
            IF OLD.seq < (SELECT base_seq FROM audit_chainhead WHERE id = 1) THEN
                RETURN OLD;
            END IF;
        ELSIF TG_TABLE_NAME = 'auditlog_logentry' THEN
            IF OLD.timestamp < NULLIF(current_setting('governance.audit_purge_before', true), '')::timestamptz THEN
                RETURN OLD;
            END IF;
        END IF;
    END IF;
    RAISE EXCEPTION 'The audit trail is append-only: % on % refused.', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;

-- The chain head only moves forward: appends raise seq, a purge raises base_seq. Walking it back
-- would hide entries cut from the end of the chain.
CREATE OR REPLACE FUNCTION governance_audit_head_forward() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.seq >= OLD.seq AND NEW.base_seq >= OLD.base_seq THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'The audit chain head only moves forward: % refused.', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS audit_head_forward ON audit_chainhead;
CREATE TRIGGER audit_head_forward BEFORE UPDATE OR DELETE ON audit_chainhead
    FOR EACH ROW EXECUTE FUNCTION governance_audit_head_forward();

DROP TRIGGER IF EXISTS audit_append_only ON audit_auditevent;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION governance_audit_append_only();
DROP TRIGGER IF EXISTS audit_append_only ON auditlog_logentry;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON auditlog_logentry
    FOR EACH ROW EXECUTE FUNCTION governance_audit_append_only();
"""

DROP_SQL = """
DROP TRIGGER IF EXISTS audit_head_forward ON audit_chainhead;
DROP FUNCTION IF EXISTS governance_audit_head_forward();
DROP TRIGGER IF EXISTS audit_append_only ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_append_only ON auditlog_logentry;
DROP FUNCTION IF EXISTS governance_audit_append_only();
"""


def create_head(apps, schema_editor):
    apps.get_model("audit", "ChainHead").objects.get_or_create(pk=1)


def add_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER_SQL, params=None)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("auditlog", "0017_add_actor_email"),
    ]

    operations = [
        migrations.RunPython(create_head, migrations.RunPython.noop),
        migrations.RunPython(add_triggers, drop_triggers),
    ]
