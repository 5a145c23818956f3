"""What zoning produces (:class:`Zones`, :class:`QuotedHeader`), the labels it gives lines on the way,
and the few patterns every step shares."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "BOILER",
    "DROP",
    "EMAIL_RE",
    "NEW",
    "QUOTED",
    "SEPARATOR_FIRST",
    "SEPARATOR_RE",
    "SIG",
    "QuotedHeader",
    "Zones",
    "word_set",
]


@dataclass(frozen=True, slots=True)
class QuotedHeader:
    """Parsed header of a quoted or forwarded earlier message.

    ``kind`` is ``"original"`` (``-----Original Message-----``, a bare Outlook
    ``From:/Sent:/To:/Subject:`` block or a Lotus Notes reply header), ``"wrote"``
    (``On ..., X wrote:`` and its other-language forms), ``"forwarded"`` (``Forwarded by ...``,
    ``Begin forwarded message:``, ``---------- Forwarded message ---------``) or ``"quote"``
    (``>`` lines with no attribution or header of their own).
    """

    sender: str | None
    sender_address: str | None
    sent: str | None
    subject: str | None
    kind: str


@dataclass(frozen=True, slots=True)
class Zones:
    """The zones of one mail body (each stripped of leading/trailing blank space)."""

    new_text: str
    quoted: str
    signature: str
    boilerplate: str
    quoted_headers: tuple[QuotedHeader, ...]


def word_set(text: str, sep: str | None = None) -> frozenset[str]:
    """A word set written as one string (``sep=None``: split on white space)."""
    return frozenset(text.split(sep))


# --------------------------------------------------------------------------------------------
# Line labels
NEW = 0
QUOTED = 1
SIG = 2
BOILER = 3
DROP = 4  # the "-- " signature separator itself

EMAIL_RE = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")

# A line of only separator characters ("-----", "_____", "*****", "=====").
SEPARATOR_RE = re.compile(r"(?:[-_=*~#+.][ \t]*+){3,}+$")
SEPARATOR_FIRST = frozenset("-_=*~#+.")
