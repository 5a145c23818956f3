"""What a ledger is computed from: per contact, the messages they wrote and received, with their
direction per mailbox, their noise flags and the signals that count — read from the store in a few Core
queries for many contacts at once (see :class:`FactsLoader`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from outreach.ledger.model import LedgerPolicy
from outreach.mail.owners import name_key, owner_addresses, owner_name_keys
from outreach.store import IN_CHUNK, chunked
from outreach.store.models import (
    Contact,
    Folder,
    Mailbox,
    MailboxAddress,
    Message,
    MessageLocation,
    Participant,
    Signal,
)


class MessageFacts:
    """A message as the ledgers need it: its flags, its place in time and, per signal kind, the signal
    that counts (its sentence; None when the message has no such signal)."""

    __slots__ = (
        "id",
        "date",
        "subject",
        "thread_id",
        "noisy",
        "automated",
        "key",
        "direction",
        "locations",
        "iso",
        "offer",
        "thanks",
        "fulfilment",
        "refusal",
        "opt_out",
        "ask",
        "ask_score",
        "reply_enough",
        "our_ask",
        "personal_ask",
        "personal_score",
        "machine",
        "recipients",
        "quotes_owner",
        "quoted_date",
        "inferred",
    )

    def __init__(
        self,
        mid: int,
        date: datetime | None,
        subject: str,
        thread_id: int | None,
        noisy: bool,
        automated: bool,
        recipients: int = 1,
    ):
        self.id = mid
        self.date = date
        self.subject = subject
        self.thread_id = thread_id
        self.noisy = noisy  # bulk, list or automated
        self.automated = automated
        self.recipients = recipients
        # The mailboxes whose owner wrote the message this one quotes (a reply), and the quoted date.
        self.quotes_owner: frozenset[int] = _NO_MAILBOXES
        self.quoted_date: datetime | None = None
        self.inferred = False  # an outbound message of ours seen only through their reply quoting it
        self.key = (date.timestamp() if date is not None else 0.0, mid)  # time order (undated: 1970)
        # Team-wide and per mailbox (mailbox id, direction): "out" when a copy is in a Sent folder.
        self.direction = ""
        self.locations: tuple[tuple[int, str], ...] = ()
        self.iso: str | None = None  # the date in ISO format, once needed
        self.machine: MessageFacts | None = None  # this message from a machine sender: noisy and automated
        self.clear_signals()

    def clear_signals(self) -> None:
        """No signals (yet): see read_signals."""
        self.offer: str | None = None  # the first offer
        self.thanks: str | None = None  # the first thanks
        self.fulfilment: str | None = None  # the first fulfilment
        self.refusal: str | None = None  # the first opt-out signal (an opt-out or a decline)
        self.opt_out: str | None = None  # the first opt-out signal that is not a decline
        self.ask: str | None = None  # the clearest ask (highest score, the first of equals)
        self.ask_score = 0.0
        self.reply_enough = False  # an ask of a subtype in ``policy.reply_fulfils``
        self.our_ask: str | None = None  # the first ask or mass ask
        self.personal_ask: str | None = None  # the clearest personal ask
        self.personal_score = 0.0

    def date_json(self) -> str | None:
        if self.iso is None and self.date is not None:
            self.iso = self.date.isoformat()
        return self.iso

    def copy(self) -> MessageFacts:
        other = MessageFacts.__new__(MessageFacts)
        for name in MessageFacts.__slots__:
            setattr(other, name, getattr(self, name))
        return other

    def as_machine(self) -> MessageFacts:
        """The message as mail of a machine sender (noisy and automated whatever its headers say)."""
        if self.machine is None:
            copy = self.copy()
            copy.noisy = copy.automated = True
            copy.machine = None
            self.machine = copy
        return self.machine

    def quoted_original(self) -> MessageFacts:
        """Our message that this reply of theirs quotes, as an outbound message of ours: dated as quoted
        (just before the reply when the quote's date cannot be read or is not earlier), in the reply's
        thread, personal, without signals of its own.  Its id is the reply's: the evidence behind it."""
        original = self.copy()
        original.clear_signals()
        original.machine = None
        original.inferred = True
        original.noisy = original.automated = False
        original.recipients = 1
        when = self.quoted_date
        if when is None or (self.date is not None and when >= self.date):
            when = None if self.date is None else self.date - timedelta(seconds=1)
        original.date, original.iso = when, None
        original.key = (when.timestamp() if when is not None else 0.0, self.id)
        return original


@dataclass(slots=True)
class ContactMail:
    id: int
    address: str
    name: str | None
    domain: str
    wrote: list[int] = field(default_factory=list)  # messages they sent (role from)
    got: list[int] = field(default_factory=list)  # messages they received (role to, cc or bcc)


@dataclass(slots=True)
class Facts:
    contacts: dict[int, ContactMail]
    messages: dict[int, MessageFacts]
    mailbox_names: dict[int, str]


_NO_MAILBOXES: frozenset[int] = frozenset()
_ROLES = ("from", "to", "cc", "bcc")
# Signal kinds no figure reads (it reads ask, mass_ask, offer, thanks, fulfilment and opt_out): not even
# loaded.  (Not "kind IN (those)": SQLite would then look the signals up by kind, not by message.)
_UNREAD_KINDS = ("commitment",)
_DIRECTIONS = {"in": "in", "out": "out"}
CONTACT_CHUNK = 100  # contacts computed, then written (their rows deleted and inserted), at a time
# Participations (a contact in a message) whose facts one load holds, for several CONTACT_CHUNKs: bounds
# the memory of a refresh while the messages that contacts share are read once per load, not once per
# chunk.  A refresh runs in the process that holds the signals models when a sync refines (~230 MB):
# measured on 50k messages, 40,000 added 64 MB to that (323 MB, over the 300 MB a process may take),
# 10,000 adds 28 MB, for a full refresh 15 % slower (2.1 -> 2.5 s).
LOAD_PARTICIPATIONS = 10_000


class FactsLoader:
    """Reads the facts of groups of contacts, several groups per load: Core queries, their rows as the
    DBAPI returns them (see raw_rows), no ORM."""

    def __init__(self, session: Session, policy: LedgerPolicy):
        if session.autoflush:
            session.flush()
        self.conn = session.connection()
        self.reply_fulfils = frozenset(policy.reply_fulfils)
        self.own = set(self.conn.scalars(select(MailboxAddress.address)))
        self.names = {mid: name for mid, name in self.conn.execute(select(Mailbox.id, Mailbox.name))}
        # Our own addresses have no ledger, and they take part in every message: asking for their
        # messages would load the whole store.
        self.own_ids: set[int] = set()
        if self.own:
            self.own_ids = set(self.conn.scalars(select(Contact.id).where(Contact.address.in_(self.own))))
        # Per mailbox, its owner's addresses and names: a reply quoting them shows mail of ours we never stored.
        self.owners: list[tuple[int, frozenset[str], frozenset[frozenset[str]]]] = []
        for mailbox_id in self.names:
            owners = owner_addresses(session, mailbox_id)
            addresses = frozenset(o.address for o in owners)
            self.owners.append((mailbox_id, addresses, frozenset(owner_name_keys(owners))))
        self.quoting: dict[tuple[str | None, str | None], frozenset[int]] = {}

    def quoted_owners(self, name: str | None, address: str | None) -> frozenset[int]:
        """The mailboxes whose owner is the quoted author ``name``/``address`` (cached per author)."""
        found = self.quoting.get((name, address))
        if found is None:
            key = name_key(name)
            address = address.lower() if address else None
            found = frozenset(
                mailbox_id
                for mailbox_id, addresses, names in self.owners
                if (address is not None and address in addresses) or (len(key) >= 2 and key in names)
            )
            self.quoting[(name, address)] = found if found else _NO_MAILBOXES
        return found

    def all_contacts(self) -> list[int]:
        """Every contact that can have a ledger, in id order."""
        return [cid for cid in self.conn.scalars(select(Contact.id).order_by(Contact.id)) if cid not in self.own_ids]

    def loads(self, groups: Sequence[Sequence[int]]) -> Iterator[tuple[Facts, list[Sequence[int]]]]:
        """The facts of consecutive groups of contacts, with the groups they cover: as many groups per
        load as LOAD_PARTICIPATIONS allows (messages that contacts of different loads share are read
        once per load) and at most IN_CHUNK contacts, unless they are all the contacts of a range of
        ids (the common case of a refresh of everyone: a first sync, ``ledger rebuild``)."""
        wanted = sorted({cid for group in groups for cid in group if cid not in self.own_ids})
        weight: dict[int, int] = {}
        for chunk in chunked(wanted):
            for cid, count in self.conn.execute(
                select(Participant.contact_id, func.count())
                .where(Participant.contact_id.in_(chunk), Participant.role.in_(_ROLES))
                .group_by(Participant.contact_id)
            ):
                weight[cid] = count
        run = self._runs(wanted)
        batch: list[Sequence[int]] = []
        ids: list[int] = []
        cost = 0
        for group in groups:
            more = [cid for cid in group if cid in run]
            more_cost = sum(weight.get(cid, 0) for cid in more)
            if ids and more:
                dense = run[ids[0]] == run[more[-1]]
                if cost + more_cost > LOAD_PARTICIPATIONS or (len(ids) + len(more) > IN_CHUNK and not dense):
                    yield self.load(ids, run[ids[0]] == run[ids[-1]]), batch
                    batch, ids, cost = [], [], 0
            batch.append(group)
            ids += more
            cost += more_cost
        if batch:
            yield self.load(ids, bool(ids) and run[ids[0]] == run[ids[-1]]), batch

    def _runs(self, wanted: list[int]) -> dict[int, int]:
        """Per contact of ``wanted`` (sorted) the number of its run: wanted contacts that no other
        contact (but ours) separates in id order."""
        if len(wanted) <= IN_CHUNK:  # one IN list holds them all: no need for ranges
            return {cid: n for n, cid in enumerate(wanted)}
        wanted_set = set(wanted)
        run: dict[int, int] = {}
        n = 0
        previous_wanted = False
        for cid in self.conn.scalars(
            select(Contact.id).where(Contact.id.between(wanted[0], wanted[-1])).order_by(Contact.id)
        ):
            if cid in self.own_ids:
                continue
            if cid in wanted_set:
                n += 0 if previous_wanted else 1
                run[cid] = n
                previous_wanted = True
            else:
                previous_wanted = False
        return run

    def load(self, contact_ids: Sequence[int], dense: bool = False) -> Facts:
        """Everything the ledgers of ``contact_ids`` (sorted) need, in four queries; ``dense``: they are
        all the contacts (but ours) with ids from the first to the last (one range, not an IN list)."""
        wanted = [cid for cid in contact_ids if cid not in self.own_ids]
        if not wanted:
            return Facts({}, {}, self.names)

        def among(column: InstrumentedAttribute[int]) -> ColumnElement[bool]:
            """``column`` (a contact id) is one of ``wanted``."""
            if not dense:
                return column.in_(wanted)
            lo, hi = wanted[0], wanted[-1]
            ours = [cid for cid in self.own_ids if lo <= cid <= hi]
            return and_(column.between(lo, hi), column.not_in(ours)) if ours else column.between(lo, hi)

        their_messages = select(Participant.message_id).where(
            among(Participant.contact_id), Participant.role.in_(_ROLES)
        )
        contacts = self._contacts(among)
        messages = self._messages(their_messages)
        self._signals(messages, their_messages)
        return Facts(contacts, messages, self.names)

    def _contacts(self, among: Callable[[InstrumentedAttribute[int]], ColumnElement[bool]]) -> dict[int, ContactMail]:
        """The contacts ``among`` selects, with the messages each wrote and received."""
        contacts = {
            cid: ContactMail(cid, address, name, domain)
            for cid, address, name, domain in self.conn.execute(
                select(Contact.id, Contact.address, Contact.display_name, Contact.domain).where(among(Contact.id))
            )
            if address not in self.own
        }
        query: Select[Any] = select(Participant.contact_id, Participant.message_id, Participant.role).where(
            among(Participant.contact_id), Participant.role.in_(_ROLES)
        )
        for rows in raw_rows(self.conn, query):
            for cid, mid, role in rows:
                contact = contacts.get(cid)
                if contact is not None:
                    (contact.wrote if role == "from" else contact.got).append(mid)
        return contacts

    def _messages(self, their_messages: Select[Any]) -> dict[int, MessageFacts]:
        """The messages with their copies (a message without one counts nowhere), the direction of each
        team-wide and per mailbox ("out" when any copy is ours), and whose mail a reply quotes."""
        conn = self.conn
        date_type = Message.__table__.c.date.type
        to_date = date_type.dialect_impl(conn.dialect).result_processor(conn.dialect, None)
        messages: dict[int, MessageFacts] = {}
        per_mailbox: dict[MessageFacts, dict[int, str]] = {}
        query = (
            select(
                Message.id,
                Message.date,
                Message.subject,
                Message.thread_id,
                Message.is_bulk | Message.is_list | Message.is_automated,
                Message.is_automated,
                Message.recipient_count,
                Message.quoted_name,
                Message.quoted_address,
                Message.quoted_date,
                Folder.mailbox_id,
                MessageLocation.direction,
            )
            .join(MessageLocation, MessageLocation.message_id == Message.id)
            .join(Folder, Folder.id == MessageLocation.folder_id)
            .where(Message.id.in_(their_messages))
        )
        for rows in raw_rows(conn, query):
            for row in rows:
                mid, date, subject, tid, noisy, automated, recipients, q_name, q_address, q_date = row[:10]
                mailbox_id, direction = row[10], row[11]
                msg = messages.get(mid)
                if msg is None:
                    if to_date is not None:
                        date = to_date(date)
                    msg = MessageFacts(mid, date, subject or "", tid, bool(noisy), bool(automated), recipients or 0)
                    if q_name is not None or q_address is not None:
                        msg.quotes_owner = self.quoted_owners(q_name, q_address)
                        if msg.quotes_owner and q_date is not None:
                            msg.quoted_date = to_date(q_date) if to_date is not None else q_date
                    messages[mid] = msg
                    per_mailbox[msg] = slot = {}
                else:
                    slot = per_mailbox[msg]
                direction = _DIRECTIONS.get(direction, direction)  # one str object per direction
                if msg.direction != "out":
                    msg.direction = direction
                if slot.get(mailbox_id) != "out":
                    slot[mailbox_id] = direction
        # As tuples, one object per distinct value (most messages have one copy: a few values in all).
        shared: dict[tuple[tuple[int, str], ...], tuple[tuple[int, str], ...]] = {}
        for msg, slot in per_mailbox.items():
            pairs = tuple(slot.items())
            msg.locations = shared.setdefault(pairs, pairs)
        return messages

    def _signals(self, messages: dict[int, MessageFacts], their_messages: Select[Any]) -> None:
        """Per message, the signal of each kind that counts.  The index gives the signals of a message in
        id order, which is their text order as the signals pipeline stores them; a message whose signals
        are not is read again, sorted."""
        conn, reply_fulfils = self.conn, self.reply_fulfils
        columns = (Signal.message_id, Signal.kind, Signal.subtype, Signal.personal, Signal.sentence, Signal.score)
        query = (
            select(*columns, Signal.start)
            .where(Signal.message_id.in_(their_messages), Signal.kind.not_in(_UNREAD_KINDS))
            .order_by(Signal.message_id, Signal.id)
        )
        disordered = read_signals(messages, raw_rows(conn, query), reply_fulfils)
        for chunk in chunked(sorted(disordered)):
            for mid in chunk:
                messages[mid].clear_signals()
            query = (
                select(*columns, Signal.start)
                .where(Signal.message_id.in_(chunk), Signal.kind.not_in(_UNREAD_KINDS))
                .order_by(Signal.message_id, Signal.start, Signal.id)
            )
            read_signals(messages, raw_rows(conn, query), reply_fulfils)


def read_signals(
    messages: dict[int, MessageFacts], batches: Iterable[Sequence[Any]], reply_fulfils: frozenset[str]
) -> set[int]:
    """Account for the signals of ``messages`` (rows of message id, kind, subtype, personal, sentence,
    score and start, by message): per message in text order, by start then id.  The messages whose
    rows came in another order (their summary is then wrong: clear it and read them again sorted)."""
    disordered: set[int] = set()
    msg: MessageFacts | None = None
    current = last_start = -1
    for rows in batches:
        for mid, kind, subtype, personal, sentence, score, start in rows:
            if mid != current:
                current, last_start = mid, start
                msg = messages.get(mid)
            elif start < last_start:
                disordered.add(mid)
            else:
                last_start = start
            if msg is None:
                continue
            if kind == "ask":
                score = float(score)
                if msg.ask is None or score > msg.ask_score:  # as max(): the first of equals
                    msg.ask, msg.ask_score = sentence, score
                if subtype in reply_fulfils:
                    msg.reply_enough = True
                if personal and (msg.personal_ask is None or score > msg.personal_score):
                    msg.personal_ask, msg.personal_score = sentence, score
                if msg.our_ask is None:
                    msg.our_ask = sentence
            elif kind == "mass_ask":
                if msg.our_ask is None:
                    msg.our_ask = sentence
            elif kind == "offer":
                if msg.offer is None:
                    msg.offer = sentence
            elif kind == "thanks":
                if msg.thanks is None:
                    msg.thanks = sentence
            elif kind == "fulfilment":
                if msg.fulfilment is None:
                    msg.fulfilment = sentence
            elif kind == "opt_out":
                if msg.refusal is None:
                    msg.refusal = sentence
                if subtype != "decline" and msg.opt_out is None:
                    msg.opt_out = sentence
    return disordered


def raw_rows(conn: Connection, query: Select[Any]) -> Iterator[Sequence[Any]]:
    """The rows of ``query`` in batches, as the DBAPI cursor returns them: no SQLAlchemy row objects
    and no type processing (a refresh reads about a million rows of numbers and strings)."""
    result = conn.execute(query)
    try:
        cursor = result.cursor
        while rows := cursor.fetchmany(5000):
            yield rows
    finally:
        result.close()


