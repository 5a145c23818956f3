"""Opening the store: engines, schema upgrades through alembic, and sessions.

Sessions are created by the caller (the CLI or an API user) and passed into the functions that need
them; nothing here is global.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from outreach.errors import NotAStoreError, StoreError

#: The package that holds the alembic migrations (``migrations/`` at the top of the repository is a link
#: to it, for plain ``alembic`` commands): an installed wheel carries them.
MIGRATIONS_PACKAGE = "outreach.store.migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets `outreach contacts` read while a sync writes; NORMAL is durable at every commit in WAL mode.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


SUPPORTED = "sqlite:///PATH or postgresql://USER@HOST:PORT/NAME"


def _shown(url: str) -> str:
    """``url`` without its password: "scheme://user:secret@host" -> "scheme://user:***@host"."""
    return re.sub(r"(://[^/:@]*:).*@", r"\1***@", url)  # up to the last "@": a password may hold one


def parse_url(url: str) -> URL:
    """The store URL: ``postgres://`` is read as ``postgresql://``; any other database is refused."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise NotAStoreError(f"invalid database URL {_shown(url)!r} (supported: {SUPPORTED})") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise NotAStoreError(
            f"{parsed.get_backend_name()}: not a supported database for the store (supported: {SUPPORTED})"
        )
    return parsed


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite store URL; None for another database or an in-memory one."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    if parsed.database.startswith("file:"):
        return None
    return Path(parsed.database).expanduser()


def make_engine(url: str, create: bool = True) -> Engine:
    """An engine for ``url``; for SQLite sane pragmas are set, and with ``create`` the parent directory is
    created."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        if create and parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{folder}: cannot create the store's directory ({exc.strerror})") from exc
        try:
            engine = create_engine(parsed, connect_args={"cached_statements": 16})
        except NoSuchModuleError as exc:
            raise NotAStoreError(f"unsupported database URL {parsed.render_as_string()}: {exc}") from exc
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


def migrations_dir() -> Path:
    """The folder of the migrations, as installed with the package."""
    return Path(str(resources.files(MIGRATIONS_PACKAGE)))


def _alembic_config(engine_connection: Any = None) -> Any:
    """The alembic configuration, built here rather than read from ``alembic.ini`` (which an installed
    package does not have)."""
    from alembic.config import Config

    folder = migrations_dir()
    if not (folder / "env.py").is_file():
        raise StoreError(f"{folder}: the store's migrations are missing (a broken install?)")
    cfg = Config()
    cfg.set_main_option("script_location", str(folder))
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


def open_store(url: str, auto_upgrade: bool = True, create: bool = True) -> Engine:
    """Open the store; a new (empty) database is upgraded automatically, an outdated one on request.

    Without ``create`` (the commands that only read) a SQLite store that does not exist is an error, and
    nothing is created.  A file that is no SQLite database, or another application's database, is an error
    too, and is left untouched."""
    path = sqlite_path(url)
    if path is not None and not create and not path.exists():
        raise NotAStoreError(f"no store at {path}: run `outreach sync` or `outreach import` first")
    if path is not None and path.exists() and not path.is_file():
        raise NotAStoreError(f"{path}: not an outreach store (not a file)")
    if path is not None and path.is_file() and path.stat().st_size:
        _check_sqlite_file(path)
    engine = make_engine(url, create)
    try:
        current = current_revision(engine)
        tables = set(inspect(engine).get_table_names()) if current is None else set()
    except DatabaseError as exc:
        if path is not None:
            raise NotAStoreError(f"{path}: not an outreach store ({exc.orig})") from exc
        raise StoreError(f"{_safe_url(engine)}: cannot open the database: {_reason(exc)}") from exc
    head = head_revision()
    if current == head:
        return engine
    if current is None and tables:
        where = path or _safe_url(engine)
        names = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
        raise NotAStoreError(f"{where}: not an outreach store (a database of another application: {names})")
    if current is None or auto_upgrade:
        upgrade(engine)
        return engine
    raise StoreError(
        f"{_safe_url(engine)}: schema is at {current or 'an unknown version'}, expected {head}; "
        "run `outreach db upgrade`"
    )


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_sqlite_file(path: Path) -> None:
    """Refuse a file that is no SQLite database, or another application's: read-only, before the engine
    (whose pragmas would turn the file to WAL mode) ever touches it."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(16)
    except OSError as exc:
        raise NotAStoreError(f"{path}: cannot read ({exc.strerror})") from exc
    if magic != _SQLITE_MAGIC:
        raise NotAStoreError(f"{path}: not an outreach store (not a SQLite database)")
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        raise NotAStoreError(f"{path}: not an outreach store ({exc})") from exc
    if tables and "alembic_version" not in tables:
        names = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
        raise NotAStoreError(f"{path}: not an outreach store (a database of another application: {names})")


_PG_REFUSED = re.compile(  # libpq's words for a connection that failed: the host, the port, and why
    r'connection to server at "([^"]+)"(?: \([^)]*\))?, port (\d+) failed: (.+?)(?: Is the server|$)'
)


def _reason(exc: DatabaseError) -> str:
    """A database error in one line: a refused PostgreSQL connection names the host and port."""
    text = " ".join(str(exc.orig).split())
    match = _PG_REFUSED.search(text)
    if match:
        return f"PostgreSQL at {match.group(1)} port {match.group(2)}: {match.group(3).strip().rstrip('.')}"
    return text[:300]


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _safe_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


