"""The PostgreSQL backend the portal runs on: Django's, plus the audit trail written with COMMIT.

``audit_append`` on this backend does not write at once: it hands the entry to the connection,
which keeps the entries of the open transaction and writes them when the transaction commits,
in the same message as the COMMIT (``SELECT governance_audit_append(...); ...; COMMIT``). So:

* an entry still commits or rolls back with the action it records, in the same transaction
  (a savepoint rolled back drops the entries made inside it);
* an audited transaction costs no extra round trip to the database, and the chain head is
  locked only while the transaction commits instead of from its first entry to its end, so
  concurrent transactions queue for the chain for microseconds, not for their whole length;
* whoever reads the trail inside the transaction (a query naming ``audit_auditevent`` or
  ``audit_chainhead``: the audit pages, verification, the tests) first gets the pending entries
  written, so a reader never misses an entry of its own transaction.

Selected in settings for ``DATABASE_URL=postgres://...`` (``ENGINE = "governance.audit.db"``).
With Django's stock backend ``audit_append`` writes each entry at once, with the same function.
"""

from __future__ import annotations

from django.db.backends.postgresql import base as postgresql
from django.db.backends.utils import CursorWrapper, debug_transaction

_TRAIL_TABLES = ("audit_auditevent", "audit_chainhead")


def _touches_trail(sql) -> bool:
    if not isinstance(sql, str):  # a composed statement: be safe
        return True
    return _TRAIL_TABLES[0] in sql or _TRAIL_TABLES[1] in sql


class _FlushBeforeTrailQueries:
    db: "DatabaseWrapper"

    def _flush_before(self, sql) -> None:
        if len(self.db.audit_entries) > self.db.audit_written and _touches_trail(sql):
            self.db.audit_flush()

    def execute(self, sql, params=None):
        self._flush_before(sql)
        return super().execute(sql, params)

    def executemany(self, sql, param_list):
        self._flush_before(sql)
        return super().executemany(sql, param_list)


class AuditCursorWrapper(_FlushBeforeTrailQueries, CursorWrapper):
    pass


class AuditCursorDebugWrapper(_FlushBeforeTrailQueries, postgresql.CursorDebugWrapper):
    pass


class DatabaseWrapper(postgresql.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The entries of the open transaction, (event, parameters) in the order appended; the
        # first ``audit_written`` of them are in the database already (a reader asked for them).
        # Writes go in order, so the unwritten ones are always the tail.
        self.audit_entries: list[tuple[object, list]] = []
        self.audit_written = 0
        # savepoint id -> (entries, written) when it was made.
        self._audit_marks: dict[str, tuple[int, int]] = {}

    # --- the pending entries -----------------------------------------------------------------

    def audit_defer(self, event, params: list) -> None:
        """Keep ``event`` to be written when the transaction commits (or someone reads the trail)."""
        self.audit_entries.append((event, params))

    def audit_flush(self) -> None:
        """Write the entries not written yet, now, inside the open transaction."""
        from governance.audit.services import entries_write  # models: not at backend import

        unwritten = self.audit_entries[self.audit_written :]
        if not unwritten:
            return
        self.ensure_connection()
        with self.wrap_database_errors:
            entries_write(self.connection, unwritten)
        self.audit_written = len(self.audit_entries)

    def _audit_forget(self) -> None:
        self.audit_entries = []
        self.audit_written = 0
        self._audit_marks = {}

    # --- transactions ----------------------------------------------------------------------------

    def _commit(self):
        unwritten = self.audit_entries[self.audit_written :]
        self._audit_forget()
        if not unwritten or self.connection is None:
            return super()._commit()
        from governance.audit.services import entries_write

        # One message: every entry, then COMMIT. An error in any of them (the server stops at the
        # first) leaves the transaction uncommitted, and Django rolls it back.
        with debug_transaction(self, "COMMIT"), self.wrap_database_errors:
            entries_write(self.connection, unwritten, commit=True)
            # psycopg sees the transaction ended and sends no second COMMIT.
            return self.connection.commit()

    def _rollback(self):
        self._audit_forget()
        return super()._rollback()

    def _close(self):
        self._audit_forget()
        return super()._close()

    def _savepoint(self, sid):
        super()._savepoint(sid)
        self._audit_marks[sid] = (len(self.audit_entries), self.audit_written)

    def _savepoint_rollback(self, sid):
        super()._savepoint_rollback(sid)
        mark = self._audit_marks.pop(sid, None)
        if mark is not None:
            # Entries appended inside the savepoint are gone with it; entries appended before it
            # but written inside it were undone by the database: they are unwritten again.
            entries, written = mark
            del self.audit_entries[entries:]
            self.audit_written = min(self.audit_written, written)

    def _savepoint_commit(self, sid):
        super()._savepoint_commit(sid)
        self._audit_marks.pop(sid, None)

    # --- cursors ---------------------------------------------------------------------------------

    def make_cursor(self, cursor):
        return AuditCursorWrapper(cursor, self)

    def make_debug_cursor(self, cursor):
        return AuditCursorDebugWrapper(cursor, self)
