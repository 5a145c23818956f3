"""The ``outreach`` command: a thin layer over the library.

Exit codes: 0 success, 1 a failure at run time (server, store) or — for ``preview``/``lint``/``send`` —
recipients that are blocked or need review, 2 bad usage or input.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from outreach import __version__
from outreach.config import MailboxConfig, Settings, load_settings
from outreach.errors import OutreachError, UsageError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AppContext:
    settings: Settings
    console: Console
    err: Console
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from outreach.store import open_store

            self._engine = open_store(self.settings.database_url)
        return self._engine

    def sessions(self) -> sessionmaker[Session]:
        from outreach.store import session_factory

        return session_factory(self.engine)


pass_app = click.make_pass_decorator(AppContext)


class OutreachGroup(click.Group):
    """Turns :class:`OutreachError` into a one-line message and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OutreachError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted; committed batches are kept, run the command again to resume", err=True)
            ctx.exit(130)


@click.group(cls=OutreachGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="outreach")
@click.option("--database-url", envvar=None, help="Store URL (default: SQLite in the user data dir; "
              "env OUTREACH_DATABASE_URL).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file (env OUTREACH_CONFIG).")
@click.pass_context
def main(ctx: click.Context, database_url: str | None, config_path: str | None) -> None:
    """outreach: see whether you have earned the right to ask, before you ask."""
    try:
        settings = load_settings(config_path, database_url)
    except OutreachError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(exc.exit_code)
    ctx.obj = AppContext(settings, Console(), Console(stderr=True))


# ---------------------------------------------------------------------------------------------- db


@main.group()
def db() -> None:
    """Manage the store's schema."""


@db.command("upgrade")
@pass_app
def db_upgrade(app: AppContext) -> None:
    """Upgrade the store's schema to the latest migration."""
    from outreach.store import current_revision, head_revision, make_engine, upgrade

    engine = make_engine(app.settings.database_url)
    before = current_revision(engine)
    upgrade(engine)
    click.echo(f"store at {head_revision()} (was {before or 'empty'})")


@db.command("current")
@pass_app
def db_current(app: AppContext) -> None:
    """Print the store's URL and schema revision."""
    from outreach.store import current_revision, head_revision, make_engine

    engine = make_engine(app.settings.database_url)
    click.echo(f"{engine.url.render_as_string(hide_password=True)}: {current_revision(engine) or 'empty'} "
               f"(latest {head_revision()})")


# -------------------------------------------------------------------------------------------- sync


def _prompt_password(label: str) -> str:
    if not sys.stdin.isatty():
        raise UsageError(f"{label}: no password in the environment or keyring, and no terminal to ask on")
    value: str = click.prompt(label, hide_input=True)
    return value


@main.command()
@click.option("--mailbox", "mailbox_names", multiple=True, help="Configured mailbox to sync (default: all).")
@click.option("--host", help="IMAP host, for a mailbox not in the config file.")
@click.option("--port", type=int)
@click.option("--user", "username")
@click.option("--security", type=click.Choice(["ssl", "starttls", "plain"]), default="ssl", show_default=True,
              help="plain sends the password unencrypted: only for a server on this machine.")
