"""python manage.py verify_evidence_pack FILE [--no-trail]

Checks an evidence pack against itself (the SHA-256 of each file, the manifest's signature,
each audit entry against its own hash) and, beside the portal's database, against the audit
trail. Prints what does not match; exits 0 when everything matches and 1 otherwise.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from workflows.reports.packs import pack_verify


class Command(BaseCommand):
    help = "Verify an evidence pack (zip) and name what does not match."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--no-trail", action="store_true", help="Do not check against this portal's audit trail.")

    def handle(self, *args, file, no_trail, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file.")
        result = pack_verify(path.read_bytes(), against_trail=not no_trail)
        for note in result.notes:
            self.stdout.write(note)
        for problem in result.problems:
            self.stdout.write(f"MISMATCH {problem}")
        if not result.ok:
            self.stdout.write(f"{path.name}: {len(result.problems)} mismatch(es).")
            raise SystemExit(1)
        self.stdout.write(f"{path.name}: every file matches its manifest.")
