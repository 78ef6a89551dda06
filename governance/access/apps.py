from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "governance.access"
    label = "access"
    verbose_name = "People and access"

    def ready(self):
        from auditlog.registry import auditlog

        from governance.registry.extensions import register_model_panel

        from .models import ApiToken, ModelGrant, User
        from .panels import model_access_context

        # Every grant, revoke, role change and deactivation lands in auditlog's LogEntry with
        # its actor; the audit app chains those entries. Secrets and churn are left out:
        # no password, no token hash, no last_login / last_used_at (they change on every use).
        auditlog.register(
            User,
            include_fields=[
                "username", "email", "first_name", "last_name",
                "is_active", "is_staff", "is_superuser", "is_service_account",
            ],
            m2m_fields={"groups"},
        )
        auditlog.register(ModelGrant)
        auditlog.register(ApiToken, exclude_fields=["key_hash", "last_used_at"])

        register_model_panel("access", "access/_model_grants_panel.html", model_access_context, order=20)
