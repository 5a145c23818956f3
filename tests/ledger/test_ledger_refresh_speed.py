"""The fast paths of the ledger refresh give the ledgers of the straightforward computation.

A refresh reads the facts of several chunks of contacts per load (as many as LOAD_PARTICIPATIONS allows,
by a range of contact ids when they are all the contacts of that range), keeps per message only the
signal of each kind that counts (reading signals in id order and re-reading the messages whose signals
are not in text order), reuses the team-wide ledger for a mailbox with the same messages, and writes the
evidence JSON without EvidenceLine objects.  None of this may change a ledger.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import LedgerSnapshot, assert_same_ledgers, ledger_snapshot
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

import outreach.ledger.facts as facts_module
from outreach.ledger import TEAM_SCOPE, LedgerPolicy, compute_ledgers, refresh_ledgers
from outreach.mail.runs import import_path
from outreach.store import open_store, session_factory
from outreach.store.models import Contact, Signal

MAILBOXES = ("beck-s", "kaminski-v")
POLICY = LedgerPolicy(as_of=datetime(2002, 1, 1, tzinfo=UTC))


@dataclass
class Store:
    sessions: sessionmaker[Session]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, enron_dir: Path) -> Iterator[Store]:
    """Two Enron mailboxes imported (signals and ledgers included): some contacts in both, most in one."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('refresh') / 'outreach.db'}"
    else:
        server = request.getfixturevalue("postgres")
        url = server.create_database("ledger_refresh_speed")
    engine = open_store(url)
    sessions = session_factory(engine)
    for name in MAILBOXES:
        import_path(sessions, enron_dir / name, name, ledger_policy=POLICY)
    yield Store(sessions)
    engine.dispose()
    if request.param != "sqlite":
        with contextlib.suppress(Exception):
            server.drop_database("ledger_refresh_speed")


def _refreshed(store: Store, contact_ids: list[int] | None) -> LedgerSnapshot:
    """The rows after a refresh (rolled back)."""
    with store.sessions() as session:
        refresh_ledgers(session, contact_ids, POLICY)
        rows = ledger_snapshot(session)
        session.rollback()
    return rows


def _contacts(store: Store) -> dict[int, str]:
    """Contact id -> address, in id order."""
    with store.sessions() as session:
        return dict(session.execute(select(Contact.id, Contact.address).order_by(Contact.id)).tuples().all())


def _contact_ids(store: Store) -> list[int]:
    return list(_contacts(store))


def test_the_store_exercises_the_fast_paths(store: Store) -> None:
    ids = _contact_ids(store)
    assert len(ids) > facts_module.IN_CHUNK  # a refresh of everyone reads ranges of contact ids
    rows = _refreshed(store, None)
    scopes = {scope for _address, scope in rows}
    assert scopes == {TEAM_SCOPE, *MAILBOXES}
    # contacts of one mailbox only (the mailbox ledger is the team-wide one) and of both
    per_contact: dict[str, int] = {}
    for address, _scope in rows:
        per_contact[address] = per_contact.get(address, 0) + 1
    assert 2 in per_contact.values() and 3 in per_contact.values()


