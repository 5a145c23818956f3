"""A PR team of three on a real Dovecot, synced into one store: the scenario of who-knows, best paths and
``sender = "best"`` (tests/ledger, tests/campaign, tests/send).

Three teammates of Brightlane (invented people and outlets), each with an IMAP account (INBOX and Sent):

- ``jordan`` has written with maya@techdaily.example for months (warm), with kim@gmail.com (a friend's
  personal address: warm, but gmail.com is nobody's outlet), and with tess@metrodesk.example and
  omar@citywire.example (warm);
- ``alex`` (the campaigns' mailbox) is warm with rio@wiredweekly.example, vic@greenpost.example and
  zoe@harbourtimes.example, wrote twice to noor@wiredweekly.example without an answer (one-way), and has
  never written to maya (cold for alex, warm for jordan);
- ``sam`` is warm with lee@dailyherald.example (an editor) and has exchanged mail once with noor
  (acquaintance); nobody knows ana@dailyherald.example, the reporter: her path goes through lee's outlet.

The mail is dated relative to ``now`` (the tests run as of today: a real send is judged as of now). The
fixtures ``team_store`` (once per module) and ``fresh_team_store`` (per test) of tests/conftest.py give
the store on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from outreach.config import MailboxConfig

DOMAIN = "brightlane.example"
TEAM = ("alex", "jordan", "sam")

# teammate -> contacts they are warm with (three two-way threads each, the last one 20-40 days ago)
WARM: dict[str, tuple[str, ...]] = {
    "jordan": ("maya@techdaily.example", "kim@gmail.com", "tess@metrodesk.example", "omar@citywire.example"),
    "alex": ("rio@wiredweekly.example", "vic@greenpost.example", "zoe@harbourtimes.example"),
    "sam": ("lee@dailyherald.example",),
}
ACQUAINTANCE = {"sam": ("noor@wiredweekly.example",)}  # one thread: out, in
ONE_WAY = {"alex": ("noor@wiredweekly.example",)}  # two messages, no answer

NOBODY_KNOWS = "ana@dailyherald.example"  # lee's colleague: an outlet path through sam
PERSONAL_STRANGER = "pat@gmail.com"  # kim@gmail.com is no colleague of hers


def address(teammate: str) -> str:
    return f"{teammate}@{DOMAIN}"


def _name(addr: str) -> str:
    return addr.split("@")[0].title()


@dataclass
class _Mail:
    """Raw messages per teammate and folder (INBOX: theirs, Sent: ours)."""

    boxes: dict[str, dict[str, list[bytes]]] = field(
        default_factory=lambda: {t: {"INBOX": [], "Sent": []} for t in TEAM}
    )
    counter: int = 0

    def message(self, teammate: str, contact: str, out: bool, subject: str, date: datetime, body: str,
                reply_to: str | None) -> str:
        self.counter += 1
        mid = f"<team-{self.counter}-{teammate}@{DOMAIN}>"
        me = address(teammate)
        sender, to = (me, contact) if out else (contact, me)
        headers = [
            f"From: {_name(sender)} <{sender}>",
            f"To: {_name(to)} <{to}>",
            f"Subject: {'Re: ' if reply_to else ''}{subject}",
            f"Date: {format_datetime(date)}",
            f"Message-ID: {mid}",
        ]
        if reply_to:
            headers += [f"In-Reply-To: {reply_to}", f"References: {reply_to}"]
        raw = "\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n") + "\r\n"
        self.boxes[teammate]["Sent" if out else "INBOX"].append(raw.encode("utf-8"))
        return mid

    def thread(self, teammate: str, contact: str, subject: str, start: datetime, turns: str) -> None:
        """A conversation: ``turns`` is a string of ``o`` (our message) and ``i`` (theirs), a day apart."""
        previous: str | None = None
        for n, turn in enumerate(turns):
            out = turn == "o"
            them = _name(contact)
            body = (
                f"Hi {them},\n\nHere are the figures on {subject.lower()} I mentioned, as promised.\n\n"
                f"{_name(address(teammate))}"
                if out
                else f"Hi {_name(address(teammate))},\n\nThanks, this is really helpful for my piece.\n\n{them}"
            )
            previous = self.message(teammate, contact, out, subject, start + timedelta(days=n), body, previous)


def team_mail(now: datetime) -> dict[str, dict[str, list[bytes]]]:
    """teammate -> folder -> raw messages of the scenario, dated before ``now``."""
    mail = _Mail()
    for teammate, contacts in WARM.items():
        for k, contact in enumerate(contacts):
            for t, days in enumerate((150, 90, 30)):
                start = now - timedelta(days=days + 3 * k)
                mail.thread(teammate, contact, f"Repair cafes, part {t + 1}", start, "oio")
    for teammate, contacts in ACQUAINTANCE.items():
        for contact in contacts:
            mail.thread(teammate, contact, "Library tool sheds", now - timedelta(days=60), "oi")
    for teammate, contacts in ONE_WAY.items():
        for contact in contacts:
            mail.thread(teammate, contact, "Our reuse survey", now - timedelta(days=200), "o")
            mail.thread(teammate, contact, "Our reuse survey, once more", now - timedelta(days=100), "o")
    return mail.boxes


def sync_team(
    sessions: sessionmaker[Session], make_imap_account: Callable[[], Any], now: datetime | None = None
) -> dict[str, MailboxConfig]:
    """Write the scenario into one Dovecot account per teammate and sync each into the store (signals and
    ledgers included, as ``outreach sync`` does): teammate -> its mailbox config."""
    from outreach.mail.runs import sync_mailbox  # imported when used: tests/conftest.py imports this module

    now = now or datetime.now(UTC)
    configs = {}
    for teammate, folders in team_mail(now).items():
        account = make_imap_account()
        for folder, raws in folders.items():
            account.write_messages(raws, None if folder == "INBOX" else folder)
        config = MailboxConfig(
            name=teammate,
            host=account.host,
            port=account.port,
            username=account.user,
            security="plain",
            addresses=(address(teammate),),
        )
        summary = sync_mailbox(sessions, config, account.password)
        assert summary.totals.new == sum(len(r) for r in folders.values()), summary
        configs[teammate] = config
    return configs


@dataclass
class TeamStore:
    """A store (SQLite or PostgreSQL) the three teammates' mailboxes were synced into from Dovecot."""

    url: str
    sessions: sessionmaker[Session]
    configs: dict[str, MailboxConfig]
    backend: str


