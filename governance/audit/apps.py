from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "governance.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self):
        from . import receivers, registrations

        registrations.register_models()
        receivers.connect()

        from governance.registry.extensions import register_model_panel

        from .views import champion_panel_context

        register_model_panel("champion_on_date", "audit/_champion_on_date.html", champion_panel_context, order=200)
