"""Streamed CSV and JSON exports of a filtered trail: constant memory for a million entries."""

from __future__ import annotations

import csv
import json
from typing import Iterator

from django.db.models import QuerySet

COLUMNS = (
    "seq",
    "at",
    "kind",
    "action",
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
        yield writer.writerow((row[0], at.isoformat(), *row[2:]))


def json_chunks(events: QuerySet) -> Iterator[str]:
    yield "["
    first = True
    for row in _rows(events):
        item = dict(zip(COLUMNS, row))
        item["at"] = item["at"].isoformat()
        item["data"] = json.loads(item["data"] or "{}")
        yield ("\n" if first else ",\n") + json.dumps(item, ensure_ascii=False)
        first = False
    yield "\n]\n"
