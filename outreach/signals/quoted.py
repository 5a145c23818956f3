"""The message a reply quotes: its author and date, read from the topmost quoted header.

A reply that quotes one of our messages (``-----Original Message-----`` with ``From: Beck, Sally``,
``On 3 May 2001, Sally Beck <sally@example.com> wrote:``, a Lotus Notes ``Sally Beck/HOU/ECT on 05/03/2001``
header) is evidence that we wrote to its sender on that date, even when our own copy was never stored
(mail sent from a phone, another client, a colleague's box).  The ledger decides whether the quoted
author is the mailbox's owner; here the header is only read.  Forwarded blocks are not replies and
``>`` quotes without an attribution name nobody: neither yields a quoted author.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import NamedTuple

from outreach.signals.zoning import QuotedHeader

REPLY_KINDS = frozenset(("original", "wrote"))
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january", "janvier", "januar", "enero"),
            ("feb", "february", "fevrier", "février", "februar", "febrero"),
            ("mar", "march", "mars", "märz", "marzo"),
            ("apr", "april", "avril", "abril"),
            ("may", "mai", "mayo"),
            ("jun", "june", "juin", "juni", "junio"),
            ("jul", "july", "juillet", "juli", "julio"),
            ("aug", "august", "août", "aout", "agosto"),
            ("sep", "sept", "september", "septembre", "septiembre"),
            ("oct", "october", "octobre", "oktober", "octubre"),
            ("nov", "november", "novembre", "noviembre"),
            ("dec", "december", "décembre", "decembre", "dezember", "diciembre"),
        ),
        start=1,
    )
    for name in names
}
_WORD_DATE = re.compile(  # "21 May 2001" or "May 21, 2001"
    r"\b(\d{1,2})\.?\s+([A-Za-zéûä]{3,9})\.?,?\s+(\d{4})\b|\b([A-Za-zéûä]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})\b"
)
_NUMERIC_DATE = re.compile(r"\b(\d{1,4})[/.-](\d{1,2})[/.-](\d{2,4})\b")
_TIME = re.compile(r"\b(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp]\.?[Mm]\.?)?")
_MERIDIEM = re.compile(r"\d\s*[AaPp]\.?[Mm]\b")
_MAILTO = re.compile(r"\[mailto:[^\]]*\]|<[^<>]*>|\(.*?\)|\"")
_NOTES_ORG = re.compile(r"/[^\s/@]+(?:/[^\s/@]+)*(?:@\S+)?$")


class QuotedAuthor(NamedTuple):
    """Who wrote the message a reply quotes, and when (as the quote says; None when it cannot be read)."""

    name: str | None
    address: str | None
    date: datetime | None


def quoted_author(headers: tuple[QuotedHeader, ...]) -> QuotedAuthor | None:
    """The author of the topmost quoted message when it is a reply's quote (not a forward); else None."""
    if not headers:
        return None
    top = headers[0]
    if top.kind not in REPLY_KINDS or not (top.sender or top.sender_address):
        return None
    return QuotedAuthor(clean_name(top.sender), top.sender_address, parse_quoted_date(top.sent))


def clean_name(sender: str | None) -> str | None:
    """``Beck, Sally [mailto:…]`` -> ``Beck, Sally``; ``Sally Beck/HOU/ECT@ECT`` -> ``Sally Beck``."""
    if not sender:
        return None
    text = _MAILTO.sub(" ", sender)
    text = _NOTES_ORG.sub("", text.strip())
    text = " ".join(text.replace("@ENRON", " ").split())
    return text[:300] or None


def parse_quoted_date(text: str | None) -> datetime | None:
    """A date as quoting mail clients write it: RFC 2822, ``Tuesday, April 24, 2001 6:20 PM``,
    ``21 May 2001 15:24``, ``05/03/2001 12:12 AM`` (month first unless the first number is over 12).
    Times without a zone are taken as UTC; None when no date can be read."""
    if not text:
        return None
    parsed = None
    if not _MERIDIEM.search(text):  # email.utils reads "6:20 PM" as 06:20
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            parsed = None
    if parsed is not None:
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    day = _calendar_day(text)
    if day is None:
        return None
    year, month, mday = day
    hour = minute = second = 0
    clock = _TIME.search(text)
    if clock is not None:
        hour, minute, second = int(clock.group(1)), int(clock.group(2)), int(clock.group(3) or 0)
        meridiem = (clock.group(4) or "").lower().replace(".", "")
        if meridiem == "pm" and hour < 12:
            hour += 12
        elif meridiem == "am" and hour == 12:
            hour = 0
    try:
        return datetime(year, month, mday, hour % 24, minute % 60, second % 60, tzinfo=UTC)
    except ValueError:
        return None


def _calendar_day(text: str) -> tuple[int, int, int] | None:
    words = _WORD_DATE.search(text)
    if words is not None:
        if words.group(1):
            mday, month_name, year = int(words.group(1)), words.group(2), int(words.group(3))
        else:
            month_name, mday, year = words.group(4), int(words.group(5)), int(words.group(6))
        month = _MONTHS.get(month_name.lower())
        if month is not None:
            return year, month, mday
    numeric = _NUMERIC_DATE.search(text)
    if numeric is None:
        return None
    a, b, c = (int(g) for g in numeric.groups())
    if a > 31:  # 2001-05-03
        return a, b, c
    year = c + 2000 if c < 100 else c
    if a > 12:  # 22/05/2001: day first
        return year, b, a
    return year, a, b


__all__ = ["QuotedAuthor", "clean_name", "parse_quoted_date", "quoted_author"]
