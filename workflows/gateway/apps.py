from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "workflows.gateway"
    label = "gateway"
    verbose_name = "Scoring gateway"
