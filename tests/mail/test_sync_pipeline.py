"""The sync's pipeline: answers read in byte-bounded parts, the parse worker, the bounded thread cache.

What these guard is that the speed and memory measures never change what is stored: a FETCH answer read in
parts commits only UIDs whose predecessors are all stored (resume after a kill stays exact), the thread
cache's bounds do not change which thread a message joins, and the fast SQLite date conversion writes what
SQLAlchemy's would.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from outreach.config import MailboxConfig
from outreach.mail import imap as imap_sync
from outreach.mail.ingest import Ingestor, RawMessage, ensure_folder
from outreach.mail.owners import ensure_mailbox
from outreach.mail.runs import sync_mailbox
from outreach.mail.threads import THREAD_WINDOW, ThreadIndex, ThreadInfo, date_span
from outreach.mail.worker import PrepareWorker
from outreach.store import open_store, session_factory
from outreach.store.bulk import bind_processor, sqlite_utc_datetime
from outreach.store.models import Folder, Message, MessageLocation, Thread


def _generated(n: int, seed: int = 11) -> list[bytes]:
    from conftest import load_synthetic_mail

    return list(load_synthetic_mail().generate_messages(n, seed=seed))


@pytest.mark.integration
def test_answers_read_in_parts_commit_only_complete_prefixes(
    imap_account: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = imap_sync.PARALLEL_THRESHOLD + 300  # through the parse worker
    imap_account.write_messages(_generated(count))  # type: ignore[attr-defined]
    monkeypatch.setattr(imap_sync, "MAX_BATCH_BYTES", 40_000)  # every FETCH answer is read in many parts
    sessions = session_factory(open_store(f"sqlite:///{tmp_path / 'parts.db'}"))
    commits: list[int] = []

    def check(session: Session, new_ids: list[int]) -> None:
        # Before each commit: every UID up to the folder's highest is stored, so a kill here resumes exactly.
        highest = session.scalar(select(Folder.highest_uid).where(Folder.name == "INBOX")) or 0
        stored = session.scalar(select(func.count()).where(MessageLocation.uid <= highest)) or 0
        assert stored == highest  # the account's UIDs are 1..count
        commits.append(highest)

    config = MailboxConfig(
        name="me",
        host=imap_account.host,  # type: ignore[attr-defined]
        port=imap_account.port,  # type: ignore[attr-defined]
        username=imap_account.user,  # type: ignore[attr-defined]
        security="plain",
        addresses=("owner@example.org",),
    )
    summary = sync_mailbox(sessions, config, imap_account.password, signals=False, after_batch=check)  # type: ignore[attr-defined]
    assert summary.totals.fetched == count and summary.totals.new == count
    assert len(commits) > count // 500 + 1  # answers really were split
    assert commits == sorted(commits) and commits[-1] == count
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == count
        assert session.scalar(select(func.count()).select_from(MessageLocation)) == count


def _threads_of(path: Path, messages: list[bytes], bounds: tuple[int, int] | None) -> frozenset[frozenset[str]]:
    """The conversations (each a set of message keys) the ingest makes of ``messages``."""
    sessions = session_factory(open_store(f"sqlite:///{path}"))
    with sessions() as session:
        box = ensure_mailbox(session, "me", ["owner@example.org"])
        folder = ensure_folder(session, box, "INBOX", "imap")
        ingestor = Ingestor(session, box)
        if bounds is not None:
            ingestor.threader.index = ThreadIndex(ingestor.team, max_keys=bounds[0], max_threads=bounds[1])
        for start in range(0, len(messages), 40):
            batch = [RawMessage(raw, uid=start + i + 1) for i, raw in enumerate(messages[start : start + 40])]
            ingestor.ingest(folder, batch)
        rows = session.execute(
            select(Message.message_key, Thread.id).join(Thread, Message.thread_id == Thread.id)
        )
        groups: dict[int, set[str]] = {}
        for key, tid in rows:
            groups.setdefault(tid, set()).add(key)
        return frozenset(frozenset(keys) for keys in groups.values())


def test_thread_cache_bounds_do_not_change_threading(tmp_path: Path) -> None:
    messages = _generated(1200, seed=3)
    unbounded = _threads_of(tmp_path / "a.db", messages, None)
    tiny = _threads_of(tmp_path / "b.db", messages, (3, 12))  # evicts and re-reads all the time
    assert sum(len(thread) for thread in unbounded) == 1200
    assert len(unbounded) < 1100  # some threads do hold several messages
    assert tiny == unbounded
    # many keys, few threads: old threads are dropped by date rather than whole keys by age
    assert _threads_of(tmp_path / "c.db", messages, (500, 30)) == unbounded


def _without_references(raw: bytes) -> bytes:
    head, sep, body = raw.partition(b"\n\n")
    kept: list[bytes] = []
    dropping = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = line.lower().startswith((b"in-reply-to:", b"references:"))
        if not dropping:
            kept.append(line)
    return b"\n".join(kept) + sep + body


def test_thread_cache_bounds_do_not_change_threading_when_dates_go_back(tmp_path: Path) -> None:
    """As a sync reads an inbox, then the Sent folder from its start again: the second pass goes back in
    time, over subjects whose cached lists were complete only for later dates, or were dropped."""
    from conftest import load_synthetic_mail

    # without In-Reply-To/References (as in the Enron mail): replies find their threads by subject
    messages = [_without_references(raw) for raw in _generated(1200, seed=3)]
    ours = [load_synthetic_mail().is_outbound(raw) for raw in messages]
    assert 100 < sum(ours) < 1100
    inbox_then_sent = [m for m, own in zip(messages, ours, strict=True) if not own]
    inbox_then_sent += [m for m, own in zip(messages, ours, strict=True) if own]
    # and mail that jumps back and forth (runs of 25 messages in a shuffled order; batches hold 40, so
    # that a batch's dates can straddle the start or the end of what a subject's list is complete for)
    runs = [messages[i : i + 25] for i in range(0, len(messages), 25)]
    random.Random(7).shuffle(runs)
    shuffled = [m for run in runs for m in run]
    for order, name in ((inbox_then_sent, "inbox-sent"), (shuffled, "shuffled")):
        unbounded = _threads_of(tmp_path / f"{name}.db", order, None)
        assert len(unbounded) < 1200 - 50  # replies join threads by subject
        for bounds in [(3, 12), (500, 30), (50, 200)]:
            assert _threads_of(tmp_path / f"{name}-{bounds}.db", order, bounds) == unbounded, (name, bounds)


def test_sqlite_dates_are_written_as_sqlalchemy_writes_them() -> None:
    dialect = sqlite.dialect()
    date_type = Message.__table__.c.date.type
    assert bind_processor(date_type, dialect) is sqlite_utc_datetime
    reference = date_type._cached_bind_processor(dialect)
    rng = random.Random(5)
    values: list[datetime | None] = [None, datetime(2000, 1, 1), datetime(2000, 1, 1, tzinfo=UTC)]
    for _ in range(5000):
        when = datetime(1970, 1, 1) + timedelta(seconds=rng.randrange(4_000_000_000), microseconds=rng.choice([0, 7]))
        offset = rng.choice([None, timedelta(0), timedelta(hours=rng.randrange(-12, 14), minutes=rng.choice([0, 30]))])
        values.append(when if offset is None else when.replace(tzinfo=timezone(offset)))
    assert [sqlite_utc_datetime(v) for v in values] == [reference(v) for v in values]


def test_abandoned_worker_batches_are_dropped() -> None:
    worker = PrepareWorker()
    try:
        messages = _generated(6)
        worker.submit([(raw, None) for raw in messages[:3]], False)
        worker.submit([(b"not mail", None)], False)
        worker.abandon()  # e.g. the connection dropped: these two are fetched again
        later = worker.submit([(raw, None) for raw in messages[3:]] + [(None, None)], False)
        parsed = later.result()
        assert [p is None for p, _ in parsed] == [False, False, False, True]
        assert worker.answers == {}
    finally:
        worker.close()


def test_worker_gives_what_the_sync_would_compute_in_process() -> None:
    """Both ways a sync uses its worker (parse and analyse there; or parse here, analyse there) give the
    same results as :func:`prepare_batch` run in-process, in submission order."""
    from outreach.mail.worker import parse_batch, prepare_batch

    items: list[tuple[bytes | None, datetime | None]] = [(raw, None) for raw in _generated(40, seed=5)]
    items += [(None, None), (b"\xff\xfe not mail at all", None)]
    expected = prepare_batch(items, analyse=True)
    assert any(found is not None and found.signals for _, found in expected)  # something to compare
    worker = PrepareWorker()
    try:
        in_worker = worker.submit(items, True)
        split = worker.submit_parsed(parse_batch(items))
        parse_only = worker.submit(items, False)
        for answer in (in_worker.result(), split.result()):
            assert answer == expected
            # the same types too: named tuples compare equal to plain tuples
            found = [f for _, f in answer if f is not None]
            assert {type(f).__name__ for f in found} == {"MessageSignals"}
            assert {type(hit).__name__ for f in found for hit in f.signals} == {"SignalHit"}
            assert all(type(hit.personal) is bool and hit.sentence for f in found for hit in f.signals)
        assert [found for _, found in parse_only.result()] == [None] * len(items)
    finally:
        worker.close()


def _within(info: ThreadInfo, when: datetime | None) -> bool:
    """The thread window on datetimes: what ThreadIndex.find_all checks on integer microseconds."""
    if when is None or info.first is None or info.last is None:
        return True
    return bool(info.first - THREAD_WINDOW <= when <= info.last + THREAD_WINDOW)


def test_thread_index_finds_every_candidate_as_by_timestamp() -> None:
    """ThreadIndex.find_all checks windows on integer microseconds; it must find exactly the threads whose
    window holds the date by datetimes (undated threads and messages: always) and that share a participant
    other than ours."""

    rng = random.Random(7)
    when = datetime(2001, 5, 1, tzinfo=UTC)
    for _ in range(300):
        index = ThreadIndex({"me@example.org"})
        threads = []
        for n in range(rng.randrange(1, 8)):
            last = rng.choice([None, datetime(1969, 12, 1, tzinfo=UTC), when - timedelta(days=rng.randrange(0, 60))])
            info = ThreadInfo(n + 1, "key", last, last, {rng.choice(["a@x.org", "b@x.org"])})
            index.by_key.setdefault("key", []).append(info)
            threads.append(info)
        probe = rng.choice([when, None])
        expected = [t for t in threads if _within(t, probe) and "a@x.org" in t.addresses]
        assert index.find_all(["key"], probe, {"a@x.org", "me@example.org"}) == expected


def test_thread_preload_lists_what_each_date_range_needs(tmp_path: Path) -> None:
    """ThreadIndex.preload on one subject whose threads lie far apart: what is listed after requests that
    go back, straddle the start or the end of what was read, and after old threads were dropped."""
    day0 = datetime(2020, 1, 1, tzinfo=UTC)

    def day(n: int) -> datetime:
        return day0 + timedelta(days=n)

    def span(a: int, b: int) -> dict[str, tuple[int, int]]:
        return {"budget": date_span([day(a), day(b)])}

    sessions = session_factory(open_store(f"sqlite:///{tmp_path / 'threads.db'}"))
    with sessions() as session:
        spans = {"t1": (0, 1), "t2": (100, 100), "t3": (400, 400), "t4": (800, 810)}
        for root, (first, last) in spans.items():
            session.add(Thread(root_key=root, subject_key="budget", first_date=day(first), last_date=day(last)))
        session.flush()
        ids = {t.root_key: t.id for t in session.scalars(select(Thread))}
        index = ThreadIndex(set())

        def listed() -> set[str]:
            return {root for root, tid in ids.items() if tid in index.by_id}

        index.preload(session, span(390, 410))  # read ahead 180 days: not t4 (window from day 765)
        assert listed() == {"t3"}
        index.preload(session, span(50, 120))  # before what was read, apart from it
        assert listed() == {"t2", "t3"}
        index.preload(session, span(30, 60))  # straddles the start of what was read: t1's window ends on day 46
        assert listed() == {"t1", "t2", "t3"}
        index.preload(session, span(250, 700))  # straddles the end: t4's window starts on day 755, within 700 + 180
        assert listed() == set(spans)
        index._forget_before(date_span([day(500)])[0])  # t1, t2 and t3's windows end before day 500
        assert listed() == {"t4"}
        index.preload(session, span(410, 420))  # read again
        assert listed() == {"t3", "t4"}
        index.preload(session, span(800, 805))  # still listed: no read needed
        assert listed() == {"t3", "t4"}
