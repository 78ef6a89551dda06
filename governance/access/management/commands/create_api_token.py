"""python manage.py create_api_token USERNAME [--label TEXT] [--expires-in-days N]

Prints only the token, on its own line, so scripts can capture it. The secret is not stored.
"""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from governance.access.models import User
from governance.access.services import token_create


class Command(BaseCommand):
    help = "Make an API token for a user and print it (shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--label", default="", help="what the token is for")
        parser.add_argument("--expires-in-days", type=int, default=None, help="default: never expires")

    def handle(self, *args, username, label, expires_in_days, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user called '{username}'.")
        if not user.is_active:
            raise CommandError(f"'{username}' is deactivated; a token for them would not work.")
        if expires_in_days is not None and expires_in_days <= 0:
            raise CommandError("--expires-in-days must be a positive number of days.")
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        _, raw = token_create(user=user, label=label, expires_at=expires_at)
        self.stdout.write(raw)
