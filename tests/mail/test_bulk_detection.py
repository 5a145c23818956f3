"""Newsletters without List-* headers, told by their own text and their HTML (cases as data:
tests/data/parsing/bulk_footer.jsonl), and machine senders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from outreach.mail.parsing import bulk_footer, is_machine_sender, mass_html, parse_message

CASES = [
    json.loads(line)
    for line in (Path(__file__).parent.parent / "data" / "parsing" / "bulk_footer.jsonl").read_text().splitlines()
    if line.strip()
]


@pytest.mark.parametrize("case", CASES, ids=[c["why"] for c in CASES])
def test_bulk_footer(case: dict[str, Any]) -> None:
    assert bulk_footer(case["text"]) is case["bulk"]


def test_a_message_with_a_footer_is_bulk_and_says_why() -> None:
    raw = b"From: news@x.example\nTo: me@y.example\nSubject: Digest\n\nNews.\n\nTo unsubscribe, click here.\n"
    parsed = parse_message(raw)
    assert parsed.is_bulk and "unsubscribe footer" in parsed.noise_reasons
    personal = parse_message(b"From: maya@x.example\nTo: me@y.example\nSubject: Hi\n\nLunch on Friday?\n")
    assert not personal.is_bulk and not personal.noise_reasons


def test_mass_mail_html() -> None:
    assert mass_html('<p>Hi</p><img src="https://t.example/o.gif" width="1" height="1">')
    assert mass_html("".join(f'<a href="https://x.example/{n}">{n}</a>' for n in range(30)))
    assert not mass_html('<p>See <a href="https://x.example/report">the report</a>.</p>')
    raw = (
        b"From: deals@shop.example\nTo: me@y.example\nSubject: Sale\nContent-Type: text/html\n\n"
        + b"".join(b'<a href="https://shop.example/%d">item</a>' % n for n in range(40))
    )
    parsed = parse_message(raw)
    assert parsed.is_bulk and "mass-mail HTML" in parsed.noise_reasons


@pytest.mark.parametrize(
    ("address", "machine"),
    [
        ("noreply@x.example", True),
        ("no-reply+abc@x.example", True),
        ("no.address@enron.com", True),
        ("enron.announcements@enron.com", False),  # a list, but its local part is not a machine's name
        ("announcements@x.example", True),
        ("webmaster@x.example", True),
        ("maya@x.example", False),
        ("newsdesk@x.example", False),
    ],
)
def test_machine_senders(address: str, machine: bool) -> None:
    assert is_machine_sender(address) is machine
