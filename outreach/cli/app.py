"""What every command gets: the settings, the consoles, ``--as-of``, the store (opened on first use)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

import click
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from outreach.config import Settings

if TYPE_CHECKING:  # imported when a command needs them (see outreach.cli)
    from outreach.auth import Credentials
    from outreach.ledger import LedgerPolicy


class HelpGroup(click.Group):
    """A group that lists each command with the whole first paragraph of its help (click's own listing cuts
    it at the first period, "e.g." included, or at the width left)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            rows.append((name, command.short_help or first_paragraph(command.help or "")))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def first_paragraph(text: str) -> str:
    """A command's help up to its first blank line, on one line."""
    return " ".join(inspect.cleandoc(text).split("\n\n")[0].split())


@dataclass
class AppContext:
    settings: Settings
    console: Console
    err: Console
    as_of: datetime | None = None  # --as-of: the "today" of ledgers and lint; None is now
    _engine: Engine | None = field(default=None, repr=False)

    def engine(self, create: bool = True) -> Engine:
        """The store; without ``create`` (a command that only reads) a store that does not exist yet is an
        error, and nothing is created."""
        if self._engine is None:
            from outreach.store import open_store

            self._engine = open_store(self.settings.database_url, create=create)
        return self._engine

    def sessions(self, create: bool = True) -> sessionmaker[Session]:
        from outreach.store import session_factory

        return session_factory(self.engine(create))

    def ledger_policy(self) -> LedgerPolicy:
        """The config's ``[ledger]`` policy, as of ``--as-of``."""
        from outreach.ledger import LedgerPolicy

        where = f"{self.settings.config_path}: [ledger]" if self.settings.config_path else "[ledger]"
        policy = LedgerPolicy.from_mapping(self.settings.section("ledger"), origin=where)
        return policy if self.as_of is None else replace(policy, as_of=self.as_of)

    def credentials(self) -> Credentials:
        """Passwords from the environment, the keyring, or a prompt on the terminal."""
        from outreach.auth import Credentials, terminal_prompt

        return Credentials(self.settings.environ, prompt=terminal_prompt)


pass_app = click.make_pass_decorator(AppContext)

__all__ = ["AppContext", "HelpGroup", "first_paragraph", "pass_app"]
