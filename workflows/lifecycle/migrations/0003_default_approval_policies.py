"""The approval numbers of API.md (low 1, medium 1, high 2, critical 3), which admins may change."""

from django.db import migrations

DEFAULTS = {"low": 1, "medium": 1, "high": 2, "critical": 3}


def create_defaults(apps, schema_editor):
    ApprovalPolicy = apps.get_model("lifecycle", "ApprovalPolicy")
    for tier, number in DEFAULTS.items():
        ApprovalPolicy.objects.get_or_create(risk_tier=tier, defaults={"required_approvals": number})


def remove_defaults(apps, schema_editor):
    apps.get_model("lifecycle", "ApprovalPolicy").objects.filter(risk_tier__in=list(DEFAULTS)).delete()


class Migration(migrations.Migration):
    dependencies = [("lifecycle", "0002_signoff_approvalpolicy")]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
