"""Group messages into conversations.

In order: In-Reply-To/References when a referenced message is known; otherwise the normalised subject
(also taken from a quoted "-----Original Message-----" block), a shared participant other than our own
addresses, and a time window.  The Enron data has no In-Reply-To at all, so the second path matters.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.models import Contact, Message, Participant, Thread
from outreach.store import chunked

THREAD_WINDOW = timedelta(days=45)
_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|antw|tr|rif|r|ref|réf)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*|\[[^\]]{1,40}\]\s*)+",
    re.IGNORECASE,
)
_SPACE = re.compile(r"\s+")


def subject_key(subject: str | None) -> str:
    """'RE: Fwd: [team] Budget  Q3' -> 'budget q3'; empty when nothing is left."""
    if not subject:
        return ""
    return _SPACE.sub(" ", _PREFIX.sub("", subject)).strip().lower()[:300]


@dataclass(slots=True)
class ThreadInfo:
    id: int | None
    subject_key: str
    first: datetime | None
    last: datetime | None
    addresses: set[str] = field(default_factory=set)
    dirty: bool = False
    root_key: str = ""

    def within(self, when: datetime | None) -> bool:
        if when is None or self.first is None or self.last is None:
            return True
        return self.first - THREAD_WINDOW <= when <= self.last + THREAD_WINDOW

    def add(self, when: datetime | None, addresses: Iterable[str]) -> None:
        self.addresses.update(addresses)
        if when is not None:
            if self.first is None or when < self.first:
                self.first, self.dirty = when, True
            if self.last is None or when > self.last:
                self.last, self.dirty = when, True


class ThreadIndex:
    """Candidate threads by subject key, loaded from the store on demand and cached for a run."""

    def __init__(self, own_addresses: set[str], max_keys: int = 5_000) -> None:
        self.own = own_addresses
        self.max_keys = max_keys
        self.by_key: OrderedDict[str, list[ThreadInfo]] = OrderedDict()
        self.by_id: OrderedDict[int, ThreadInfo] = OrderedDict()

    def preload(self, session: Session, keys: Iterable[str]) -> None:
        missing = [k for k in set(keys) if k and k not in self.by_key]
        for chunk in chunked(missing):
            rows = session.execute(
                select(Thread.id, Thread.subject_key, Thread.first_date, Thread.last_date).where(
                    Thread.subject_key.in_(chunk)
                )
            ).all()
            for key in chunk:
                self.by_key[key] = []
            ids = []
            for tid, key, first, last in rows:
                info = ThreadInfo(tid, key, first, last)
                self.by_key[key].append(info)
                self.by_id[tid] = info
                ids.append(tid)
            for id_chunk in chunked(ids):
                for tid, address in session.execute(
                    select(Message.thread_id, Contact.address)
                    .join(Participant, Participant.message_id == Message.id)
                    .join(Contact, Contact.id == Participant.contact_id)
                    .where(Message.thread_id.in_(id_chunk))
                ):
                    self.by_id[tid].addresses.add(address)
        while len(self.by_key) > self.max_keys:
            _, dropped = self.by_key.popitem(last=False)
            for info in dropped:
                if info.id is not None and not info.dirty:
                    self.by_id.pop(info.id, None)
        # Threads reached by reference, or without a subject, are only in by_id: bound it too, so that
        # memory stays flat whatever the mailbox size (an evicted thread is read again when needed).
        while len(self.by_id) > 2 * self.max_keys:
            self.by_id.popitem(last=False)

    def remember(self, info: ThreadInfo) -> None:
        if info.id is not None:
            self.by_id[info.id] = info

    def find(self, keys: list[str], when: datetime | None, addresses: set[str]) -> ThreadInfo | None:
        """The most recent thread under one of ``keys`` sharing a non-team participant, within the window."""
        others = addresses - self.own
        best: ThreadInfo | None = None
        for key in keys:
            for info in self.by_key.get(key, ()):
                if not info.within(when):
                    continue
                shared = info.addresses & others if others else info.addresses & addresses
                if not shared:
                    continue
                if best is None or _stamp(info.last) > _stamp(best.last):
                    best = info
        return best

    def new_thread(self, root_key: str, key: str, when: datetime | None, addresses: set[str]) -> ThreadInfo:
        info = ThreadInfo(None, key, when, when, set(addresses), dirty=True, root_key=root_key)
        if key:
            self.by_key.setdefault(key, []).append(info)
        return info


def _stamp(when: datetime | None) -> float:
    return when.timestamp() if when is not None else 0.0
