"""Opening the store: engines, schema upgrades through alembic, and sessions.

Sessions are created by the caller (the CLI or an API user) and passed into the functions that need
them; nothing here is global.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from outreach.errors import MailboxBusyError, StoreError

REPO_ROOT = Path(__file__).resolve().parents[2]
IN_CHUNK = 500  # values per IN (...) list: well under SQLite's and PostgreSQL's parameter limits

T = TypeVar("T")


def chunked(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in slices of ``size``: for IN lists and batched statements."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


ALEMBIC_INI = REPO_ROOT / "alembic.ini"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets `outreach contacts` read while a sync writes; NORMAL is durable at every commit in WAL mode.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite the parent directory is created and sane pragmas are set."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        # never echo a password: "scheme://user:secret@host" -> "scheme://user:***@host"
        shown = re.sub(r"(://[^/:@]*:).*@", r"\1***@", url)  # up to the last "@": a password may hold one
        raise StoreError(
            f"invalid database URL {shown!r} (expected e.g. sqlite:///path/outreach.db or "
            "postgresql://user@host:5432/outreach)"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{folder}: cannot create the store's directory ({exc.strerror})") from exc
        engine = create_engine(parsed, connect_args={"cached_statements": 16})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        return create_engine(parsed, pool_pre_ping=True)
    except NoSuchModuleError as exc:
        raise StoreError(f"unsupported database URL {parsed.render_as_string()}: {exc}") from exc
    except ImportError as exc:
        raise StoreError(
            f"{parsed.get_backend_name()}: driver missing ({exc.name}); install outreach[postgres]"
        ) from exc


def _alembic_config(engine_connection: Any = None) -> Any:
    from alembic.config import Config

    if not ALEMBIC_INI.exists():
        raise StoreError(f"{ALEMBIC_INI}: alembic configuration not found (is outreach installed from its repo?)")
    cfg = Config(str(ALEMBIC_INI))
    cfg.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    if engine_connection is not None:
        cfg.attributes["connection"] = engine_connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the repo always has migrations
        raise StoreError("no migrations found")
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` through the migrations (the only way the schema changes)."""
    from alembic import command

    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), revision)
    except OperationalError as exc:
        raise StoreError(f"{_safe_url(engine)}: cannot upgrade the schema: {exc.orig}") from exc


def open_store(url: str, auto_upgrade: bool = True) -> Engine:
    """Open the store; a new (empty) database is upgraded automatically, an outdated one on request."""
    engine = make_engine(url)
    try:
        current = current_revision(engine)
    except OperationalError as exc:
        raise StoreError(f"{_safe_url(engine)}: cannot open the database: {exc.orig}") from exc
    head = head_revision()
    if current == head:
        return engine
    is_new = current is None and not inspect(engine).get_table_names()
    if is_new or auto_upgrade:
        upgrade(engine)
        return engine
    raise StoreError(
        f"{_safe_url(engine)}: schema is at {current or 'an unknown version'}, expected {head}; "
        "run `outreach db upgrade`"
    )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _safe_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


# ------------------------------------------------------------------------------------------ locks

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
