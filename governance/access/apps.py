from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccessConfig(AppConfig):
    name = "governance.access"
    label = "access"
    verbose_name = "People and access"

    def ready(self):
        from auditlog.registry import auditlog
        from django.contrib.auth.models import Group

        from .models import User

        # Field changes of accounts and teams land in auditlog's LogEntry with their actor; the
        # audit app chains those entries. Decisions (grants, tokens, deactivation, passwords) are
        # written by the services in governance.access.services, so they are left out here, as
        # are secrets and churn (last_login changes on every sign-in).
        auditlog.register(
            User,
            include_fields=[
                "username", "email", "first_name", "last_name",
                "is_staff", "is_superuser", "is_service_account",
            ],
            m2m_fields={"groups"},
        )
        auditlog.register(Group, m2m_fields={"permissions"})

        from . import receivers

        receivers.connect()
        post_migrate.connect(_role_groups_after_migrate, dispatch_uid="access.role_groups")
        # A migrate or a flush makes the permission rows again: the cached ones are forgotten.
        from .services import model_permissions_forget

        post_migrate.connect(model_permissions_forget, dispatch_uid="access.model_permissions_forget")


def _role_groups_after_migrate(sender, app_config, **kwargs):
    """Recreate the role groups after migrate or a flush (a transactional test's teardown).

    Keyed on the registry's signal: its permissions, which the groups hold, exist by then.
    """
    if app_config.label != "registry":
        return
    from django.contrib.auth.models import Permission
    from django.db import connections

    from .roles import GLOBAL_ROLE_PERMISSIONS
    from .services import role_groups_ensure

    wanted = {dotted.split(".")[1] for perms in GLOBAL_ROLE_PERMISSIONS.values() for dotted in perms}
    using = kwargs.get("using", "default")
    # After `migrate registry zero` its permissions are gone: nothing to seed.
    if "auth_group" in connections[using].introspection.table_names() and (
        Permission.objects.using(using).filter(codename__in=wanted).count() == len(wanted)
    ):
        role_groups_ensure()
