"""Tests for outreach.signals.zoning: data-driven cases, span helpers, robustness and the Enron sample.

Each case in tests/data/zoning/ is ``NAME.txt`` (the raw body, read without newline translation)
and ``NAME.expected.json`` with any of these keys:

* ``new_text`` / ``quoted`` / ``signature`` / ``boilerplate``: the exact zone text;
* ``<zone>_contains`` / ``<zone>_excludes``: lists of substrings;
* ``headers``: the expected quoted headers, in order (exact count; each a dict of the fields to check);
* ``greeting`` / ``signoff``: the text of ``greeting_span`` / ``signoff_span`` on new_text
  (``null``: no span).
"""

from __future__ import annotations

import email
import json
import random
import re
import time
from collections.abc import Callable
from email import policy
from pathlib import Path
from typing import Any

import pytest

from outreach.signals.zoning import QuotedHeader, Zones, greeting_span, signoff_span, split_zones
from outreach.signals.zoning.split import split_zones_unguarded

DATA = Path(__file__).parents[1] / "data" / "zoning"
CASES = sorted(p.name[: -len(".txt")] for p in DATA.glob("*.txt"))
ZONE_NAMES = ("new_text", "quoted", "signature", "boilerplate")


def _load(name: str) -> tuple[str, dict[str, Any]]:
    with open(DATA / f"{name}.txt", encoding="utf-8", newline="") as fh:
        text = fh.read()
    expected = json.loads((DATA / f"{name}.expected.json").read_text(encoding="utf-8"))
    return text, expected


def _span_text(text: str, span: tuple[int, int] | None) -> str | None:
    return None if span is None else text[span[0] : span[1]]


def test_enough_cases() -> None:
    assert len(CASES) >= 20
    for name in CASES:
        assert (DATA / f"{name}.expected.json").is_file(), name


@pytest.mark.parametrize("name", CASES)
def test_case(name: str) -> None:
    text, exp = _load(name)
    # the implementation itself (no safety net), so that a bug shows as an exception here
    z = split_zones_unguarded(text, 20000)
    assert z == split_zones(text)
    for zone in ZONE_NAMES:
        value = getattr(z, zone)
        if zone in exp:
            assert value == exp[zone], f"{zone} of {name}"
        for part in exp.get(f"{zone}_contains", []):
            assert part in value, f"{zone} of {name} lacks {part!r}:\n{value}"
        for part in exp.get(f"{zone}_excludes", []):
            assert part not in value, f"{zone} of {name} has {part!r}:\n{value}"
    if "headers" in exp:
        assert len(z.quoted_headers) == len(exp["headers"]), z.quoted_headers
        for got, want in zip(z.quoted_headers, exp["headers"], strict=True):
            for field, value in want.items():
                assert getattr(got, field) == value, f"{field} of {got}"
    if "greeting" in exp:
        assert _span_text(z.new_text, greeting_span(z.new_text)) == exp["greeting"]
    if "signoff" in exp:
        assert _span_text(z.new_text, signoff_span(z.new_text)) == exp["signoff"]


# ---------------------------------------------------------------------------------------------
# greeting / sign-off spans


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi Jane,\nsee below", "Hi Jane,"),
        ("  Dear all,\n\nbody", "Dear all,"),
        ("Hello!\nbody", "Hello!"),
        ("Hi Jane, thanks for the note.", "Hi Jane,"),
        ("Dear Mr. Smith,\nbody", "Dear Mr. Smith,"),
        ("Good morning everyone -\nbody", "Good morning everyone -"),
        ("Hey\nbody", "Hey"),
        ("Sally,\nbody", "Sally,"),
        ("Jane and John,\nbody", "Jane and John,"),
        ("Morning meeting moved to 10.", None),
        ("Hello world is the first program.", None),
        ("The launch is on Monday.", None),
        ("", None),
        ("   \n\n", None),
    ],
)
def test_greeting_span(text: str, expected: str | None) -> None:
    assert _span_text(text, greeting_span(text)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Body text.\n\nThanks,", "Thanks,"),
        ("Body text.\n\nBest,\nJane", "Best,\nJane"),
        ("Body text.\nThanks!\nJane", "Thanks!\nJane"),
        ("Body text.\n\nRegards", "Regards"),
        ("Body text.\n\nKind regards,\nJane Doe", "Kind regards,\nJane Doe"),
        ("Body text.\n\nthanks\n\nbob", "thanks\n\nbob"),
        ("Body text.\n\nThanks - Dan", "Thanks - Dan"),
        ("Body text.\n\nThanks again,\nJane", "Thanks again,\nJane"),
        ("Body text.\n\nKind regards,\n\nJane\n\n - draft.doc", "Kind regards,\n\nJane"),
        ("Body text.\n\nThanks\n" + "\n" * 100_000, "Thanks"),
        ("Body text.\n\nThanks for the update.", None),
        ("Thanks for your help with the launch!", None),
        ("Thanks!", None),
        ("Hi Jane,\n\nThanks!", None),
        ("Body text.\n\nBest of luck with the launch!", None),
        ("Body text that ends normally.", None),
        ("", None),
    ],
)
def test_signoff_span(text: str, expected: str | None) -> None:
    assert _span_text(text, signoff_span(text)) == expected


