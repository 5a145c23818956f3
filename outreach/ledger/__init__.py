"""The relationship ledger of each contact: what campaigns read to decide whether we may ask.

Contract (shared by the signals/ledger code that writes it and the campaign code that reads it): one
:class:`Ledger` per (contact, scope), scope ``"*"`` for the whole team or a mailbox name, stored in the
``contact_ledger`` table with every figure and its evidence in ``data`` (see :meth:`Ledger.to_json`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, delete, func, insert, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from outreach.errors import ConfigError
from outreach.gcpause import collector_paused
from outreach.store import IN_CHUNK, chunked
from outreach.store.models import (
    Contact,
    ContactLedger,
    Folder,
    Mailbox,
    MailboxAddress,
    Message,
    MessageLocation,
    Participant,
    Signal,
    utcnow,
)

TEAM_SCOPE = "*"
TIERS = ("none", "one-way", "acquaintance", "warm", "strong")


@dataclass(frozen=True, slots=True)
class EvidenceLine:
    """A message behind a figure, with the sentence that produced the signal when there is one."""

    message_id: int
    date: datetime | None
    direction: str  # "out" | "in"
    subject: str
    sentence: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _line_json(
            self.message_id, self.date.isoformat() if self.date else None, self.direction, self.subject, self.sentence
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvidenceLine:
        return cls(
            message_id=int(data["message_id"]),
            date=_date(data.get("date")),
            direction=str(data.get("direction", "")),
            subject=str(data.get("subject", "")),
            sentence=data.get("sentence"),
        )


def _line_json(
    message_id: int, date: str | None, direction: str, subject: str, sentence: str | None
) -> dict[str, Any]:
    """The JSON of an evidence line (``date`` in ISO format): :meth:`EvidenceLine.to_json`."""
    return {"message_id": message_id, "date": date, "direction": direction, "subject": subject, "sentence": sentence}


@dataclass(frozen=True, slots=True)
class LastAsk:
    """Our most recent ask to this contact and whether they answered it."""

    evidence: EvidenceLine
    answered: bool


_DATE_FIELDS = ("first_sent", "last_sent", "first_received", "last_received", "first_two_way", "last_two_way")


@dataclass(slots=True)
class Ledger:
    address: str
    scope: str = TEAM_SCOPE
    name: str | None = None
    domain: str = ""
    first_sent: datetime | None = None
    last_sent: datetime | None = None
    first_received: datetime | None = None
    last_received: datetime | None = None
    first_two_way: datetime | None = None
    last_two_way: datetime | None = None
    sent: int = 0
    received: int = 0
    personal_received: int = 0  # received minus bulk/list/automated
    two_way_threads: int = 0
    unanswered_outbound: int = 0
    reply_rate: float | None = None
    asks_by_us: int = 0
    asks_by_them: int = 0
    offers_by_us: int = 0
    offers_by_them: int = 0
    thanks_received: int = 0
    thanks_given: int = 0
    their_asks_fulfilled: int = 0  # their asks we delivered on
    our_asks_fulfilled: int = 0  # our asks they delivered on
    opt_outs: int = 0
    declines: int = 0  # "not interested", "I'll have to decline": a no to one ask, not to all mail
    balance: float = 0.0  # help given and their asks honoured minus our asks, time-decayed
    strength: int = 0  # 0-100
    strength_parts: dict[str, float] = field(default_factory=dict)  # recency, frequency, two_way, reciprocity
    tier: str = "none"
    last_ask_by_us: LastAsk | None = None
    # figure name (e.g. "asks_by_us", "opt_outs", "two_way_threads") -> the messages behind it
    evidence: dict[str, list[EvidenceLine]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _DATE_FIELDS:
                data[f.name] = value.isoformat() if value else None
            elif f.name == "evidence":
                data[f.name] = {k: [e.to_json() for e in v] for k, v in value.items()}
            elif f.name == "last_ask_by_us":
                data[f.name] = (
                    None if value is None else {**value.evidence.to_json(), "answered": value.answered}
                )
            else:
                data[f.name] = value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ledger:
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        for key in _DATE_FIELDS:
            kwargs[key] = _date(data.get(key))
        kwargs["evidence"] = {
            k: [EvidenceLine.from_json(e) for e in v] for k, v in (data.get("evidence") or {}).items()
        }
        last = data.get("last_ask_by_us")
        kwargs["last_ask_by_us"] = (
            None if not last else LastAsk(EvidenceLine.from_json(last), bool(last.get("answered")))
        )
        kwargs["strength_parts"] = dict(data.get("strength_parts") or {})
        return cls(**kwargs)

    @classmethod
    def unknown(cls, address: str, scope: str = TEAM_SCOPE) -> Ledger:
        """The ledger of an address we never exchanged mail with: tier ``none``."""
        return cls(address=address.lower(), scope=scope, domain=address.rpartition("@")[2].lower())


def _date(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def load_ledgers(session: Session, addresses: Iterable[str], scope: str = TEAM_SCOPE) -> dict[str, Ledger]:
    """Stored ledgers for ``addresses`` (lower-cased); an address without one gets :meth:`Ledger.unknown`."""
    wanted = list(dict.fromkeys(a.strip().lower() for a in addresses))
    found: dict[str, Ledger] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = session.execute(
            select(Contact.address, ContactLedger.data)
            .join(ContactLedger, ContactLedger.contact_id == Contact.id)
            .where(Contact.address.in_(chunk), ContactLedger.scope == scope)
        )
        for address, data in rows:
            found[address] = Ledger.from_json(data)
    return {a: found.get(a) or Ledger.unknown(a, scope) for a in wanted}


def ledger_row_values(ledger: Ledger) -> dict[str, Any]:
    """Column values of a ``contact_ledger`` row for ``ledger`` (without contact_id)."""
    return {
        "scope": ledger.scope,
        "tier": ledger.tier,
        "strength": ledger.strength,
        "balance": ledger.balance,
        "last_two_way": ledger.last_two_way,
        "data": ledger.to_json(),
    }


# =============================================================================================== policy


@dataclass(frozen=True, slots=True)
class LedgerPolicy:
    """How figures become a balance, a strength and a tier: the ``[ledger]`` table of the config file.

    Defaults (documented in the README too):

    * balance: each of our asks -1 (a generic call to action, a mass ask or any ask in a bulk message of
      ours -0.5), each of their asks we fulfilled +1, each unprompted fulfilment of ours (attachment,
      intro, "as promised") +1, each offer of help by us +0.5 — fulfilments and offers in our bulk
      messages count nothing (a broadcast is no favour); every item decays with a half-life of
      ``balance_half_life_days`` = 365.
    * strength (0-100) = recency (25: half-life ``recency_half_life_days`` = 180 days since the last
      two-way exchange) + frequency (20: messages in two-way threads, full at 40) + two_way (40:
      two-way threads, full at 10) + reciprocity (15: positive balance, full at 3).
    * tier: ``none`` no mail at all; ``one-way`` mail but no two-way thread (they never answered us,
      we never answered them, or they only sent bulk/automated mail); ``acquaintance`` at least one
      two-way thread; ``warm`` strength >= 40 and >= 2 two-way threads; ``strong`` strength >= 70
      and >= 5 two-way threads.
    * ``last_ask_by_us`` is our latest personal ask in a message that is not bulk.
    * an ask counts as fulfilled by a later message of the other side in the same thread that
      carries a fulfilment signal, or — for asks of a subtype in ``reply_fulfils`` (reply,
      information, review, meet) — by any later personal reply that is not a decline.
    """

    balance_half_life_days: float = 365.0
    recency_half_life_days: float = 180.0
    ask_weight: float = 1.0
    generic_ask_weight: float = 0.5
    help_weight: float = 1.0
    honoured_weight: float = 1.0
    offer_weight: float = 0.5
    recency_points: float = 25.0
    frequency_points: float = 20.0
    two_way_points: float = 40.0
    reciprocity_points: float = 15.0
    frequency_saturation: int = 40
    two_way_saturation: int = 10
    reciprocity_saturation: float = 3.0
    acquaintance_min_two_way: int = 1
    warm_min_strength: int = 40
    warm_min_two_way: int = 2
    strong_min_strength: int = 70
    strong_min_two_way: int = 5
    reply_fulfils: tuple[str, ...] = ("reply", "information", "review", "meet")
    evidence_limit: int = 10
    as_of: datetime | None = None  # the "now" of decay; None: the time of computing

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], origin: str = "[ledger]") -> LedgerPolicy:
        """A policy from a config table; unknown keys and wrong types are errors naming the key."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in data.items():
            name = key.replace("-", "_")
            if name not in known:
                raise ConfigError(f"{origin}: unknown key {key!r} (known: {', '.join(sorted(known))})")
            default = getattr(cls(), name)
            try:
                if name == "as_of":
                    values[name] = _aware(
                        raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
                    )
                elif name == "reply_fulfils":
                    if isinstance(raw, str) or not isinstance(raw, Sequence):
                        raise TypeError("a list of ask subtypes")
                    values[name] = tuple(str(v) for v in raw)
                elif isinstance(default, bool) or isinstance(raw, bool):
                    raise TypeError("a number")
                elif isinstance(default, int):
                    if isinstance(raw, float) and not raw.is_integer():
                        raise TypeError("a whole number")
                    values[name] = int(raw)
                else:
                    values[name] = float(raw)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{origin}: {key} = {raw!r} is not valid ({exc})") from exc
        policy = cls(**values)
        if policy.balance_half_life_days <= 0 or policy.recency_half_life_days <= 0:
            raise ConfigError(f"{origin}: half-lives must be positive")
        if not 0 <= policy.warm_min_strength <= policy.strong_min_strength <= 100:
            raise ConfigError(f"{origin}: need 0 <= warm_min_strength <= strong_min_strength <= 100")
        return policy

    def now(self) -> datetime:
        return self.as_of or datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# =============================================================================================== facts


