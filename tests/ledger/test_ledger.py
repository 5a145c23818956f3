"""The ledger on real mail: four Enron mailboxes imported through the sync pipeline (signals included).

The contacts below were checked by hand against the mail files in ../shared/data/enron-maildir:

* kimat.singla@enron.com, mailbox germany-c: we wrote 5 stored messages (Annuity 2001-05-30, FW: NFUL for
  Sep 2001-09-25, NFUL for Oct 2001-09-26, Iroq for November 2001-10-26, Tenn Transport 2001-10-30 as cc)
  and got 4 personal replies.  Three of her replies quote a message of Chris that his Sent folder lacks
  ("-----Original Message----- From: Germany, Chris Sent: Tuesday, May 29, 2001 12:39 PM", and likewise on
  2001-09-20 and 2001-10-24): three more messages of ours, so four two-way threads.  "NFUL for Oct" has
  both sides in the store: we asked "Kimat, would you enter deal 1065846 and 1065497 in Tagg please?" and
  she answered "Both are in Tagg - …" 2 hours later (our ask fulfilled).  Three of our messages ask
  something, none of them delivers a favour: balance ≈ -1.65 as of 2002-07-01.  Warm.
* jan.cooley@enron.com, mailbox kaminski-v: she asked (in a message not in the store) which folders to
  burn; our reply "Yes, if this is the procedure. Also, you will receive tomorrow hard copies …"
  (2001-11-07) got "Thank you so much for your help in this matter." the next morning; on 2001-12-28 we
  forwarded the "Raptors" message to the litigation team with her in cc ("I am forwarding a copy of a
  message …": a fulfilment, +1, ≈ +0.70 decayed to 2002-07-01).  No ask of ours.  Acquaintance.
* joe.parks@enron.com: a recipient of our messages (in To/Cc of 6 Sent files and more inbox copies of
  team mail) who never wrote to any of the four: one-way, every outbound message unanswered.
* webmaster@cera.com: 21 CERA newsletters to a list address, never written to: tier none, never warm.

Ledgers are read as of 2002-07-01, after the last message of every mailbox.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import assert_same_ledgers, ledger_snapshot
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from outreach.errors import ConfigError
from outreach.ledger import (
    TEAM_SCOPE,
    TIERS,
    Ledger,
    LedgerPolicy,
    domain_rollup,
    ledger_for,
    load_ledgers,
    refresh_ledgers,
)
from outreach.mail.parsing import is_machine_sender
from outreach.mail.runs import import_path
from outreach.store import open_store, session_factory
from outreach.store.models import Contact, ContactLedger, Message

MAILBOXES = ("beck-s", "germany-c", "kaminski-v", "mann-k")
AS_OF = datetime(2002, 7, 1, tzinfo=UTC)  # after the last message of every mailbox: ledgers are read as of then
POLICY = LedgerPolicy()


@dataclass
class Store:
    url: str
    sessions: sessionmaker[Session]


def _url(request: pytest.FixtureRequest, tmp_path: Path, name: str) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'outreach.db'}"
        return
    server = request.getfixturevalue("postgres")
    url: str = server.create_database(name)
    yield url
    with contextlib.suppress(Exception):  # a leaked connection must not fail the next tests
        server.drop_database(name)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def enron(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, enron_dir: Path
) -> Iterator[Store]:
    """All four mailboxes imported once (signals and ledgers refreshed after each import)."""
    for url in _url(request, tmp_path_factory.mktemp("enron"), "ledger_enron"):
        engine = open_store(url)
        sessions = session_factory(engine)
        for name in MAILBOXES:
            import_path(sessions, enron_dir / name, name, ledger_policy=POLICY)
        yield Store(url, sessions)
        engine.dispose()


def ledger(store: Store, address: str, scope: str = TEAM_SCOPE) -> Ledger:
    with store.sessions() as session:
        return load_ledgers(session, [address], scope, when=AS_OF)[address]


# ------------------------------------------------------------------------------------- hand-checked


def test_kimat_singla_warm_we_asked_three_times(enron: Store) -> None:
    """Four replies of hers to Chris, three of them to messages of his that his Sent folder lacks (her
    replies quote them: germany-c.000031, .000060, .000154), one to "NFUL for Oct" (Sent folder); five
    messages of his to her are stored."""
    led = ledger(enron, "kimat.singla@enron.com", "germany-c")
    assert led.tier == "warm"
    assert (led.sent, led.inferred_sent, led.received, led.personal_received) == (8, 3, 4, 4)
    assert [(e.date, e.subject) for e in led.evidence["sent"] if e.inferred] == [
        (datetime(2001, 5, 29, 12, 39, tzinfo=UTC), "RE:"),  # as quoted: "Tuesday, May 29, 2001 12:39 PM"
        (datetime(2001, 9, 20, 14, 35, tzinfo=UTC), "RE: Nat Fuel"),
        (datetime(2001, 10, 24, 18, 0, tzinfo=UTC), "RE: CGLF Term deal"),
    ]
    assert led.two_way_threads == 4 and led.exchanges == 8
    assert led.first_two_way == datetime(2001, 5, 29, 18, 18, 8, tzinfo=UTC)  # her first reply
    assert led.asks_by_us == 3
    assert led.our_asks_fulfilled == 1
    assert led.their_asks_fulfilled == 0
    # three asks, decayed to July 2002, and one offer of ours: "Let me know if you have any questions." closing
    # the "Annuity" request is an offer in the product's notion, not part of the ask
    assert led.offers_by_us == 1
    assert [e.sentence for e in led.evidence["offers_by_us"]] == ["Let me know if you have any questions."]
    assert -1.6 < led.balance < -1.3
    assert led.unanswered_outbound == 4 and led.reply_rate == 0.5
    fulfilled = led.evidence["our_asks_fulfilled"]
    assert [(e.direction, e.subject) for e in fulfilled] == [
        ("out", "NFUL for Oct"),
        ("in", "RE: NFUL for Oct"),
    ]
    assert fulfilled[0].sentence == "Kimat, would you enter deal 1065846 and 1065497 in Tagg please?"
    assert led.last_ask_by_us is not None and led.last_ask_by_us.answered
    assert led.opt_outs == 0


def test_jan_cooley_acquaintance_with_help_given(enron: Store) -> None:
    led = ledger(enron, "jan.cooley@enron.com", "kaminski-v")
    assert led.tier == "acquaintance"
    assert (led.sent, led.received, led.two_way_threads) == (2, 1, 1)
    assert led.thanks_received == 1
    assert led.evidence["thanks_received"][0].sentence == "Thank you so much for your help in this matter."
    assert led.asks_by_us == 0
    assert 0.65 < led.balance < 0.75  # her thanks for our help, decayed to July 2002
    assert led.reply_rate == 0.5
    assert [e.subject for e in led.evidence["unanswered_outbound"]] == ["FW: Raptors"]
    # team-wide the same: only kaminski-v ever wrote with her
    assert ledger(enron, "jan.cooley@enron.com").tier == "acquaintance"


def test_someone_we_only_wrote_to_is_one_way(enron: Store) -> None:
    led = ledger(enron, "joe.parks@enron.com")
    assert led.tier == "one-way"
    assert led.received == 0 and led.sent >= 6
    assert led.two_way_threads == 0 and led.first_two_way is None
    assert led.unanswered_outbound == led.sent and led.reply_rate == 0.0
    assert led.strength_parts["two_way"] == 0 and led.strength_parts["recency"] == 0


def test_newsletter_sender_is_never_warm(enron: Store) -> None:
    led = ledger(enron, "webmaster@cera.com")
    assert led.tier == "none"  # only their newsletters: no personal mail either way
    assert led.received == 21 and led.personal_received == 0 and led.sent == 0
    assert led.asks_by_them == 0 and led.offers_by_them == 0
    with enron.sessions() as session:
        machine = [a for a in session.scalars(select(Contact.address)) if is_machine_sender(a)]
        assert "webmaster@cera.com" in machine and "no.address@enron.com" in machine
        for address, led in load_ledgers(session, machine, when=AS_OF).items():
            assert led.tier in ("none", "one-way"), address


def test_unknown_address_is_none(enron: Store) -> None:
    led = ledger(enron, "nobody@example.org")
    assert led.tier == "none" and led.strength == 0 and led.sent == 0
    with enron.sessions() as session:
        assert ledger_for(session, "nobody@example.org") is None
        assert (
            ledger_for(session, "JOE.PARKS@enron.com", when=AS_OF)
            == load_ledgers(session, ["joe.parks@enron.com"], when=AS_OF)["joe.parks@enron.com"]
        )


# ------------------------------------------------------------------------------------- invariants


def test_every_ledger_is_consistent_and_evidenced(enron: Store) -> None:
    with enron.sessions() as session:
        rows = session.execute(select(ContactLedger.scope, ContactLedger.tier, ContactLedger.data)).all()
        own = {
            a for (a,) in session.execute(select(Contact.address).where(Contact.address.like("%kaminski%")))
        }
    assert rows
    scopes = {scope for scope, _, _ in rows}
    assert scopes == {TEAM_SCOPE, *MAILBOXES}
    for scope, tier, data in rows:
        led = Ledger.from_json(data)
        assert led.tier == tier in TIERS
        assert led.to_json() == data  # the JSON shape round-trips
        assert 0 <= led.strength <= 100
        assert led.strength == round(sum(led.strength_parts.values())) or led.strength == 100
        if tier in ("warm", "strong", "acquaintance"):  # personal mail both ways
            assert led.personal_sent >= 1 and led.personal_received >= 1 and led.exchanges >= 1
        if tier in ("warm", "strong"):
            assert led.two_way_threads >= 2
        if tier == "none":  # nothing personal either way: no mail of ours, only bulk from them
            assert led.sent == 0 and led.personal_received == 0 and led.received >= 1
        if tier == "one-way":
            assert led.sent >= 1 and led.personal_received == 0
        if tier == "inbound":
            assert led.personal_sent == 0 and led.personal_received >= 1
        for figure in (
            "sent",
            "received",
            "exchanges",
            "two_way_threads",
            "asks_by_us",
            "asks_by_them",
            "offers_by_us",
            "thanks_received",
            "thanks_given",
            "opt_outs",
            "unanswered_outbound",
        ):
            if getattr(led, figure):
                assert led.evidence.get(figure), (led.address, scope, figure)
        for line in (e for lines in led.evidence.values() for e in lines):
            assert line.direction in ("in", "out") and line.message_id > 0
        # our own addresses never get a ledger
        assert led.address not in {"sally.beck@enron.com", "chris.germany@enron.com", "kay.mann@enron.com"}
    assert "j.kaminski@enron.com" in own


def test_domain_rollup(enron: Store) -> None:
    with enron.sessions() as session:
        domains = {d.domain: d for d in domain_rollup(session, when=AS_OF)}
        per_mailbox = {d.domain: d for d in domain_rollup(session, "germany-c", when=AS_OF)}
    enron_com = domains["enron.com"]
    assert enron_com.best_tier == "strong"  # kathleen.carnahan and kay.mann: dozens of exchanges
    assert enron_com.contacts > 100 and enron_com.two_way_threads >= 100
    assert enron_com.last_two_way is not None
    assert domains["cera.com"].best_tier == "none" and domains["cera.com"].two_way_threads == 0
    assert per_mailbox["enron.com"].contacts < enron_com.contacts
    assert list(domains)[0] == "enron.com"  # strongest first


# ------------------------------------------------------------------------------------- incremental


def test_incremental_refresh_agrees_with_full_rebuild(tmp_path: Path, enron_dir: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'incremental.db'}")
    sessions = session_factory(engine)
    # beck-s first, then kaminski-v: the second import touches contacts of the first (shared messages,
    # new owner addresses) and is refreshed only for the contacts it touched
    import_path(sessions, enron_dir / "beck-s", "beck-s", ledger_policy=POLICY)
    with sessions() as session:
        after_first = ledger_snapshot(session)
    import_path(sessions, enron_dir / "kaminski-v", "kaminski-v", ledger_policy=POLICY)
    with sessions() as session:
        incremental = ledger_snapshot(session)
    assert incremental != after_first
    with sessions() as session:
        summary = refresh_ledgers(session, policy=POLICY)
        session.commit()
        assert summary.rows == session.scalar(select(func.count(ContactLedger.id)))
        full = ledger_snapshot(session)
    assert_same_ledgers(incremental, full)
    engine.dispose()


def test_incremental_refresh_of_some_contacts_matches(enron: Store) -> None:
    with enron.sessions() as session:
        before = ledger_snapshot(session)
        ids = list(session.scalars(select(Contact.id).order_by(Contact.id).limit(50)))
        refresh_ledgers(session, ids, POLICY)
        session.commit()
        assert_same_ledgers(ledger_snapshot(session), before)


# ------------------------------------------------------------------------------------- policy


def test_policy_defaults_and_config() -> None:
    default = LedgerPolicy()
    assert default.balance_half_life_days == 365 and default.warm_min_strength == 40
    assert LedgerPolicy.from_mapping({}) == default
    policy = LedgerPolicy.from_mapping(
        {
            "balance_half_life_days": 90,
            "warm-min-strength": 30,
            "as_of": "2002-07-01",
            "reply_fulfils": ["reply"],
        }
    )
    assert policy.balance_half_life_days == 90.0 and policy.warm_min_strength == 30
    assert policy.as_of == AS_OF and policy.reply_fulfils == ("reply",)
    for bad in (
        {"warm_min": 3},
        {"warm_min_strength": "high"},
        {"balance_half_life_days": 0},
        {"warm_min_strength": 80},
        {"strong_min_two_way": True},
        {"reply_fulfils": "reply"},
    ):
        with pytest.raises(ConfigError):
            LedgerPolicy.from_mapping(bad)


def test_half_life_changes_the_balance(enron: Store) -> None:
    from outreach.ledger import compute_ledgers

    with enron.sessions() as session:
        cid = session.scalar(select(Contact.id).where(Contact.address == "kimat.singla@enron.com"))
        assert cid is not None
        slow = compute_ledgers(session, [cid], LedgerPolicy(as_of=AS_OF, balance_half_life_days=10_000))[cid]
        fast = compute_ledgers(session, [cid], LedgerPolicy(as_of=AS_OF, balance_half_life_days=30))[cid]
    slow_team = next(led for led in slow if led.scope == "germany-c")
    fast_team = next(led for led in fast if led.scope == "germany-c")
    assert -2.5 < slow_team.balance < -2.4  # three asks and an offer (+0.5), hardly decayed
    assert -0.01 < fast_team.balance <= 0  # all forgotten (0.5 ** (278 / 30) for the last one)


# ------------------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def cli_store(enron: Store, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    config = tmp_path_factory.mktemp("cli") / "config.toml"
    config.write_text('[ledger]\nas_of = "2002-07-01"\n', encoding="utf-8")
    if enron.url.startswith("sqlite"):
        copy = config.parent / "copy.db"
        # the backup API, not a file copy: the store's last commits may still be in its write-ahead log
        with sqlite3.connect(enron.url.removeprefix("sqlite:///")) as source, sqlite3.connect(copy) as target:
            source.backup(target)
        return f"sqlite:///{copy}", config
    return enron.url, config


def _run(cli_store: tuple[str, Path], *args: str) -> Any:
    from outreach.cli import main

    url, config = cli_store
    result = CliRunner().invoke(main, ["--database-url", url, "--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result


def test_cli_contact_shows_ledger_with_evidence(cli_store: tuple[str, Path], enron: Store) -> None:
    out = _run(cli_store, "contact", "kimat.singla@enron.com", "--mailbox", "germany-c").output
    assert "tier warm" in out
    assert "2001-05-29 -> (our message, seen quoted in their reply #" in out
    assert '"Kimat, would you enter deal 1065846 and 1065497 in Tagg please?"' in out
    assert "2001-09-26 <- RE: NFUL for Oct" in out
    data = json.loads(
        _run(
            cli_store, "contact", "kimat.singla@enron.com", "--mailbox", "germany-c", "--format", "json"
        ).output
    )
    assert data == ledger(enron, "kimat.singla@enron.com", "germany-c").to_json()


def test_cli_contacts_and_domains(cli_store: tuple[str, Path]) -> None:
    rows = json.loads(
        _run(cli_store, "contacts", "--sort", "strength", "--format", "json", "--limit", "5").output
    )
    assert len(rows) == 5 and rows[0]["tier"] == "strong"
    assert rows == sorted(rows, key=lambda r: r["strength"], reverse=True)
    assert {"tier", "strength", "balance", "last_two_way"} <= rows[0].keys()
    csv_out = _run(cli_store, "contacts", "--mailbox", "germany-c", "--format", "csv").output
    assert csv_out.splitlines()[0].startswith("address,name,tier,strength,balance,last_two_way")
    domains = json.loads(_run(cli_store, "contacts", "--by-domain", "--format", "json").output)
    assert domains[0]["domain"] == "enron.com" and domains[0]["best_tier"] == "strong"


def test_cli_rebuilds(cli_store: tuple[str, Path]) -> None:
    before = _run(cli_store, "contact", "jan.cooley@enron.com", "--format", "json").output
    out = _run(cli_store, "ledger", "rebuild").output
    assert "contact(s)" in out
    assert _run(cli_store, "contact", "jan.cooley@enron.com", "--format", "json").output == before
    out = _run(cli_store, "signals", "rebuild", "--quiet").output
    assert "message(s)" in out and "ask" in out and "ledgers:" in out
    assert _run(cli_store, "contact", "jan.cooley@enron.com", "--format", "json").output == before


def test_signals_were_stored_during_import(enron: Store) -> None:
    from outreach.signals.analyse import PIPELINE_VERSION

    with enron.sessions() as session:
        total = session.scalar(select(func.count(Message.id)))
        analysed = session.scalar(
            select(func.count(Message.id)).where(Message.signals_version == PIPELINE_VERSION)
        )
        english = session.scalar(select(func.count(Message.id)).where(Message.language == "en"))
    assert total and analysed == total
    assert english and english > total * 0.8


def _maildir(root: Path, folders: dict[str, list[str]]) -> Path:
    for folder, messages in folders.items():
        cur = root / (folder if folder else "") / "cur"
        cur.mkdir(parents=True, exist_ok=True)
        for number, text in enumerate(messages):
            (cur / f"{number}.msg:2,S").write_text(text, encoding="utf-8")
    return root


def _mail(mid: str, sender: str, to: str, subject: str, body: str, date: str, reply_to: str = "") -> str:
    extra = f"In-Reply-To: <{reply_to}>\n" if reply_to else ""
    return (
        f"Message-ID: <{mid}>\nDate: {date}\nFrom: {sender}\nTo: {to}\nSubject: {subject}\n{extra}"
        f"Content-Type: text/plain; charset=utf-8\n\n{body}\n"
    )


def test_a_colleagues_copy_of_known_mail_refreshes_their_mailbox_ledger(tmp_path: Path) -> None:
    """Bob's import brings only a message Ann's import already stored: Zoe's ledger for Bob's mailbox
    appears after the incremental refresh, as in a full rebuild."""
    ask = _mail("m1@team.example", "ann@team.example", "zoe@press.example", "Draft",
                "Could you review the draft by Friday?", "Mon, 03 Dec 2001 10:00:00 +0000")
    answer = _mail("m2@press.example", "zoe@press.example", "ann@team.example, bob@team.example", "Re: Draft",
                   "Here are my comments, as promised. Attached is the marked-up copy.",
                   "Tue, 04 Dec 2001 09:00:00 +0000", reply_to="m1@team.example")
    other = _mail("m3@else.example", "max@else.example", "bob@team.example", "Lunch",
                  "Lunch on Friday?", "Tue, 04 Dec 2001 12:00:00 +0000")
    ann = _maildir(tmp_path / "ann", {"": [answer], ".Sent": [ask]})
    bob = _maildir(tmp_path / "bob", {"": [answer, other]})
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    sessions = session_factory(engine)
    import_path(sessions, ann, "ann", ["ann@team.example"], ledger_policy=POLICY)
    import_path(sessions, bob, "bob", ["bob@team.example"], ledger_policy=POLICY)
    with sessions() as session:
        incremental = ledger_snapshot(session)
    assert incremental[("zoe@press.example", "bob")]["data"]["received"] == 1
    zoe = incremental[("zoe@press.example", "ann")]["data"]
    assert zoe["two_way_threads"] == 1 and zoe["our_asks_fulfilled"] == 1 and zoe["tier"] == "acquaintance"
    with sessions() as session:
        refresh_ledgers(session, policy=POLICY)
        session.commit()
        assert_same_ledgers(ledger_snapshot(session), incremental)
    engine.dispose()
