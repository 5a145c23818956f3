"""The relationship ledger of each contact: what campaigns read to decide whether we may ask.

Contract (shared by the signals/ledger code that writes it and the campaign code that reads it): one
:class:`Ledger` per (contact, scope), scope ``"*"`` for the whole team or a mailbox name, stored in the
``contact_ledger`` table with every figure and its evidence in ``data`` (see :meth:`Ledger.to_json`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.models import Contact, ContactLedger

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


__all__ = ["EvidenceLine", "LastAsk", "Ledger", "TEAM_SCOPE", "TIERS", "load_ledgers", "ledger_row_values"]
