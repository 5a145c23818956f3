"""The store: engines and schema upgrades, locks, bulk writes and the models.

Sessions are created by the caller (the CLI or an API user) and passed into the functions that need
them; nothing here is global.
"""

from outreach.store.bulk import IN_CHUNK, bulk_insert, bulk_insert_rows, chunked
from outreach.store.engine import (
    current_revision,
    head_revision,
    make_engine,
    migrations_dir,
    open_store,
    session_factory,
    upgrade,
)
from outreach.store.locks import lock_store_for_writing, mailbox_sync_lock, sync_lock_path

__all__ = [
    "IN_CHUNK",
    "bulk_insert",
    "bulk_insert_rows",
    "chunked",
    "current_revision",
    "head_revision",
    "lock_store_for_writing",
    "mailbox_sync_lock",
    "make_engine",
    "migrations_dir",
    "open_store",
    "session_factory",
    "sync_lock_path",
    "upgrade",
]
