"""On PostgreSQL, purging is possible only through ``governance_audit_purge``, with the rule inside.

Until now the append-only trigger let any session delete old entries after setting
``governance.audit_purge``, which every database user can do. Now the trigger lets only the
owner of the tables delete (and only sealed entries before the chain start, or django-auditlog
entries older than the 183-day floor), and the owner's rights reach the portal through one
function, ``governance_audit_purge``, SECURITY DEFINER with a fixed search_path. It checks the
retention rule itself (the configured days it is given, never fewer than 183), moves the chain
start, deletes, and appends the ``audit.purged`` entry, in the caller's transaction. The app role
may EXECUTE it (``governance.dbroles``); nobody else.
"""

from django.db import migrations

MIN_RETENTION_DAYS = 183  # settings.GOVERNANCE_AUDIT_MIN_RETENTION_DAYS, fixed here on purpose

APPEND_ONLY_SQL = f"""
CREATE OR REPLACE FUNCTION governance_audit_append_only() RETURNS trigger AS $$
DECLARE
    owner_acts boolean := pg_has_role(current_user, (SELECT c.relowner FROM pg_class c WHERE c.oid = TG_RELID), 'MEMBER');
BEGIN
    -- Nested IFs: PL/pgSQL does not promise to short-circuit AND, and OLD has different
    -- columns in the two tables.
    IF TG_TABLE_NAME = 'audit_auditevent' THEN
        IF TG_OP = 'UPDATE' THEN
            -- The seal (called from the deferred trigger) fills in an entry not sealed yet.
            IF OLD.seq < 0 AND pg_trigger_depth() > 1 THEN
                RETURN NEW;
            END IF;
        ELSIF owner_acts THEN
            -- The purge function: sealed entries before the chain start it has just moved.
            IF OLD.seq > 0 AND OLD.seq < (SELECT base_seq FROM audit_chainhead WHERE id = 1) THEN
                RETURN OLD;
            END IF;
        END IF;
    ELSIF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'auditlog_logentry' AND owner_acts THEN
        IF OLD.timestamp < now() - interval '{MIN_RETENTION_DAYS} days' THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'The audit trail is append-only: % on % refused.', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;
"""

PURGE_SQL = f"""
CREATE OR REPLACE FUNCTION governance_audit_purge(
    p_before timestamptz, p_reason text, p_retention_days integer,
    p_actor_id bigint DEFAULT NULL, p_actor_username text DEFAULT '', p_agent_name text DEFAULT 'audit-purge',
    p_correlation_id text DEFAULT ''
) RETURNS TABLE (removed bigint, starts_at_seq bigint, event_seq bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {{schema}}, pg_temp AS $$
DECLARE
    days integer;
    head audit_chainhead;
    new_base bigint;
    new_prev text;
    n bigint;
    before_text text;
BEGIN
    IF p_retention_days IS NULL THEN
        RAISE EXCEPTION 'The audit trail is kept forever (GOVERNANCE_AUDIT_RETENTION_DAYS is not set): nothing may be purged.'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    days := greatest(p_retention_days, {MIN_RETENTION_DAYS});
    IF p_before IS NULL OR p_before > now() - make_interval(days => days) THEN
        RAISE EXCEPTION 'Entries are kept for % days: the cut-off must be on or before %.',
            days, to_char((now() - make_interval(days => days)) AT TIME ZONE 'UTC', 'YYYY-MM-DD')
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- Entries this transaction appended are sealed first, so everything below is numbered;
    -- then the chain head stays locked until the purge commits.
    SET CONSTRAINTS audit_seal IMMEDIATE;
    SET CONSTRAINTS audit_seal DEFERRED;
    SELECT * INTO head FROM audit_chainhead h WHERE h.id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 0::bigint, 1::bigint, NULL::bigint;
        RETURN;
    END IF;
    -- The cut is the first entry, in chain order, recorded at or after the cut-off.
    SELECT e.seq, e.prev_hash INTO new_base, new_prev FROM audit_auditevent e
        WHERE e.at >= p_before AND e.seq > 0 ORDER BY e.seq LIMIT 1;
    IF new_base IS NULL THEN
        new_base := head.seq + 1;
        new_prev := head.hash;
    END IF;
    SELECT count(*) INTO n FROM audit_auditevent e WHERE e.seq >= head.base_seq AND e.seq < new_base;
    IF n = 0 THEN
        RETURN QUERY SELECT 0::bigint, head.base_seq, NULL::bigint;
        RETURN;
    END IF;
    UPDATE audit_chainhead SET base_seq = new_base, base_prev_hash = new_prev WHERE id = 1;
    DELETE FROM audit_auditevent e WHERE e.seq > 0 AND e.seq < new_base;
    DELETE FROM auditlog_logentry l WHERE l.timestamp < p_before;
    -- As Python's datetime.isoformat() writes it.
    before_text := to_char(p_before AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN extract(microseconds FROM p_before)::bigint % 1000000 = 0 THEN ''
                ELSE to_char(p_before AT TIME ZONE 'UTC', '.US') END
        || '+00:00';
    INSERT INTO audit_auditevent (
        seq, prev_hash, hash, at, kind, action, actor_id, actor_username, actor_kind, agent_name,
        model_slug, version_number, object_type, object_id, object_repr, remote_addr, user_agent,
        correlation_id, summary, data
    ) VALUES (
        -nextval('audit_auditevent_pending'), '', '', clock_timestamp(), 'admin', 'audit.purged',
        p_actor_id, coalesce(p_actor_username, ''),
        CASE WHEN p_actor_id IS NULL THEN 'agent' ELSE 'human' END,
        CASE WHEN p_actor_id IS NULL THEN coalesce(p_agent_name, '') ELSE '' END,
        '', NULL, '', '', '', '', '', coalesce(p_correlation_id, ''),
        coalesce(nullif(p_reason, ''), 'Retention purge of entries recorded before '
            || to_char(p_before AT TIME ZONE 'UTC', 'YYYY-MM-DD') || '.'),
        -- Canonical JSON: sorted keys, no spaces (governance.audit.hashing.canonical_data).
        format('{{"before":%s,"removed":%s,"retention_days":%s,"starts_at_seq":%s,"starts_from_hash":%s}}',
               to_json(before_text), n, days, new_base, to_json(new_prev))
    );
    SET CONSTRAINTS audit_seal IMMEDIATE;
    SET CONSTRAINTS audit_seal DEFERRED;
    RETURN QUERY SELECT n, new_base, (SELECT h.seq FROM audit_chainhead h WHERE h.id = 1);
END
$$;
REVOKE EXECUTE ON FUNCTION governance_audit_purge(timestamptz, text, integer, bigint, text, text, text) FROM PUBLIC;
"""

BACKWARD_SQL = """
DROP FUNCTION IF EXISTS governance_audit_purge(timestamptz, text, integer, bigint, text, text, text);
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = schema_editor.connection.ops.quote_name(cursor.fetchone()[0])
    schema_editor.execute(APPEND_ONLY_SQL, params=None)
    schema_editor.execute(PURGE_SQL.replace("{schema}", schema), params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    import importlib

    schema_editor.execute(BACKWARD_SQL, params=None)
    module = importlib.import_module("governance.audit.migrations.0004_seal_at_commit")
    # The 0004 trigger function, without the rest of 0004's script.
    sql = module.FORWARD_SQL
    start = sql.index("CREATE OR REPLACE FUNCTION governance_audit_append_only()")
    end = sql.index("$$ LANGUAGE plpgsql;", start) + len("$$ LANGUAGE plpgsql;")
    schema_editor.execute(sql[start:end], params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_seal_as_owner")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
