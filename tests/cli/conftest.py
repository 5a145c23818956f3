"""Fixtures of the CLI tests: a store made from the sample mailbox, through the real ``outreach import``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from outreach.cli import main

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "outreach" / "data" / "sample-mailbox"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of a SQLite store holding the sample mailbox (mailbox ``alex``), one per test module."""
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'outreach.db'}"
    done = CliRunner().invoke(main, ["--database-url", url, "import", str(SAMPLE), "--mailbox", "alex", "-q"])
    assert done.exit_code == 0, done.output
    return url


AS_OF = "2026-11-21"  # the day the sample mailbox's story was written
Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(store: str) -> Cli:
    """Run ``outreach --database-url STORE --as-of AS_OF ARGS…`` in this process: (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(main, ["--database-url", store, "--as-of", AS_OF, *args])
        return result.exit_code, result.stdout, result.stderr

    return run
