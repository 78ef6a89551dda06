from django.apps import AppConfig
from django.db.models.signals import post_migrate


class LifecycleConfig(AppConfig):
    name = "workflows.lifecycle"
    label = "lifecycle"
    verbose_name = "Lifecycle and sign-off"

    def ready(self):
        from auditlog.registry import auditlog

        from governance.registry.extensions import register_version_api_field, register_version_panel

        from . import history, panels
        from .models import ApprovalPolicy

        # Policy changes are audited (who changed which number, when), field by field. The
        # history rows (transitions, annotations, sign-offs) are in the audit
        # trail as decision events of their own (governance.audit.receivers), with actor, policy
        # and annotation; an auditlog copy of each would only add a write to every decision.
        auditlog.register(ApprovalPolicy)

        register_version_api_field("available_transitions", panels.api_available_transitions)
        register_version_api_field("signoffs", panels.api_signoffs)
        register_version_api_field("required_signoffs", panels.api_required_signoffs)
        register_version_panel("lifecycle", "lifecycle/_version_panel.html", panels.version_panel_context, order=10)

        history.register_history_source("transition", history.transition_entries)
        history.register_history_source("annotation", history.annotation_entries)
        history.register_history_source("signoff", history.signoff_entries)
        post_migrate.connect(_policies_after_migrate, sender=self, dispatch_uid="lifecycle.policies")


def _policies_after_migrate(sender, **kwargs):
    """Recreate the default approval policies after migrate or a flush (test teardown)."""
    from django.db import connections

    from .models import ApprovalPolicy
    from .policy import approval_policies_ensure

    # After `migrate lifecycle zero` the table is gone: nothing to seed.
    if ApprovalPolicy._meta.db_table in connections[kwargs.get("using", "default")].introspection.table_names():
        approval_policies_ensure()
