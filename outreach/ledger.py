"""The relationship ledger of each contact: what campaigns read to decide whether we may ask.

Contract (shared by the signals/ledger code that writes it and the campaign code that reads it): one
:class:`Ledger` per (contact, scope), scope ``"*"`` for the whole team or a mailbox name, stored in the
``contact_ledger`` table with every figure and its evidence in ``data`` (see :meth:`Ledger.to_json`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from outreach.errors import ConfigError
from outreach.models import (
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
        return {
            "message_id": self.message_id,
            "date": self.date.isoformat() if self.date else None,
            "direction": self.direction,
            "subject": self.subject,
            "sentence": self.sentence,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvidenceLine:
        return cls(
            message_id=int(data["message_id"]),
            date=_date(data.get("date")),
            direction=str(data.get("direction", "")),
            subject=str(data.get("subject", "")),
            sentence=data.get("sentence"),
        )


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


@dataclass(slots=True)
class _Found:
    """A signal of a message as the ledger needs it."""

    kind: str
    subtype: str | None
    personal: bool
    sentence: str
    score: float = 1.0


@dataclass(slots=True)
class _Msg:
    id: int
    date: datetime | None
    subject: str
    thread_id: int | None
    noisy: bool  # bulk, list or automated
    automated: bool
    signals: list[_Found] = field(default_factory=list)

    def first(self, *kinds: str) -> _Found | None:
        for found in self.signals:
            if found.kind in kinds:
                return found
        return None

    def has(self, kind: str, subtype: str | None = None) -> bool:
        return any(f.kind == kind and (subtype is None or f.subtype == subtype) for f in self.signals)


@dataclass(slots=True)
class _Contact:
    id: int
    address: str
    name: str | None
    domain: str
    # (message id, role) of every participation that can count: from / to / cc / bcc
    roles: list[tuple[int, str]] = field(default_factory=list)


@dataclass(slots=True)
class _Facts:
    contacts: dict[int, _Contact]
    messages: dict[int, _Msg]
    team_direction: dict[int, str]
    mailbox_direction: dict[int, dict[int, str]]  # message id -> mailbox id -> direction
    mailbox_names: dict[int, str]


_RECIPIENT_ROLES = frozenset(("to", "cc", "bcc"))
CONTACT_CHUNK = 100  # contacts per query batch: bounds the memory of a refresh (evidence is bulky)


def _load_facts(session: Session, contact_ids: Sequence[int] | None) -> _Facts:
    """Everything the ledgers of ``contact_ids`` (all contacts when None) need, in five queries."""
    own = set(session.scalars(select(MailboxAddress.address)))
    names = {mid: name for mid, name in session.execute(select(Mailbox.id, Mailbox.name))}
    contact_query = select(Contact.id, Contact.address, Contact.display_name, Contact.domain)
    role_query = select(Participant.contact_id, Participant.message_id, Participant.role).where(
        Participant.role.in_(("from", "to", "cc", "bcc"))
    )
    message_query = select(
        Message.id,
        Message.date,
        Message.subject,
        Message.thread_id,
        Message.is_bulk | Message.is_list | Message.is_automated,
        Message.is_automated,
    )
    location_query = select(MessageLocation.message_id, Folder.mailbox_id, MessageLocation.direction).join(
        Folder, Folder.id == MessageLocation.folder_id
    )
    signal_query = select(
        Signal.message_id, Signal.kind, Signal.subtype, Signal.personal, Signal.sentence, Signal.score
    ).order_by(Signal.message_id, Signal.start, Signal.id)
    if contact_ids is not None:
        # Our own addresses have no ledger, and they take part in every message: asking for their
        # messages would load the whole store.
        own_ids = set(session.scalars(select(Contact.id).where(Contact.address.in_(own)))) if own else set()
        wanted = [cid for cid in contact_ids if cid not in own_ids]
        their_messages = select(Participant.message_id).where(Participant.contact_id.in_(wanted))
        contact_query = contact_query.where(Contact.id.in_(wanted))
        role_query = role_query.where(Participant.contact_id.in_(wanted))
        message_query = message_query.where(Message.id.in_(their_messages))
        location_query = location_query.where(MessageLocation.message_id.in_(their_messages))
        signal_query = signal_query.where(Signal.message_id.in_(their_messages))
    contacts = {
        cid: _Contact(cid, address, name, domain)
        for cid, address, name, domain in session.execute(contact_query)
        if address not in own
    }
    for cid, mid, role in session.execute(role_query):
        contact = contacts.get(cid)
        if contact is not None:
            contact.roles.append((mid, role))
    messages = {
        mid: _Msg(mid, date, subject or "", tid, bool(noisy), bool(automated))
        for mid, date, subject, tid, noisy, automated in session.execute(message_query)
    }
    team: dict[int, str] = {}
    per_mailbox: dict[int, dict[int, str]] = {}
    for mid, mailbox_id, direction in session.execute(location_query):
        if team.get(mid) != "out":
            team[mid] = direction
        slot = per_mailbox.setdefault(mid, {})
        if slot.get(mailbox_id) != "out":
            slot[mailbox_id] = direction
    for mid, kind, subtype, personal, sentence, score in session.execute(signal_query):
        msg = messages.get(mid)
        if msg is not None:
            msg.signals.append(_Found(kind, subtype, bool(personal), sentence, float(score)))
    return _Facts(contacts, messages, team, per_mailbox, names)


# =============================================================================================== computing


@dataclass(slots=True)
class _Event:
    msg: _Msg
    direction: str  # "out": we wrote to them; "in": they wrote to us

    @property
    def key(self) -> tuple[float, int]:
        return (self.msg.date.timestamp() if self.msg.date else 0.0, self.msg.id)


def _line(event: _Event, sentence: str | None = None) -> EvidenceLine:
    msg = event.msg
    return EvidenceLine(msg.id, msg.date, event.direction, msg.subject, sentence)


class _Builder:
    """Computes one ledger from one contact's messages in one scope."""

    def __init__(
        self, contact: _Contact, scope: str, events: list[_Event], policy: LedgerPolicy, now: datetime
    ):
        self.policy = policy
        self.now = now
        self.events = sorted(events, key=lambda e: e.key)
        self.ledger = Ledger(address=contact.address, scope=scope, name=contact.name, domain=contact.domain)
        self.evidence: dict[str, list[EvidenceLine]] = {}

    def add(self, figure: str, line: EvidenceLine) -> None:
        self.evidence.setdefault(figure, []).append(line)

    def decay(self, when: datetime | None, half_life: float) -> float:
        if when is None:
            return 0.0
        age = max(0.0, (self.now - when).total_seconds() / 86400.0)
        return float(0.5 ** (age / half_life))

    def build(self) -> Ledger:
        led = self.ledger
        sent = [e for e in self.events if e.direction == "out"]
        received = [e for e in self.events if e.direction == "in"]
        personal = [e for e in received if not e.msg.noisy]
        led.sent, led.received, led.personal_received = len(sent), len(received), len(personal)
        self._dates("sent", sent)
        self._dates("received", received)
        for e in sent:
            self.add("sent", _line(e))
        for e in received:
            self.add("received", _line(e))

        # Threads: the personal exchange with this contact, message by message in time order.
        by_thread: dict[int, list[_Event]] = {}
        for e in sent + personal:
            if e.msg.thread_id is not None:
                by_thread.setdefault(e.msg.thread_id, []).append(e)
        replies: list[_Event] = []
        two_way: set[int] = set()
        exchanged = 0
        for tid, items in by_thread.items():
            items.sort(key=lambda e: e.key)
            directions = {e.direction for e in items}
            if len(directions) < 2:
                continue
            two_way.add(tid)
            exchanged += len(items)
            replies += [
                cur for prev, cur in zip(items, items[1:], strict=False) if cur.direction != prev.direction
            ]
        led.two_way_threads = len(two_way)
        replies.sort(key=lambda e: e.key)
        for e in replies:
            self.add("two_way_threads", _line(e))
        dated = [e for e in replies if e.msg.date is not None]
        if dated:
            led.first_two_way, led.last_two_way = dated[0].msg.date, dated[-1].msg.date
            self.add("first_two_way", _line(dated[0]))
            self.add("last_two_way", _line(dated[-1]))

        # Our messages that wanted an answer (not themselves replies to them) and whether they got one.
        answered = unanswered = 0
        for e in sent:
            thread = by_thread.get(e.msg.thread_id) if e.msg.thread_id is not None else None
            if thread is None:
                unanswered += 1
                self.add("unanswered_outbound", _line(e))
                continue
            at = thread.index(e)
            if at > 0 and thread[at - 1].direction == "in":
                continue  # a reply of ours: it answered them, it waits for nothing
            if any(later.direction == "in" for later in thread[at + 1 :]):
                answered += 1
            else:
                unanswered += 1
                self.add("unanswered_outbound", _line(e))
        led.unanswered_outbound = unanswered
        led.reply_rate = round(answered / (answered + unanswered), 3) if answered + unanswered else None

        self._signals(sent, personal, received, by_thread)
        self._strength(exchanged)
        led.evidence = {k: self._cap(k, v) for k, v in self.evidence.items()}
        return led

    def _dates(self, what: str, events: list[_Event]) -> None:
        dated = [e for e in events if e.msg.date is not None]
        if not dated:
            return
        setattr(self.ledger, f"first_{what}", dated[0].msg.date)
        setattr(self.ledger, f"last_{what}", dated[-1].msg.date)
        self.add(f"first_{what}", _line(dated[0]))
        self.add(f"last_{what}", _line(dated[-1]))

    def _cap(self, figure: str, lines: list[EvidenceLine]) -> list[EvidenceLine]:
        """The most recent lines of a figure, oldest first."""
        limit = max(1, self.policy.evidence_limit)
        if figure in ("balance", "their_asks_fulfilled", "our_asks_fulfilled"):
            limit *= 2  # these come in pairs (ask + delivery) or mix several kinds
        ordered = sorted(
            lines, key=lambda line: (line.date.timestamp() if line.date else 0.0, line.message_id)
        )
        return ordered[-limit:]

    def _signals(
        self,
        sent: list[_Event],
        personal: list[_Event],
        received: list[_Event],
        by_thread: dict[int, list[_Event]],
    ) -> None:
        led, policy = self.ledger, self.policy
        half = policy.balance_half_life_days
        balance = 0.0
        for e in received:
            if e.msg.automated:
                continue
            refusal = e.msg.first("opt_out")
            if refusal is None:
                continue
            if any(f.kind == "opt_out" and f.subtype != "decline" for f in e.msg.signals):
                opt_out = next(f for f in e.msg.signals if f.kind == "opt_out" and f.subtype != "decline")
                led.opt_outs += 1
                self.add("opt_outs", _line(e, opt_out.sentence))
            else:
                led.declines += 1
                self.add("declines", _line(e, refusal.sentence))
        for figure, kind, events in (
            ("offers_by_them", "offer", personal),
            ("thanks_received", "thanks", personal),
            ("offers_by_us", "offer", sent),
            ("thanks_given", "thanks", sent),
        ):
            for e in events:
                found = e.msg.first(kind)
                if found is not None:
                    setattr(led, figure, getattr(led, figure) + 1)
                    self.add(figure, _line(e, found.sentence))
                    if figure == "offers_by_us" and not e.msg.noisy:  # a broadcast offer is no favour
                        weight = policy.offer_weight * self.decay(e.msg.date, half)
                        balance += weight
                        self.add("balance", _line(e, found.sentence))

        # Their asks, and whether a later message of ours in the thread delivered.
        used_as_fulfilment: set[int] = set()
        for e in personal:
            their_asks = [f for f in e.msg.signals if f.kind == "ask"]
            if not their_asks:
                continue
            ask = max(their_asks, key=lambda f: f.score)
            led.asks_by_them += 1
            self.add("asks_by_them", _line(e, ask.sentence))
            done = self._fulfilled_by(e, "out", by_thread)
            if done is not None:
                led.their_asks_fulfilled += 1
                used_as_fulfilment.add(done[0].msg.id)
                self.add("their_asks_fulfilled", _line(e, ask.sentence))
                self.add("their_asks_fulfilled", _line(done[0], done[1]))
                balance += policy.honoured_weight * self.decay(done[0].msg.date, half)
                self.add("balance", _line(done[0], done[1]))
        for e in sent:
            help_given = e.msg.first("fulfilment")
            if help_given is not None and e.msg.id not in used_as_fulfilment and not e.msg.noisy:
                balance += policy.help_weight * self.decay(e.msg.date, half)
                self.add("balance", _line(e, help_given.sentence))

        # Our asks: each one costs, and did they deliver?
        last_ask: tuple[_Event, _Found] | None = None
        for e in sent:
            asks = [f for f in e.msg.signals if f.kind in ("ask", "mass_ask")]
            if not asks:
                continue
            personal_asks = [f for f in asks if f.kind == "ask" and f.personal]
            # the clearest ask of the message is its evidence ("Please set up …" over "Let me know if …")
            personal_ask = max(personal_asks, key=lambda f: f.score) if personal_asks else None
            shown = personal_ask or asks[0]
            led.asks_by_us += 1
            self.add("asks_by_us", _line(e, shown.sentence))
            # a generic call to action, or any ask in a broadcast (bulk) message of ours, costs less
            personal_weight = personal_ask is not None and not e.msg.noisy
            weight = policy.ask_weight if personal_weight else policy.generic_ask_weight
            balance -= weight * self.decay(e.msg.date, half)
            self.add("balance", _line(e, shown.sentence))
            done = self._fulfilled_by(e, "in", by_thread)
            if done is not None:
                led.our_asks_fulfilled += 1
                self.add("our_asks_fulfilled", _line(e, shown.sentence))
                self.add("our_asks_fulfilled", _line(done[0], done[1]))
            if personal_weight:
                # "did they answer our last ask" is asked of personal asks: nobody answers a memo to all staff
                last_ask = (e, shown)
        if last_ask is not None:
            e, shown = last_ask
            thread = by_thread.get(e.msg.thread_id) if e.msg.thread_id is not None else None
            replied = thread is not None and any(x.direction == "in" for x in thread[thread.index(e) + 1 :])
            led.last_ask_by_us = LastAsk(_line(e, shown.sentence), replied)
        led.balance = round(balance, 2)

    def _fulfilled_by(
        self, ask: _Event, side: str, by_thread: dict[int, list[_Event]]
    ) -> tuple[_Event, str | None] | None:
        """The first later message of ``side`` in the ask's thread that delivered, with its sentence."""
        if ask.msg.thread_id is None:
            return None
        thread = by_thread.get(ask.msg.thread_id)
        if thread is None or ask not in thread:
            return None
        subtypes = {f.subtype for f in ask.msg.signals if f.kind == "ask"}
        reply_is_enough = bool(subtypes & set(self.policy.reply_fulfils))
        for later in thread[thread.index(ask) + 1 :]:
            if later.direction != side:
                continue
            found = later.msg.first("fulfilment")
            if found is not None:
                return later, found.sentence
            if reply_is_enough and not later.msg.has("opt_out"):
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


