"""Create the global roles as groups, each with the model-level permissions it needs."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from governance.access.roles import GLOBAL_ROLE_PERMISSIONS
from governance.access.services import role_groups_ensure


def create_roles(apps, schema_editor):
    # Permissions are normally made after all migrations; make the registry's now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        app_config.models_module = None
    role_groups_ensure(
        group_model=apps.get_model("auth", "Group"), permission_model=apps.get_model("auth", "Permission")
    )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(GLOBAL_ROLE_PERMISSIONS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0002_initial"),
        ("registry", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
