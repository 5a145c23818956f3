"""Opening the store: engines, schema upgrades through alembic, and sessions.

Sessions are created by the caller (the CLI or an API user) and passed into the functions that need
them; nothing here is global.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from outreach.errors import StoreError

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


