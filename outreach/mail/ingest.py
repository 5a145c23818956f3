"""The one pipeline every source goes through: parse, de-duplicate, thread, store — a batch at a time.

IMAP sync, Maildir and mbox import all hand batches of :class:`RawMessage` to :class:`Ingestor`.  Each
batch is written with Core bulk inserts and committed together with the folder's sync state, so an
interrupted run resumes after the last committed batch and never stores a message twice: a message is
keyed by its Message-ID (or a content hash), and seeing it again only adds a location.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam, select, update
from sqlalchemy.orm import Session

from outreach.mail.conversations import Threader
from outreach.mail.owners import SENT_FOLDER, add_addresses, mailbox_addresses, turn_outbound
from outreach.mail.parsing import ParsedMessage, parse_message
from outreach.mail.worker import Prepared
from outreach.signals.storage import SIGNAL_COLUMNS, MessageSignals, message_version, quoted_columns, signal_rows
from outreach.store import bulk_insert, bulk_insert_rows, chunked, lock_store_for_writing
from outreach.store.models import (
    Contact,
    Folder,
    Mailbox,
    Message,
    MessageLocation,
    Participant,
    Signal,
    SyncRun,
    utcnow,
)


@dataclass(slots=True)
class RawMessage:
    """One message as fetched: its bytes (``None`` when the server returned nothing) and where it was."""

    raw: bytes | None
    uid: int | None = None
    flags: str = ""
    internal_date: datetime | None = None
    origin: str = ""  # a file path or "folder UID n", for error messages


@dataclass
class IngestStats:
    fetched: int = 0
    new: int = 0
    duplicates: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    new_message_ids: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "origin: reason", kept short
    learned: list[str] = field(default_factory=list)  # owner addresses learned from the Sent folder
    rethreaded: list[int] = field(default_factory=list)  # stored messages moved to another thread (merges)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def merge(self, other: IngestStats) -> None:
        self.fetched += other.fetched
        self.new += other.new
        self.duplicates += other.duplicates
        self.skipped.update(other.skipped)
        self.problems.extend(other.problems[: max(0, 50 - len(self.problems))])
        self.learned.extend(other.learned)
        self.rethreaded.extend(other.rethreaded)



# Hot lookups as statements built once, with an expanding parameter: ``column.in_(values)`` would build
# (and cache-key) one bound parameter object per value, every batch.
_KEYS: BindParameter[Any] = bindparam("keys", expanding=True)
_IDS_BY_KEY = select(Message.message_key, Message.id).where(Message.message_key.in_(_KEYS))
CONTACT_CACHE_SIZE = 50_000  # contacts remembered between batches of a run (a few MB)



def ensure_folder(session: Session, mailbox: Mailbox, name: str, source: str, is_sent: bool = False) -> Folder:
    folder = session.scalar(select(Folder).where(Folder.mailbox_id == mailbox.id, Folder.name == name))
    if folder is None:
        folder = Folder(mailbox_id=mailbox.id, name=name, source=source, is_sent=is_sent, highest_uid=0)
        session.add(folder)
        session.flush()
    elif folder.is_sent != is_sent:
        folder.is_sent = is_sent
    return folder


class Ingestor:
    """Writes batches of raw messages for one mailbox into the store."""

    def __init__(
        self,
        session: Session,
        mailbox: Mailbox,
        after_batch: Callable[[Session, list[int]], None] | None = None,
    ) -> None:
        self.session = session
        self.mailbox = mailbox
        self.owner = mailbox_addresses(session, mailbox.id)
        self.team = mailbox_addresses(session) | self.owner
        self.threader = Threader(self.team)
        self.after_batch = after_batch
        # address -> (contact id, its display names as last read or written; None: the list is full)
        self.contact_cache: dict[str, tuple[int, frozenset[str] | None]] = {}

    def reset(self) -> None:
        """Forget what was cached between batches (after a rollback, the cache could name rows that are gone)."""
        self.contact_cache.clear()
        self.threader = Threader(self.team)

    def ingest(
        self,
        folder: Folder,
        batch: Sequence[RawMessage],
        prepared: Sequence[Prepared] | None = None,
        highest_uid: int | None = None,
    ) -> IngestStats:
        """Store one batch and commit it together with the folder's highest UID.

        ``prepared`` comes from :func:`prepare_batch` when the caller parsed (and analysed) the batch
        elsewhere; signals found there are stored with the new messages.  ``highest_uid``: the folder's
        highest UID once the batch is stored (default: the batch's highest), for a caller that stores a
        FETCH answer in parts and knows which UIDs below it are still to come.
        """
        stats = IngestStats(fetched=len(batch))
        if prepared is None:
            prepared = [(parse_message(m.raw, m.internal_date) if m.raw else None, None) for m in batch]
        found = {p.message_key: sig for p, sig in prepared if p is not None and sig is not None}
        items: list[tuple[RawMessage, ParsedMessage]] = []
        for raw, msg in zip(batch, [p for p, _ in prepared], strict=True):
            if msg is None:
                stats.skipped["empty message: no bytes to read"] += 1
                stats.problems.append(f"{raw.origin}: empty message: no bytes to read")
                continue
            if msg.parse_error:
                stats.skipped["unparseable"] += 1
                stats.problems.append(f"{raw.origin}: {msg.parse_error}")
            items.append((raw, msg))
        # Another mailbox syncing into the same store may be writing the same contacts and messages.
        lock_store_for_writing(self.session)
        if folder.is_sent:
            stats.learned += self._learn_owner(msg for _, msg in items)
        self._write(folder, items, stats, found)
        if highest_uid is None:
            highest_uid = max((m.uid for m in batch if m.uid is not None), default=None)
        if highest_uid is not None:
            folder.highest_uid = max(folder.highest_uid or 0, highest_uid)
        self.session.flush()
        if self.after_batch is not None and stats.new_message_ids:
            self.after_batch(self.session, stats.new_message_ids)
        self.session.commit()
        return stats

    # ------------------------------------------------------------------ internals

    def _learn_owner(self, messages: Iterable[ParsedMessage]) -> list[str]:
        """The From addresses of messages in the Sent folder are the owner's: add the new ones (and turn
        the mailbox's stored mail from them outbound); the addresses added."""
        senders = {m.sender.address for m in messages if m.sender is not None and not m.parse_error}
        new = sorted(senders - self.owner)
        if not new:
            return []
        added = add_addresses(self.session, self.mailbox.id, new, SENT_FOLDER)
        self.session.flush()
        turn_outbound(self.session, self.mailbox.id, added)
        self.owner.update(added)
        self.team.update(added)  # the thread index's own set: threads are not matched on our addresses
        return added

    def _write(
        self,
        folder: Folder,
        items: list[tuple[RawMessage, ParsedMessage]],
        stats: IngestStats,
        signals: dict[str, MessageSignals],
    ) -> None:
        conn = self.session.connection()
        keys = list({msg.message_key for _, msg in items})
        existing: dict[str, int] = {}
        for chunk in chunked(keys):
            existing.update((key, mid) for key, mid in conn.execute(_IDS_BY_KEY, {"keys": chunk}))
        # Split into messages we already have (new location at most) and new ones (first copy wins).
        new_items: dict[str, tuple[RawMessage, ParsedMessage]] = {}
        seen_again: list[tuple[RawMessage, ParsedMessage]] = []
        for raw, msg in items:
            if msg.message_key in existing or msg.message_key in new_items:
                seen_again.append((raw, msg))
            else:
                new_items[msg.message_key] = (raw, msg)
        new_list = list(new_items.values())
        new_ids = self._insert_messages(conn, [msg for _, msg in new_list], signals, stats)
        if signals:
            rows: list[tuple[Any, ...]] = []
            for _, msg in new_list:
                found = signals.get(msg.message_key)
                if found is not None:
                    mid = new_ids[msg.message_key]
                    rows += signal_rows(mid, found, message_version(found, _noisy(msg)))
            bulk_insert_rows(conn, Signal, SIGNAL_COLUMNS, rows)
        stats.new = len(new_list)
        stats.new_message_ids = list(new_ids.values())
        all_ids = {**existing, **new_ids}
        self._locations(folder, new_list + seen_again, all_ids, stats)

    def _insert_messages(
        self, conn: Connection, messages: list[ParsedMessage], signals: dict[str, MessageSignals], stats: IngestStats
    ) -> dict[str, int]:
        """Insert the new messages (their contacts, thread and participants too); their ids by key."""
        contact_ids = self._contacts(messages)
        thread_ids, moved = self.threader.assign(self.session, messages)
        stats.rethreaded += moved
        message_rows = [
            {
                "message_key": msg.message_key,
                "message_id_header": msg.message_id_header,
                "date": msg.date,
                "subject": msg.subject,
                "from_address": msg.sender.address if msg.sender else None,
                "size": msg.size,
                "thread_id": tid,
                "in_reply_to": msg.in_reply_to,
                "references": " ".join(msg.references) or None,
                "recipient_count": msg.recipient_count,
                "is_bulk": msg.is_bulk,
                "is_list": msg.is_list,
                "is_automated": msg.is_automated,
                "noise_reason": ", ".join(msg.noise_reasons)[:200] or None,
                "body_text": msg.body_text,
                "text_truncated": msg.text_truncated,
                "parse_error": msg.parse_error,
                **_analysis_columns(signals.get(msg.message_key), _noisy(msg)),
            }
            for msg, tid in zip(messages, thread_ids, strict=True)
        ]
        new_ids: dict[str, int] = {}
        if message_rows:
            bulk_insert(conn, Message, message_rows)
            for chunk in chunked([row["message_key"] for row in message_rows]):
                new_ids.update((key, mid) for key, mid in conn.execute(_IDS_BY_KEY, {"keys": chunk}))
        participant_rows = [
            {
                "message_id": new_ids[msg.message_key],
                "contact_id": contact_ids[addr.address],
                "role": role,
                "display_name": addr.name,
            }
            for msg in messages
            for role, addr in msg.participants()
        ]
        bulk_insert(conn, Participant, participant_rows)
        return new_ids

    def _locations(
        self,
        folder: Folder,
        placed: list[tuple[RawMessage, ParsedMessage]],
        ids: dict[str, int],
        stats: IngestStats,
    ) -> None:
        conn = self.session.connection()
        new_ids = set(stats.new_message_ids)
        # Only messages stored before this batch can already have a location in this folder.
        message_ids = list({ids[msg.message_key] for _, msg in placed} - new_ids)
        present: dict[int, tuple[int | None, int | None]] = {}
        for chunk in chunked(message_ids):
            present.update(
                (mid, (uid, validity))
                for mid, uid, validity in conn.execute(
                    select(MessageLocation.message_id, MessageLocation.uid, MessageLocation.uidvalidity).where(
                        MessageLocation.folder_id == folder.id, MessageLocation.message_id.in_(chunk)
                    )
                )
            )
        inserts, updates = [], []
        added: set[int] = set()
        folder_id, validity, owner = folder.id, folder.uidvalidity, self.owner  # ORM attributes: read once
        sent_folder = folder.is_sent
        for raw, msg in placed:
            mid = ids[msg.message_key]
            if mid not in new_ids:
                stats.duplicates += 1
            # a copy in the Sent folder is ours whatever its From (another client, a phone, an alias)
            direction = "out" if sent_folder or (msg.sender is not None and msg.sender.address in owner) else "in"
            if mid in present or mid in added:
                if mid in present and present[mid] != (raw.uid, validity):
                    updates.append({"b_mid": mid, "uid": raw.uid, "uidvalidity": validity})
                continue
            added.add(mid)
            inserts.append(
                {
                    "message_id": mid,
                    "folder_id": folder_id,
                    "uid": raw.uid,
                    "uidvalidity": validity,
                    "direction": direction,
                    "flags": raw.flags[:500],
                }
            )
        bulk_insert(conn, MessageLocation, inserts)
        if updates:
            conn.execute(
                update(MessageLocation)
                .where(MessageLocation.folder_id == folder.id, MessageLocation.message_id == bindparam("b_mid"))
                .values(uid=bindparam("uid"), uidvalidity=bindparam("uidvalidity")),
                updates,
            )

    def _contacts(self, messages: list[ParsedMessage]) -> dict[str, int]:
        """Contact ids for every address in ``messages``, creating the missing ones in bulk.

        Contacts seen earlier in the run come from :attr:`contact_cache` (ids never change; a contact is
        read again only when this batch shows a display name the cache does not know).
        """
        conn = self.session.connection()
        names: dict[str, set[str]] = {}
        for msg in messages:
            for _, addr in msg.participants():
                bucket = names.get(addr.address)
                if bucket is None:
                    bucket = names[addr.address] = set()
                if addr.name and addr.name.lower() != addr.address:
                    bucket.add(addr.name)
        ids: dict[str, int] = {}
        cache = self.contact_cache
        to_read = []
        for address, seen in names.items():
            cached = cache.get(address)
            if cached is not None and (not seen or cached[1] is None or seen <= cached[1]):
                ids[address] = cached[0]  # known, and no display name it lacks
            else:
                to_read.append(address)
        known_names: dict[str, list[str]] = {}
        for chunk in chunked(to_read):
            for cid, address, display_names in conn.execute(
                select(Contact.id, Contact.address, Contact.display_names).where(Contact.address.in_(chunk))
            ):
                ids[address] = cid
                known_names[address] = list(display_names or [])
        missing = [a for a in to_read if a not in ids]
        if missing:
            rows = []
            for a in missing:
                ordered = sorted(names[a])
                known_names[a] = ordered[:20]  # the new contact's names, as stored
                rows.append(
                    {
                        "address": a,
                        "domain": a.rsplit("@", 1)[1],
                        "display_name": next(iter(ordered), None),
                        "display_names": ordered[:20],
                    }
                )
            bulk_insert(conn, Contact, rows)
            for chunk in chunked(missing):
                ids.update(
                    (address, cid)
                    for address, cid in conn.execute(
                        select(Contact.address, Contact.id).where(Contact.address.in_(chunk))
                    )
                )
        grown = []
        for address, current in known_names.items():
            extra = names[address] - set(current)
            if extra and len(current) < 20:
                current = (current + sorted(extra))[:20]
                grown.append({"b_id": ids[address], "display_names": current, "display_name": current[0]})
            # A full list (20 names) never grows: None, so that a new name does not make us read it again.
            cache[address] = (ids[address], frozenset(current) if len(current) < 20 else None)
        if grown:
            conn.execute(
                update(Contact)
                .where(Contact.id == bindparam("b_id"))
                .values(display_names=bindparam("display_names"), display_name=bindparam("display_name")),
                grown,
            )
        if len(cache) > CONTACT_CACHE_SIZE:
            cache.clear()  # bounded memory whatever the mailbox size; what is needed is read again
        return ids


def _noisy(msg: ParsedMessage) -> bool:
    return msg.is_bulk or msg.is_list or msg.is_automated


def _analysis_columns(found: MessageSignals | None, noisy: bool) -> dict[str, Any]:
    """The message columns the signals analysis sets: whether (and by which pipeline) its signals were
    computed, and the author of the message it quotes."""
    if found is None:
        return {"language": None, "signals_version": None, "quoted_name": None, "quoted_address": None,
                "quoted_date": None}
    return {"language": found.language, "signals_version": message_version(found, noisy), **quoted_columns(found)}


def finish_run(run: SyncRun, totals: IngestStats) -> None:
    """Record a finished sync or import and its summary on its ``sync_run`` row."""
    run.finished_at = utcnow()
    run.fetched, run.new, run.duplicates = totals.fetched, totals.new, totals.duplicates
    run.skipped, run.skipped_reasons = totals.skipped_total, dict(totals.skipped)
    run.status = "done"
