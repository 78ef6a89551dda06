"""Sign the audit chain head into a checkpoint file outside the database (or make a key pair).

``manage.py audit_checkpoint`` verifies the trail (chain and earlier checkpoints) and writes
``{seq, hash, base_seq, at, signature}`` to GOVERNANCE_AUDIT_CHECKPOINT_DIR, signed with
GOVERNANCE_AUDIT_CHECKPOINT_KEY; it refuses (exit 1) to sign a trail that does not verify.
``--generate-key`` prints a new Ed25519 key pair as environment lines and writes nothing.
``--accept-purge`` signs although the chain start moved since the latest checkpoint: for a purge
whose own checkpoint could not be written (every other contradiction still refuses).
"""

from django.core.management.base import BaseCommand, CommandError

from governance.audit.checkpoints import CheckpointError, checkpoint_write, generate_keypair


class Command(BaseCommand):
    help = "Write a signed checkpoint of the audit chain head (GOVERNANCE_AUDIT_CHECKPOINT_DIR)."

    def add_arguments(self, parser):
        parser.add_argument("--generate-key", action="store_true", help="Print a new key pair and stop.")
        parser.add_argument(
            "--accept-purge",
            action="store_true",
            help="Sign although the chain start moved since the latest checkpoint: only after a purge of "
            "your own whose checkpoint could not be written (check its audit.purged entry first).",
        )

    def handle(self, *args, generate_key=False, accept_purge=False, **options):
        if generate_key:
            private, public = generate_keypair()
            self.stdout.write(f"GOVERNANCE_AUDIT_CHECKPOINT_KEY={private}")
            self.stdout.write(f"GOVERNANCE_AUDIT_CHECKPOINT_PUBLIC_KEY={public}")
            return
        try:
            path = checkpoint_write(after_purge=accept_purge)
        except CheckpointError as error:
            raise CommandError(str(error))
        self.stdout.write(f"Checkpoint written: {path}")
