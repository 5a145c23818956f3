"""Threads and ledgers do not depend on the order mail arrives in: the inbox before the Sent folder, the
Sent folder first, or both shuffled together give the same conversations and the same ledgers."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outreach.ledger import Ledger, load_ledgers
from outreach.mail.files import discover
from outreach.mail.ingest import Ingestor, RawMessage, ensure_folder
from outreach.mail.owners import open_mailbox
from outreach.signals.hook import SignalsHook
from outreach.store import open_store, session_factory
from outreach.store.models import Contact, ContactLedger, Message

ORDERS = ("inbox-first", "sent-first", "shuffled-1", "shuffled-2")
# what a ledger says, without the message ids of its evidence (they differ from store to store)
FIGURES = (
    "tier", "strength", "balance", "sent", "personal_sent", "inferred_sent", "received", "personal_received",
    "two_way_threads", "two_way_messages", "exchanges", "first_two_way", "last_two_way", "asks_by_us",
    "asks_by_them", "unanswered_outbound",
)  # fmt: skip


def ingest_in_order(
    sessions: sessionmaker[Session], name: str, items: list[tuple[str, bool, RawMessage]], batch: int = 40
) -> None:
    """Store ``items`` (folder, is Sent, message) in this order, ``batch`` at a time per folder run."""
    hook = SignalsHook(sessions, name)
    sent = [raw for _, is_sent, raw in items if is_sent]
    with sessions() as session:
        mailbox = open_mailbox(session, name, (), bool(sent), lambda: _senders(sent), lambda _: None)
        session.commit()
        ingestor = Ingestor(session, mailbox, after_batch=hook)
        folders: dict[str, Any] = {}
        rethreaded: list[int] = []
        start = 0
        while start < len(items):
            folder, is_sent = items[start][0], items[start][1]
            end = start
            while end < len(items) and end - start < batch and items[end][0] == folder:
                end += 1
            if folder not in folders:
                folders[folder] = ensure_folder(session, mailbox, folder, "maildir", is_sent)
                session.commit()
            stats = ingestor.ingest(folders[folder], [raw for _, _, raw in items[start:end]])
            rethreaded += stats.rethreaded
            start = end
    hook.finish(rethreaded)


def _senders(raws: list[RawMessage]) -> list[str]:
    from outreach.mail.parsing import parse_message

    found = []
    for raw in raws:
        parsed = parse_message(raw.raw or b"")
        if parsed.sender is not None and parsed.sender.address not in found:
            found.append(parsed.sender.address)
    return found


def ordered(items: list[tuple[str, bool, RawMessage]], order: str) -> list[tuple[str, bool, RawMessage]]:
    if order == "sent-first":
        return sorted(items, key=lambda item: not item[1])
    if order.startswith("shuffled"):
        shuffled = list(items)
        random.Random(int(order.rpartition("-")[2])).shuffle(shuffled)
        return shuffled
    return list(items)


def threads_of(sessions: sessionmaker[Session]) -> frozenset[frozenset[str]]:
    groups: dict[int | None, set[str]] = defaultdict(set)
    with sessions() as session:
        for key, tid in session.execute(select(Message.message_key, Message.thread_id)):
            groups[tid].add(key)
    assert None not in groups, "every message has a thread"
    return frozenset(frozenset(g) for g in groups.values())


def ledgers_of(sessions: sessionmaker[Session], when: datetime) -> dict[tuple[str, str], tuple[Any, ...]]:
    with sessions() as session:
        pairs = session.execute(
            select(Contact.address, ContactLedger.scope).join(ContactLedger, ContactLedger.contact_id == Contact.id)
        ).all()
        out: dict[tuple[str, str], tuple[Any, ...]] = {}
        for scope in {s for _, s in pairs}:
            addresses = [a for a, s in pairs if s == scope]
            for address, ledger in load_ledgers(session, addresses, scope, when=when).items():
                out[(address, scope)] = _figures(ledger)
    return out


def _figures(ledger: Ledger) -> tuple[Any, ...]:
    return tuple(getattr(ledger, name) for name in FIGURES)


def _enron_items(enron_dir: Path, box: str) -> list[tuple[str, bool, RawMessage]]:
    items = []
    for folder in discover(enron_dir / box):
        for batch in folder.read(10_000):
            items += [(folder.name, folder.is_sent, raw) for raw in batch]
    return items


@pytest.mark.slow
@pytest.mark.parametrize("box", ["kaminski-v", "mann-k"])
def test_enron_threads_and_ledgers_do_not_depend_on_the_order(enron_dir: Path, tmp_path: Path, box: str) -> None:
    items = _enron_items(enron_dir, box)
    results = {}
    for order in ORDERS:
        sessions = session_factory(open_store(f"sqlite:///{tmp_path / order}.db"))
        ingest_in_order(sessions, box, ordered(items, order))
        results[order] = (threads_of(sessions), ledgers_of(sessions, datetime(2002, 7, 1, tzinfo=UTC)))
    base_threads, base_ledgers = results["inbox-first"]
    assert len(base_threads) > 200
    for order in ORDERS[1:]:
        threads, ledgers = results[order]
        assert threads == base_threads, f"{order}: {len(threads ^ base_threads)} threads differ"
        differ = {k: (base_ledgers.get(k), ledgers.get(k)) for k in base_ledgers.keys() | ledgers.keys()
                  if base_ledgers.get(k) != ledgers.get(k)}
        assert not differ, f"{order}: {len(differ)} ledgers differ, e.g. {list(differ.items())[:3]}"


def _message(key: str, sender: str, to: str, subject: str, when: datetime, in_reply_to: str | None = None) -> bytes:
    head = [
        f"Message-ID: <{key}>",
        f"Date: {when.strftime('%a, %d %b %Y %H:%M:%S +0000')}",
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
    ]
    if in_reply_to:
        head.append(f"In-Reply-To: <{in_reply_to}>")
    return ("\r\n".join(head) + "\r\n\r\nHello.\r\n").encode()


def _conversation() -> Iterator[tuple[str, bool, RawMessage]]:
    """A pitch of ours and replies that renamed the subject (only In-Reply-To ties them), plus two threads
    under one subject that a later message shows to be one conversation."""
    t0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
    me, maya, dev = "alex@brightlane.example", "maya@techdaily.example", "dev@techdaily.example"
    yield "Sent", True, RawMessage(_message("p1@b", me, maya, "Spring report", t0))
    renamed = "Your report: a question"
    yield "INBOX", False, RawMessage(_message("r1@t", maya, me, renamed, t0 + timedelta(days=1), "p1@b"))
    yield "INBOX", False, RawMessage(_message("r2@t", dev, me, "Re: Your report", t0 + timedelta(days=2), "r1@t"))
    yield "INBOX", False, RawMessage(_message("a1@t", maya, me, "Lunch", t0 + timedelta(days=10)))
    yield "INBOX", False, RawMessage(_message("b1@t", dev, me, "Lunch", t0 + timedelta(days=12)))
    yield "Sent", True, RawMessage(_message("c1@b", me, f"{maya}, {dev}", "Re: Lunch", t0 + timedelta(days=13)))


@pytest.mark.parametrize("order", ORDERS[1:] + ("reversed",))
def test_replies_before_their_original_end_in_its_thread(tmp_path: Path, order: str) -> None:
    items = list(_conversation())
    results = {}
    for name, these in (("base", items), (order, items[::-1] if order == "reversed" else ordered(items, order))):
        sessions = session_factory(open_store(f"sqlite:///{tmp_path / name}.db"))
        ingest_in_order(sessions, "alex", these, batch=1)
        results[name] = threads_of(sessions)
    expected = frozenset({frozenset({"p1@b", "r1@t", "r2@t"}), frozenset({"a1@t", "b1@t", "c1@b"})})
    assert results["base"] == expected
    assert results[order] == expected


def test_a_reply_to_a_thread_merged_away_in_its_batch_joins_the_survivor(tmp_path: Path) -> None:
    """Two stored threads under one subject; in the next batch a message of ours to both correspondents
    merges them, and a later message of the same batch answers a message of the thread merged away: it
    joins the survivor (the store deletes the thread merged away when the batch's merges are written, so
    a reply put there would reference no thread)."""
    t0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
    me, maya, dev = "alex@brightlane.example", "maya@techdaily.example", "dev@techdaily.example"
    first = [
        ("Sent", True, RawMessage(_message("s1@b", me, maya, "Spring report", t0 - timedelta(days=30)))),
        ("INBOX", False, RawMessage(_message("a1@t", maya, me, "Lunch", t0))),
        ("INBOX", False, RawMessage(_message("b1@t", dev, me, "Lunch", t0 + timedelta(days=1)))),
    ]
    second = [
        ("INBOX", False, RawMessage(_message("c1@b", me, f"{maya}, {dev}", "Re: Lunch", t0 + timedelta(days=2)))),
        # within its thread's dates and people: it does not grow that thread (so it meets no other thread)
        ("INBOX", False, RawMessage(_message("b2@t", dev, me, "Re: Lunch", t0 + timedelta(days=1), "b1@t"))),
    ]
    sessions = session_factory(open_store(f"sqlite:///{tmp_path / 'store.db'}"))
    ingest_in_order(sessions, "alex", first, batch=2)
    report = frozenset({"s1@b"})
    assert threads_of(sessions) == frozenset({report, frozenset({"a1@t"}), frozenset({"b1@t"})})
    ingest_in_order(sessions, "alex", second, batch=2)
    assert threads_of(sessions) == frozenset({report, frozenset({"a1@t", "b1@t", "c1@b", "b2@t"})})