def test_span_helpers_never_raise() -> None:
    for text in ("\x00", "\n" * 1000, "-" * 10_000, "Thanks," * 10_000, "Hi " * 100_000, "\ud800x"):
        signoff_span(text)
        greeting_span(text)


# ---------------------------------------------------------------------------------------------
# robustness and limits


def test_empty_and_blank() -> None:
    for text in ("", " ", "\n\n\t\n", "\r\n\r\n"):
        assert split_zones(text) == Zones("", "", "", "", ())


def test_types_are_frozen_dataclasses() -> None:
    z = split_zones("Hi\n\n> quoted")
    assert isinstance(z.quoted_headers, tuple)
    assert all(isinstance(h, QuotedHeader) for h in z.quoted_headers)
    with pytest.raises(AttributeError):
        z.new_text = "x"  # type: ignore[misc]


def test_max_chars_bounds_the_scan() -> None:
    body = "Short note.\n\n" + "filler line of text\n" * 5000
    z = split_zones(body, max_chars=100)
    assert z.new_text.startswith("Short note.")
    assert len(z.new_text) <= 100
    assert split_zones(body, max_chars=0) == Zones("", "", "", "", ())
    # a marker beyond the limit is not seen
    late = (
        "New text.\n" + "x\n" * 200 + "-----Original Message-----\nFrom: a\nSent: b\nTo: c\nSubject: d\n\nold"
    )
    assert split_zones(late, max_chars=50).quoted_headers == ()
    assert split_zones(late).quoted_headers[0].kind == "original"


def test_crlf_and_cr_line_ends() -> None:
    base = "Hi Jane,\n\nOK.\n\nBob\n\n> quoted line\n"
    for variant in (base, base.replace("\n", "\r\n"), base.replace("\n", "\r")):
        z = split_zones(variant)
        assert z.new_text == "Hi Jane,\n\nOK.\n\nBob"
        assert z.quoted == "> quoted line"


