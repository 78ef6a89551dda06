"""The canonical hash is defined once in Python (governance.audit.hashing) and once in SQL
(governance_audit_hash, used by the seal trigger and in-database verification): they must agree
byte for byte, on awkward data too."""

from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.db import connection

from governance.audit.hashing import canonical_content, canonical_data, content_hash, event_hash
from governance.audit.models import HASHED_FIELDS, AuditEvent
from governance.audit.services import agent_event_record

TRICKY = 'quotes " and \\ backslash, new\nline, tab\t, cr\r, bs\b, ff\f, control \x01\x1f, del \x7f, é, 中文, emoji 🙂, \u2028\u2029'
NESTED = {
    "changes": {"description": [None, TRICKY], "größe": [1, 2**70]},
    "list": [[], {}, [None, True, False, 1.5, -0.0, 1e-7]],
    "null": None,
    "unicode key é": {"deeper": {"deepest": ["\u0000 nul", "\U0001f600"]}},
}
UTC = dt_timezone.utc
TIMES = [
    datetime(2026, 11, 27, 10, 51, 0, 0, tzinfo=UTC),
    datetime(2026, 11, 27, 10, 51, 0, 1, tzinfo=UTC),
    datetime(2026, 11, 27, 23, 59, 59, 999999, tzinfo=UTC),
    # Given in another zone: the canonical time is UTC (here the next day).
    datetime(2026, 12, 31, 20, 30, 15, 123456, tzinfo=dt_timezone(timedelta(hours=-5))),
    datetime(999, 1, 2, 3, 4, 5, 600000, tzinfo=UTC),
]


def _row(number: int, at: datetime, **overrides) -> dict:
    values = {
        "seq": 2**62 + number,
        "prev_hash": "f" * 64,
        "at": at,
        "kind": "agent",
        "action": "job.ran",
        "actor_id": 2**62 + 7,
        "actor_username": "üser",
        "actor_kind": "agent",
        "agent_name": TRICKY[:100],
        "model_slug": "credit-risk",
        "version_number": 2**31 - 1,
        "object_type": "registry.mlmodel",
        "object_id": "42",
        "object_repr": TRICKY,
        "remote_addr": "2001:db8::1",
        "user_agent": TRICKY,
        "correlation_id": "",
        "summary": TRICKY,
        "data": canonical_data(NESTED),
    }
    values.update(overrides)
    return values


def test_canonical_content_is_the_json_array_of_the_hashed_fields():
    values = [
        12, "a" * 64, TIMES[3], "agent", "job.ran", None, "", "agent", "cron", "", None, "", "", "",
        "", "", "", 'say "é"\n', canonical_data({"b": 1, "a": None}),
    ]
    expected = (
        '[12, "' + "a" * 64 + '", "2027-01-01T01:30:15.123456Z", "agent", "job.ran", null, "", "agent", '
        '"cron", "", null, "", "", "", "", "", "", "say \\"é\\"\\n", "{\\"a\\":null,\\"b\\":1}"]'
    )
    assert canonical_content(values) == expected
    # The time may be given as its canonical text (exports), with the same result.
    assert canonical_content(values[:2] + ["2027-01-01T01:30:15.123456Z"] + values[3:]) == expected
    assert canonical_content(values[:2] + [TIMES[4]] + values[3:]).split(", ")[2] == '"0999-01-02T03:04:05.600000Z"'


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL definition exists on PostgreSQL only")
@pytest.mark.django_db
@pytest.mark.usefixtures("db_owner")  # inserts numbered entries
def test_python_and_sql_hash_awkward_entries_alike():
    rows = [_row(number, at) for number, at in enumerate(TIMES)]
    rows.append(_row(len(rows), TIMES[1], actor_id=None, version_number=None, data="{}", summary=""))
    for values in rows:
        # Stored as given (already numbered, so the seal leaves it alone).
        AuditEvent(**values, hash="given").save(force_insert=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq, governance_audit_hash(e) FROM audit_auditevent e WHERE seq > %s", [2**62 - 1])
        in_sql = dict(cursor.fetchall())
    assert len(in_sql) == len(rows)
    for values in rows:
        assert in_sql[values["seq"]] == content_hash([values[field] for field in HASHED_FIELDS]), values["at"]
        # And as read back from the database.
        assert event_hash(AuditEvent.objects.get(seq=values["seq"])) == in_sql[values["seq"]]


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the seal trigger exists on PostgreSQL only")
@pytest.mark.django_db
def test_the_seal_hashes_as_python_does():
    agent_event_record(agent_name="scheduler", action="job.ran", summary=TRICKY, data=NESTED)
    event = AuditEvent.objects.get(action="job.ran")
    assert event.seq > 0 and event.hash == event_hash(event)
    assert event.details["changes"]["größe"] == [1, 2**70]
