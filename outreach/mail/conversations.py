"""Assigning each batch's messages to conversations, whatever order the mail arrives in.

A message joins the thread its In-Reply-To/References name when that message is stored; otherwise every
thread under its subject key that is within the window and shares a participant
other than our own addresses — and when it matches several, they were one conversation all along: they
merge.  A thread that grows (a new participant, a wider window) merges in turn with the threads it now
meets.  And when an original arrives after its replies (the inbox synced before the Sent folder), the
threads of the stored replies that name it merge into its own.  So the threads are the same for any order
of the same mail: each is the smallest grouping that no message, and no pair of threads, would join.

Merging moves the stored messages of the merged threads (their ids are reported, so that the ledgers of
their participants are refreshed) and deletes the emptied threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, bindparam, delete, select, update
from sqlalchemy.orm import Session

from outreach.mail.parsing import ParsedMessage
from outreach.mail.threads import ThreadIndex, ThreadInfo, date_span, subject_key
from outreach.store import bulk_insert, chunked
from outreach.store.models import Message, Thread

# Hot lookups as statements built once, with an expanding parameter (see outreach.mail.ingest).
_KEYS: BindParameter[Any] = bindparam("keys", expanding=True)
_THREADS_BY_KEY = select(Message.message_key, Message.thread_id).where(
    Message.message_key.in_(_KEYS), Message.thread_id.is_not(None)
)
_THREADS_BY_ROOT = select(Thread.root_key, Thread.id).where(Thread.root_key.in_(_KEYS))
_REPLIES_TO = select(Message.in_reply_to, Message.thread_id).where(
    Message.in_reply_to.in_(_KEYS), Message.thread_id.is_not(None)
)


class Threader:
    """Assigns messages to threads for one run of one mailbox (see the module's doc)."""

    def __init__(self, own_addresses: set[str]) -> None:
        self.index = ThreadIndex(own_addresses)
        # a thread merged away -> where it went (the key keeps it alive: no id() can be reused)
        self.survivor: dict[ThreadInfo, ThreadInfo] = {}
        self.gone: list[ThreadInfo] = []  # stored threads merged away in this batch
        # their ids: a message of the batch may still reach one (by reference, or as the thread of a stored
        # reply), which the store keeps until the batch's merges are written
        self.gone_ids: dict[int, ThreadInfo] = {}

    def assign(self, session: Session, messages: Sequence[ParsedMessage]) -> tuple[list[int | None], list[int]]:
        """The thread id of each message (same order), and the ids of stored messages whose thread changed
        because threads merged."""
        conn = session.connection()
        keys_per_message = [self._keys(msg) for msg in messages]
        ref_threads = self._stored_threads(session, messages)
        replies = self._stored_replies(session, messages)
        dates_per_key: dict[str, list[datetime | None]] = {}
        for msg, keys in zip(messages, keys_per_message, strict=True):
            for key in keys:
                dates_per_key.setdefault(key, []).append(msg.date)
        self.index.preload(session, {key: date_span(dates) for key, dates in dates_per_key.items()})
        by_message_key: dict[str, ThreadInfo] = {}
        waiting: dict[str, list[ThreadInfo]] = {}  # a referenced key not seen yet -> threads of its replies
        chosen: list[ThreadInfo] = []
        for msg, keys in zip(messages, keys_per_message, strict=True):
            info = self._place(session, msg, keys, by_message_key, ref_threads, waiting)
            # replies stored (or earlier in this batch) before their original: one conversation with it
            joined = [self._thread_by_id(session, tid) for tid in replies.get(msg.message_key, ())]
            joined += waiting.pop(msg.message_key, [])
            if joined:
                info = self._merge(session, [info, *joined])
            by_message_key[msg.message_key] = info
            chosen.append(info)
        chosen = [self._resolve(info) for info in chosen]
        self._write_new(conn, chosen)
        moved = self._write_merges(session)
        self._write_grown(conn, chosen)
        return [info.id for info in chosen], moved

    # ------------------------------------------------------------------ placing one message

    def _keys(self, msg: ParsedMessage) -> list[str]:
        key = subject_key(msg.subject)
        return [key] if key else []

    def _place(
        self,
        session: Session,
        msg: ParsedMessage,
        keys: list[str],
        by_message_key: dict[str, ThreadInfo],
        ref_threads: dict[str, int],
        waiting: dict[str, list[ThreadInfo]],
    ) -> ThreadInfo:
        addresses = {addr.address for _, addr in msg.participants()}
        refs = ([msg.in_reply_to] if msg.in_reply_to else []) + msg.references[::-1]
        info: ThreadInfo | None = None
        for ref in refs:
            if ref in by_message_key:
                info = self._resolve(by_message_key[ref])
                break
            tid = ref_threads.get(ref)
            if tid is not None:
                info = self._thread_by_id(session, tid)
                break
        if info is None:
            found = self.index.find_all(keys, msg.date, addresses)
            if found:
                info = self._merge(session, found)
        if info is None:
            info = self.index.new_thread(msg.message_key, keys[0] if keys else "", msg.date, addresses)
            if msg.in_reply_to:  # its original may come later in this batch
                waiting.setdefault(msg.in_reply_to, []).append(info)
        if info.add(msg.date, addresses):
            info = self._settle(session, info)
        self.index.grown(info)
        return info

    def _settle(self, session: Session, info: ThreadInfo) -> ThreadInfo:
        """Merge ``info`` with the threads it now meets (it grew), until it meets none."""
        while info.subject_key:
            self.index.preload(session, {info.subject_key: date_span([info.first, info.last])}, evict=False)
            others = self.index.neighbours(info)
            if not others:
                break
            info = self._merge(session, [info, *others])
        return info

    def _merge(self, session: Session, threads: list[ThreadInfo]) -> ThreadInfo:
        """One thread of ``threads`` (the oldest stored one, else the first): the others merge into it."""
        threads = list(dict.fromkeys(self._resolve(t) for t in threads))
        if len(threads) == 1:
            return threads[0]
        stored = [t for t in threads if t.id is not None]
        survivor = min(stored, key=lambda t: t.id or 0) if stored else threads[0]
        for other in threads:
            if other is survivor:
                continue
            self.index.absorb(survivor, other)
            self.survivor[other] = survivor
            if other.id is not None:
                self.gone.append(other)
                self.gone_ids[other.id] = other
        return self._settle(session, survivor) if survivor.subject_key else survivor

    def _resolve(self, info: ThreadInfo) -> ThreadInfo:
        while info in self.survivor:
            info = self.survivor[info]
        return info

    # ------------------------------------------------------------------ reading the store

    def _stored_threads(self, session: Session, messages: Sequence[ParsedMessage]) -> dict[str, int]:
        """Messages referenced by In-Reply-To/References that we already store, and their threads."""
        refs = list({r for m in messages for r in ([m.in_reply_to] if m.in_reply_to else []) + m.references})
        found: dict[str, int] = {}
        for chunk in chunked(refs):
            found.update((key, tid) for key, tid in session.execute(_THREADS_BY_KEY, {"keys": chunk}))
        return found

    def _stored_replies(self, session: Session, messages: Sequence[ParsedMessage]) -> dict[str, list[int]]:
        """Per message of the batch, the threads of stored messages that answer it (In-Reply-To)."""
        keys = [m.message_key for m in messages]
        found: dict[str, list[int]] = {}
        for chunk in chunked(keys):
            for key, tid in session.execute(_REPLIES_TO, {"keys": chunk}):
                found.setdefault(key, []).append(tid)
        return found

    def _thread_by_id(self, session: Session, tid: int) -> ThreadInfo:
        merged = self.gone_ids.get(tid)
        if merged is not None:
            return self._resolve(merged)
        info = self.index.get(tid)
        if info is None:
            row = session.execute(
                select(Thread.subject_key, Thread.first_date, Thread.last_date).where(Thread.id == tid)
            ).one()
            info = ThreadInfo(tid, row[0], row[1], row[2])
            self.index.load_addresses(session, [info])  # complete, as every cached thread is
            self.index.remember(info)
        return self._resolve(info)

    # ------------------------------------------------------------------ writing

    def _write_new(self, conn: Any, chosen: list[ThreadInfo]) -> None:
        """Create the new threads in one go."""
        fresh = list(dict.fromkeys(i for i in chosen if i.id is None))
        if not fresh:
            return
        bulk_insert(
            conn,
            Thread,
            [
                {"root_key": i.root_key, "subject_key": i.subject_key, "first_date": i.first, "last_date": i.last}
                for i in fresh
            ],
        )
        by_root = {i.root_key: i for i in fresh}
        for chunk in chunked(list(by_root)):
            for root, tid in conn.execute(_THREADS_BY_ROOT, {"keys": chunk}):
                info = by_root[root]
                info.id, info.dirty = tid, False
                self.index.remember(info)

    def _write_merges(self, session: Session) -> list[int]:
        """Move the stored messages of the threads merged away to their survivors; their message ids."""
        moved: list[int] = []
        for gone in self.gone:
            survivor = self._resolve(gone)
            if survivor.id is None or gone.id is None or survivor.id == gone.id:
                continue
            moved += session.scalars(select(Message.id).where(Message.thread_id == gone.id)).all()
            session.execute(update(Message).where(Message.thread_id == gone.id).values(thread_id=survivor.id))
            session.execute(delete(Thread).where(Thread.id == gone.id))
            survivor.dirty = True
        self.gone.clear()
        self.gone_ids.clear()
        self.survivor.clear()
        return moved

    def _write_grown(self, conn: Any, chosen: list[ThreadInfo]) -> None:
        """Move the time span of the threads that grew."""
        grown = [i for i in dict.fromkeys(chosen) if i.dirty and i.id is not None]
        if not grown:
            return
        conn.execute(
            update(Thread)
            .where(Thread.id == bindparam("b_id"))
            .values(first_date=bindparam("first_date"), last_date=bindparam("last_date")),
            [{"b_id": i.id, "first_date": i.first, "last_date": i.last} for i in grown],
        )
        for info in grown:
            info.dirty = False


__all__ = ["Threader"]
