"""On PostgreSQL, the seal runs with the rights of the tables' owner.

The portal's database user (the app role, docs/deploy.md) may only SELECT and INSERT on the trail
and only read the chain head, so it cannot rewrite either. Sealing an entry at commit updates
both: ``governance_audit_seal`` becomes SECURITY DEFINER, owned by the role that runs this
migration (the owner), with a fixed search_path so that no caller can slip in its own tables or
functions.
"""

from django.db import migrations


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = schema_editor.connection.ops.quote_name(cursor.fetchone()[0])
    schema_editor.execute(
        f"ALTER FUNCTION governance_audit_seal() SECURITY DEFINER SET search_path = {schema}, pg_temp", params=None
    )


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER FUNCTION governance_audit_seal() SECURITY INVOKER RESET search_path", params=None
        )


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_seal_at_commit")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