class _Msg:
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
    )

    def __init__(
        self, mid: int, date: datetime | None, subject: str, thread_id: int | None, noisy: bool, automated: bool
    ):
        self.id = mid
        self.date = date
        self.subject = subject
        self.thread_id = thread_id
        self.noisy = noisy  # bulk, list or automated
        self.automated = automated
        self.key = (date.timestamp() if date is not None else 0.0, mid)  # time order (undated: 1970)
        # Team-wide and per mailbox (mailbox id, direction): "out" when a copy is in a Sent folder.
        self.direction = ""
        self.locations: tuple[tuple[int, str], ...] = ()
        self.iso: str | None = None  # the date in ISO format, once needed
        self.machine: _Msg | None = None  # this message from a machine sender: noisy and automated
        self.clear_signals()

    def clear_signals(self) -> None:
        """No signals (yet): see _read_signals."""
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

    def as_machine(self) -> _Msg:
        """The message as mail of a machine sender (noisy and automated whatever its headers say)."""
        if self.machine is None:
            copy = _Msg.__new__(_Msg)
            for name in _Msg.__slots__:
                setattr(copy, name, getattr(self, name))
            copy.noisy = copy.automated = True
            copy.machine = None
            self.machine = copy
        return self.machine


@dataclass(slots=True)
class _Contact:
    id: int
    address: str
    name: str | None
    domain: str
    wrote: list[int] = field(default_factory=list)  # messages they sent (role from)
    got: list[int] = field(default_factory=list)  # messages they received (role to, cc or bcc)