PATHOLOGICAL: dict[str, Callable[[], str]] = {
    "one_long_line": lambda: "a" * 1_000_000,
    "long_on_line": lambda: "On " + "x, " * 100_000 + " wrote:",
    "many_wrote": lambda: ("On 5 Jan 2015 " + "wrote " * 60 + ":\n") * 2000,
    "many_gt": lambda: ">" * 50_000 + "\n" + "> " * 30_000,
    "dash_lines": lambda: ("-" * 100 + "\n") * 10_000,
    "star_frames": lambda: (
        ("*" * 70 + "\nThis e-mail is confidential and intended only for the addressee.\n") * 5000
    ),
    "header_lines": lambda: "From: a\nTo: b\nSubject: c\n" * 20_000,
    "to_cc_lines": lambda: "To: a\ncc: b\n" * 50_000,
    "notes_dates": lambda: "Jane Doe 04/02/2001 05:12 PM\n" * 30_000,
    "legal_words": lambda: "intended recipient prohibited disclosure confidential " * 20_000,
    "legal_lines": lambda: "not the intended recipient\n\n" * 30_000,
    "sig_lines": lambda: "Jane Doe\n555-123-4567\n" * 30_000,
    "odd_unicode": lambda: "İİ ßß ﬁ \u2028 \x00 \ufeff \ud800 𝔘𝔫𝔦 confidential İntended recipient\n" * 20_000,
    "random": lambda: "".join(random.Random(7).choices("ab :>-\n\t@./,*0123456789OnwroteFmTSu", k=1_000_000)),
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_inputs_are_fast_and_do_not_raise(name: str) -> None:
    text = PATHOLOGICAL[name]()
    start = time.perf_counter()
    z = split_zones_unguarded(text, 20000)
    elapsed = time.perf_counter() - start
    assert isinstance(z, Zones)
    signoff_span(z.new_text)
    greeting_span(z.new_text)
    # generous: about 1 ms per 20 kB is typical; this guards against super-linear blow-ups
    assert elapsed < 0.5, f"{name}: {elapsed:.3f}s"


def test_megabyte_with_large_limit_stays_linear() -> None:
    unit = (
        "Hi Jane,\n\nOK.\n\nThanks,\nBob\n\n-----Original Message-----\nFrom: Jane Doe\n"
        "Sent: Monday\nTo: Bob\nSubject: x\n\nhello\n> quoted\n"
    )
    small = unit * 1000
    big = unit * 10_000
    t0 = time.perf_counter()
    split_zones_unguarded(small, 10**8)
    t_small = time.perf_counter() - t0
    t0 = time.perf_counter()
    z = split_zones_unguarded(big, 10**8)
    t_big = time.perf_counter() - t0
    assert z.new_text == "Hi Jane,\n\nOK.\n\nThanks,\nBob"
    assert len(z.quoted_headers) == 10_000
    assert t_big < max(30 * t_small, 0.5)


def test_fuzz_never_raises() -> None:
    rng = random.Random(1234)
    alphabet = list("ab AZ:>-_*=\n\r\t@./,()<>\"'0123456789") + [
        "On ",
        " wrote:",
        "From: ",
        "Sent: ",
        "To: ",
        "cc: ",
        "Subject: ",
        "-----Original Message-----",
        "---------------------- Forwarded by ",
        "Begin forwarded message:",
        "-- \n",
        "Thanks,\n",
        "Hi Jane,\n",
        "04/02/2001 05:12 PM",
        "Sent from my iPhone",
        "confidential",
        "intended recipient",
        "To unsubscribe, click here",
        "*****\n",
        "x5-1234",
        "é",
        "İ",
        "\u2028",
        "\x00",
    ]
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        z = split_zones_unguarded(text, rng.choice([0, 10, 100, 20000]))
        signoff_span(z.new_text)
        greeting_span(z.new_text)
        signoff_span(text)
        greeting_span(text)


def test_non_str_input_does_not_raise() -> None:
    assert split_zones(None).new_text == ""  # type: ignore[arg-type]
    assert split_zones(b"Hi\n> q").quoted == "> q"  # type: ignore[arg-type]
    assert signoff_span(None) is None  # type: ignore[arg-type]
    assert greeting_span(None) is None  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# The Enron sample: every body zones without error, with invariants

ORIGINAL_LINE = re.compile(r"(?m)^[ \t>]*-{2,}\s*Original Message")
FORWARDED_BY_LINE = re.compile(r"(?m)^[ \t>]*-{3,}\s*Forwarded by")
ENRON_FOLDERS = ("beck-s/cur", "kaminski-v/cur", "mann-k/.Sent_reconstructed/cur", "germany-c/cur")


def _enron_bodies(root: Path) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for folder in ENRON_FOLDERS:
        directory = root / folder
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            with open(path, "rb") as fh:
                msg = email.message_from_binary_file(fh, policy=policy.compat32)
            for part in msg.walk():
                if part.get_content_type() == "text/plain":
                    payload = part.get_payload(decode=True)
                    if isinstance(payload, bytes):
                        out.append((path.name, payload.decode("utf-8", "replace")))
                    break
    return out


@pytest.fixture(scope="module")
def enron_bodies(enron_dir: Path) -> list[tuple[str, str]]:
    bodies = _enron_bodies(enron_dir)
    if not bodies:
        pytest.skip("no Enron bodies found")
    return bodies


def test_enron_bodies_zone_with_invariants(enron_bodies: list[tuple[str, str]]) -> None:
    with_marker = 0
    for name, body in enron_bodies:
        z = split_zones_unguarded(body, 20000)
        assert z == split_zones(body)
        scanned = z.new_text + z.quoted + z.signature + z.boilerplate
        assert len(scanned) <= len(body), name
        assert not ORIGINAL_LINE.search(z.new_text), name
        assert not FORWARDED_BY_LINE.search(z.new_text), name
        assert not re.search(r"(?m)^\s*>", z.new_text), name
        prefix = body[:20000]
        if ORIGINAL_LINE.search(prefix) or FORWARDED_BY_LINE.search(prefix):
            with_marker += 1
            assert z.quoted_headers, name
            assert z.quoted, name
        for header in z.quoted_headers:
            assert header.kind in ("original", "wrote", "forwarded", "quote")
            if header.sender_address is not None:
                assert header.sender_address == header.sender_address.lower()
                assert "@" in header.sender_address
        for zone in (z.new_text, z.quoted, z.signature, z.boilerplate):
            assert zone == zone.strip()
            assert "\r" not in zone
        signoff_span(z.new_text)
        greeting_span(z.new_text)
    assert with_marker > 100


def test_enron_original_message_headers_are_parsed(enron_bodies: list[tuple[str, str]]) -> None:
    """Nearly every "-----Original Message-----" in the sample is followed by a From: line."""
    total = with_sender = 0
    for _name, body in enron_bodies:
        z = split_zones(body)
        for header in z.quoted_headers:
            if header.kind == "original":
                total += 1
                with_sender += header.sender is not None
    assert total > 500
    assert with_sender / total > 0.97


def test_enron_throughput(enron_bodies: list[tuple[str, str]]) -> None:
    """Sync speed: thousands of bodies a second (the bound here is loose for a shared CI box)."""
    start = time.perf_counter()
    for _name, body in enron_bodies:
        split_zones(body)
    elapsed = time.perf_counter() - start
    rate = len(enron_bodies) / elapsed
    assert rate > 500, f"{rate:.0f} messages/s"
