from django.apps import AppConfig
from django.db.models.signals import post_migrate


class NotificationsConfig(AppConfig):
    name = "workflows.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self):
        from auditlog.registry import auditlog

        from .models import ReviewServiceLevel

        # Who changed which service level, when: field by field.
        auditlog.register(ReviewServiceLevel)

        from governance.access.signals import user_deactivated

        from .services import reviews_flag_on_deactivation

        user_deactivated.connect(reviews_flag_on_deactivation, dispatch_uid="notifications.reviews_flag_on_deactivation")
        post_migrate.connect(_levels_after_migrate, sender=self, dispatch_uid="notifications.levels")


def _levels_after_migrate(sender, **kwargs):
    """Recreate the default review service levels after migrate or a flush (test teardown)."""
    from django.db import connections

    from .models import ReviewServiceLevel
    from .services import review_service_levels_ensure

    if ReviewServiceLevel._meta.db_table in connections[kwargs.get("using", "default")].introspection.table_names():
        review_service_levels_ensure()
