"""Ledgers are judged as of a date when they are read (``--as-of``, default today); reads never write."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from ledger.test_relationships import CONTACT, OWNER, START, raw
from outreach.ledger import ledger_for, load_ledgers, refresh_ledgers
from outreach.ledger.read import domain_rollup, load_ledgers_light, stored_ledger_columns
from outreach.mail.ingest import Ingestor, RawMessage, ensure_folder
from outreach.mail.owners import open_mailbox
from outreach.signals.hook import SignalsHook
from outreach.store import open_store, session_factory
from outreach.store.models import ContactLedger

HISTORY = [  # three exchanges over two months, the last on day 60
    {"folder": "Sent", "from": "me", "to": "them", "day": 0, "subject": "Spring report"},
    {"folder": "INBOX", "from": "them", "to": "me", "day": 2, "subject": "Re: Spring report"},
    {"folder": "Sent", "from": "me", "to": "them", "day": 30, "subject": "Lunch"},
    {"folder": "INBOX", "from": "them", "to": "me", "day": 31, "subject": "Re: Lunch"},
    {"folder": "Sent", "from": "me", "to": "them", "day": 59, "subject": "Panel"},
    {"folder": "INBOX", "from": "them", "to": "me", "day": 60, "subject": "Re: Panel"},
]


def _store(tmp_path: Path):  # type: ignore[no-untyped-def]  # a sessionmaker
    sessions = session_factory(open_store(f"sqlite:///{tmp_path / 'store.db'}"))
    hook = SignalsHook(sessions, "alex")
    with sessions() as session:
        mailbox = open_mailbox(session, "alex", [OWNER], True, lambda: [], lambda _: None)
        ingestor = Ingestor(session, mailbox, after_batch=hook)
        for number, message in enumerate(HISTORY):
            folder = ensure_folder(session, mailbox, message["folder"], "maildir", message["folder"] == "Sent")
            ingestor.ingest(folder, [RawMessage(raw(message, number))])
    hook.finish()
    return sessions


def _rows(session) -> list[tuple[object, ...]]:  # type: ignore[no-untyped-def]
    return sorted(session.execute(select(ContactLedger.id, ContactLedger.data, ContactLedger.computed_at)).all())


def test_a_stored_ledger_is_judged_as_of_its_last_message_not_when_it_was_computed(tmp_path: Path) -> None:
    sessions = _store(tmp_path)
    with sessions() as session:
        stored = session.scalars(select(ContactLedger.data).where(ContactLedger.scope == "*")).one()
    assert stored["as_of"].startswith((START + timedelta(days=60)).date().isoformat())
    assert stored["tier"] == "warm" and stored["strength_parts"]["recency"] > 24


def test_reads_judge_as_of_their_date_and_never_write(tmp_path: Path) -> None:
    sessions = _store(tmp_path)
    soon, later = START + timedelta(days=61), START + timedelta(days=61 + 3 * 365)
    with sessions() as session:
        before = _rows(session)
        fresh = load_ledgers(session, [CONTACT], when=soon)[CONTACT]
        old = load_ledgers(session, [CONTACT], when=later)[CONTACT]
        light = load_ledgers_light(session, [CONTACT], "*", when=later)[CONTACT]
        one = ledger_for(session, CONTACT, when=later)
        columns = stored_ledger_columns(session, when=later)
        domains = domain_rollup(session, when=later)
        after = _rows(session)
    assert before == after  # nothing written
    assert fresh.strength_parts["recency"] > 24 and fresh.tier == "warm"
    # three years on: the exchanges still count (frequency, two-way) but not their recency
    assert old.strength_parts["recency"] < 1 and 0 < old.strength < fresh.strength
    assert old.two_way_threads == fresh.two_way_threads == 3
    assert light.strength == old.strength and light.tier == old.tier
    assert one is not None and one.strength == old.strength
    assert next(iter(columns.values()))["strength"] == old.strength
    assert domains[0].strongest_strength == old.strength


def test_reading_the_past_leaves_later_mail_out(tmp_path: Path) -> None:
    sessions = _store(tmp_path)
    with sessions() as session:
        day1 = load_ledgers(session, [CONTACT], when=START + timedelta(days=1))[CONTACT]
        day10 = load_ledgers(session, [CONTACT], when=START + timedelta(days=10))[CONTACT]
    assert (day1.tier, day1.sent, day1.personal_received) == ("one-way", 1, 0)
    assert (day10.tier, day10.two_way_threads) == ("acquaintance", 1)


def test_a_refresh_gives_the_same_rows_whenever_it_runs(tmp_path: Path) -> None:
    sessions = _store(tmp_path)
    with sessions() as session:
        first = [data for _, data, _ in _rows(session)]
        refresh_ledgers(session, None)
        session.commit()
        again = [data for _, data, _ in _rows(session)]
    assert first == again