@click.option("--address", "addresses", multiple=True, help="The owner's own address (repeat for aliases).")
@click.option("--folder", "folders", multiple=True, help="Extra folder to sync besides INBOX and Sent.")
@click.option("--name", default=None, help="Mailbox name in the store for --host (default: USER@HOST).")
@click.option("--batch-size", type=int, default=500, show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress output, only the summary.")
@pass_app
def sync(
    app: AppContext, mailbox_names: tuple[str, ...], host: str | None, port: int | None, username: str | None,
    security: str, addresses: tuple[str, ...], folders: tuple[str, ...], name: str | None, batch_size: int,
    quiet: bool,
) -> None:
    """Fetch new mail over IMAP (read-only, incremental, resumable) into the store."""
    from outreach.api import sync_mailbox

    configs: list[MailboxConfig]
    if host:
        if not username:
            raise UsageError("--host needs --user")
        configs = [MailboxConfig(name=name or f"{username}@{host}", host=host, port=port, username=username,
                                 security=security, addresses=tuple(a.lower() for a in addresses),
                                 folders=folders, batch_size=batch_size)]
    else:
        names = mailbox_names or tuple(app.settings.mailboxes)
        if not names:
            raise UsageError("nothing to sync: give --host/--user, or configure [mailboxes.NAME] in the config file")
        configs = [app.settings.mailbox(n) for n in names]
    from outreach.progress import make_progress

    for config in configs:
        password = app.settings.password(config, prompt=_prompt_password)
        with make_progress(app.err, quiet) as progress:
            summary = sync_mailbox(app.sessions(), config, password, progress=progress)
        _print_summary(app, f"{config.name} ({config.host})", summary.totals, summary.seconds,
                       [(f.name, f.status) for f in summary.folders], summary.retries)


def _print_summary(
    app: AppContext, title: str, totals: Any, seconds: float, folders: list[tuple[str, str]], retries: int = 0
) -> None:
    rate = totals.fetched / seconds if seconds > 0 else 0.0
    click.echo(f"{title}: fetched {totals.fetched}, new {totals.new}, duplicates {totals.duplicates}, "
               f"skipped {totals.skipped_total} in {seconds:.1f}s ({rate:,.0f} msg/s)")
    for folder, status in folders:
        click.echo(f"  {folder}: {status}")
    for reason, count in sorted(totals.skipped.items()):
        click.echo(f"  skipped {count}: {reason}")
    for problem in totals.problems[:10]:
        click.echo(f"    {problem}")
    if retries:
        click.echo(f"  reconnected {retries} time(s) after a dropped connection")


@main.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--mailbox", "mailbox_name", required=True, help="Mailbox (team member) the export belongs to.")
@click.option("--address", "addresses", multiple=True,
              help="The owner's own address (repeat for aliases; default: guessed from the Sent folder).")
@click.option("--quiet", "-q", is_flag=True)
@pass_app
def import_(app: AppContext, path: Path, mailbox_name: str, addresses: tuple[str, ...], quiet: bool) -> None:
    """Import an mbox file (e.g. Gmail Takeout) or a Maildir tree through the sync pipeline."""
    from outreach.api import import_path
    from outreach.progress import make_progress

    with make_progress(app.err, quiet) as progress:
        result = import_path(app.sessions(), path, mailbox_name, list(addresses), progress=progress)
    _print_summary(app, f"{mailbox_name} ({path})", result.totals, result.seconds,
                   [(f.name, f.status) for f in result.folders])


# ---------------------------------------------------------------------------------------- contacts

FORMATS = click.Choice(["table", "json", "csv"])


@main.command()
@click.option("--mailbox", "mailbox_name", help="Only this team member's mail (default: the whole team).")
@click.option("--sort", "sort_field", default="last_received", show_default=True)
@click.option("--asc", is_flag=True, help="Ascending order (default: descending).")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--limit", type=int, default=0, help="At most N rows (0: all).")
@pass_app
def contacts(app: AppContext, mailbox_name: str | None, sort_field: str, asc: bool, fmt: str, limit: int) -> None:
    """List contacts with first/last sent and received, messages each way and two-way threads."""
    from outreach.history import histories, mailbox_id_for, sort_histories

    with app.sessions()() as session:
        items = sort_histories(histories(session, mailbox_id=mailbox_id_for(session, mailbox_name)), sort_field, not asc)
    rows = [h.summary() for h in (items[:limit] if limit else items)]
    _emit(app, rows, fmt, ["address", "name", "first_sent", "last_sent", "first_received", "last_received",
                           "sent", "received", "two_way_threads"], title="Contacts")


@main.command()
@click.argument("address")
@click.option("--mailbox", "mailbox_name", help="Only this team member's mail (default: the whole team).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_app
def contact(app: AppContext, address: str, mailbox_name: str | None, fmt: str) -> None:
    """One contact's history with the messages behind each figure."""
    from outreach.history import histories, mailbox_id_for

    with app.sessions()() as session:
        found = histories(session, [address], mailbox_id=mailbox_id_for(session, mailbox_name))
    if not found:
        raise UsageError(f"{address}: no such contact in the store")
    hist = found[0]
    if fmt == "json":
        data = hist.summary()
        data["evidence"] = {
            "sent": [_evidence(e) for e in hist.sent],
            "received": [_evidence(e) for e in hist.received],
            "two_way_threads": hist.two_way_threads,
        }
        click.echo(json.dumps(data, indent=2))
        return
    summary = hist.summary()
    app.console.print(f"[bold]{hist.address}[/bold]" + (f" ({hist.display_name})" if hist.display_name else ""),
                      highlight=False)
    for key in ("first_sent", "last_sent", "first_received", "last_received", "sent", "received",
                "two_way_threads"):
        click.echo(f"  {key.replace('_', ' '):<16} {summary[key] if summary[key] is not None else '-'}")
    two_way = set(hist.two_way_threads)
    click.echo("  messages:")
    for e in sorted(hist.sent + hist.received, key=lambda e: (e.date.timestamp() if e.date else 0, e.message_id)):
        arrow = "->" if e.direction == "out" else "<-"
        flags = (" [two-way]" if e.thread_id in two_way else "") + (" [bulk/automated]" if e.noisy else "")
        click.echo(f"    {e.date.date().isoformat() if e.date else '????-??-??'} {arrow} {e.subject or '(no subject)'}"
                   f"  #{e.message_id}{flags}")


def _evidence(e: Any) -> dict[str, Any]:
    return {"message_id": e.message_id, "date": e.date.isoformat() if e.date else None, "direction": e.direction,
            "subject": e.subject, "thread_id": e.thread_id, "bulk_or_automated": e.noisy}


def _emit(app: AppContext, rows: list[dict[str, Any]], fmt: str, columns: list[str], title: str = "") -> None:
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buffer.getvalue(), nl=False)
    else:
        table = Table(title=title or None)
        for column in columns:
            table.add_column(column.replace("_", " "), overflow="fold")
        for row in rows:
            table.add_row(*(_cell(row.get(c)) for c in columns))
        app.console.print(table)
        click.echo(f"{len(rows)} row(s)")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    text = str(value)
    return text[:10] if len(text) >= 19 and text[4] == "-" and "T" in text else text
