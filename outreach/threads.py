"""Group messages into conversations.

In order: In-Reply-To/References when a referenced message is known; otherwise the normalised subject
(also taken from a quoted "-----Original Message-----" block), a shared participant other than our own
addresses, and a time window.  The Enron data has no In-Reply-To at all, so the second path matters.
"""

from __future__ import annotations

import functools
import re
import sys
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

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


@functools.lru_cache(maxsize=4096)  # replies repeat their thread's subject
def subject_key(subject: str | None) -> str:
    """'RE: Fwd: [team] Budget  Q3' -> 'budget q3'; empty when nothing is left."""
    if not subject:
        return ""
    return _SPACE.sub(" ", _PREFIX.sub("", subject)).strip().lower()[:300]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
_WINDOW_US = THREAD_WINDOW // _MICROSECOND
_ALWAYS = (-(2**63), 2**63)  # no dates: always within the window


def _micros(when: datetime) -> int:
    """Microseconds since the epoch, exactly (naive datetimes are UTC, as the store keeps them)."""
    return (when - (_EPOCH if when.tzinfo is not None else _NAIVE_EPOCH)) // _MICROSECOND


@dataclass(slots=True)
class ThreadInfo:
    id: int | None
    subject_key: str
    first: datetime | None
    last: datetime | None
    addresses: set[str] = field(default_factory=set)
    dirty: bool = False
    root_key: str = ""
    indexed: bool = False  # listed under its subject key in a ThreadIndex
    # The window as microseconds since the epoch (first - window, last + window), for ThreadIndex.find's
    # scan: integer comparisons instead of aware datetimes.  first and last change only through add().
    earliest: int = field(init=False, default=_ALWAYS[0])
    latest: int = field(init=False, default=_ALWAYS[1])

    def __post_init__(self) -> None:
        self._window()

    def _window(self) -> None:
        if self.first is None or self.last is None:
            self.earliest, self.latest = _ALWAYS
        else:
            self.earliest, self.latest = _micros(self.first) - _WINDOW_US, _micros(self.last) + _WINDOW_US

    def within(self, when: datetime | None) -> bool:
        if when is None or self.first is None or self.last is None:
            return True
        return self.first - THREAD_WINDOW <= when <= self.last + THREAD_WINDOW

    def add(self, when: datetime | None, addresses: Iterable[str]) -> None:
        # Interned: the same few addresses recur in thousands of cached threads.
        self.addresses.update(map(sys.intern, addresses))
        if when is not None:
            if self.first is None or when < self.first:
                self.first, self.dirty = when, True
            if self.last is None or when > self.last:
                self.last, self.dirty = when, True
            self._window()


class ThreadIndex:
    """Candidate threads by subject key, loaded from the store on demand and cached for a run.

    The cache is bounded, so that memory stays flat whatever the mailbox size: at most ``max_keys`` subject
    keys and ``max_threads`` threads under them, the least recently used keys going first, and up to
    ``2 * max_keys`` threads reached only by reference.  A key that was dropped is read again from the
    store when a message needs it; the store has everything the cache had (threads are written at the end
    of every batch), so what is stored does not depend on the bounds.  A thread is one object in the cache
    however it was reached, so that what one message adds to it the next one sees.
    """

    def __init__(self, own_addresses: set[str], max_keys: int = 5_000, max_threads: int = 40_000) -> None:
        self.own = own_addresses
        self.max_keys = max_keys
        self.max_threads = max_threads
        self.by_key: OrderedDict[str, list[ThreadInfo]] = OrderedDict()
        self.by_id: dict[int, ThreadInfo] = {}  # the threads listed in by_key
        self.refs: OrderedDict[int, ThreadInfo] = OrderedDict()  # threads reached by reference only
        self.cached_threads = 0  # ThreadInfo entries in by_key

    def get(self, tid: int) -> ThreadInfo | None:
        return self.by_id.get(tid) or self.refs.get(tid)

    def preload(self, session: Session, keys: Iterable[str]) -> None:
        wanted = set(keys)
        missing = []
        for key in wanted:
            if not key:
                continue
            if key in self.by_key:
                self.by_key.move_to_end(key)  # recently used: evicted last
            else:
                missing.append(key)
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
                info = self.refs.pop(tid, None)  # known by reference: the same object from now on
                if info is None:
                    info = ThreadInfo(tid, sys.intern(key), first, last)
                info.indexed = True
                self.by_key[key].append(info)
                self.by_id[tid] = info
                ids.append(tid)
            self.cached_threads += len(rows)
            for id_chunk in chunked(ids):
                for tid, address in session.execute(
                    select(Message.thread_id, Contact.address)
                    .join(Participant, Participant.message_id == Message.id)
                    .join(Contact, Contact.id == Participant.contact_id)
                    .where(Message.thread_id.in_(id_chunk))
                ):
                    self.by_id[tid].addresses.add(sys.intern(address))
        # Evict the least recently used keys, never one this batch needs.
        while len(self.by_key) > self.max_keys or self.cached_threads > self.max_threads:
            key = next(iter(self.by_key))
            if key in wanted:
                break  # every key after it is needed now
            dropped = self.by_key.pop(key)
            self.cached_threads -= len(dropped)
            for info in dropped:
                info.indexed = False
                if info.id is not None:
                    self.by_id.pop(info.id, None)
                    if info.dirty:  # not written yet: keep it reachable
                        self.refs[info.id] = info
        while len(self.refs) > 2 * self.max_keys:
            self.refs.popitem(last=False)

    def remember(self, info: ThreadInfo) -> None:
        if info.id is not None:
            if info.indexed:
                self.by_id[info.id] = info
            else:
                self.refs[info.id] = info

    def find(self, keys: list[str], when: datetime | None, addresses: set[str]) -> ThreadInfo | None:
        """The most recent thread under one of ``keys`` sharing a non-team participant, within the window."""
        wanted = (addresses - self.own) or addresses  # with only team members, any shared address counts
        now = _micros(when) if when is not None else None
        best: ThreadInfo | None = None
        best_stamp = 0
        for key in keys:
            for info in self.by_key.get(key, ()):
                # info.within(when), on the precomputed window
                if now is not None and (now < info.earliest or now > info.latest):
                    continue
                if info.addresses.isdisjoint(wanted):
                    continue
                # the most recent by last date (undated ones first): latest is last + the window
                stamp = info.latest if info.last is not None else _UNDATED
                if best is None or stamp > best_stamp:
                    best, best_stamp = info, stamp
        return best

    def new_thread(self, root_key: str, key: str, when: datetime | None, addresses: set[str]) -> ThreadInfo:
        info = ThreadInfo(None, sys.intern(key), when, when, {sys.intern(a) for a in addresses}, True, root_key)
        if key:
            info.indexed = True
            self.by_key.setdefault(key, []).append(info)
            self.cached_threads += 1
        return info


_UNDATED = _WINDOW_US  # a thread without dates ranks as if it were last dated at the epoch
