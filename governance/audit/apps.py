from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "governance.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self):
        from . import receivers, registrations

        registrations.register_models()
        receivers.connect()
