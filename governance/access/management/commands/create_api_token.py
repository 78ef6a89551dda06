"""``python manage.py create_api_token USERNAME [--label TEXT] [--expires-days N]``.

Prints only the token, on its own line, so scripts can capture it (``TOKEN=$(...)``). The
secret is shown this once; only its hash is stored.
"""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from governance.access.models import User
from governance.access.services import console_actor, token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it (only the token, on its own line)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--label", default="", help="What the token is for, e.g. 'CI pipeline'.")
        parser.add_argument("--expires-days", type=int, default=None, help="Days until the token stops working.")

    def handle(self, *args, username: str, label: str, expires_days: int | None, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named '{username}'.")
        if not user.is_active:
            raise CommandError(f"The user '{username}' is deactivated; their tokens would be refused.")
        if expires_days is not None and expires_days < 1:
            raise CommandError("--expires-days must be 1 or more.")
        expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
        _, raw = token_create(actor=console_actor(), user=user, label=label, expires_at=expires_at)
        self.stdout.write(raw)
