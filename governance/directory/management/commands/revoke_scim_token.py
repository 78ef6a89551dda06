"""``python manage.py revoke_scim_token PREFIX``: revoke the SCIM token that starts so.

The identity provider's very next call with it is refused. ``PREFIX`` is the start of the token
as the admin's list of SCIM tokens shows it (``scim_`` and a few characters).
"""

from django.core.management.base import BaseCommand, CommandError

from governance.access.services import console_actor
from governance.audit.context import audit_context
from governance.directory.models import ScimToken
from governance.directory.services import scim_token_revoke


class Command(BaseCommand):
    help = "Revoke a SCIM token by the prefix the admin shows."

    def add_arguments(self, parser):
        parser.add_argument("prefix")

    def handle(self, *args, prefix: str, **options):
        tokens = list(ScimToken.objects.filter(key_prefix__startswith=prefix.rstrip("…"))[:2])
        if len(tokens) != 1:
            raise CommandError("No SCIM token has that prefix." if not tokens else "Several tokens match: give more characters.")
        actor = console_actor()
        with audit_context(actor=actor):
            token = scim_token_revoke(actor=actor, token=tokens[0])
        self.stdout.write(f"Revoked {token}.")
