"""Threads as a sync sees them: the subject key, thread windows, and the bounded cache of stored threads
(:class:`ThreadIndex`) that :class:`~outreach.mail.conversations.Threader` assigns messages with.

A message joins a thread by In-Reply-To/References when a referenced message is known; otherwise by the
normalised subject, a shared participant other than our own addresses, and a time window.  The Enron data
has no In-Reply-To at all, so the second path matters.
"""

from __future__ import annotations

import functools
import re
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from outreach.store import chunked
from outreach.store.models import Contact, Message, Participant, Thread

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
#: A subject's threads are read up to this far past the latest date a batch needs them for, so that mail in
#: date order reads a cached subject again about twice a year, not at every batch.
_READ_AHEAD_US = 4 * _WINDOW_US
_ALWAYS = (-(2**63), 2**63)  # no dates: always within the window


def _threads_under(earliest: bool, latest: bool) -> Select[tuple[int, str, datetime | None, datetime | None]]:
    """The stored threads under some subject keys (whose window reaches the earliest / latest date)."""
    query = select(Thread.id, Thread.subject_key, Thread.first_date, Thread.last_date).where(
        Thread.subject_key.in_(bindparam("keys", expanding=True))
    )
    if earliest:
        query = query.where(Thread.last_date.is_(None) | (Thread.last_date >= bindparam("earliest")))
    if latest:
        query = query.where(Thread.first_date.is_(None) | (Thread.first_date <= bindparam("latest")))
    return query


# Built once: a thread that grows in the middle of a batch may read its subject's threads again (hundreds
# of times in a large sync), and building the statement cost more than running it.
_THREADS_UNDER = {(e, la): _threads_under(e, la) for e in (False, True) for la in (False, True)}


def _from_micros(micros: int) -> datetime:
    """The inverse of :func:`_micros`, clamped to what a datetime can hold."""
    try:
        return _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC) if micros > 0 else datetime.min.replace(tzinfo=UTC)


def date_span(dates: Iterable[datetime | None]) -> tuple[int, int]:
    """What :meth:`ThreadIndex.preload` wants for messages of these dates: the earliest and the latest, as
    microseconds since the epoch (all of time if one is undated: it may join a thread of any date)."""
    stamps = []
    for when in dates:
        if when is None:
            return _ALWAYS
        stamps.append(_micros(when))
    if not stamps:
        return _ALWAYS
    return min(stamps), max(stamps)


def _micros(when: datetime) -> int:
    """Microseconds since the epoch, exactly (naive datetimes are UTC, as the store keeps them)."""
    return (when - (_EPOCH if when.tzinfo is not None else _NAIVE_EPOCH)) // _MICROSECOND


