"""On PostgreSQL, the database itself refuses to change or delete history rows.

The models refuse it in Python already; this also stops raw SQL and other programs. (A flush
of the whole database uses TRUNCATE, which these row triggers leave alone.) On other databases
the Python guards are the only ones.
"""

from django.db import migrations

TABLES = ["lifecycle_transitionrecord", "lifecycle_annotation", "lifecycle_signoff"]

CREATE = """
CREATE OR REPLACE FUNCTION lifecycle_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'lifecycle history is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(CREATE, params=None)  # no placeholders: keep the % of RAISE
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION lifecycle_refuse_change();"
        )


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
    schema_editor.execute("DROP FUNCTION IF EXISTS lifecycle_refuse_change();")


class Migration(migrations.Migration):
    dependencies = [("lifecycle", "0003_default_approval_policies")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
