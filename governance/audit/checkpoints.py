"""Signed checkpoints of the chain head, kept outside the database.

Whoever controls the database (its owner, a superuser, a restored old backup) can rewrite the
trail and recompute every hash, so the chain alone cannot show it. A checkpoint is a small JSON
file, ``{seq, hash, base_seq, at, signature}``: the chain head (last entry and its hash) and the
chain start at a moment, signed with an Ed25519 key that the database never sees
(``GOVERNANCE_AUDIT_CHECKPOINT_KEY``, base64 of the raw 32-byte private key). Checkpoints are
written to ``GOVERNANCE_AUDIT_CHECKPOINT_DIR``, a directory on the portal's machines that the
database cannot reach, by ``manage.py audit_checkpoint``, by Celery beat (task
``audit.checkpoint``) and after every purge.

Verification (``chain_verify``, so ``verify_audit`` and the API) checks the trail against every
checkpoint, oldest first, and names the first one it contradicts: a bad signature; a trail that
ends before a checkpointed entry (truncated, emptied or rolled back); a checkpointed entry whose
hash differs (rewritten); or a chain start that moved after the latest checkpoint (a purge that
was not followed by a signed checkpoint, such as a forged one). A host that only verifies needs
the public key alone (``GOVERNANCE_AUDIT_CHECKPOINT_PUBLIC_KEY``).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from .hashing import canonical_time

# Signed bytes start with this, so a checkpoint signature is never valid for anything else.
DOMAIN = b"governance-audit-checkpoint-v1\n"


class CheckpointError(Exception):
    pass


@dataclass
class Checkpoint:
    seq: int
    hash: str
    base_seq: int
    at: str
    signature: str
    name: str = ""
    valid: bool | None = field(default=None, compare=False)

    def describe(self) -> str:
        return f"checkpoint {self.name} (entry {self.seq}, signed {self.at})"


def _b64_key(name: str) -> bytes | None:
    value = (getattr(settings, name, "") or "").strip()
    if not value:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise CheckpointError(f"{name} is not base64.") from error
    if len(raw) != 32:
        raise CheckpointError(f"{name} must be the base64 of 32 raw bytes (an Ed25519 key).")
    return raw


def private_key():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    raw = _b64_key("GOVERNANCE_AUDIT_CHECKPOINT_KEY")
    return Ed25519PrivateKey.from_private_bytes(raw) if raw is not None else None


def public_key():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    raw = _b64_key("GOVERNANCE_AUDIT_CHECKPOINT_PUBLIC_KEY")
    if raw is not None:
        return Ed25519PublicKey.from_public_bytes(raw)
    key = private_key()
    return key.public_key() if key is not None else None


def generate_keypair() -> tuple[str, str]:
    """(private, public), each base64 of the raw 32 bytes."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(private).decode(), base64.b64encode(public).decode()


def directory() -> Path:
    return Path(settings.GOVERNANCE_AUDIT_CHECKPOINT_DIR)


def signed_bytes(seq: int, hash: str, base_seq: int, at: str) -> bytes:
    body = json.dumps({"at": at, "base_seq": base_seq, "hash": hash, "seq": seq}, sort_keys=True, separators=(",", ":"))
    return DOMAIN + body.encode("utf-8")


def sign(seq: int, hash: str, base_seq: int, at: str, key=None) -> Checkpoint:
    key = key or private_key()
    if key is None:
        raise CheckpointError("GOVERNANCE_AUDIT_CHECKPOINT_KEY is not set: checkpoints cannot be signed.")
    signature = base64.b64encode(key.sign(signed_bytes(seq, hash, base_seq, at))).decode()
    return Checkpoint(seq=seq, hash=hash, base_seq=base_seq, at=at, signature=signature)


def signature_valid(checkpoint: Checkpoint, key) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(
            base64.b64decode(checkpoint.signature, validate=True),
            signed_bytes(checkpoint.seq, checkpoint.hash, checkpoint.base_seq, checkpoint.at),
        )
    except (InvalidSignature, binascii.Error, ValueError, TypeError):
        return False
    return True