@dataclass(slots=True)
class _Facts:
    contacts: dict[int, _Contact]
    messages: dict[int, _Msg]
    mailbox_names: dict[int, str]


_ROLES = ("from", "to", "cc", "bcc")
# Signal kinds no figure reads (it reads ask, mass_ask, offer, thanks, fulfilment and opt_out): not even
# loaded.  (Not "kind IN (those)": SQLite would then look the signals up by kind, not by message.)
_UNREAD_KINDS = ("commitment",)
_DIRECTIONS = {"in": "in", "out": "out"}
CONTACT_CHUNK = 100  # contacts computed, then written (their rows deleted and inserted), at a time
# Participations (a contact in a message) whose facts one load holds, for several CONTACT_CHUNKs: bounds
# the memory of a refresh (about 1 KB per message: some 40 MB) while the messages that contacts share
# are read once per load, not once per chunk.
LOAD_PARTICIPATIONS = 40_000


class _Loader:
    """Reads the facts of groups of contacts, several groups per load: Core queries, their rows as the
    DBAPI returns them (see _raw_rows), no ORM."""

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

    def all_contacts(self) -> list[int]:
        """Every contact that can have a ledger, in id order."""
        return [cid for cid in self.conn.scalars(select(Contact.id).order_by(Contact.id)) if cid not in self.own_ids]

    def loads(self, groups: Sequence[Sequence[int]]) -> Iterator[tuple[_Facts, list[Sequence[int]]]]:
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

    def load(self, contact_ids: Sequence[int], dense: bool = False) -> _Facts:
        """Everything the ledgers of ``contact_ids`` (sorted) need, in four queries; ``dense``: they are
        all the contacts (but ours) with ids from the first to the last (one range, not an IN list)."""
        conn, reply_fulfils = self.conn, self.reply_fulfils
        wanted = [cid for cid in contact_ids if cid not in self.own_ids]
        if not wanted:
            return _Facts({}, {}, self.names)

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
        contacts = {
            cid: _Contact(cid, address, name, domain)
            for cid, address, name, domain in conn.execute(
                select(Contact.id, Contact.address, Contact.display_name, Contact.domain).where(among(Contact.id))
            )
            if address not in self.own
        }
        query: Select[Any] = select(Participant.contact_id, Participant.message_id, Participant.role).where(
            among(Participant.contact_id), Participant.role.in_(_ROLES)
        )
        for rows in _raw_rows(conn, query):
            for cid, mid, role in rows:
                contact = contacts.get(cid)
                if contact is not None:
                    (contact.wrote if role == "from" else contact.got).append(mid)
        # The messages with their copies (a message without one counts nowhere), and the direction of
        # each team-wide and per mailbox: "out" when any copy is in a Sent folder.
        date_type = Message.__table__.c.date.type
        to_date = date_type.dialect_impl(conn.dialect).result_processor(conn.dialect, None)
        messages: dict[int, _Msg] = {}
        per_mailbox: dict[_Msg, dict[int, str]] = {}
        query = (
            select(
                Message.id,
                Message.date,
                Message.subject,
                Message.thread_id,
                Message.is_bulk | Message.is_list | Message.is_automated,
                Message.is_automated,
                Folder.mailbox_id,
                MessageLocation.direction,
            )
            .join(MessageLocation, MessageLocation.message_id == Message.id)
            .join(Folder, Folder.id == MessageLocation.folder_id)
            .where(Message.id.in_(their_messages))
        )
        for rows in _raw_rows(conn, query):
            for mid, date, subject, tid, noisy, automated, mailbox_id, direction in rows:
                msg = messages.get(mid)
                if msg is None:
                    if to_date is not None:
                        date = to_date(date)
                    messages[mid] = msg = _Msg(mid, date, subject or "", tid, bool(noisy), bool(automated))
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
        del per_mailbox
        # Per message, the signal of each kind that counts.  The index gives the signals of a message in
        # id order, which is their text order as the signals pipeline stores them; a message whose
        # signals are not is read again, sorted.
        columns = (Signal.message_id, Signal.kind, Signal.subtype, Signal.personal, Signal.sentence, Signal.score)
        query = (
            select(*columns, Signal.start)
            .where(Signal.message_id.in_(their_messages), Signal.kind.not_in(_UNREAD_KINDS))
            .order_by(Signal.message_id, Signal.id)
        )
        disordered = _read_signals(messages, _raw_rows(conn, query), reply_fulfils)
        for chunk in chunked(sorted(disordered)):
            for mid in chunk:
                messages[mid].clear_signals()
            query = (
                select(*columns, Signal.start)
                .where(Signal.message_id.in_(chunk), Signal.kind.not_in(_UNREAD_KINDS))
                .order_by(Signal.message_id, Signal.start, Signal.id)
            )
            _read_signals(messages, _raw_rows(conn, query), reply_fulfils)
        return _Facts(contacts, messages, self.names)


