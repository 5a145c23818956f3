"""The author and date of the message a reply quotes (cases in tests/data/signals/quoted_headers.jsonl)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from outreach.signals.analyse import zone
from outreach.signals.quoted import clean_name, parse_quoted_date

CASES = [
    json.loads(line)
    for line in (Path(__file__).parent.parent / "data" / "signals" / "quoted_headers.jsonl").read_text().splitlines()
    if line.strip()
]


@pytest.mark.parametrize("case", CASES, ids=[c["body"][:30] for c in CASES])
def test_the_quoted_author_of_a_reply(case: dict[str, Any]) -> None:
    _, quoted = zone(case["body"])
    if case["name"] is None and case["address"] is None:
        assert quoted is None
        return
    assert quoted is not None
    assert (quoted.name, quoted.address) == (case["name"], case["address"])
    assert quoted.date == (datetime.fromisoformat(case["date"]) if case["date"] else None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tuesday, April 24, 2001 6:20 PM", datetime(2001, 4, 24, 18, 20, tzinfo=UTC)),
        ("Friday, October  5, 2001 3:26 PM", datetime(2001, 10, 5, 15, 26, tzinfo=UTC)),
        ("21 May 2001 15:24", datetime(2001, 5, 21, 15, 24, tzinfo=UTC)),
        ("22/05/2001 14:19 CDT", datetime(2001, 5, 22, 14, 19, tzinfo=UTC)),  # the day first: 22 > 12
        ("05/03/2001 12:12 AM", datetime(2001, 5, 3, 0, 12, tzinfo=UTC)),  # month first
        ("Mon, 7 May 2001 10:00:00 -0500", datetime(2001, 5, 7, 15, 0, tzinfo=UTC)),
        ("Mi?rcoles 24/10/2001 09:50 a.m.", datetime(2001, 10, 24, 9, 50, tzinfo=UTC)),
        ("sometime last week", None),
        ("", None),
    ],
)
def test_quoted_dates_as_mail_clients_write_them(text: str, expected: datetime | None) -> None:
    assert parse_quoted_date(text) == expected


@pytest.mark.parametrize(
    ("sender", "name"),
    [
        ("Beck, Sally", "Beck, Sally"),
        ("Sally Beck/ENRON@enronXgate", "Sally Beck"),
        ("Piper, Greg [mailto:Greg.Piper@ENRON.com]", "Piper, Greg"),
        ('"Councils of Advisors" <jyockey@glgroup.com>@ENRON', "Councils of Advisors"),
        ("", None),
    ],
)
def test_quoted_names_lose_addresses_and_notes_paths(sender: str, name: str | None) -> None:
    assert clean_name(sender) == name