def store(checkpoint: Checkpoint, where: Path | None = None) -> Path:
    """Write the checkpoint as a new file (never over another), read-only once written."""
    where = where or directory()
    where.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = checkpoint.at.replace("-", "").replace(":", "").replace(".", "")
    path = where / f"{checkpoint.seq:012d}-{stamp}.json"
    body = {"seq": checkpoint.seq, "hash": checkpoint.hash, "base_seq": checkpoint.base_seq, "at": checkpoint.at,
            "signature": checkpoint.signature}
    fd, temporary = tempfile.mkstemp(dir=where, prefix=".checkpoint-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(body, out, indent=1, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o444)
        os.link(temporary, path)  # fails rather than replace an existing checkpoint
    finally:
        os.unlink(temporary)
    checkpoint.name = path.name
    return path


def load_all(where: Path | None = None) -> list[Checkpoint]:
    """Every checkpoint file, in chain order; a file that cannot be read counts as unsigned."""
    where = where or directory()
    if not where.is_dir():
        return []
    found = []
    for path in sorted(where.glob("*.json")):
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            found.append(
                Checkpoint(
                    seq=int(body["seq"]), hash=str(body["hash"]), base_seq=int(body["base_seq"]),
                    at=str(body["at"]), signature=str(body["signature"]), name=path.name,
                )
            )
        except (OSError, ValueError, KeyError, TypeError):
            found.append(Checkpoint(seq=-1, hash="", base_seq=0, at="?", signature="", name=path.name, valid=False))
    found.sort(key=lambda checkpoint: (checkpoint.seq, checkpoint.at, checkpoint.name))
    return found


@dataclass
class CheckpointCheck:
    checked: int = 0
    latest: Checkpoint | None = None
    contradicted: Checkpoint | None = None
    message: str = ""
    # "signature" | "truncated" | "rewritten" | "start" | "key"
    reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason

    def as_dict(self) -> dict:
        body: dict = {"checked": self.checked, "latest": None}
        if self.latest is not None:
            body["latest"] = {"seq": self.latest.seq, "hash": self.latest.hash, "at": self.latest.at,
                              "file": self.latest.name}
        if self.contradicted is not None or self.reason:
            body["contradicted"] = self.contradicted.name if self.contradicted is not None else None
            body["message"] = self.message
        return body


def check(*, head_seq: int, base_seq: int, entry_hashes, where: Path | None = None) -> CheckpointCheck:
    """Check the trail (its head, its start, and ``entry_hashes(seqs) -> {seq: hash}``) against
    every checkpoint, oldest first; stop at the first one it contradicts."""
    checkpoints = load_all(where)
    result = CheckpointCheck()
    if not checkpoints:
        return result
    key = public_key()
    if key is None:
        result.reason = "key"
        result.message = (
            f"{len(checkpoints)} checkpoint(s) in {where or directory()} but no key to check their signatures "
            "(GOVERNANCE_AUDIT_CHECKPOINT_PUBLIC_KEY or GOVERNANCE_AUDIT_CHECKPOINT_KEY)."
        )
        return result
    hashes = entry_hashes(sorted({c.seq for c in checkpoints if c.seq >= max(base_seq, 1) and c.seq <= head_seq}))
    for checkpoint in checkpoints:
        if checkpoint.valid is False or not signature_valid(checkpoint, key):
            return _contradicts(result, checkpoint, "signature", f"The signature of {checkpoint.describe()} is not valid.")
        if checkpoint.seq > head_seq:
            return _contradicts(
                result, checkpoint, "truncated",
                f"The trail ends at entry {head_seq} but {checkpoint.describe()} recorded entry {checkpoint.seq}: "
                "the trail was truncated or rolled back.",
            )
        if checkpoint.base_seq > base_seq:
            return _contradicts(
                result, checkpoint, "truncated",
                f"The chain starts at entry {base_seq}, before the start (entry {checkpoint.base_seq}) of "
                f"{checkpoint.describe()}: the trail was rolled back.",
            )
        if checkpoint.seq >= max(base_seq, 1):
            stored = hashes.get(checkpoint.seq)
            if stored != checkpoint.hash:
                state = "is missing" if stored is None else "does not have the hash recorded"
                return _contradicts(
                    result, checkpoint, "rewritten",
                    f"Entry {checkpoint.seq} {state} in {checkpoint.describe()}: the trail was rewritten.",
                )
        result.checked += 1
        result.latest = checkpoint
    latest = result.latest
    if latest is not None and latest.base_seq != base_seq:
        return _contradicts(
            result, latest, "start",
            f"The chain start moved from entry {latest.base_seq} to {base_seq} after the latest "
            f"{latest.describe()}, with no signed checkpoint since: the purge was not made by the portal.",
        )
    return result


def _contradicts(result: CheckpointCheck, checkpoint: Checkpoint, reason: str, message: str) -> CheckpointCheck:
    result.contradicted, result.reason, result.message = checkpoint, reason, message
    return result


def checkpoint_write(*, after_purge: bool = False) -> Path:
    """Verify the trail (chain and earlier checkpoints), then sign and store its head.

    Refuses to sign a trail that does not verify. ``after_purge``: the portal has just purged,
    so the chain start may have moved since the latest checkpoint (only that is excused)."""
    from .verification import chain_verify

    key = private_key()
    if key is None:
        raise CheckpointError("GOVERNANCE_AUDIT_CHECKPOINT_KEY is not set: checkpoints cannot be signed.")
    result = chain_verify()
    excused = after_purge and result.first_bad is not None and result.checkpoint.reason == "start"
    if not result.ok and not excused:
        bad = result.first_bad
        raise CheckpointError(f"The trail does not verify, so it is not signed: entry {bad.seq} ({bad.kind}): {bad.message}")
    signed_at = canonical_time(timezone.now())
    checkpoint = sign(result.head["seq"], result.head["hash"], result.base_seq, signed_at, key)
    return store(checkpoint)