def _read_signals(
    messages: dict[int, _Msg], batches: Iterable[Sequence[Any]], reply_fulfils: frozenset[str]
) -> set[int]:
    """Account for the signals of ``messages`` (rows of message id, kind, subtype, personal, sentence,
    score and start, by message): per message in text order, by start then id.  The messages whose
    rows came in another order (their summary is then wrong: clear it and read them again sorted)."""
    disordered: set[int] = set()
    msg: _Msg | None = None
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


def _raw_rows(conn: Connection, query: Select[Any]) -> Iterator[Sequence[Any]]:
    """The rows of ``query`` in batches, as the DBAPI cursor returns them: no SQLAlchemy row objects
    and no type processing (a refresh reads about a million rows of numbers and strings)."""
    result = conn.execute(query)
    try:
        cursor = result.cursor
        while rows := cursor.fetchmany(5000):
            yield rows
    finally:
        result.close()


# =============================================================================================== computing


class _Event:
    """A message of one contact in one scope: "out" we wrote to them, "in" they wrote to us."""

    __slots__ = ("msg", "direction", "at", "prev_in", "later_in")

    def __init__(self, msg: _Msg, direction: str):
        self.msg = msg
        self.direction = direction
        # In the personal exchange of its thread (see _Builder.build): its position (-1: not part of
        # one), and whether the message before it and any message after it are theirs.
        self.at = -1
        self.prev_in = False
        self.later_in = False


def _event_key(event: _Event) -> tuple[float, int]:
    return event.msg.key


def _line_key(line: tuple[_Event, str | None]) -> tuple[float, int]:
    return line[0].msg.key


# Figures whose lines are not added in time order (every other figure's are): sorted before the cap.
# They come in pairs (ask + delivery) or mix several kinds, so they keep twice as many lines.
_PAIRED_FIGURES = frozenset(("balance", "their_asks_fulfilled", "our_asks_fulfilled"))


