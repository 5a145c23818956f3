"""A recipients CSV: its rows checked one by one, its delimiter detected, its header kept as written.

UTF-8 with or without a BOM; separated by commas, semicolons or tabs (detected from the header); an
``email`` column plus any fields (a mailmerge CSV works as is). Every cell is data, whatever it starts with
(``@handle``, ``+44 …``, ``-``, ``=``): formulas are only neutralised where outreach writes a CSV or HTML
for people to open (:mod:`outreach.csvsafe`). Bad rows are reported one by one (file and line) and left
out; the good rows are kept.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from types import MappingProxyType

from outreach.campaign.model import Recipient, RowError
from outreach.errors import CampaignError

_ADDRESS = re.compile(
    r"^[^@\s<>(),;:\"\[\]\\]+@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}$", re.UNICODE
)


def valid_address(value: str) -> bool:
    return bool(_ADDRESS.match(value))


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------------------------------ recipients


def parse_rows(
    header: Sequence[str], records: Iterable[tuple[int, Sequence[str]]], display: str
) -> tuple[list[Recipient], list[RowError]]:
    """Good rows and per-row errors of CSV records (``(line, cells)``) under ``header``.

    A cell is data whatever it starts with (``@handle``, ``+44 …``, ``-``, ``=``): formulas are only
    neutralised where outreach writes a CSV or HTML for people to open (:mod:`outreach.csvsafe`)."""
    names = [h.strip() for h in header]
    lowered = [n.lower() for n in names]
    if "email" not in lowered:
        raise CampaignError(f"{display}:1: no 'email' column (columns: {', '.join(names) or 'none'})")
    for i, name in enumerate(names):
        if not name:
            raise CampaignError(f"{display}:1: column {i + 1} has no name")
        if lowered.index(name.lower()) != i:
            raise CampaignError(f"{display}:1: duplicate column {name!r}")
    names[lowered.index("email")] = "email"
    recipients: list[Recipient] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    width = len(names)
    for line, cells in records:
        stripped = [c.strip() for c in cells]
        if not any(stripped):
            continue
        problems = []
        if len(cells) != width:
            problems.append(f"expected {width} fields, found {len(cells)}")
        row = dict(zip(names, stripped, strict=False))  # a short row: the fields it has
        raw = row.get("email", "")
        address = ""
        if not raw:
            problems.append("missing email")
        else:
            address = parseaddr(raw)[1].strip().lower() if "<" in raw else raw.lower()
            if not valid_address(address):
                problems.append(f"invalid email address {raw[:80]!r}")
            elif address in seen:
                problems.append(f"duplicate address {address} (first on line {seen[address]})")
        if problems:
            errors.append(RowError(display, line, "; ".join(problems)))
            continue
        seen[address] = line
        row["email"] = address
        recipients.append(Recipient(address, MappingProxyType(row), line, tuple(cells)))
    return recipients, errors


DELIMITERS = (",", ";", "\t")
_DELIMITER_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs"}


def sniff_delimiter(header_line: str) -> str:
    """The delimiter of a CSV from its header line: the one of ``,``, ``;`` and tab that makes an ``email``
    column (spreadsheets in many languages save ``;``-separated files), else a comma."""
    for delimiter in DELIMITERS:
        cells = next(csv.reader([header_line], delimiter=delimiter), [])
        if any(cell.strip().lower() == "email" for cell in cells):
            return delimiter
    return ","


@dataclass(frozen=True)
class RecipientsFile:
    """A recipients CSV as read: its good rows, its bad ones, its header as written and its delimiter."""

    recipients: list[Recipient]
    errors: list[RowError]
    columns: tuple[str, ...]
    delimiter: str


def read_recipients_file(path: Path) -> RecipientsFile:
    """Read a recipients CSV (UTF-8, with or without a BOM; separated by commas, semicolons or tabs).

    A file with a header and no row is an error ("no recipients"), as is a header without an ``email``
    column (with a hint when the file looks separated by something else)."""
    display = display_path(path)
    try:
        data = path.read_bytes()
        text = data.decode("utf-8-sig")
    except FileNotFoundError:
        raise CampaignError(f"{display}: recipients file not found") from None
    except OSError as exc:
        raise CampaignError(f"{display}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise CampaignError(f"{display}:{text_line(data, exc.start)}: not UTF-8 text (save the CSV as UTF-8)") from None
    delimiter = sniff_delimiter(text.split("\n", 1)[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            raise CampaignError(f"{display}: empty recipients file (needs a header with an 'email' column)")
        if "email" not in [h.strip().lower() for h in header]:
            _no_email_column(display, header)
        rows: list[tuple[int, list[str]]] = []
        last = reader.line_num
        for cells in reader:
            rows.append((last + 1, cells))
            last = reader.line_num
        if not any(c.strip() for _, cells in rows for c in cells):
            raise CampaignError(f"{display}: no recipients (the file has a header and no rows)")
        recipients, errors = parse_rows(header, rows, display)
    except csv.Error as exc:
        raise CampaignError(f"{display}:{reader.line_num}: malformed CSV ({exc})") from None
    return RecipientsFile(recipients, errors, tuple(header), delimiter)


def _no_email_column(display: str, header: Sequence[str]) -> None:
    names = ", ".join(h.strip() for h in header) or "none"
    joined = "".join(header)
    other = [d for d in ("|", ":") if d in joined]
    hint = f"; separated by {other[0]!r}? save it with commas, semicolons or tabs" if other else ""
    raise CampaignError(f"{display}:1: no 'email' column (columns: {names}){hint}")


def read_recipients(path: Path) -> tuple[list[Recipient], list[RowError]]:
    found = read_recipients_file(path)
    return found.recipients, found.errors


def text_line(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


__all__ = [
    "DELIMITERS",
    "RecipientsFile",
    "display_path",
    "parse_rows",
    "read_recipients",
    "read_recipients_file",
    "sniff_delimiter",
    "text_line",
    "valid_address",
]
