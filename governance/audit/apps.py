from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "governance.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self):
        from . import receivers, registrations

        registrations.register_models()
        receivers.connect()

        from django.db.models.signals import post_migrate, pre_migrate

        from governance import db_router

        pre_migrate.connect(db_router.pre_migrate, dispatch_uid="governance.db_router.pre_migrate")
        post_migrate.connect(db_router.post_migrate, dispatch_uid="governance.db_router.post_migrate")
