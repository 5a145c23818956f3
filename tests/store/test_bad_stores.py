"""A store URL that names no outreach store gets one clear error, and the file it names stays untouched."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from outreach.errors import NotAStoreError, StoreError
from outreach.store import open_store


def _fingerprint(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("notes.txt", b"dear diary\n", "not a SQLite database"),
        ("random.bin", bytes(range(256)) * 8, "not a SQLite database"),
        ("report.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "not a SQLite database"),
    ],
)
def test_a_file_that_is_no_database(tmp_path: Path, name: str, content: bytes, says: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    before = _fingerprint(tmp_path)
    with pytest.raises(NotAStoreError) as caught:
        open_store(f"sqlite:///{path}")
    assert str(caught.value) == f"{path}: not an outreach store ({says})" and caught.value.exit_code == 2
    assert _fingerprint(tmp_path) == before


def test_another_applications_sqlite_database(tmp_path: Path) -> None:
    path = tmp_path / "recipes.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE recipe (id INTEGER, title TEXT)")
    before = _fingerprint(tmp_path)
    with pytest.raises(NotAStoreError, match=r"a database of another application: recipe\)$"):
        open_store(f"sqlite:///{path}")
    assert _fingerprint(tmp_path) == before  # no -wal/-shm files, no WAL mode, no tables of ours


def test_reading_commands_never_create_a_store(tmp_path: Path) -> None:
    path = tmp_path / "new" / "outreach.db"
    with pytest.raises(NotAStoreError, match="no store at .*: run `outreach sync` or `outreach import` first"):
        open_store(f"sqlite:///{path}", create=False)
    assert not path.parent.exists()
    open_store(f"sqlite:///{path}")  # a command that writes creates it
    assert path.exists()
    open_store(f"sqlite:///{path}", create=False)  # and then it opens for reading


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("mysql://user@db.example/outreach", "mysql: not a supported database for the store (supported: "),
        ("oracle://scott:tiger@db.example/x", "oracle: not a supported database"),
        ("not a url", "invalid database URL 'not a url'"),
    ],
)
def test_unsupported_urls_say_what_is_supported(url: str, error: str) -> None:
    with pytest.raises(NotAStoreError) as caught:
        open_store(url)
    assert str(caught.value).startswith(error)


def test_postgres_scheme_is_read_as_postgresql_and_a_refused_connection_names_host_and_port() -> None:
    with pytest.raises(StoreError) as caught:
        open_store("postgres://someone:secret@127.0.0.1:1/outreach")
    message = str(caught.value)
    assert "PostgreSQL at 127.0.0.1 port 1: Connection refused" in message
    assert "\n" not in message and "secret" not in message
