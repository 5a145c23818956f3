"""CSV that a spreadsheet cannot turn into formulas ("CSV injection"), for every CSV outreach writes.

Names, subjects and addresses come from other people's mail and CSV files; a cell such as
``=HYPERLINK("http://evil.example","click")`` or ``@SUM(A1)`` would run as a formula when the export is
opened in a spreadsheet.  As OWASP advises, such a cell gets a single quote in front: a cell that starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (after any spaces).  Plain numbers such as
``-1.5`` are left alone, so figures stay figures.  The same test refuses such cells in a campaign's
recipients CSV (``outreach.campaign.loader``). :func:`csv_text` writes every CSV export.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")


def formula_like(cell: str) -> bool:
    """A cell a spreadsheet would run as a formula (CSV injection), numbers like -3 excepted."""
    stripped = cell.lstrip(" ")
    return bool(stripped) and stripped.startswith(FORMULA_START) and not _NUMBER.match(stripped.strip())


def safe_cell(value: object) -> object:
    """``value`` ready for a CSV cell: a string a spreadsheet would read as a formula gets a ``'`` in
    front; anything else (numbers, dates, None, ordinary text) is returned as it is."""
    if isinstance(value, str) and formula_like(value):
        return "'" + value
    return value


def safe_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A CSV row (column -> value) with every cell made safe by :func:`safe_cell`."""
    return {key: safe_cell(value) for key, value in row.items()}


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """``rows`` as CSV (a header, then ``columns`` of each row; other keys left out), every cell safe."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(safe_row(row) for row in rows)
    return buffer.getvalue()


__all__ = ["FORMULA_START", "csv_text", "formula_like", "safe_cell", "safe_row"]
