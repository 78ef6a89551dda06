"""Recompute the hash chain and name the first entry that was changed, deleted, inserted or moved.

The events are streamed in ``seq`` order as plain tuples (no model instances), so a million
entries verify in seconds with constant memory. At the first break, a few extra queries decide
what kind of tampering explains it:

- changed: the entry links to its predecessor but its content no longer matches its hash;
- deleted: a sequence number is missing (or the following entries were renumbered to hide it);
- inserted: an entry that the chain does not link through (the next entry links past it);
- moved: an entry whose predecessor, by its own prev_hash, sits elsewhere in the chain.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from django.db import connection

from .checkpoints import CheckpointCheck, check as checkpoints_check
from .hashing import content_hash
from .models import GENESIS_HASH, HASHED_FIELDS, AuditEvent, ChainHead
from .services import audit_flush


@dataclass
class Problem:
    seq: int
    kind: str  # changed | deleted | inserted | moved | checkpoint (contradicts a signed checkpoint)
    message: str


@dataclass
class VerificationResult:
    ok: bool
    checked: int
    head: dict
    first_bad: Problem | None = None
    # The chain start (first entry kept after purges), and the check against signed checkpoints.
    base_seq: int = 1
    checkpoint: CheckpointCheck | None = None

    def as_dict(self) -> dict:
        body = {"ok": self.ok, "checked": self.checked, "head": self.head}
        if self.first_bad is not None:
            body["first_bad"] = asdict(self.first_bad)
        if self.checkpoint is not None:
            body["checkpoint"] = self.checkpoint.as_dict()
        return body


def _python_rows(chunk_size: int):
    """(seq, prev_hash, hash, recomputed hash) in seq order, recomputed here in Python."""
    events = AuditEvent.objects.order_by("seq").values_list(*HASHED_FIELDS, "hash")
    for row in events.iterator(chunk_size=chunk_size):
        yield row[0], row[1], row[-1], content_hash(row[:-1])


def _full_row(seq: int) -> tuple:
    return AuditEvent.objects.filter(seq=seq).values_list(*HASHED_FIELDS, "hash").get()


def _first_break_in_database(base_seq: int, base_prev: str) -> tuple[int | None, int]:
    """PostgreSQL walks the chain itself in one pass and returns only the first break:
    (its seq or None, entries checked before it). Nothing but the answer crosses the wire."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    # governance_audit_hash: the SQL definition of the canonical hash (migration 0004).
    sql = f"""
        SELECT seq, n FROM (
            SELECT seq, prev_hash, hash, governance_audit_hash(e) AS computed,
                   lag(hash) OVER w AS before_hash, lag(seq) OVER w AS before_seq,
                   row_number() OVER w AS n
            FROM {table} AS e WINDOW w AS (ORDER BY seq)
        ) AS chain
        WHERE computed <> hash
           OR prev_hash <> COALESCE(before_hash, %s)
           OR seq <> COALESCE(before_seq + 1, %s)
        ORDER BY seq LIMIT 1
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [base_prev, base_seq])
        found = cursor.fetchone()
        if found is not None:
            return found[0], found[1] - 1
        cursor.execute(f"SELECT count(*) FROM {table}")
        return None, cursor.fetchone()[0]


def chain_verify(*, in_database: bool | None = None, chunk_size: int = 20000) -> VerificationResult:
    """Recompute the chain, then check it against the signed checkpoints (``checkpoints``).

    On PostgreSQL the database recomputes it by default (fastest); ``in_database=False``
    recomputes every hash in Python, independently of the database. Entries the current
    transaction appended are sealed first, so that they are checked too. A chain that is intact
    in itself but contradicts a checkpoint (rewritten and rehashed, truncated, rolled back, or
    purged behind the portal's back) fails with ``first_bad.kind == "checkpoint"``."""
    audit_flush()
    head = ChainHead.objects.filter(pk=1).first()
    result = _chain_verify(head, in_database, chunk_size)
    result.base_seq = head.base_seq if head else 1
    result.checkpoint = checkpoints_check(
        head_seq=head.seq if head else 0,
        base_seq=result.base_seq,
        entry_hashes=lambda seqs: dict(AuditEvent.objects.filter(seq__in=seqs).values_list("seq", "hash")),
    )
    if result.ok and not result.checkpoint.ok:
        contradicted = result.checkpoint.contradicted
        result.ok = False
        result.first_bad = Problem(
            contradicted.seq if contradicted is not None else 0, "checkpoint", result.checkpoint.message
        )
    return result


def _chain_verify(head: ChainHead | None, in_database: bool | None, chunk_size: int) -> VerificationResult:
    base_seq = head.base_seq if head else 1
    base_prev = head.base_prev_hash if head else GENESIS_HASH
    head_info = {"seq": head.seq if head else 0, "hash": head.hash if head else GENESIS_HASH}
    if in_database is None:
        in_database = connection.vendor == "postgresql"

    if in_database:
        bad_seq, checked = _first_break_in_database(base_seq, base_prev)
        if bad_seq is not None:
            problem = _diagnose_at(bad_seq, base_seq, base_prev)
            return VerificationResult(False, checked, head_info, problem)
        last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
        expected_seq, prev_hash = (last[0] + 1, last[1]) if last else (base_seq, base_prev)
    else:
        expected_seq, prev_hash, prev_prev_hash = base_seq, base_prev, None
        checked = 0
        for seq, row_prev, stored, computed in _python_rows(chunk_size):
            if seq != expected_seq or computed != stored or row_prev != prev_hash:
                problem = _diagnose(_full_row(seq), computed, expected_seq, prev_hash, prev_prev_hash)
                return VerificationResult(False, checked, head_info, problem)
            checked += 1
            expected_seq, prev_prev_hash, prev_hash = seq + 1, prev_hash, stored

    if head is None:
        if checked:
            return VerificationResult(
                False, checked, head_info, Problem(expected_seq - 1, "deleted", "The chain head record is missing.")
            )
        return VerificationResult(True, 0, head_info)
    if expected_seq - 1 < head.seq:
        return VerificationResult(
            False,
            checked,
            head_info,
            Problem(expected_seq, "deleted", f"Entries {expected_seq} to {head.seq} are missing from the end."),
        )
    if expected_seq - 1 > head.seq or prev_hash != head.hash:
        return VerificationResult(
            False,
            checked,
            head_info,
            Problem(
                head.seq + 1 if expected_seq - 1 > head.seq else head.seq,
                "inserted" if expected_seq - 1 > head.seq else "changed",
                "The end of the chain does not match its recorded head.",
            ),
        )
    purge_problem = _check_purge_anchor(head)
    if purge_problem is not None:
        return VerificationResult(False, checked, head_info, purge_problem)
    return VerificationResult(True, checked, head_info)


def _diagnose_at(seq: int, base_seq: int, base_prev: str) -> Problem:
    """Diagnose a break the database found, from the entries just before it."""
    before = list(AuditEvent.objects.filter(seq__lt=seq).order_by("-seq").values_list("seq", "hash")[:2])
    expected_seq = before[0][0] + 1 if before else base_seq
    prev_hash = before[0][1] if before else base_prev
    prev_prev_hash = before[1][1] if len(before) > 1 else (base_prev if before else None)
    row = _full_row(seq)
    return _diagnose(row, content_hash(row[:-1]), expected_seq, prev_hash, prev_prev_hash)


def _hash_with_seq(row, seq: int) -> str:
    return content_hash((seq,) + tuple(row[1:-1]))


def _diagnose(row, computed: str, expected_seq: int, prev_hash: str, prev_prev_hash: str | None) -> Problem:
    seq, row_prev, stored = row[0], row[1], row[-1]
    if seq > expected_seq:
        missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq} to {seq - 1}"
        return Problem(expected_seq, "deleted", f"Entry {missing} is missing: the chain jumps to {seq}.")

    links = row_prev == prev_hash
    if links:
        return Problem(seq, "changed", f"Entry {seq} was changed: its content no longer matches its hash.")

    # It does not link to the entry before it. Was that one inserted? Then this entry links past it.
    if prev_prev_hash is not None and row_prev == prev_prev_hash:
        return Problem(seq - 1, "inserted", f"Entry {seq - 1} was inserted: the chain links past it.")
    # Does its own prev_hash point at an entry elsewhere? Then it was moved from after that one.
    origin = AuditEvent.objects.filter(hash=row_prev).values_list("seq", flat=True).first()
    if origin is not None and origin != seq - 1:
        follower = AuditEvent.objects.filter(prev_hash=stored).values_list("seq", flat=True).first()
        candidates = {origin + 1} | ({follower - 1} if follower is not None else set())
        original = next((c for c in sorted(candidates) if _hash_with_seq(row, c) == stored), None)
        where = f" from position {original}" if original is not None else ""
        return Problem(seq, "moved", f"Entry {seq} was moved{where}: by its own link it follows entry {origin}.")
    # Is this entry itself inserted? Then the next one links to the entry before it.
    following = AuditEvent.objects.filter(seq__gt=seq).order_by("seq").values_list("prev_hash", flat=True).first()
    if following is not None and following == prev_hash:
        return Problem(seq, "inserted", f"Entry {seq} was inserted: the chain links past it.")
    # Renumbered to close a gap: its hash matches a later number, so entries before it were deleted.
    for gap in range(1, 4):
        if _hash_with_seq(row, seq + gap) == stored:
            return Problem(
                seq, "deleted", f"{gap} entr{'y' if gap == 1 else 'ies'} before entry {seq} were deleted "
                "and later entries renumbered."
            )
    if computed == stored:
        return Problem(seq, "changed", f"Entry {seq} was changed: it no longer links to entry {seq - 1}.")
    return Problem(seq, "changed", f"Entry {seq} was changed: its content no longer matches its hash.")


def _check_purge_anchor(head: ChainHead) -> Problem | None:
    """After a purge, the chain must start where the last audited purge said it would."""
    if head.base_seq == 1 and head.base_prev_hash == GENESIS_HASH:
        return None
    purge = AuditEvent.objects.filter(action="audit.purged").order_by("-seq").values_list("seq", "data").first()
    if purge is None:
        return Problem(head.base_seq, "deleted", "Entries before the chain start were removed without a purge record.")
    anchor = json.loads(purge[1])
    if anchor.get("starts_at_seq") != head.base_seq or anchor.get("starts_from_hash") != head.base_prev_hash:
        return Problem(head.base_seq, "deleted", f"The chain start does not match the purge recorded at entry {purge[0]}.")
    return None
