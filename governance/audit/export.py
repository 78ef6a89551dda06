"""Streamed CSV and JSON exports of a filtered trail: constant memory for a million entries.

An export holds every hashed field, the time in the canonical form the hash covers
(``hashing.canonical_time``) and ``data`` as its canonical JSON text (CSV) or that JSON (JSON),
so an unfiltered export can be re-verified offline with ``hashing.content_hash``.

The CSV is written through ``governance.csv_cells``, so a text cell that a spreadsheet would run
as a formula (a user agent or a summary starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
return) has a single quote in front, and so does one that starts with a quote already. To
re-verify a CSV export offline, remove one leading single quote from every text cell that has
one (``csv_cells.cell_restore``), then hash. The hashed text is not changed in the trail: the
prefix exists only in the file, and the rule gives back the exact value, which we preferred to
a second, unescaped copy of every text column (that copy would be a formula again).
"""

from __future__ import annotations

import json
from typing import Iterator

from django.db.models import QuerySet

from governance.csv_cells import csv_writer

from .models import HASHED_FIELDS
from .hashing import canonical_time

# Every hashed field, in the order the hash covers them, then the hash.
COLUMNS = (*HASHED_FIELDS, "hash")
AT = COLUMNS.index("at")


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a generator."""

    def write(self, value):
        return value


def _rows(events: QuerySet) -> Iterator[tuple]:
    # Ascending seq, so an export reads like the chain and can be re-verified offline.
    yield from events.order_by("seq").values_list(*COLUMNS).iterator(chunk_size=2000)


def csv_lines(events: QuerySet) -> Iterator[str]:
    writer = csv_writer(_Echo())
    yield writer.writerow(COLUMNS)
    for row in _rows(events):
        yield writer.writerow((*row[:AT], canonical_time(row[AT]), *row[AT + 1 :]))


def json_chunks(events: QuerySet) -> Iterator[str]:
    yield "["
    first = True
    for row in _rows(events):
        item = dict(zip(COLUMNS, row))
        item["at"] = canonical_time(item["at"])
        item["data"] = json.loads(item["data"] or "{}")
        yield ("\n" if first else ",\n") + json.dumps(item, ensure_ascii=False)
        first = False
    yield "\n]\n"
