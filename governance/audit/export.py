"""Streamed CSV and JSON exports of a filtered trail: constant memory for a million entries.

An export holds every hashed field, the time in the canonical form the hash covers
(``hashing.canonical_time``) and ``data`` as its canonical JSON text (CSV) or that JSON (JSON),
so an unfiltered export can be re-verified offline with ``hashing.content_hash``.
"""

from __future__ import annotations

import csv
import json
from typing import Iterator

from django.db.models import QuerySet

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
    writer = csv.writer(_Echo())
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