@dataclass(slots=True, eq=False)  # identity: two threads are never the same by value
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

    def add(self, when: datetime | None, addresses: Iterable[str]) -> bool:
        """Take a message of date ``when`` with ``addresses``; whether its addresses or window grew."""
        # Interned: the same few addresses recur in thousands of cached threads.
        before = len(self.addresses), self.first, self.last
        self.addresses.update(map(sys.intern, addresses))
        if when is not None:
            if self.first is None or when < self.first:
                self.first, self.dirty = when, True
            if self.last is None or when > self.last:
                self.last, self.dirty = when, True
            self._window()
        return (len(self.addresses), self.first, self.last) != before

    def overlaps(self, other: ThreadInfo) -> bool:
        """Whether the two threads come within the window of each other: no more than THREAD_WINDOW between
        them, as for a message joining a thread (undated: always)."""
        return other.earliest + _WINDOW_US <= self.latest and self.earliest + _WINDOW_US <= other.latest


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
        self.complete: dict[str, tuple[int, int]] = {}  # key -> the dates its by_key list is complete for
        self.cached_threads = 0  # ThreadInfo entries in by_key

    def get(self, tid: int) -> ThreadInfo | None:
        return self.by_id.get(tid) or self.refs.get(tid)

    def preload(self, session: Session, wanted: dict[str, tuple[int, int]], evict: bool = True) -> None:
        """Make sure ``by_key`` lists every stored thread that a message under one of the keys could join:
        ``wanted`` maps each key to the earliest and latest date of its messages (microseconds since the
        epoch, see :func:`date_span`).  Then, with ``evict``, the cache is brought back within its bounds:
        only at the start of a batch (in the middle of one, a thread dropped from the cache could be read
        back from the store without what the batch did to it).

        Only threads whose window reaches those dates are read (and those up to ``_READ_AHEAD_US`` later),
        so that a subject used for years costs what its threads around these dates cost, in whatever
        order the mail comes (a Sent folder after the inbox goes back to the start).  ``complete`` keeps,
        per cached key, the dates its list is complete for: every stored thread reaching them was read,
        and a thread stored later is made by this run and listed (:meth:`new_thread`) or reached by
        reference and listed when it grows (:meth:`grown`).
        """
        missing: dict[str, tuple[int, int]] = {}  # key -> the dates to read threads for
        for key, (lo, hi) in wanted.items():
            if not key:
                continue
            ahead = min(hi + _READ_AHEAD_US, _ALWAYS[1])
            self.by_key.setdefault(key, [])
            self.by_key.move_to_end(key)  # recently used: evicted last
            have = self.complete.get(key)
            if have is None:
                missing[key] = self.complete[key] = (lo, ahead)
                continue
            a, b = have
            if a <= lo and hi <= b:
                continue
            if hi < a or lo > b:  # apart from what is listed: the dates in between are not needed
                missing[key] = self.complete[key] = (lo, ahead)
            else:  # the sides not covered yet (and what lies between them, when both are missing: rare)
                missing[key] = (lo if lo < a else b, ahead if hi > b else a)
                self.complete[key] = (min(a, lo), max(b, ahead))
        for chunk in chunked(list(missing)):
            lo = min(missing[key][0] for key in chunk)
            hi = max(missing[key][1] for key in chunk)
            params: dict[str, Any] = {"keys": chunk}
            if lo > _ALWAYS[0]:  # the threads whose window can reach the earliest date
                params["earliest"] = _from_micros(lo - _WINDOW_US)
            if hi < _ALWAYS[1]:
                params["latest"] = _from_micros(hi + _WINDOW_US)
            fresh: list[ThreadInfo] = []
            query = _THREADS_UNDER[("earliest" in params, "latest" in params)]
            for tid, key, first, last in session.execute(query, params):
                if tid in self.by_id:
                    continue  # listed already
                known = self.refs.pop(tid) if tid in self.refs else None  # known already: the same object
                if known is None:
                    known = ThreadInfo(tid, sys.intern(key), first, last)
                    fresh.append(known)
                known.indexed = True
                self.by_key[key].append(known)
                self.by_id[tid] = known
                self.cached_threads += 1
            self.load_addresses(session, fresh)
        if not evict:
            return
        if self.cached_threads > self.max_threads:
            self._forget_before(min((lo for lo, _ in wanted.values()), default=_ALWAYS[0]))
        # Evict the least recently used keys, never one this batch needs.
        while len(self.by_key) > self.max_keys or self.cached_threads > self.max_threads:
            key = next(iter(self.by_key))
            if key in wanted:
                break  # every key after it is needed now
            dropped = self.by_key.pop(key)
            self.complete.pop(key, None)
            self.cached_threads -= len(dropped)
            for info in dropped:
                self._unlist(info)
        while len(self.refs) > 2 * self.max_keys:
            self.refs.popitem(last=False)

    def _forget_before(self, earliest: int) -> None:
        """Drop the threads whose window ends before ``earliest`` (the batch's earliest date): mail comes
        mostly in date order, so they are unlikely to be joined again; each key's list stays complete
        for the dates from ``earliest`` on that it was complete for (and is read again for an older
        message)."""
        if earliest <= _ALWAYS[0]:
            return
        for key in list(self.by_key):
            threads = self.by_key[key]
            keep = [info for info in threads if info.latest >= earliest]
            if len(keep) == len(threads):
                continue
            for info in threads:
                if info.latest < earliest:
                    self._unlist(info)
            self.cached_threads -= len(threads) - len(keep)
            self.by_key[key] = keep
            have = self.complete.get(key)
            if have is not None:
                if have[1] < earliest:
                    del self.complete[key]
                else:
                    self.complete[key] = (max(have[0], earliest), have[1])

    def _unlist(self, info: ThreadInfo) -> None:
        """``info`` is no longer listed under its key (the caller took it out of ``by_key``)."""
        info.indexed = False
        if info.id is not None:
            self.by_id.pop(info.id, None)
            if info.dirty:  # not written yet: keep it reachable
                self.refs[info.id] = info

    @staticmethod
    def load_addresses(session: Session, threads: list[ThreadInfo]) -> None:
        """Add the stored participants of ``threads`` to their addresses: every thread object in the cache
        has all of them (find() matches on them), however it was reached."""
        by_id = {info.id: info for info in threads if info.id is not None}
        for id_chunk in chunked(list(by_id)):
            for tid, address in session.execute(
                select(Message.thread_id, Contact.address)
                .join(Participant, Participant.message_id == Message.id)
                .join(Contact, Contact.id == Participant.contact_id)
                .where(Message.thread_id.in_(id_chunk))
            ):
                by_id[tid].addresses.add(sys.intern(address))

    def grown(self, info: ThreadInfo) -> None:
        """A thread reached by reference took a message: list it under its key if that key is cached, since
        its window may now reach dates the key's list is complete for."""
        if info.indexed or info.id is None or info.subject_key not in self.by_key:
            return
        self.refs.pop(info.id, None)
        info.indexed = True
        self.by_key[info.subject_key].append(info)
        self.by_id[info.id] = info
        self.cached_threads += 1

    def remember(self, info: ThreadInfo) -> None:
        if info.id is not None:
            if info.indexed:
                self.by_id[info.id] = info
            else:
                self.refs[info.id] = info

    def _sharer(self, addresses: set[str]) -> Callable[[set[str]], bool]:
        """Whether a thread's participants meet ``addresses``: a participant other than the team's in
        common, or, when either side has only team members, any participant in common.  (The same both
        ways round, so that which one came first does not matter.)"""
        own = self.own
        wanted = addresses - own
        if not wanted:
            return lambda other: not other.isdisjoint(addresses)
        return lambda other: not other.isdisjoint(wanted) or (other <= own and not other.isdisjoint(addresses))

    def find_all(self, keys: list[str], when: datetime | None, addresses: set[str]) -> list[ThreadInfo]:
        """Every cached thread under one of ``keys`` within the window that shares a participant (see
        :meth:`_sharer`)."""
        shares = self._sharer(addresses)
        now = _micros(when) if when is not None else None
        found: list[ThreadInfo] = []
        for key in keys:
            for info in self.by_key.get(key, ()):
                # within the window (first - THREAD_WINDOW .. last + THREAD_WINDOW); undated: always
                if now is not None and (now < info.earliest or now > info.latest):
                    continue
                if shares(info.addresses) and info not in found:
                    found.append(info)
        return found

    def neighbours(self, info: ThreadInfo) -> list[ThreadInfo]:
        """The other cached threads under ``info``'s key that it must merge with: within the window of
        each other and sharing a participant (see :meth:`_sharer`)."""
        shares = self._sharer(info.addresses)
        return [
            other
            for other in self.by_key.get(info.subject_key, ())
            if other is not info and info.overlaps(other) and shares(other.addresses)
        ]

    def absorb(self, survivor: ThreadInfo, gone: ThreadInfo) -> None:
        """``gone`` merges into ``survivor``: its participants and dates, and its place in the cache."""
        survivor.addresses |= gone.addresses
        for when in (gone.first, gone.last):
            if when is not None:
                survivor.add(when, ())
        survivor.dirty = True
        if gone.indexed:
            threads = self.by_key.get(gone.subject_key)
            if threads is not None and gone in threads:
                threads.remove(gone)
                self.cached_threads -= 1
            gone.indexed = False
        if gone.id is not None:
            self.by_id.pop(gone.id, None)
            self.refs.pop(gone.id, None)

    def new_thread(self, root_key: str, key: str, when: datetime | None, addresses: set[str]) -> ThreadInfo:
        info = ThreadInfo(None, sys.intern(key), when, when, {sys.intern(a) for a in addresses}, True, root_key)
        if key:
            info.indexed = True
            self.by_key.setdefault(key, []).append(info)
            self.cached_threads += 1
        return info

