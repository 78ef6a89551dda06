"""Every CSV the portal writes goes through here, so that no cell runs as a spreadsheet formula.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
Excel, LibreOffice and Google Sheets as a formula (``=HYPERLINK(...)``, ``=cmd|'...'!A0``),
and a user agent, an annotation or a model name can start with any of them. As OWASP
recommends, such a text cell is written with a single quote in front, which spreadsheets show
as text and do not evaluate.

The rule is reversible, so that a CSV stays exact data (the audit export is re-verified
offline by recomputing hashes over its cells): a text cell that starts with a single quote
also gets one more in front. So every written cell that starts with a single quote had exactly
one added, and :func:`cell_restore` removes it; no other cell is changed. Numbers and empty
cells are never changed.
"""

from __future__ import annotations

import csv
from typing import Any, Iterable

#: leading characters that make a spreadsheet evaluate a cell
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def cell_neutralise(value: Any) -> Any:
    """The value as written: text starting with a formula trigger (or a quote) gets a quote."""
    if isinstance(value, str) and value.startswith((*FORMULA_TRIGGERS, QUOTE)):
        return QUOTE + value
    return value


def cell_restore(cell: str) -> str:
    """The original text of a cell read back from a CSV the portal wrote."""
    return cell[1:] if cell.startswith(QUOTE) else cell


class _Writer:
    def __init__(self, writer):
        self._writer = writer

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow([cell_neutralise(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(file, **options) -> _Writer:
    """``csv.writer(file, **options)`` whose rows are neutralised cell by cell."""
    return _Writer(csv.writer(file, **options))
