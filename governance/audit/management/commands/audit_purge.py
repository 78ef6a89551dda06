"""Remove audit entries older than a date, as an explicit and audited act.

Refused for dates within the retention period (GOVERNANCE_AUDIT_RETENTION_DAYS; unset means the
trail is kept forever, so every purge is refused). The chain stays verifiable: the purge records,
as an event of its own, the sequence number and the hash the chain now starts from. On
PostgreSQL the purge is the database function ``governance_audit_purge`` (the portal's database
user cannot delete otherwise); with GOVERNANCE_AUDIT_CHECKPOINT_KEY set, a signed checkpoint of
the new chain is written after it.
"""

from datetime import datetime, time, timezone as dt_timezone

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date

from governance.audit.services import PurgeRefused, audit_purge


class Command(BaseCommand):
    help = "Delete audit entries recorded before --before DATE (audited; needs --confirm)."

    def add_arguments(self, parser):
        parser.add_argument("--before", required=True, help="YYYY-MM-DD: entries recorded before this day go.")
        parser.add_argument("--confirm", action="store_true", help="Really delete (otherwise only report).")
        parser.add_argument("--reason", default="", help="Why, recorded in the trail.")

    def handle(self, *args, before, confirm, reason, **options):
        day = parse_date(before)
        if day is None:
            raise CommandError(f"--before must be a date like 2025-01-31, not “{before}”.")
        cutoff = datetime.combine(day, time.min, tzinfo=dt_timezone.utc)
        try:
            result = audit_purge(before=cutoff, dry_run=not confirm, reason=reason)
        except PurgeRefused as refused:
            raise CommandError(str(refused))
        if not confirm:
            self.stdout.write(f"{result['count']} entries would be removed. Run again with --confirm to remove them.")
            return
        self.stdout.write(
            f"Removed {result['count']} entries; the chain now starts at entry {result['starts_at_seq']} "
            f"(recorded as entry {result['event_seq']})."
        )
        if result.get("checkpoint"):
            self.stdout.write(f"Signed checkpoint of the new chain: {result['checkpoint']}")
