"""On PostgreSQL, entries are numbered and hashed when their transaction commits, by the database.

``audit_append`` inserts an entry plainly, in the transaction of the action it records, with a
provisional negative number (from the sequence ``audit_auditevent_pending``) and no hashes. The
constraint trigger ``audit_seal`` is ``DEFERRABLE INITIALLY DEFERRED``: PostgreSQL runs it for
each such entry when the transaction commits, in the order the entries were inserted. It locks
the chain head, gives the entry the next number, the head's hash as ``prev_hash`` and the hash
of its canonical content (``governance_audit_hash``), and moves the head. So the head is locked
only while a transaction commits; an entry commits if and only if its action does; entries
inserted in a rolled-back savepoint are gone with it, trigger events included; and an entry that
cannot be sealed fails the commit, and so the action.

``governance_audit_hash`` is the SQL definition of the canonical hash (the Python one is
``governance.audit.hashing``); in-database verification uses it too. The append-only trigger is
replaced by one that lets the seal, and only the seal, fill in an entry not sealed yet. The
append function of migration 0003 is no longer used and is dropped.
"""

import importlib

from django.db import migrations

HEAD_CREATE_LOCK = 107156823700552  # "auditH": serialises creating the chain head row

FORWARD_SQL = rf"""
-- The hash of an entry's canonical content: json_build_array writes the JSON array of the
-- hashed fields exactly as governance/audit/hashing.py does.
CREATE OR REPLACE FUNCTION governance_audit_hash(e audit_auditevent) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT encode(sha256(convert_to(json_build_array(
        e.seq, e.prev_hash, to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        e.kind, e.action, e.actor_id, e.actor_username, e.actor_kind, e.agent_name,
        e.model_slug, e.version_number, e.object_type, e.object_id, e.object_repr,
        e.remote_addr, e.user_agent, e.correlation_id, e.summary, e.data
    )::text, 'UTF8')), 'hex')
$$;

-- Provisional numbers (negated) of entries not sealed yet; unique across open transactions.
CREATE SEQUENCE IF NOT EXISTS audit_auditevent_pending;

CREATE OR REPLACE FUNCTION governance_audit_seal() RETURNS trigger AS $$
DECLARE
    entry audit_auditevent := NEW;
BEGIN
    SELECT h.seq, h.hash INTO entry.seq, entry.prev_hash FROM audit_chainhead h WHERE h.id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        -- No head row (a fresh or emptied table): make it from the sealed entries there are.
        -- Two first writers queue on the advisory lock; the second finds the row.
        PERFORM pg_advisory_xact_lock({HEAD_CREATE_LOCK});
        INSERT INTO audit_chainhead (id, seq, hash, base_seq, base_prev_hash)
        SELECT 1,
               COALESCE((SELECT e.seq FROM audit_auditevent e WHERE e.seq > 0 ORDER BY e.seq DESC LIMIT 1), 0),
               COALESCE((SELECT e.hash FROM audit_auditevent e WHERE e.seq > 0 ORDER BY e.seq DESC LIMIT 1), repeat('0', 64)),
               COALESCE((SELECT e.seq FROM audit_auditevent e WHERE e.seq > 0 ORDER BY e.seq LIMIT 1), 1),
               COALESCE((SELECT e.prev_hash FROM audit_auditevent e WHERE e.seq > 0 ORDER BY e.seq LIMIT 1), repeat('0', 64))
        ON CONFLICT (id) DO NOTHING;
        SELECT h.seq, h.hash INTO entry.seq, entry.prev_hash FROM audit_chainhead h WHERE h.id = 1 FOR UPDATE;
    END IF;
    entry.seq := entry.seq + 1;
    entry.hash := governance_audit_hash(entry);
    UPDATE audit_auditevent SET seq = entry.seq, prev_hash = entry.prev_hash, hash = entry.hash
        WHERE seq = NEW.seq;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'Audit entry % disappeared before it was sealed.', NEW.seq;
    END IF;
    UPDATE audit_chainhead SET seq = entry.seq, hash = entry.hash WHERE id = 1;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS audit_seal ON audit_auditevent;
CREATE CONSTRAINT TRIGGER audit_seal AFTER INSERT ON audit_auditevent
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.seq < 0) EXECUTE FUNCTION governance_audit_seal();

-- Nothing may be updated, except an entry not sealed yet (negative number), by the seal (called
-- from a trigger); only sealed entries before the chain start may be deleted, by a purge.
CREATE OR REPLACE FUNCTION governance_audit_append_only() RETURNS trigger AS $$
BEGIN
    -- Nested IFs: PL/pgSQL does not promise to short-circuit AND, and OLD has different
    -- columns in the two tables.
    IF TG_TABLE_NAME = 'audit_auditevent' THEN
        IF TG_OP = 'UPDATE' THEN
            IF OLD.seq < 0 AND pg_trigger_depth() > 1 THEN
                RETURN NEW;
            END IF;
        ELSIF current_setting('governance.audit_purge', true) = 'on' THEN
            IF OLD.seq > 0 AND OLD.seq < (SELECT base_seq FROM audit_chainhead WHERE id = 1) THEN
                RETURN OLD;
            END IF;
        END IF;
    ELSIF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'auditlog_logentry'
          AND current_setting('governance.audit_purge', true) = 'on' THEN
        IF OLD.timestamp < NULLIF(current_setting('governance.audit_purge_before', true), '')::timestamptz THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'The audit trail is append-only: % on % refused.', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;

DROP FUNCTION IF EXISTS governance_audit_append(timestamptz, text, text, bigint, text, text, text, text, integer, text, text, text, text, text, text, text, text);
"""

BACKWARD_SQL = """
DROP TRIGGER IF EXISTS audit_seal ON audit_auditevent;
DROP FUNCTION IF EXISTS governance_audit_seal();
DROP SEQUENCE IF EXISTS audit_auditevent_pending;
DROP FUNCTION IF EXISTS governance_audit_hash(audit_auditevent);
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD_SQL, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(BACKWARD_SQL, params=None)
    # Back to the functions of migrations 0002 and 0003.
    for name, attribute in (("0002_append_only", "TRIGGER_SQL"), ("0003_append_function", "FUNCTION_SQL")):
        module = importlib.import_module(f"governance.audit.migrations.{name}")
        schema_editor.execute(getattr(module, attribute), params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_append_function")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
