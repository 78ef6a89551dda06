"""Recompute the audit hash chain and check it against the signed checkpoints: exit 0 when
intact, 1 naming the first bad entry or the first checkpoint the trail contradicts."""

import sys
import time

from django.core.management.base import BaseCommand

from governance.audit.verification import chain_verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain and name the first changed, deleted, inserted or moved entry."

    def add_arguments(self, parser):
        parser.add_argument(
            "--python",
            action="store_true",
            help="Recompute every hash in Python rather than in the database (PostgreSQL): slower, "
            "and independent of the database's own functions.",
        )

    def handle(self, *args, python=False, **options):
        started = time.perf_counter()
        result = chain_verify(in_database=False if python else None)
        elapsed = time.perf_counter() - started
        if result.ok:
            self.stdout.write(
                f"Audit chain intact: {result.checked} entries verified in {elapsed:.2f} s; "
                f"head #{result.head['seq']} {result.head['hash']}."
            )
            checkpoint = result.checkpoint
            if checkpoint is not None and checkpoint.latest is not None:
                self.stdout.write(
                    f"Consistent with {checkpoint.checked} signed checkpoint(s); the latest: "
                    f"{checkpoint.latest.describe()}."
                )
            else:
                self.stdout.write("No signed checkpoint to check against (GOVERNANCE_AUDIT_CHECKPOINT_DIR).")
            return
        bad = result.first_bad
        self.stderr.write(
            f"Audit chain BROKEN at entry {bad.seq} ({bad.kind}): {bad.message} "
            f"({result.checked} entries verified before it.)"
        )
        sys.exit(1)