class _Builder:
    """Computes one ledger from one contact's messages in one scope."""

    def __init__(
        self, contact: _Contact, scope: str, events: list[_Event], policy: LedgerPolicy, now: datetime
    ):
        self.policy = policy
        self.now = now
        self.limit = max(1, policy.evidence_limit)
        events.sort(key=_event_key)
        self.events = events
        self.ledger = Ledger(address=contact.address, scope=scope, name=contact.name, domain=contact.domain)
        # figure -> (event, sentence) of its lines, in the order figures first got one
        self.evidence: dict[str, list[tuple[_Event, str | None]]] = {}
        # thread id -> the personal exchange with this contact in it, message by message in time order
        self.by_thread: dict[int, list[_Event]] = {}

    def add(self, figure: str, event: _Event, sentence: str | None = None) -> None:
        lines = self.evidence.get(figure)
        if lines is None:
            self.evidence[figure] = [(event, sentence)]
        else:
            lines.append((event, sentence))

    def decay(self, when: datetime | None, half_life: float) -> float:
        if when is None:
            return 0.0
        age = max(0.0, (self.now - when).total_seconds() / 86400.0)
        return float(0.5 ** (age / half_life))

    def build(self) -> Ledger:
        """The figures, balance, strength and tier; the evidence is :meth:`lines` or :meth:`json_lines`."""
        led, limit, by_thread = self.ledger, self.limit, self.by_thread
        sent: list[_Event] = []
        received: list[_Event] = []
        personal: list[_Event] = []
        for e in self.events:
            if e.direction == "out":
                sent.append(e)
            elif e.direction == "in":
                received.append(e)
                if e.msg.noisy:
                    continue
                personal.append(e)
            else:
                continue
            tid = e.msg.thread_id
            if tid is not None:
                thread = by_thread.get(tid)
                if thread is None:
                    by_thread[tid] = [e]
                    e.at = 0
                else:
                    e.at = len(thread)
                    e.prev_in = thread[-1].direction == "in"
                    thread.append(e)
        led.sent, led.received, led.personal_received = len(sent), len(received), len(personal)
        self._dates("sent", sent)
        self._dates("received", received)
        if sent:
            self.evidence["sent"] = [(e, None) for e in sent[-limit:]]
        if received:
            self.evidence["received"] = [(e, None) for e in received[-limit:]]

        replies: list[_Event] = []
        two_way = exchanged = 0
        for items in by_thread.values():
            later_in = False
            for e in reversed(items):
                e.later_in = later_in
                if e.direction == "in":
                    later_in = True
            before = len(replies)
            direction = items[0].direction
            for e in items:
                if e.direction != direction:  # a reply: the other side wrote after this side
                    replies.append(e)
                    direction = e.direction
            if len(replies) > before:  # both sides wrote
                two_way += 1
                exchanged += len(items)
        replies.sort(key=_event_key)
        led.two_way_threads = two_way
        if replies:
            self.evidence["two_way_threads"] = [(e, None) for e in replies[-limit:]]
        dated = [e for e in replies if e.msg.date is not None]
        if dated:
            led.first_two_way, led.last_two_way = dated[0].msg.date, dated[-1].msg.date
            self.add("first_two_way", dated[0])
            self.add("last_two_way", dated[-1])

        # Our messages that wanted an answer (not themselves replies to them) and whether they got one.
        answered = unanswered = 0
        for e in sent:
            if e.at < 0:
                unanswered += 1
                self.add("unanswered_outbound", e)
            elif e.prev_in:
                continue  # a reply of ours: it answered them, it waits for nothing
            elif e.later_in:
                answered += 1
            else:
                unanswered += 1
                self.add("unanswered_outbound", e)
        led.unanswered_outbound = unanswered
        led.reply_rate = round(answered / (answered + unanswered), 3) if answered + unanswered else None

        self._signals(sent, personal, received)
        self._strength(exchanged)
        return led

    def _dates(self, what: str, events: list[_Event]) -> None:
        dated = [e for e in events if e.msg.date is not None]
        if not dated:
            return
        setattr(self.ledger, f"first_{what}", dated[0].msg.date)
        setattr(self.ledger, f"last_{what}", dated[-1].msg.date)
        self.add(f"first_{what}", dated[0])
        self.add(f"last_{what}", dated[-1])

    def _capped(self) -> Iterator[tuple[str, list[tuple[_Event, str | None]]]]:
        """Per figure its most recent lines, oldest first (equal times: in the order they were added)."""
        limit = self.limit
        for figure, lines in self.evidence.items():
            if figure in _PAIRED_FIGURES:
                yield figure, sorted(lines, key=_line_key)[-2 * limit :]
            else:
                yield figure, lines[-limit:]

    def lines(self) -> dict[str, list[EvidenceLine]]:
        return {
            figure: [EvidenceLine(e.msg.id, e.msg.date, e.direction, e.msg.subject, s) for e, s in lines]
            for figure, lines in self._capped()
        }

    def json_lines(self) -> dict[str, list[dict[str, Any]]]:
        """:meth:`lines` as :meth:`Ledger.to_json` writes them."""
        return {
            figure: [_line_json(e.msg.id, e.msg.date_json(), e.direction, e.msg.subject, s) for e, s in lines]
            for figure, lines in self._capped()
        }

    def _signals(self, sent: list[_Event], personal: list[_Event], received: list[_Event]) -> None:
        led, policy = self.ledger, self.policy
        half = policy.balance_half_life_days
        balance = 0.0
        for e in received:
            msg = e.msg
            if msg.automated or msg.refusal is None:
                continue
            if msg.opt_out is not None:
                led.opt_outs += 1
                self.add("opt_outs", e, msg.opt_out)
            else:
                led.declines += 1
                self.add("declines", e, msg.refusal)
        for e in personal:
            if e.msg.offer is not None:
                led.offers_by_them += 1
                self.add("offers_by_them", e, e.msg.offer)
        for e in personal:
            if e.msg.thanks is not None:
                led.thanks_received += 1
                self.add("thanks_received", e, e.msg.thanks)
        for e in sent:
            msg = e.msg
            if msg.offer is not None:
                led.offers_by_us += 1
                self.add("offers_by_us", e, msg.offer)
                if not msg.noisy:  # a broadcast offer is no favour
                    weight = policy.offer_weight * self.decay(msg.date, half)
                    balance += weight
                    self.add("balance", e, msg.offer)
        for e in sent:
            if e.msg.thanks is not None:
                led.thanks_given += 1
                self.add("thanks_given", e, e.msg.thanks)

        # Their asks, and whether a later message of ours in the thread delivered.
        used_as_fulfilment: set[int] = set()
        for e in personal:
            ask = e.msg.ask
            if ask is None:
                continue
            led.asks_by_them += 1
            self.add("asks_by_them", e, ask)
            done = self._fulfilled_by(e, "out")
            if done is not None:
                led.their_asks_fulfilled += 1
                used_as_fulfilment.add(done[0].msg.id)
                self.add("their_asks_fulfilled", e, ask)
                self.add("their_asks_fulfilled", done[0], done[1])
                balance += policy.honoured_weight * self.decay(done[0].msg.date, half)
                self.add("balance", done[0], done[1])
        for e in sent:
            msg = e.msg
            help_given = msg.fulfilment
            if help_given is not None and msg.id not in used_as_fulfilment and not msg.noisy:
                balance += policy.help_weight * self.decay(msg.date, half)
                self.add("balance", e, help_given)

        # Our asks: each one costs, and did they deliver?
        last_ask: tuple[_Event, str] | None = None
        for e in sent:
            msg = e.msg
            first_ask = msg.our_ask
            if first_ask is None:
                continue
            # the clearest ask of the message is its evidence ("Please set up …" over "Let me know if …")
            personal_ask = msg.personal_ask
            shown = personal_ask if personal_ask is not None else first_ask
            led.asks_by_us += 1
            self.add("asks_by_us", e, shown)
            # a generic call to action, or any ask in a broadcast (bulk) message of ours, costs less
            personal_weight = personal_ask is not None and not msg.noisy
            weight = policy.ask_weight if personal_weight else policy.generic_ask_weight
            balance -= weight * self.decay(msg.date, half)
            self.add("balance", e, shown)
            done = self._fulfilled_by(e, "in")
            if done is not None:
                led.our_asks_fulfilled += 1
                self.add("our_asks_fulfilled", e, shown)
                self.add("our_asks_fulfilled", done[0], done[1])
            if personal_weight:
                # "did they answer our last ask" is asked of personal asks: nobody answers a memo to all staff
                last_ask = (e, shown)
        if last_ask is not None:
            e, shown = last_ask
            led.last_ask_by_us = LastAsk(
                EvidenceLine(e.msg.id, e.msg.date, e.direction, e.msg.subject, shown), e.later_in
            )
        led.balance = round(balance, 2)

    def _fulfilled_by(self, ask: _Event, side: str) -> tuple[_Event, str | None] | None:
        """The first later message of ``side`` in the ask's thread that delivered, with its sentence."""
        if ask.at < 0 or ask.msg.thread_id is None:
            return None
        thread = self.by_thread[ask.msg.thread_id]
        reply_is_enough = ask.msg.reply_enough
        for at in range(ask.at + 1, len(thread)):
            later = thread[at]
            if later.direction != side:
                continue
            found = later.msg.fulfilment
            if found is not None:
                return later, found
            if reply_is_enough and later.msg.refusal is None:
                return later, None
        return None

    def _strength(self, exchanged: int) -> None:
        led, policy = self.ledger, self.policy
        recency = 0.0
        if led.last_two_way is not None:
            recency = policy.recency_points * self.decay(led.last_two_way, policy.recency_half_life_days)
        frequency = policy.frequency_points * _saturate(exchanged, policy.frequency_saturation)
        two_way = policy.two_way_points * _saturate(led.two_way_threads, policy.two_way_saturation)
        reciprocity = 0.0
        if policy.reciprocity_saturation > 0:
            reciprocity = policy.reciprocity_points * min(
                1.0, max(0.0, led.balance) / policy.reciprocity_saturation
            )
        parts = {"recency": recency, "frequency": frequency, "two_way": two_way, "reciprocity": reciprocity}
        led.strength_parts = {k: round(v, 1) for k, v in parts.items()}
        led.strength = max(0, min(100, round(sum(parts.values()))))
        if led.sent == 0 and led.received == 0:
            led.tier = "none"
        elif led.two_way_threads < max(1, policy.acquaintance_min_two_way):
            led.tier = "one-way"
        elif led.strength >= policy.strong_min_strength and led.two_way_threads >= policy.strong_min_two_way:
            led.tier = "strong"
        elif led.strength >= policy.warm_min_strength and led.two_way_threads >= policy.warm_min_two_way:
            led.tier = "warm"
        else:
            led.tier = "acquaintance"


