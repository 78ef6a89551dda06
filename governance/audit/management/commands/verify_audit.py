"""Recompute the audit hash chain: exit 0 when intact, 1 naming the first bad entry."""

import sys
import time

from django.core.management.base import BaseCommand

from governance.audit.verification import chain_verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain and name the first changed, deleted, inserted or moved entry."

    def handle(self, *args, **options):
        started = time.perf_counter()
        result = chain_verify()
        elapsed = time.perf_counter() - started
        if result.ok:
            self.stdout.write(
                f"Audit chain intact: {result.checked} entries verified in {elapsed:.2f} s; "
                f"head #{result.head['seq']} {result.head['hash']}."
            )
            return
        bad = result.first_bad
        self.stderr.write(
            f"Audit chain BROKEN at entry {bad.seq} ({bad.kind}): {bad.message} "
            f"({result.checked} entries verified before it.)"
        )
        sys.exit(1)