@contextlib.contextmanager
def team_store_at(url: str, make_account: Callable[[], Any]) -> Iterator[TeamStore]:
    """The scenario written into fresh Dovecot accounts (``make_account()``: an ImapAccount of
    tests/conftest.py) and synced into the empty store at ``url``."""
    from outreach.store import open_store, session_factory

    engine = open_store(url)
    sessions = session_factory(engine)
    try:
        yield TeamStore(url, sessions, sync_team(sessions, make_account), url.partition(":")[0])
    finally:
        engine.dispose()


def recipients_csv(addresses: Iterator[str] | list[str] | tuple[str, ...]) -> str:
    """A recipients CSV with a personal note per recipient (no two bodies alike: not a bulk mailing)."""
    lines = ["email,first_name,note"]
    for n, addr in enumerate(addresses):
        lines.append(f"{addr},{_name(addr)},Your piece number {n} on repair cafes in town {n} stayed with me.")
    return "\n".join(lines) + "\n"


__all__ = [
    "ACQUAINTANCE",
    "DOMAIN",
    "NOBODY_KNOWS",
    "ONE_WAY",
    "PERSONAL_STRANGER",
    "TEAM",
    "TeamStore",
    "WARM",
    "address",
    "recipients_csv",
    "sync_team",
    "team_mail",
    "team_store_at",
]
