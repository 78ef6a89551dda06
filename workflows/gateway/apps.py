from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "workflows.gateway"
    label = "gateway"
    verbose_name = "Scoring gateway"

    def ready(self):
        from auditlog.registry import auditlog

        from .models import DriftPolicy

        auditlog.register(DriftPolicy)
