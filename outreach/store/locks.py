"""Locks on the store: one sync per mailbox at a time, and one writer at a time for a batch.

PostgreSQL uses advisory locks, SQLite a lock file next to the database and its own write lock; either
goes with the process, even on ``kill -9``.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from outreach.errors import MailboxBusyError, StoreError

# PostgreSQL advisory locks are keyed by two int4s; these are outreach's namespaces ("outr", "outw").
_PG_MAILBOX_LOCKS = 0x6F757472
_PG_WRITE_LOCK = 0x6F757477


def _pg_mailbox_key(mailbox: str) -> int:
    key = zlib.crc32(mailbox.encode("utf-8"))
    return key - 2**32 if key >= 2**31 else key


def sync_lock_path(database: str, mailbox: str) -> Path:
    """The lock file of ``mailbox``'s syncs next to a SQLite database file: ``<db>.sync-<mailbox>.lock``."""
    safe = re.sub(r"[^A-Za-z0-9._@+-]", "_", mailbox)[:100]
    if safe != mailbox:
        safe += f"-{zlib.crc32(mailbox.encode('utf-8')):08x}"
    path = Path(database).expanduser()
    return path.with_name(f"{path.name}.sync-{safe}.lock")


@contextlib.contextmanager
def mailbox_sync_lock(
    engine: Engine,
    mailbox: str,
    *,
    wait: bool = False,
    poll: float = 0.5,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the lock of ``mailbox``'s syncs and imports in this store for the duration of the block.

    One sync (or import) of a mailbox runs at a time per store; another one raises
    :class:`MailboxBusyError`, or with ``wait`` polls every ``poll`` seconds until it may start
    (``on_wait`` is told once).  The lock goes with the process, also when it is killed: on PostgreSQL it
    is a session advisory lock held on a connection of its own, on SQLite an ``flock`` on
    ``<db>.sync-<mailbox>.lock`` next to the database.  An in-memory database needs no lock.
    """
    backend = engine.url.get_backend_name()
    if backend == "postgresql":
        with _pg_mailbox_lock(engine, mailbox, wait, poll, on_wait):
            yield
        return
    database = engine.url.database
    if backend != "sqlite" or not database or database == ":memory:" or database.startswith("file::memory:"):
        yield
        return
    with _file_lock(sync_lock_path(database, mailbox), mailbox, wait, poll, on_wait):
        yield


@contextlib.contextmanager
def _pg_mailbox_lock(
    engine: Engine, mailbox: str, wait: bool, poll: float, on_wait: Callable[[str], None] | None
) -> Iterator[None]:
    key = {"space": _PG_MAILBOX_LOCKS, "key": _pg_mailbox_key(mailbox)}
    # Autocommit: the connection holds the lock for the whole run without sitting "idle in transaction".
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        told = False
        while not conn.scalar(text("SELECT pg_try_advisory_lock(:space, :key)"), key):
            if not wait:
                raise MailboxBusyError(mailbox)
            if on_wait is not None and not told:
                on_wait(f"another sync of mailbox {mailbox!r} is running; waiting for it to finish")
                told = True
            time.sleep(poll)
        try:
            yield
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:space, :key)"), key)
            except DBAPIError:  # the connection is gone, and the lock with it
                conn.invalidate()


@contextlib.contextmanager
def _file_lock(
    path: Path, mailbox: str, wait: bool, poll: float, on_wait: Callable[[str], None] | None
) -> Iterator[None]:
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the sync lock file ({exc.strerror})") from exc
    try:
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                    raise MailboxBusyError(mailbox, holder if holder.isdigit() else None) from None
                if on_wait is not None and not told:
                    on_wait(f"another sync of mailbox {mailbox!r} is running; waiting for it to finish")
                    told = True
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def lock_store_for_writing(session: Session) -> None:
    """Serialise the session's current transaction with other processes' writes to the store, until it
    commits or rolls back; the reads that follow see everything they committed.

    Two teammates' syncs into one store create the same contacts, threads and messages: each batch reads
    what exists and inserts the rest, so without this both could insert the same row (a unique violation)
    and two ledger refreshes of a shared contact could collide.  PostgreSQL: a transaction-level advisory
    lock.  SQLite: the database's write lock, taken now (``BEGIN IMMEDIATE``) instead of at the first write.
    """
    conn = session.connection()
    backend = conn.dialect.name
    if backend == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:space, 0)"), {"space": _PG_WRITE_LOCK})
    elif backend == "sqlite":
        dbapi = conn.connection.dbapi_connection
        if dbapi is not None and not dbapi.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