def test_any_load_size_gives_the_same_ledgers(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    everyone = _refreshed(store, None)
    contacts = _contacts(store)
    assert_same_ledgers(_refreshed(store, list(contacts)), everyone)
    monkeypatch.setattr(facts_module, "LOAD_PARTICIPATIONS", 1)  # one chunk of contacts per load
    assert_same_ledgers(_refreshed(store, None), everyone)
    monkeypatch.setattr(facts_module, "LOAD_PARTICIPATIONS", 2_000)
    monkeypatch.setattr(facts_module, "IN_CHUNK", 7)  # small IN lists, ranges of any length
    assert_same_ledgers(_refreshed(store, None), everyone)
    some = list(contacts)[::3]  # not a range: IN lists of at most 7 contacts
    refreshed = _refreshed(store, some)
    chosen = {contacts[cid] for cid in some}
    assert_same_ledgers(
        {key: row for key, row in refreshed.items() if key[0] in chosen},
        {key: row for key, row in everyone.items() if key[0] in chosen},
    )


def test_computed_ledgers_are_the_stored_ones_and_independent(store: Store) -> None:
    everyone = _refreshed(store, None)
    with store.sessions() as session:
        # a stored ledger counts all the mail (readers judge it as of their date): the policy's as_of is not
        # the refresh's
        computed = compute_ledgers(session, None, replace(POLICY, as_of=None))
    contacts = _contacts(store)
    assert {(contacts[cid], led.scope) for cid, items in computed.items() for led in items} == set(everyone)
    for cid, items in computed.items():
        for led in items:
            assert led.address == contacts[cid]
            assert led.to_json() == everyone[(led.address, led.scope)]["data"]
    # a mailbox ledger equal to the team-wide one is a copy: changing one leaves the other alone
    cid, items = next((cid, items) for cid, items in computed.items() if len(items) == 2 and items[0].evidence)
    team, mailbox = items
    assert mailbox.evidence == team.evidence
    figure = next(iter(mailbox.evidence))
    mailbox.evidence[figure].clear()
    mailbox.strength_parts.clear()
    assert team.evidence[figure] and team.strength_parts


def test_signals_out_of_text_order_are_read_in_text_order(store: Store) -> None:
    with store.sessions() as session:
        loader = facts_module.FactsLoader(session, POLICY)
        ids = loader.all_contacts()
        before = loader.load(ids)
        # New ids in reverse order: id order is now the reverse of the text order.
        session.execute(update(Signal).values(id=-Signal.id))
        after = facts_module.FactsLoader(session, POLICY).load(ids)
        session.rollback()
    fields = [name for name in facts_module.MessageFacts.__slots__ if name not in ("machine", "iso")]
    assert before.messages.keys() == after.messages.keys()
    differ = 0
    for mid, msg in before.messages.items():
        assert [getattr(msg, f) for f in fields] == [getattr(after.messages[mid], f) for f in fields]
        differ += msg.our_ask is not None and msg.our_ask != msg.ask
    assert differ  # messages whose first ask is not their clearest: the order mattered


def test_read_signals_keeps_the_first_of_each_kind_in_text_order() -> None:
    msg = facts_module.MessageFacts(1, None, "", None, False, False)
    rows = [  # message id, kind, subtype, personal, sentence, score, start: in id order
        (1, "thanks", None, True, "Thanks a lot.", 1.0, 5),
        (1, "ask", "reply", False, "Let me know.", 0.5, 10),
        (1, "ask", "meet", True, "Can we meet?", 0.9, 30),
        (1, "ask", None, True, "Please send it.", 0.9, 40),
        (1, "opt_out", "decline", True, "I'll pass.", 1.0, 60),
        (1, "opt_out", None, True, "Remove me.", 1.0, 70),
        (1, "commitment", None, True, "I will do it.", 1.0, 80),
    ]
    assert facts_module.read_signals({1: msg}, [rows], frozenset({"meet"})) == set()
    assert (msg.thanks, msg.ask, msg.personal_ask, msg.our_ask) == (
        "Thanks a lot.",
        "Can we meet?",  # 0.9 twice: the first of equals
        "Can we meet?",
        "Let me know.",
    )
    assert msg.reply_enough and (msg.refusal, msg.opt_out) == ("I'll pass.", "Remove me.")
    assert (msg.offer, msg.fulfilment) == (None, None)
    # the same rows in another order are reported: the message is read again, sorted
    swapped = [rows[1], rows[0], *rows[2:]]
    fresh = facts_module.MessageFacts(1, None, "", None, False, False)
    assert facts_module.read_signals({1: fresh}, [swapped], frozenset()) == {1}


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_left_as_it_was(store: Store, enabled: bool) -> None:
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with store.sessions() as session:
            refresh_ledgers(session, _contact_ids(store)[:50], POLICY)
            compute_ledgers(session, _contact_ids(store)[:50], POLICY)
            session.rollback()
        assert gc.isenabled() == enabled
    finally:
        (gc.enable if was else gc.disable)()