def _saturate(count: int, full_at: int) -> float:
    """0 for none, 1 from ``full_at`` on, logarithmic in between (the first exchanges count most)."""
    if count <= 0:
        return 0.0
    return min(1.0, math.log1p(count) / math.log1p(max(1, full_at)))


# Local parts of addresses that only ever send machine mail.  Archives without list headers (Enron's
# newsletters, ticket systems) are not flagged bulk by the parser; their senders still never answer.
_MACHINE_SENDER_RE = re.compile(
    r"^(?:no[-._]?reply|do[-._]?not[-._]?reply|no\.address|mailer[-._]daemon|postmaster|bounces?|webmaster"
    r"|newsletters?|announcements?|notifications?|alerts?|arsystem|listserv|majordomo|mailman)(?:[-._+].*)?$"
)


def is_machine_sender(address: str) -> bool:
    """An address whose mail is automated whatever its headers say (noreply@, webmaster@, …)."""
    return _MACHINE_SENDER_RE.match(address.partition("@")[0]) is not None


def _contact_ledgers(
    contact: _Contact, facts: _Facts, policy: LedgerPolicy, now: datetime, as_json: bool
) -> list[tuple[Ledger, dict[str, Any] | None]]:
    """The team-wide ledger and one per mailbox the contact appears in; with ``as_json`` each with its
    :meth:`Ledger.to_json` (and ledgers without evidence lines: only the JSON has them)."""
    machine = is_machine_sender(contact.address)
    messages = facts.messages
    team: dict[int, tuple[_Msg, str]] = {}
    per_mailbox: dict[int, dict[int, tuple[_Msg, str]]] = {}
    # A message counts when they wrote it to us, or we wrote it to them (they are a recipient).
    for counts, mids in (("in", contact.wrote), ("out", contact.got)):
        for mid in mids:
            msg = messages.get(mid)
            if msg is None:
                continue
            if counts == "in" and machine:
                msg = msg.as_machine()
            direction = msg.direction
            if direction == counts and mid not in team:
                team[mid] = (msg, direction)
            for mailbox_id, mailbox_dir in msg.locations:
                if mailbox_dir == counts:
                    found = per_mailbox.get(mailbox_id)
                    if found is None:
                        per_mailbox[mailbox_id] = found = {}
                    if mid not in found:
                        found[mid] = (msg, mailbox_dir)
    if not team and not per_mailbox:
        return []

    def build(scope: str, found: dict[int, tuple[_Msg, str]]) -> tuple[Ledger, dict[str, Any] | None]:
        builder = _Builder(contact, scope, [_Event(m, d) for m, d in found.values()], policy, now)
        ledger = builder.build()
        if not as_json:
            ledger.evidence = builder.lines()
            return ledger, None
        data = ledger.to_json()
        data["evidence"] = builder.json_lines()
        return ledger, data

    team_ledger, team_data = build(TEAM_SCOPE, team)
    ledgers = [(team_ledger, team_data)]
    for mailbox_id, found in sorted(per_mailbox.items()):
        name = facts.mailbox_names.get(mailbox_id)
        if name is None:
            continue
        if found != team:
            ledgers.append(build(name, found))
            continue
        # The same messages in the same directions as team-wide: the same ledger but for the scope.
        copy = replace(team_ledger, scope=name)
        if team_data is None:
            copy.strength_parts = dict(team_ledger.strength_parts)
            copy.evidence = {k: list(v) for k, v in team_ledger.evidence.items()}
            ledgers.append((copy, None))
        else:
            data = dict(team_data)
            data["scope"] = name
            ledgers.append((copy, data))
    return ledgers


