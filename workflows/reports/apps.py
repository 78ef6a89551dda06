from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "workflows.reports"
    label = "reports"
    verbose_name = "Compliance reports"
