"""``python manage.py totp_code USERNAME``: the one-time code the user's authenticator app shows now.

For the demo and for development, so two-factor sign-in and signing can be tried without a phone
(``seed_demo`` enrols the validator ``val``). Prints only the code, on its own line, so scripts can
capture it. Refused in production: there nobody but the person holds their code.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from governance.access.models import User
from governance.demo.totp import totp_code_now, totp_secret


class Command(BaseCommand):
    help = "Print the current TOTP code of a user enrolled in two-factor authentication (not in production)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        if settings.PRODUCTION:
            raise CommandError("Refusing to print one-time codes in production: only their owner reads them.")
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named '{username}'.")
        secret = totp_secret(user)
        if secret is None:
            raise CommandError(
                f"{username} has no authenticator app (TOTP) set up: enrol under Two-factor first "
                "(seed_demo enrols the demo validator val)."
            )
        self.stdout.write(totp_code_now(secret))