def _contact_ledgers(contact: _Contact, facts: _Facts, policy: LedgerPolicy, now: datetime) -> list[Ledger]:
    """The team-wide ledger and one per mailbox the contact appears in."""
    if is_machine_sender(contact.address):
        contact.roles = [(mid, role) for mid, role in contact.roles if role != "from"] + [
            (mid, "from:machine") for mid, role in contact.roles if role == "from"
        ]
    team: dict[int, _Event] = {}
    per_mailbox: dict[int, dict[int, _Event]] = {}
    for mid, role in contact.roles:
        msg = facts.messages.get(mid)
        direction = facts.team_direction.get(mid)
        if msg is None or direction is None:
            continue
        if role == "from:machine":
            msg = _Msg(msg.id, msg.date, msg.subject, msg.thread_id, True, True, msg.signals)
            role = "from"
        if _counts(direction, role):
            team.setdefault(mid, _Event(msg, direction))
        for mailbox_id, mailbox_direction in facts.mailbox_direction.get(mid, {}).items():
            if _counts(mailbox_direction, role):
                per_mailbox.setdefault(mailbox_id, {}).setdefault(mid, _Event(msg, mailbox_direction))
    if not team and not per_mailbox:
        return []
    ledgers = [_Builder(contact, TEAM_SCOPE, list(team.values()), policy, now).build()]
    for mailbox_id, events in sorted(per_mailbox.items()):
        name = facts.mailbox_names.get(mailbox_id)
        if name is not None:
            ledgers.append(_Builder(contact, name, list(events.values()), policy, now).build())
    return ledgers


