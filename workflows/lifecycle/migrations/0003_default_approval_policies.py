"""The default approval numbers (low 1, medium 1, high 2, critical 3), which admins may change."""

from django.db import migrations

from workflows.lifecycle.policy import DEFAULT_REQUIRED_APPROVALS, approval_policies_ensure


def create_defaults(apps, schema_editor):
    approval_policies_ensure(policy_model=apps.get_model("lifecycle", "ApprovalPolicy"))


def remove_defaults(apps, schema_editor):
    apps.get_model("lifecycle", "ApprovalPolicy").objects.filter(risk_tier__in=list(DEFAULT_REQUIRED_APPROVALS)).delete()


class Migration(migrations.Migration):
    dependencies = [("lifecycle", "0002_signoff_approvalpolicy")]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
