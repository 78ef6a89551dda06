"""Streamed CSV and JSON exports of a filtered trail: constant memory for a million entries.

An export holds every hashed field, the time in the canonical form the hash covers
(``services.canonical_time``) and ``data`` as its canonical JSON text (CSV) or that JSON (JSON),
so an unfiltered export can be re-verified offline with ``services.content_hash``.
"""

from __future__ import annotations

import csv
import json
from typing import Iterator

from django.db.models import QuerySet

from .services import canonical_time

COLUMNS = (
    "seq",
    "at",
    "kind",
    "action",
    "actor_id",
    "actor_username",
    "actor_kind",
    "agent_name",
    "model_slug",
    "version_number",
    "object_type",
    "object_id",
    "object_repr",
    "remote_addr",
    "user_agent",
    "correlation_id",
    "summary",
    "data",
    "prev_hash",
    "hash",
)


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
        at = row[1]
        yield writer.writerow((row[0], canonical_time(at), *row[2:]))


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
