"""Grant the portal's database user (the app role) its rights: run as the owner of the tables.

``manage.py migrate --database owner`` does this at its end; run it by hand after restoring a
backup or when the app role changes: ``manage.py db_grant_app governance_app --database owner``.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from governance.dbroles import app_role_grant


class Command(BaseCommand):
    help = "Grant the app database role SELECT/INSERT on append-only tables and read/write on the others."

    def add_arguments(self, parser):
        parser.add_argument("role", nargs="?", help="The app role (default: DATABASE_URL's user).")
        parser.add_argument("--database", default="owner", help="The alias of the owner's connection (default: owner).")

    def handle(self, *args, role=None, database="owner", **options):
        if database not in connections.settings:
            raise CommandError(f"No database alias “{database}”: set DATABASE_MIGRATE_URL (the owner's URL).")
        role = role or connections.settings["default"].get("USER")
        if not role:
            raise CommandError("Name the app role.")
        if connections[database].vendor != "postgresql":
            raise CommandError("Roles exist on PostgreSQL only.")
        try:
            statements = app_role_grant(using=database, role=role)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for statement in statements:
            self.stdout.write(statement + ";")
