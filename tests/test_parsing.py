"""Messy real-world mail must parse into something useful, or be recorded with a reason — never raise."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from outreach.parsing import html_to_text, normalise_address, parse_address_list, parse_message
from outreach.threads import subject_key


def msg(headers: str, body: bytes | str = "Hello there.\n") -> bytes:
    raw_body = body if isinstance(body, bytes) else body.encode()
    return headers.strip().replace("\n", "\r\n").encode("utf-8") + b"\r\n\r\n" + raw_body


BASIC = """
Message-ID: <abc@example.org>
Date: Tue, 3 Apr 2001 16:55:00 -0700 (PDT)
From: "Doe, Jane" <Jane.Doe@Example.org>
To: bob@example.com, Carol <carol@example.net>
Cc: dave@example.com
Subject: RE: Fwd: Budget
"""


def test_basic_headers_addresses_and_date() -> None:
    parsed = parse_message(msg(BASIC))
    assert parsed.parse_error is None
    assert parsed.message_key == "abc@example.org"
    assert parsed.date == datetime(2001, 4, 3, 23, 55, tzinfo=UTC)
    assert parsed.sender is not None and parsed.sender.address == "jane.doe@example.org"
    assert parsed.sender.name == "Doe, Jane"
    assert [a.address for a in parsed.recipients["to"]] == ["bob@example.com", "carol@example.net"]
    assert parsed.recipient_count == 3
    assert parsed.body_text == "Hello there.\n"
    assert not (parsed.is_bulk or parsed.is_list or parsed.is_automated)


def test_subject_key_strips_reply_prefixes_and_tags() -> None:
    assert subject_key("RE: Fwd: [team] Budget  Q3") == "budget q3"
    assert subject_key("Re[2]: AW: WG: hello") == "hello"
    assert subject_key("") == ""


@pytest.mark.parametrize(
    "headers, body, check",
    [
        # declared charset is wrong: bytes are latin-1
        (
            "From: a@example.org\nContent-Type: text/plain; charset=utf-8",
            "caf\xe9 ol\xe9".encode("latin-1"),
            lambda p: "caf" in p.body_text and p.parse_error is None,
        ),
        # unknown charset name
        (
            "From: a@example.org\nContent-Type: text/plain; charset=x-unknown-42",
            b"plain words",
            lambda p: p.body_text == "plain words",
        ),
        # 8-bit raw header bytes
        (
            "From: J\xfcrgen <j@example.de>\nSubject: Gr\xfc\xdfe",
            b"hi",
            lambda p: p.sender is not None and p.sender.address == "j@example.de",
        ),
        # encoded-word garbage
        (
            "From: =?utf-8?B?!!!notbase64?= <x@example.org>\nSubject: =?bogus?Q?=ZZ?=",
            b"hi",
            lambda p: p.sender is not None and p.sender.address == "x@example.org" and p.parse_error is None,
        ),
        # missing From, Date and Message-ID: content-hash key, no sender
        ("Subject: orphan", b"text", lambda p: p.sender is None and p.message_key.startswith("sha1:")),
        # duplicate headers: the first wins, no crash
        (
            "From: a@example.org\nFrom: b@example.org\nSubject: one\nSubject: two",
            b"x",
            lambda p: p.sender is not None and p.sender.address == "a@example.org" and p.subject == "one",
        ),
        # broken multipart: no boundary parameter
        (
            "From: a@example.org\nContent-Type: multipart/mixed",
            b"just text really",
            lambda p: "just text" in p.body_text,
        ),
        # multipart whose boundary never appears
        (
            "From: a@example.org\nContent-Type: multipart/mixed; boundary=XYZ",
            b"no parts here",
            lambda p: p.parse_error is None,
        ),
        # invalid date
        ("From: a@example.org\nDate: yesterday-ish", b"x", lambda p: p.date is None),
        # addresses that are not addresses
        ("From: a@example.org\nTo: undisclosed-recipients:;, nobody, <>", b"x", lambda p: p.recipient_count == 0),
    ],
)
def test_messy_mail_never_stops_parsing(headers: str, body: bytes, check: object) -> None:
    raw = headers.replace("\n", "\r\n").encode("latin-1") + b"\r\n\r\n" + body
    parsed = parse_message(raw)
    assert callable(check) and check(parsed), parsed


def test_garbage_bytes_are_recorded_with_a_reason() -> None:
    parsed = parse_message(b"\x00\x01\x02 not mail at all")
    assert parsed.parse_error is not None
    assert parsed.message_key.startswith("raw:")


def test_html_only_mail_becomes_text_with_quotes() -> None:
    html = (
        "<html><head><style>p{color:red}</style></head><body><p>Hi Sam,</p><p>Could you &amp; your team "
        "review it?</p><blockquote><p>Older text</p></blockquote><script>alert(1)</script></body></html>"
    )
    parsed = parse_message(msg("From: a@example.org\nContent-Type: text/html; charset=utf-8", html))
    assert "Could you & your team review it?" in parsed.body_text
    assert "> Older text" in parsed.body_text
    assert "alert" not in parsed.body_text and "color" not in parsed.body_text


def test_multipart_prefers_plain_and_skips_attachments() -> None:
    attachment = base64.encodebytes(b"\x89PNG" + b"\x00" * 3_000_000).decode()
    body = (
        "--B1\r\nContent-Type: multipart/alternative; boundary=B2\r\n\r\n"
        "--B2\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        "Caf=E9 plan attached.\r\n"
        "--B2\r\nContent-Type: text/html\r\n\r\n<p>HTML version</p>\r\n--B2--\r\n"
        "--B1\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=a.png\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n" + attachment + "\r\n--B1--\r\n"
    )
    parsed = parse_message(msg('From: a@example.org\nContent-Type: multipart/mixed; boundary="B1"', body))
    assert parsed.body_text.strip() == "Café plan attached."
    assert not parsed.text_truncated


def test_huge_text_is_capped_and_marked() -> None:
    parsed = parse_message(msg("From: a@example.org", "word " * 200_000))
    assert parsed.text_truncated
    assert len(parsed.body_text) <= 100_000


@pytest.mark.parametrize(
    "extra, reason",
    [
        ("List-Id: <news.example.org>", "list-id"),
        ("List-Unsubscribe: <mailto:u@example.org>", "list-unsubscribe"),
        ("Precedence: bulk", "precedence:bulk"),
        ("Auto-Submitted: auto-replied", "auto-submitted:auto-replied"),
    ],
)
def test_noise_headers_flag_bulk_or_automated(extra: str, reason: str) -> None:
    parsed = parse_message(msg(f"From: a@example.org\n{extra}"))
    assert reason in parsed.noise_reasons
    assert parsed.is_bulk or parsed.is_automated


def test_noreply_sender_and_many_recipients_are_noise() -> None:
    assert parse_message(msg("From: no-reply@shop.example.com")).is_automated
    many = ", ".join(f"p{i}@example.org" for i in range(40))
    assert parse_message(msg(f"From: a@example.org\nTo: {many}")).is_bulk


def test_address_helpers() -> None:
    assert normalise_address(" <Bob@Example.COM> ") == "bob@example.com"
    assert normalise_address("not an address") is None
    assert [a.address for a in parse_address_list(['a@x.org (Al), "B, C" <b@y.org>'])] == ["a@x.org", "b@y.org"]
    assert "Hello" in html_to_text("<div>Hello<br>World</div>")
