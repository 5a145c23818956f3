"""Whose mail is it: each mailbox's owner addresses, where each came from, and the owner's names.

A mailbox's owner writes under several addresses (a work address, an old one, a home account used from a
phone), and Sent folders are incomplete.  So the owner's addresses are:

* ``config``: given in the config file (``addresses = [...]``) or with ``--address``;
* ``sent-folder``: the From of a message found in the mailbox's Sent folder.  Whatever its From, a message
  in the Sent folder was sent by the owner, so its From is one of the owner's addresses.

Both kinds add up; neither replaces the other.  When an address is learned, the mailbox's stored mail from
it turns outbound (``message_location.direction``), whatever folder it was found in.

The owner's *names* (for replies that quote the owner by name, ``From: Beck, Sally``) are the display
names seen with the owner's addresses, and the names their local parts spell (``sally.beck@``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from outreach.store import chunked
from outreach.store.models import Contact, Folder, Mailbox, MailboxAddress, Message, MessageLocation, utcnow

CONFIG = "config"
SENT_FOLDER = "sent-folder"
_NAME_TOKEN = re.compile(r"[^\W\d_]+")
_LOCAL_PART_SEPARATORS = re.compile(r"[._-]+")


def ensure_mailbox(session: Session, name: str, addresses: Sequence[str] = (), source: str = CONFIG) -> Mailbox:
    """Get or create the mailbox ``name`` and add any new owner ``addresses`` to it (marked ``source``)."""
    mailbox = session.scalar(select(Mailbox).where(Mailbox.name == name))
    if mailbox is None:
        mailbox = Mailbox(name=name)
        session.add(mailbox)
        session.flush()
    add_addresses(session, mailbox.id, addresses, source)
    session.flush()
    return mailbox


def open_mailbox(
    session: Session,
    name: str,
    configured: Sequence[str],
    has_sent_folder: bool,
    guess: Callable[[], list[str]],
    note: Callable[[str], None],
) -> Mailbox:
    """The mailbox of a sync or import, with its owner addresses: the ``configured`` ones, or, when it has
    none at all yet, the From addresses of its Sent folder read up front (``guess``), so that threads are
    not matched on the owner's address from the first message on.  Either way the run learns the From of
    every message it stores from the Sent folder.  Without a Sent folder nor any address, ``note`` gets a
    warning: no mail could count as ours."""
    mailbox = ensure_mailbox(session, name, configured, CONFIG)
    if has_sent_folder and not mailbox_addresses(session, mailbox.id):
        added = add_addresses(session, mailbox.id, guess(), SENT_FOLDER)
        if added:
            note(f"owner address(es) taken from the Sent folder: {', '.join(added)}")
    session.flush()
    if not has_sent_folder and not mailbox_addresses(session, mailbox.id):
        note(
            f"warning: mailbox {name!r} has no Sent folder and no configured address: outreach cannot tell "
            "the owner's mail from the rest, so none of it counts as sent (give the owner's addresses with "
            "--address, or addresses = [...] in the mailbox's config)"
        )
    return mailbox


def add_addresses(session: Session, mailbox_id: int, addresses: Iterable[str], source: str) -> list[str]:
    """Add the owner ``addresses`` the mailbox does not have yet; the ones added.  Does not flush."""
    known = set(session.scalars(select(MailboxAddress.address).where(MailboxAddress.mailbox_id == mailbox_id)))
    added = []
    for address in addresses:
        norm = address.strip().lower()
        if norm and norm not in known:
            session.add(MailboxAddress(mailbox_id=mailbox_id, address=norm, source=source, added_at=utcnow()))
            known.add(norm)
            added.append(norm)
    return added


def mailbox_addresses(session: Session, mailbox_id: int | None = None) -> set[str]:
    """A mailbox owner's addresses, or the whole team's when ``mailbox_id`` is None."""
    query = select(MailboxAddress.address)
    if mailbox_id is not None:
        query = query.where(MailboxAddress.mailbox_id == mailbox_id)
    return set(session.scalars(query))


def turn_outbound(session: Session, mailbox_id: int, addresses: Sequence[str]) -> int:
    """The mailbox's stored mail from ``addresses`` (just learned to be the owner's) becomes outbound;
    the number of locations changed.  Does not commit."""
    if not addresses:
        return 0
    folders = select(Folder.id).where(Folder.mailbox_id == mailbox_id)
    changed = 0
    for chunk in chunked(list(addresses)):
        result = session.execute(
            update(MessageLocation)
            .where(
                MessageLocation.folder_id.in_(folders),
                MessageLocation.direction != "out",
                MessageLocation.message_id.in_(select(Message.id).where(Message.from_address.in_(chunk))),
            )
            .values(direction="out")
        )
        changed += int(getattr(result, "rowcount", 0) or 0)
    return changed


def name_key(name: str | None) -> frozenset[str]:
    """A person's name as a set of lower-case words of two letters or more: ``Beck, Sally``,
    ``Sally Beck`` and ``Sally M Beck`` give the same key.  Empty when there is no such word."""
    if not name:
        return frozenset()
    return frozenset(w for w in (t.lower() for t in _NAME_TOKEN.findall(name)) if len(w) > 1)


def address_name_key(address: str) -> frozenset[str]:
    """The name an address's local part spells (``sally.beck@``, ``vince_j_kaminski@``), when it has two
    words or more; else empty (``sbeck@`` names nobody)."""
    local = address.partition("@")[0]
    words = [w for w in _LOCAL_PART_SEPARATORS.split(local) if len(w) > 1 and w.isalpha()]
    return frozenset(w.lower() for w in words) if len(words) >= 2 else frozenset()


@dataclass(frozen=True, slots=True)
class OwnerAddress:
    """One of a mailbox owner's addresses, and where it came from."""

    address: str
    source: str  # "config" | "sent-folder"
    added_at: datetime | None
    names: tuple[str, ...]  # display names seen with it