def _computed(
    loader: _Loader, ids: Sequence[int], policy: LedgerPolicy, as_json: bool
) -> Iterator[tuple[Sequence[int], dict[int, list[tuple[Ledger, dict[str, Any] | None]]]]]:
    """Per CONTACT_CHUNK of ``ids``, in order: the chunk and the ledgers of its contacts that have any."""
    now = _aware(policy.now())
    groups = [ids[i : i + CONTACT_CHUNK] for i in range(0, len(ids), CONTACT_CHUNK)]
    for facts, covered in loader.loads(groups):
        for group in covered:
            out: dict[int, list[tuple[Ledger, dict[str, Any] | None]]] = {}
            for cid in group:
                contact = facts.contacts.get(cid)
                if contact is not None:
                    ledgers = _contact_ledgers(contact, facts, policy, now, as_json)
                    if ledgers:
                        out[cid] = ledgers
            yield group, out


def compute_ledgers(
    session: Session, contact_ids: Iterable[int] | None = None, policy: LedgerPolicy | None = None
) -> dict[int, list[Ledger]]:
    """Ledgers (team-wide first, then per mailbox) of the given contacts, or of all; nothing is stored."""
    policy = policy or LedgerPolicy()
    loader = _Loader(session, policy)
    ids = loader.all_contacts() if contact_ids is None else sorted(set(contact_ids))
    out: dict[int, list[Ledger]] = {}
    with collector_paused():
        for _group, ledgers in _computed(loader, ids, policy, as_json=False):
            for cid, items in ledgers.items():
                out[cid] = [ledger for ledger, _data in items]
    return out


@dataclass
class RefreshSummary:
    contacts: int = 0  # contacts with a ledger written
    rows: int = 0  # contact_ledger rows written (team-wide + per mailbox)
    seconds: float = 0.0


def refresh_ledgers(
    session: Session, contact_ids: Iterable[int] | None = None, policy: LedgerPolicy | None = None
) -> RefreshSummary:
    """Recompute and store the ledgers of ``contact_ids`` (after a sync: the contacts it touched), or of
    every contact when None.  Does not commit.  Both ways give the same rows for the same store and
    ``policy.as_of``.  Decay is computed as of the refresh: contacts no sync touches keep the strength and
    balance of their last refresh until a full one (``outreach ledger rebuild``, e.g. nightly).

    Either way the contacts are computed CONTACT_CHUNK at a time (their rows replaced, then the next
    chunk), from facts loaded for several chunks at once (see :class:`_Loader`): memory stays bounded."""
    started = time.perf_counter()
    policy = policy or LedgerPolicy()
    summary = RefreshSummary()
    conn = session.connection()
    own_contacts = select(Contact.id).where(Contact.address.in_(select(MailboxAddress.address)))
    conn.execute(delete(ContactLedger).where(ContactLedger.contact_id.in_(own_contacts)))
    loader = _Loader(session, policy)
    if contact_ids is None:
        conn.execute(delete(ContactLedger))
        ids = loader.all_contacts()
    else:
        ids = sorted(set(contact_ids))
    computed_at = utcnow()
    with collector_paused():
        for group, ledgers in _computed(loader, ids, policy, as_json=True):
            if contact_ids is not None:
                conn.execute(delete(ContactLedger).where(ContactLedger.contact_id.in_(group)))
            rows = [
                {
                    "contact_id": cid,
                    "scope": ledger.scope,
                    "tier": ledger.tier,
                    "strength": ledger.strength,
                    "balance": ledger.balance,
                    "last_two_way": ledger.last_two_way,
                    "data": data,
                    "computed_at": computed_at,
                }
                for cid, items in ledgers.items()
                for ledger, data in items
            ]
            for start in range(0, len(rows), 1000):
                conn.execute(insert(ContactLedger), rows[start : start + 1000])
            summary.contacts += len(ledgers)
            summary.rows += len(rows)
    summary.seconds = time.perf_counter() - started
    return summary


def touched_contacts(session: Session, message_ids: Iterable[int]) -> set[int]:
    """The contacts taking part in the given messages: whose ledgers a sync must refresh."""
    ids = list(dict.fromkeys(message_ids))
    if session.autoflush:
        session.flush()
    conn = session.connection()
    found: set[int] = set()
    for chunk in chunked(ids):
        for rows in _raw_rows(conn, select(Participant.contact_id).where(Participant.message_id.in_(chunk))):
            found.update(row[0] for row in rows)
    return found


# =============================================================================================== rollup


@dataclass(frozen=True, slots=True)
class DomainSummary:
    """An organisation (mail domain) seen through its people's ledgers."""

    domain: str
    contacts: int
    best_tier: str
    strongest_contact: str
    strongest_strength: int
    last_two_way: datetime | None
    two_way_threads: int

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "contacts": self.contacts,
            "best_tier": self.best_tier,
            "strongest_contact": self.strongest_contact,
            "strongest_strength": self.strongest_strength,
            "last_two_way": self.last_two_way.isoformat() if self.last_two_way else None,
            "two_way_threads": self.two_way_threads,
        }


def domain_rollup(session: Session, scope: str = TEAM_SCOPE) -> list[DomainSummary]:
    """Per domain: contacts, best tier, strongest contact, last two-way exchange, two-way threads;
    strongest domains first."""
    rank = {tier: n for n, tier in enumerate(TIERS)}
    rows = session.execute(
        select(
            Contact.domain,
            Contact.address,
            ContactLedger.tier,
            ContactLedger.strength,
            ContactLedger.last_two_way,
            ContactLedger.data["two_way_threads"].as_integer(),
        )
        .join(ContactLedger, ContactLedger.contact_id == Contact.id)
        .where(ContactLedger.scope == scope)
    )
    acc: dict[str, dict[str, Any]] = {}
    for domain, address, tier, strength, last, threads in rows:
        slot = acc.setdefault(
            domain, {"contacts": 0, "tier": "none", "best": ("", -1), "last": None, "threads": 0}
        )
        slot["contacts"] += 1
        if rank.get(tier, 0) > rank[slot["tier"]]:
            slot["tier"] = tier
        best_address, best_strength = slot["best"]
        if strength > best_strength or (strength == best_strength and address < best_address):
            slot["best"] = (address, strength)
        if last is not None and (slot["last"] is None or last > slot["last"]):
            slot["last"] = last
        slot["threads"] += int(threads or 0)
    result = [
        DomainSummary(
            domain, s["contacts"], s["tier"], s["best"][0], max(0, s["best"][1]), s["last"], s["threads"]
        )
        for domain, s in acc.items()
    ]
    result.sort(key=lambda d: (-rank[d.best_tier], -d.strongest_strength, -d.two_way_threads, d.domain))
    return result