def _counts(direction: str, role: str) -> bool:
    """We wrote to them (they are a recipient of ours) or they wrote to us (they are the sender)."""
    return (direction == "out" and role in _RECIPIENT_ROLES) or (direction == "in" and role == "from")


def compute_ledgers(
    session: Session, contact_ids: Iterable[int] | None = None, policy: LedgerPolicy | None = None
) -> dict[int, list[Ledger]]:
    """Ledgers (team-wide first, then per mailbox) of the given contacts, or of all; nothing is stored."""
    policy = policy or LedgerPolicy()
    now = _aware(policy.now())
    out: dict[int, list[Ledger]] = {}
    chunks: list[list[int] | None]
    if contact_ids is None:
        chunks = [None]
    else:
        ids = sorted(set(contact_ids))
        chunks = [ids[i : i + CONTACT_CHUNK] for i in range(0, len(ids), CONTACT_CHUNK)]
    for chunk in chunks:
        facts = _load_facts(session, chunk)
        for cid, contact in facts.contacts.items():
            ledgers = _contact_ledgers(contact, facts, policy, now)
            if ledgers:
                out[cid] = ledgers
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
    balance of their last refresh until a full one (``outreach ledger rebuild``, e.g. nightly)."""
    started = time.perf_counter()
    policy = policy or LedgerPolicy()
    summary = RefreshSummary()
    conn = session.connection()
    own_contacts = select(Contact.id).where(Contact.address.in_(select(MailboxAddress.address)))
    conn.execute(delete(ContactLedger).where(ContactLedger.contact_id.in_(own_contacts)))
    ids = None if contact_ids is None else sorted(set(contact_ids))
    if ids is None:
        conn.execute(delete(ContactLedger))
        groups: list[list[int] | None] = [None]
    else:
        groups = [ids[i : i + CONTACT_CHUNK] for i in range(0, len(ids), CONTACT_CHUNK)]
    computed_at = utcnow()
    for group in groups:
        ledgers = compute_ledgers(session, group, policy)
        if group is not None:
            conn.execute(delete(ContactLedger).where(ContactLedger.contact_id.in_(group)))
        rows = [
            {"contact_id": cid, **ledger_row_values(ledger), "computed_at": computed_at}
            for cid, items in ledgers.items()
            for ledger in items
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
    found: set[int] = set()
    for start in range(0, len(ids), CONTACT_CHUNK):
        chunk = ids[start : start + CONTACT_CHUNK]
        found.update(session.scalars(select(Participant.contact_id).where(Participant.message_id.in_(chunk))))
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
