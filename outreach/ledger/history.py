"""Who we corresponded with, and the messages behind every figure.

"Sent" is a message from one of our mailboxes with the contact among To/Cc/Bcc; "received" is a message
from the contact found in one of our mailboxes.  A two-way thread holds both a message we sent to the
contact and a personal (not bulk, not automated) message from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from outreach.errors import UsageError
from outreach.store.models import Contact, Folder, Mailbox, MailboxAddress, Message, MessageLocation, Participant

RECIPIENT_ROLES = ("to", "cc", "bcc")


@dataclass(frozen=True, slots=True)
class Evidence:
    """One message behind a figure."""

    message_id: int
    date: datetime | None
    direction: str  # "out" (we sent it) | "in" (they sent it)
    subject: str
    thread_id: int | None
    noisy: bool  # bulk, list or automated


@dataclass
class ContactHistory:
    contact_id: int
    address: str
    display_name: str | None
    domain: str
    sent: list[Evidence] = field(default_factory=list)
    received: list[Evidence] = field(default_factory=list)
    two_way_threads: list[int] = field(default_factory=list)

    @property
    def personal_received(self) -> list[Evidence]:
        return [e for e in self.received if not e.noisy]

    @property
    def first_sent(self) -> datetime | None:
        return _first(self.sent)

    @property
    def last_sent(self) -> datetime | None:
        return _last(self.sent)

    @property
    def first_received(self) -> datetime | None:
        return _first(self.received)

    @property
    def last_received(self) -> datetime | None:
        return _last(self.received)

    def summary(self) -> dict[str, object]:
        return {
            "address": self.address,
            "name": self.display_name,
            "domain": self.domain,
            "first_sent": _iso(self.first_sent),
            "last_sent": _iso(self.last_sent),
            "first_received": _iso(self.first_received),
            "last_received": _iso(self.last_received),
            "sent": len(self.sent),
            "received": len(self.received),
            "two_way_threads": len(self.two_way_threads),
        }


def _first(items: list[Evidence]) -> datetime | None:
    dates = [e.date for e in items if e.date is not None]
    return min(dates) if dates else None


def _last(items: list[Evidence]) -> datetime | None:
    dates = [e.date for e in items if e.date is not None]
    return max(dates) if dates else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def mailbox_id_for(session: Session, name: str | None) -> int | None:
    if name is None:
        return None
    mailbox_id = session.scalar(select(Mailbox.id).where(Mailbox.name == name))
    if mailbox_id is None:
        known = ", ".join(session.scalars(select(Mailbox.name).order_by(Mailbox.name))) or "none yet"
        raise UsageError(f"no mailbox named {name!r} in the store (known: {known})")
    return mailbox_id


def _direction_subquery(mailbox_id: int | None) -> Select[tuple[int, str]]:
    query = select(MessageLocation.message_id, func.max(MessageLocation.direction).label("direction"))
    if mailbox_id is not None:
        query = query.join(Folder, Folder.id == MessageLocation.folder_id).where(Folder.mailbox_id == mailbox_id)
    return query.group_by(MessageLocation.message_id)


def histories(
    session: Session, addresses: Iterable[str] | None = None, mailbox_id: int | None = None
) -> list[ContactHistory]:
    """Histories of the given contacts (all contacts but our own addresses when ``addresses`` is None)."""
    own = set(session.scalars(select(MailboxAddress.address)))
    directions = _direction_subquery(mailbox_id).subquery()
    query = (
        select(
            Contact.id,
            Contact.address,
            Contact.display_name,
            Contact.domain,
            Participant.role,
            Message.id,
            Message.date,
            Message.subject,
            Message.thread_id,
            Message.is_bulk | Message.is_automated | Message.is_list,
            directions.c.direction,
        )
        .join(Participant, Participant.contact_id == Contact.id)
        .join(Message, Message.id == Participant.message_id)
        .join(directions, directions.c.message_id == Message.id)
    )
    wanted: list[str] | None = None
    if addresses is not None:
        wanted = [a.strip().lower() for a in addresses]
        query = query.where(Contact.address.in_(wanted))
    result: dict[int, ContactHistory] = {}
    for cid, address, name, domain, role, mid, date, subject, tid, noisy, direction in session.execute(query):
        if address in own:
            continue
        hist = result.get(cid)
        if hist is None:
            hist = result[cid] = ContactHistory(cid, address, name, domain)
        evidence = Evidence(mid, date, direction, subject, tid, bool(noisy))
        if direction == "out" and role in RECIPIENT_ROLES:
            hist.sent.append(evidence)
        elif direction == "in" and role == "from":
            hist.received.append(evidence)
    for hist in result.values():
        sent_threads = {e.thread_id for e in hist.sent if e.thread_id is not None}
        hist.two_way_threads = sorted(sent_threads & {e.thread_id for e in hist.personal_received})
        hist.sent.sort(key=_sort_key)
        hist.received.sort(key=_sort_key)
    if wanted is not None:
        found = {h.address for h in result.values()}
        for address in wanted:
            if address in found:
                continue
            row = session.execute(
                select(Contact.id, Contact.display_name, Contact.domain).where(Contact.address == address)
            ).first()
            if row is not None and address not in own:
                result[row[0]] = ContactHistory(row[0], address, row[1], row[2])
    return [h for h in result.values() if h.sent or h.received or wanted is not None]


def _sort_key(evidence: Evidence) -> tuple[float, int]:
    return (evidence.date.timestamp() if evidence.date else 0.0, evidence.message_id)


SORT_FIELDS = (
    "address",
    "domain",
    "first_sent",
    "last_sent",
    "first_received",
    "last_received",
    "sent",
    "received",
    "two_way_threads",
)


def sort_histories(items: list[ContactHistory], field_name: str, descending: bool) -> list[ContactHistory]:
    if field_name not in SORT_FIELDS:
        raise UsageError(f"cannot sort by {field_name!r}; choose one of {', '.join(SORT_FIELDS)}")

    def key(hist: ContactHistory) -> tuple[int, object]:
        value = hist.summary()[field_name]
        return (0, "") if value is None else (1, value)

    present = sorted(items, key=key, reverse=descending)
    return present
