"""Authors of each version, fixed at submission; versions submitted before this migration get
their uploader, their submitters and the model's owners of today (the best record there is).
On PostgreSQL the table is append-only like the other history tables."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def authors_backfill(apps, schema_editor):
    ModelVersion = apps.get_model("registry", "ModelVersion")
    TransitionRecord = apps.get_model("lifecycle", "TransitionRecord")
    ModelGrant = apps.get_model("access", "ModelGrant")
    VersionAuthor = apps.get_model("lifecycle", "VersionAuthor")
    rows = []
    submitted = TransitionRecord.objects.filter(name="submit").values_list("version_id", "actor_id")
    for version_id, actor_id in submitted:
        version = ModelVersion.objects.get(pk=version_id)
        users = {(version.submitted_by_id, "uploader")}
        if actor_id:
            users.add((actor_id, "submitter"))
        for grant in ModelGrant.objects.filter(model_id=version.model_id, role="owner"):
            if grant.user_id:
                users.add((grant.user_id, "owner"))
            elif grant.group_id:
                users.update((member, "owner") for member in grant.group.user_set.values_list("pk", flat=True))
        rows.extend(VersionAuthor(version_id=version_id, user_id=user, role=role) for user, role in users)
    VersionAuthor.objects.bulk_create(rows, ignore_conflicts=True)


def append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE TRIGGER lifecycle_versionauthor_append_only BEFORE UPDATE OR DELETE ON lifecycle_versionauthor "
            "FOR EACH ROW EXECUTE FUNCTION lifecycle_refuse_change();"
        )


def append_only_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS lifecycle_versionauthor_append_only ON lifecycle_versionauthor;")


class Migration(migrations.Migration):

    dependencies = [
        ('lifecycle', '0004_append_only_triggers'),
        ('access', '0003_global_roles'),
        ('registry', '0002_dataset_typed_copy'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='VersionAuthor',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('role', models.CharField(choices=[('uploader', 'Uploaded it'), ('submitter', 'Submitted it'), ('owner', 'Owned the model when it was submitted')], max_length=10)),
                ('at', models.DateTimeField(auto_now_add=True)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('version', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='authors', to='registry.modelversion')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('version', 'user', 'role'), name='one_author_row_per_role')],
            },
        ),
        migrations.RunPython(authors_backfill, migrations.RunPython.noop),
        migrations.RunPython(append_only, append_only_drop),
    ]
