"""The raw FETCH reader of the sync: UID sets and imaplib's answer, as real servers shape them."""

from __future__ import annotations

import pytest

from outreach.mail.imap import parse_fetch_bodies, uid_set


@pytest.mark.parametrize(
    "uids, expected",
    [([1, 2, 3, 7, 9, 10], "1:3,7,9:10"), ([5], "5"), ([3, 1, 2], "1:3"), ([4, 4, 6], "4,6"), ([], "")],
)
def test_uid_set_uses_ranges(uids: list[int], expected: str) -> None:
    assert uid_set(uids) == expected


def test_bodies_and_flags_before_or_after_the_literal() -> None:
    data = [
        (b"1 (UID 5 FLAGS (\\Seen \\Answered) BODY[]<0> {3}", b"abc"),
        b")",
        b"2 (FLAGS (\\Flagged) UID 9)",  # a flag change the server announces: no body, skipped
        (b"3 (BODY[]<0> {2}", b"xy"),
        b" UID 11 FLAGS ())",  # Dovecot may put items after the literal
    ]
    assert parse_fetch_bodies(data) == {5: (b"abc", "\\Seen \\Answered"), 11: (b"xy", "")}


def test_garbage_items_are_ignored() -> None:
    assert parse_fetch_bodies([b"* 3 EXISTS", (b"no uid here {1}", b"x"), None, (b"1",)]) == {}
