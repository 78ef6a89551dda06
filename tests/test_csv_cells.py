"""The one helper every CSV the portal writes goes through."""

import csv
import io

import pytest

from governance.csv_cells import FORMULA_TRIGGERS, cell_neutralise, cell_restore, csv_writer


@pytest.mark.parametrize("char", FORMULA_TRIGGERS)
def test_text_starting_with_each_formula_trigger_gets_a_quote(char):
    assert cell_neutralise(char + "1+1") == "'" + char + "1+1"
    assert cell_restore(cell_neutralise(char + "1+1")) == char + "1+1"


@pytest.mark.parametrize("value", ["", "plain", "1+1", " =1", "a=b", "é@x", "0.5"])
def test_other_text_is_left_alone(value):
    assert cell_neutralise(value) == value and cell_restore(value) == value


def test_numbers_and_empty_cells_are_left_alone():
    assert [cell_neutralise(v) for v in (-5, -0.5, None, 3)] == [-5, -0.5, None, 3]


def test_text_already_starting_with_a_quote_round_trips():
    for value in ("'", "'=1", "''x", "'plain"):
        assert cell_restore(cell_neutralise(value)) == value


def test_the_writer_neutralises_every_cell_and_reads_back_exactly():
    rows = [["=1+1", "+2", "-3", "@A1", "\t4", "\r5", "'6", "ok", 7, -8]]
    out = io.StringIO()
    csv_writer(out).writerows(rows)
    (written,) = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    # Numbers are numbers to a spreadsheet, never formulas: -8 stays -8.
    assert [cell for cell in written if cell.startswith(FORMULA_TRIGGERS)] == ["-8"]
    assert [cell_restore(cell) for cell in written] == [str(v) for v in rows[0]]
