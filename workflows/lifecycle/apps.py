from django.apps import AppConfig
from django.db.models.signals import post_migrate


class LifecycleConfig(AppConfig):
    name = "workflows.lifecycle"
    label = "lifecycle"
    verbose_name = "Lifecycle and sign-off"

    def ready(self):
        from auditlog.registry import auditlog

        from .models import ApprovalPolicy

        # Policy changes are audited (who changed which number, when), field by field. The
        # history rows (transitions, annotations, sign-offs) are in the audit trail as decision
        # events written by the lifecycle services beside each row, with actor, policy and
        # annotation; an auditlog copy of each would only add a write to every decision.
        auditlog.register(ApprovalPolicy)
        post_migrate.connect(_policies_after_migrate, sender=self, dispatch_uid="lifecycle.policies")


def _policies_after_migrate(sender, **kwargs):
    """Recreate the default approval policies after migrate or a flush (test teardown)."""
    from django.db import connections

    from .models import ApprovalPolicy
    from .policy import approval_policies_ensure

    # After `migrate lifecycle zero` the table is gone: nothing to seed.
    if ApprovalPolicy._meta.db_table in connections[kwargs.get("using", "default")].introspection.table_names():
        approval_policies_ensure()
