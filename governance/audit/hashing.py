"""The canonical content of an audit entry and its hash, in Python.

The canonical content is the JSON array of the entry's ``HASHED_FIELDS`` values in that order:
items separated by ", ", text escaped as JSON and non-ASCII characters kept as they are,
integers as digits, nulls as ``null``, the time in UTC as ``2026-11-26T10:51:00.000000Z``. Its
hash is the SHA-256 of the UTF-8 bytes, in hexadecimal. That is exactly what PostgreSQL's
``json_build_array`` writes, so the database has the same definition in SQL, the function
``governance_audit_hash`` (migration 0004), which seals entries at commit and verifies the
chain in the database; a test checks that the two agree on awkward data.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone as dt_timezone
from json.encoder import c_make_encoder, encode_basestring
from typing import Iterable

from .models import HASHED_FIELDS

_UTC = dt_timezone.utc
_AT = HASHED_FIELDS.index("at")


def canonical_data(data: dict | None) -> str:
    """Details as canonical JSON text (sorted keys, no whitespace); values JSON cannot hold become text.

    This text is what the ``data`` field stores, so the hash covers these exact bytes."""
    return json.dumps(data or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_time(at: datetime) -> str:
    """UTC with microseconds and a four-digit year: ``2026-11-26T10:51:00.000000Z``."""
    if at.tzinfo is not _UTC:
        at = at.astimezone(_UTC)
    return at.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# One encoder, built once: verification in Python calls it for every entry. The C encoder called
# directly gives the same text as JSONEncoder.encode at less than half the cost.
_ENCODER = json.JSONEncoder(separators=(", ", ":"), ensure_ascii=False)
if c_make_encoder is not None:
    _c_encoder = c_make_encoder(None, _ENCODER.default, encode_basestring, None, ":", ", ", False, False, True)

    def _encode(values: list) -> str:
        return "".join(_c_encoder(values, 0))

else:  # pragma: no cover - CPython always has it
    _encode = _ENCODER.encode


def canonical_content(row: Iterable) -> str:
    """The canonical form of one entry from its ``HASHED_FIELDS`` values, in that order (the
    time as a datetime, or already as ``canonical_time`` text)."""
    values = list(row)
    at = values[_AT]
    if not isinstance(at, str):
        values[_AT] = canonical_time(at)
    return _encode(values)


def content_hash(row: Iterable) -> str:
    """SHA-256 (hex) of the canonical content of the ``HASHED_FIELDS`` values ``row``."""
    return hashlib.sha256(canonical_content(row).encode("utf-8")).hexdigest()


def event_hash(event) -> str:
    """The hash an ``AuditEvent`` should carry."""
    return content_hash([getattr(event, field) for field in HASHED_FIELDS])
