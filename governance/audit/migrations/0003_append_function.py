"""On PostgreSQL, appending to the chain is one database function, ``governance_audit_append``.

It does what the application's single append statement did (lock the chain head, insert the next
entry with the hash of its canonical content, move the head), and creates the head row when it
is missing (a fresh or flushed database). As a PL/pgSQL function its statement is planned once
per database session and reused, and a call is short enough to travel with the transaction's
COMMIT in one message (``governance.audit.db``), so an audited transaction costs no extra round
trip. The hash expression is the one ``verification.pg_content_hash_sql`` writes for a stored
row, byte for byte (tests compare the function's hashes with Python's ``content_hash``).
"""

from django.db import migrations

FUNCTION_SQL = r"""
CREATE OR REPLACE FUNCTION governance_audit_append(
    p_at timestamptz, p_kind text, p_action text, p_actor_id bigint, p_actor_username text,
    p_actor_kind text, p_agent_name text, p_model_slug text, p_version_number integer,
    p_object_type text, p_object_id text, p_object_repr text, p_remote_addr text,
    p_user_agent text, p_correlation_id text, p_summary text, p_data text
) RETURNS TABLE (out_seq bigint, out_prev_hash text, out_hash text) AS $$
BEGIN
    FOR attempt IN 1..2 LOOP
        RETURN QUERY
        WITH head AS (SELECT h.seq, h.hash FROM audit_chainhead h WHERE h.id = 1 FOR UPDATE),
        new AS (
            SELECT head.seq + 1 AS seq, head.hash AS prev_hash, p_at AS at, p_kind AS kind,
                   p_action AS action, p_actor_id AS actor_id, p_actor_username AS actor_username,
                   p_actor_kind AS actor_kind, p_agent_name AS agent_name, p_model_slug AS model_slug,
                   p_version_number AS version_number, p_object_type AS object_type,
                   p_object_id AS object_id, p_object_repr AS object_repr, p_remote_addr AS remote_addr,
                   p_user_agent AS user_agent, p_correlation_id AS correlation_id, p_summary AS summary,
                   p_data AS data
            FROM head
        ),
        inserted AS (
            INSERT INTO audit_auditevent (
                seq, prev_hash, at, kind, action, actor_id, actor_username, actor_kind, agent_name,
                model_slug, version_number, object_type, object_id, object_repr, remote_addr,
                user_agent, correlation_id, summary, data, hash
            )
            SELECT n.seq, n.prev_hash, n.at, n.kind, n.action, n.actor_id, n.actor_username,
                   n.actor_kind, n.agent_name, n.model_slug, n.version_number, n.object_type,
                   n.object_id, n.object_repr, n.remote_addr, n.user_agent, n.correlation_id,
                   n.summary, n.data,
                   encode(sha256(convert_to(json_build_array(
                       n.seq, n.prev_hash, to_char(n.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                       n.kind, n.action, n.actor_id, n.actor_username, n.actor_kind, n.agent_name,
                       n.model_slug, n.version_number, n.object_type, n.object_id, n.object_repr,
                       n.remote_addr, n.user_agent, n.correlation_id, n.summary, n.data
                   )::text, 'UTF8')), 'hex')
            FROM new n
            RETURNING audit_auditevent.seq, audit_auditevent.prev_hash, audit_auditevent.hash
        ),
        moved AS (
            UPDATE audit_chainhead h SET seq = i.seq, hash = i.hash FROM inserted i WHERE h.id = 1
            RETURNING i.seq, i.prev_hash, i.hash
        )
        SELECT m.seq, m.prev_hash::text, m.hash::text FROM moved m;
        IF FOUND THEN
            RETURN;
        END IF;
        -- No head row (fresh or flushed database): make it from the entries there are. Two first
        -- writers queue on the advisory lock; the second finds the row.
        PERFORM pg_advisory_xact_lock(107156823700552);  -- "auditH", as services.HEAD_CREATE_LOCK
        INSERT INTO audit_chainhead (id, seq, hash, base_seq, base_prev_hash)
        SELECT 1,
               COALESCE((SELECT e.seq FROM audit_auditevent e ORDER BY e.seq DESC LIMIT 1), 0),
               COALESCE((SELECT e.hash FROM audit_auditevent e ORDER BY e.seq DESC LIMIT 1), repeat('0', 64)),
               COALESCE((SELECT e.seq FROM audit_auditevent e ORDER BY e.seq LIMIT 1), 1),
               COALESCE((SELECT e.prev_hash FROM audit_auditevent e ORDER BY e.seq LIMIT 1), repeat('0', 64))
        ON CONFLICT (id) DO NOTHING;
    END LOOP;
    RAISE EXCEPTION 'The audit chain head could not be locked or created.';
END
$$ LANGUAGE plpgsql;
"""

DROP_SQL = "DROP FUNCTION IF EXISTS governance_audit_append(timestamptz, text, text, bigint, text, text, text, text, integer, text, text, text, text, text, text, text, text);"


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION_SQL, params=None)


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only")]

    operations = [migrations.RunPython(create_function, drop_function, elidable=False)]