# =============================================================================================== reading


def stored_ledger_columns(session: Session, scope: str = TEAM_SCOPE) -> dict[int, dict[str, Any]]:
    """contact id -> tier, strength, balance and last two-way exchange of the stored ledgers of ``scope``."""
    rows = session.execute(
        select(
            ContactLedger.contact_id,
            ContactLedger.tier,
            ContactLedger.strength,
            ContactLedger.balance,
            ContactLedger.last_two_way,
        ).where(ContactLedger.scope == scope)
    )
    return {
        cid: {
            "tier": tier,
            "strength": strength,
            "balance": balance,
            "last_two_way": last.isoformat() if last else None,
        }
        for cid, tier, strength, balance, last in rows
    }


def ledger_for(
    session: Session, address: str, scope: str = TEAM_SCOPE, policy: LedgerPolicy | None = None
) -> Ledger | None:
    """The ledger of one address: the stored one, else computed now (not stored); None when the address
    is not a contact in the store.  A contact without mail in ``scope`` gets tier ``none``."""
    address = address.strip().lower()
    row = session.execute(select(Contact.id).where(Contact.address == address)).first()
    if row is None:
        return None
    stored = session.scalar(
        select(ContactLedger.data).where(ContactLedger.contact_id == row[0], ContactLedger.scope == scope)
    )
    if stored:
        return Ledger.from_json(stored)
    for ledger in compute_ledgers(session, [row[0]], policy).get(row[0], []):
        if ledger.scope == scope:
            return ledger
    return Ledger.unknown(address, scope)


_FIGURES = (
    ("sent", "sent"),
    ("received", "received"),
    ("personal_received", None),
    ("two_way_threads", "two_way_threads"),
    ("unanswered_outbound", "unanswered_outbound"),
    ("reply_rate", None),
    ("asks_by_us", "asks_by_us"),
    ("asks_by_them", "asks_by_them"),
    ("offers_by_us", "offers_by_us"),
    ("offers_by_them", "offers_by_them"),
    ("thanks_received", "thanks_received"),
    ("thanks_given", "thanks_given"),
    ("their_asks_fulfilled", "their_asks_fulfilled"),
    ("our_asks_fulfilled", "our_asks_fulfilled"),
    ("opt_outs", "opt_outs"),
    ("declines", "declines"),
    ("balance", "balance"),
)


def format_ledger(ledger: Ledger) -> list[str]:
    """A ledger as text: the verdict, the dates, then every figure with its dated evidence lines."""
    name = f" ({ledger.name})" if ledger.name else ""
    scope = "whole team" if ledger.scope == TEAM_SCOPE else f"mailbox {ledger.scope}"
    parts = ", ".join(f"{k} {v:g}" for k, v in ledger.strength_parts.items())
    lines = [
        f"{ledger.address}{name} — {scope}",
        f"  tier {ledger.tier}, strength {ledger.strength}/100" + (f" ({parts})" if parts else ""),
        f"  balance {ledger.balance:+.2f}",
    ]
    for key in _DATE_FIELDS:
        value = getattr(ledger, key)
        lines.append(f"  {key.replace('_', ' '):<22} {value.date().isoformat() if value else '-'}")
    if ledger.last_ask_by_us is not None:
        last = ledger.last_ask_by_us
        lines.append(f"  last ask by us          {'answered' if last.answered else 'not answered'}")
        lines.append("    " + _evidence_text(last.evidence))
    for figure, evidence_key in _FIGURES:
        value = getattr(ledger, figure)
        shown = "-" if value is None else (f"{value:+.2f}" if figure == "balance" else f"{value:g}")
        lines.append(f"  {figure.replace('_', ' '):<22} {shown}")
        for line in ledger.evidence.get(evidence_key or "", []) if evidence_key else []:
            lines.append("    " + _evidence_text(line))
    return lines


def _evidence_text(line: EvidenceLine) -> str:
    arrow = "->" if line.direction == "out" else "<-"
    when = line.date.date().isoformat() if line.date else "????-??-??"
    text = f"{when} {arrow} {line.subject or '(no subject)'}  #{line.message_id}"
    if line.sentence:
        sentence = line.sentence if len(line.sentence) <= 160 else line.sentence[:157] + "..."
        text += f'  "{sentence}"'
    return text


__all__ = [
    "DomainSummary",
    "EvidenceLine",
    "LastAsk",
    "Ledger",
    "LedgerPolicy",
    "RefreshSummary",
    "TEAM_SCOPE",
    "TIERS",
    "compute_ledgers",
    "domain_rollup",
    "format_ledger",
    "is_machine_sender",
    "ledger_for",
    "ledger_row_values",
    "load_ledgers",
    "refresh_ledgers",
    "stored_ledger_columns",
    "touched_contacts",
]
