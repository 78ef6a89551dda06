"""``python manage.py create_scim_token LABEL``: a SCIM token for an identity provider.

Prints only the token, on its own line, so scripts can capture it (``TOKEN=$(...)``). The
secret is shown this once; only its hash is stored. Paste it into the identity provider's
provisioning settings as the bearer token of the tenant URL ``<portal>/scim/v2/``.
"""

from django.core.management.base import BaseCommand, CommandError

from governance.access.services import console_actor
from governance.audit.context import audit_context
from governance.directory.services import scim_token_create
from governance.errors import ActionError


class Command(BaseCommand):
    help = "Create a SCIM token for the company directory's identity provider and print it."

    def add_arguments(self, parser):
        parser.add_argument("label", help="Which identity provider uses it, e.g. 'Entra ID production'.")

    def handle(self, *args, label: str, **options):
        actor = console_actor()
        try:
            with audit_context(actor=actor):
                _, raw = scim_token_create(actor=actor, label=label)
        except ActionError as exc:
            raise CommandError(exc.message)
        self.stdout.write(raw)
