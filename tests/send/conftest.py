"""Fixtures of the send tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from outreach.store import open_store, session_factory


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A fresh SQLite store in the test's temp dir."""
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield session_factory(engine)
    engine.dispose()
