"""Two database users on PostgreSQL: the owner runs migrations, the portal runs as the app role.

With ``DATABASE_MIGRATE_URL`` set, ``DATABASES`` has a second alias, ``owner``: the user that
owns the tables. ``manage.py migrate --database owner`` migrates through it, and only through it
(``allow_migrate``); while it runs, the data migrations' reads and writes go through it too. At
the end of the migration the app role (``DATABASE_URL``'s user) is granted the rights it needs
(``governance.dbroles``). The portal itself always uses ``default``: without ownership, TRUNCATE,
or UPDATE and DELETE on the append-only tables. See docs/deploy.md.
"""

from __future__ import annotations

from django.conf import settings

OWNER = "owner"


class _State:
    migrating = False


state = _State()


def split_configured() -> bool:
    return OWNER in settings.DATABASES


class OwnerMigrates:
    def db_for_read(self, model, **hints):
        return OWNER if state.migrating else None

    def db_for_write(self, model, **hints):
        return OWNER if state.migrating else None

    def allow_relation(self, obj1, obj2, **hints):
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if split_configured():
            return db == OWNER
        return None


def pre_migrate(sender, using=None, **kwargs):
    if using == OWNER and split_configured():
        state.migrating = True


def post_migrate(sender, using=None, **kwargs):
    """Once, after the last app: grant the app role its rights, then route back to ``default``."""
    if using != OWNER or not split_configured() or not state.migrating:
        return
    from django.apps import apps

    # post_migrate is sent for each app that has models, in order: act after the last one.
    if sender is not [config for config in apps.get_app_configs() if config.models_module is not None][-1]:
        return
    from .dbroles import app_role_grant

    try:
        role = settings.DATABASES["default"].get("USER")
        if role and role != settings.DATABASES[OWNER].get("USER"):
            app_role_grant(using=OWNER, role=role)
    finally:
        state.migrating = False