def owner_addresses(session: Session, mailbox_id: int) -> list[OwnerAddress]:
    """The owner's addresses of a mailbox, in the order they were added, with their display names."""
    rows = session.execute(
        select(MailboxAddress.address, MailboxAddress.source, MailboxAddress.added_at, Contact.display_names)
        .outerjoin(Contact, Contact.address == MailboxAddress.address)
        .where(MailboxAddress.mailbox_id == mailbox_id)
        .order_by(MailboxAddress.id)
    )
    return [OwnerAddress(a, s, at, tuple(names or ())) for a, s, at, names in rows]


@dataclass(frozen=True, slots=True)
class FolderSummary:
    """A folder of a mailbox as ``outreach mailbox show`` lists it."""

    name: str
    is_sent: bool
    messages: int
    outbound: int  # copies counted as the owner's mail
    last_synced_at: datetime | None


@dataclass(frozen=True, slots=True)
class MailboxSummary:
    """A mailbox: its owner's addresses (and where each came from) and its folders."""

    name: str
    addresses: tuple[OwnerAddress, ...]
    folders: tuple[FolderSummary, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "addresses": [
                {
                    "address": a.address,
                    "source": a.source,
                    "added_at": a.added_at.isoformat() if a.added_at else None,
                    "names": list(a.names),
                }
                for a in self.addresses
            ],
            "folders": [
                {
                    "name": f.name,
                    "sent": f.is_sent,
                    "messages": f.messages,
                    "outbound": f.outbound,
                    "last_synced_at": f.last_synced_at.isoformat() if f.last_synced_at else None,
                }
                for f in self.folders
            ],
        }


def describe_mailbox(session: Session, name: str) -> MailboxSummary | None:
    """The mailbox ``name`` with its owner addresses and folders; None when the store has no such mailbox."""
    mailbox_id = session.scalar(select(Mailbox.id).where(Mailbox.name == name))
    if mailbox_id is None:
        return None
    rows = session.execute(
        select(
            Folder.name,
            Folder.is_sent,
            Folder.last_synced_at,
            func.count(MessageLocation.id),
            func.count(MessageLocation.id).filter(MessageLocation.direction == "out"),
        )
        .outerjoin(MessageLocation, MessageLocation.folder_id == Folder.id)
        .where(Folder.mailbox_id == mailbox_id)
        .group_by(Folder.id, Folder.name, Folder.is_sent, Folder.last_synced_at)
        .order_by(Folder.name)
    )
    folders = tuple(FolderSummary(n, bool(s), int(c or 0), int(o or 0), at) for n, s, at, c, o in rows)
    return MailboxSummary(name, tuple(owner_addresses(session, mailbox_id)), folders)


def owner_name_keys(owners: Iterable[OwnerAddress]) -> set[frozenset[str]]:
    """The name keys (see :func:`name_key`) of a mailbox's owner: display names and local parts."""
    keys = set()
    for owner in owners:
        for key in (address_name_key(owner.address), *(name_key(n) for n in owner.names)):
            if len(key) >= 2:
                keys.add(key)
    return keys


__all__ = [
    "CONFIG",
    "SENT_FOLDER",
    "FolderSummary",
    "MailboxSummary",
    "OwnerAddress",
    "add_addresses",
    "address_name_key",
    "describe_mailbox",
    "ensure_mailbox",
    "mailbox_addresses",
    "name_key",
    "open_mailbox",
    "owner_addresses",
    "owner_name_keys",
    "turn_outbound",
]
