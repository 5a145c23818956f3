"""Commands for the mail and what is derived from it: ``sync``, ``import``, ``signals …``, ``ledger …``,
``db …``."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from outreach.cli.app import AppContext, HelpGroup, pass_app
from outreach.cli.output import ROWS, emit_json, emit_rows, format_option
from outreach.cli.progress import make_progress
from outreach.config import MailboxConfig
from outreach.errors import UsageError


@click.group(cls=HelpGroup)
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


@click.command()
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
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds without an answer from the server before the connection counts as lost and is "
                   "retried (default: the mailbox's timeout, 30).")
@click.option("--wait", is_flag=True, help="If another sync of the mailbox is running, wait for it to finish "
              "instead of exiting.")
@click.option("--no-signals", is_flag=True,
              help="Store the mail only; analyse it later with `outreach signals rebuild --stale-only`.")
@click.option("--no-refine", is_flag=True,
              help="Keep the fast signals; let `outreach signals refine` (or preview/send, for their "
                   "recipients) run the sentence classifier later.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output, only the summary.")
@pass_app
def sync(
    app: AppContext, mailbox_names: tuple[str, ...], host: str | None, port: int | None, username: str | None,
    security: str, addresses: tuple[str, ...], folders: tuple[str, ...], name: str | None, batch_size: int,
    timeout: float | None, wait: bool, no_signals: bool, no_refine: bool, quiet: bool,
) -> None:
    """Fetch new mail over IMAP (read-only, incremental, resumable) into the store."""
    from outreach.mail.runs import sync_mailbox

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
    if timeout is not None:
        configs = [replace(c, timeout=timeout) for c in configs]
    credentials = app.credentials()
    for config in configs:
        password = credentials.imap_login(config)
        started = time.perf_counter()  # the store's opening (a new one's creation) is part of the sync
        with make_progress(app.err, quiet) as progress:
            summary = sync_mailbox(app.sessions(), config, password, progress=progress,
                                   signals=not no_signals, ledger_policy=app.ledger_policy(), wait=wait,
                                   refine=not no_refine)
        _print_summary(app, f"{config.name} ({config.host})", summary.totals, time.perf_counter() - started,
                       [(f.name, f.status) for f in summary.folders], summary.retries, summary.refined)


def _print_summary(
    app: AppContext, title: str, totals: Any, seconds: float, folders: list[tuple[str, str]], retries: int = 0,
    refined: int = 0,
) -> None:
    rate = totals.fetched / seconds if seconds > 0 else 0.0
    click.echo(f"{title}: fetched {totals.fetched}, new {totals.new}, duplicates {totals.duplicates}, "
               f"skipped {totals.skipped_total} in {seconds:.2f}s ({rate:,.0f} msg/s)")
    for folder, status in folders:
        click.echo(f"  {folder}: {status}")
    for reason, count in sorted(totals.skipped.items()):
        click.echo(f"  skipped {count}: {reason}")
    for problem in totals.problems[:10]:
        click.echo(f"    {problem}")
    if retries:
        click.echo(f"  reconnected {retries} time(s) after a dropped connection")
    if refined:
        click.echo(f"  sentence classifier: {refined} message(s) refined")


@click.command()
@click.option("--mailbox", "mailbox_name", required=True, help="The configured mailbox to sign in to.")
@click.option("--no-browser", is_flag=True, help="Google: print the address to open instead of opening a browser.")
@pass_app
def login(app: AppContext, mailbox_name: str, no_browser: bool) -> None:
    """Sign in to a mailbox with OAuth2 (Gmail, Google Workspace, Microsoft 365) and keep its refresh token in
    the system keyring.

    The mailbox needs auth = "oauth2", oauth2_provider and oauth2_client_id in the config (Google: also
    oauth2_client_secret). Google opens a browser (the answer comes back to this machine); Microsoft shows
    a code to enter at its device-login page, on any device. Needs `pip install 'outreach[oauth]'`.
    """
    from outreach.auth import KEYRING_SERVICE, sign_in

    config = app.settings.mailbox(mailbox_name)
    key = sign_in(config, click.echo, browser=not no_browser)
    click.echo(f"signed in {config.username} (mailbox {config.name}); the refresh token is in the system keyring "
               f"(service {KEYRING_SERVICE}, key {key}): `outreach sync --mailbox {config.name}` uses it")


@click.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--mailbox", "mailbox_name", required=True, help="Mailbox (team member) the export belongs to.")
@click.option("--address", "addresses", multiple=True,
              help="The owner's own address (repeat for aliases; default: guessed from the Sent folder).")
@click.option("--no-signals", is_flag=True,
              help="Store the mail only; analyse it later with `outreach signals rebuild --stale-only`.")
@click.option("--no-refine", is_flag=True,
              help="Keep the fast signals; let `outreach signals refine` (or preview/send, for their "
                   "recipients) run the sentence classifier later.")
@click.option("--wait", is_flag=True, help="If a sync or import of the mailbox is running, wait for it.")
@click.option("--quiet", "-q", is_flag=True)
@pass_app
def import_(
    app: AppContext, path: Path, mailbox_name: str, addresses: tuple[str, ...], no_signals: bool,
    no_refine: bool, wait: bool, quiet: bool,
) -> None:
    """Import an mbox file (e.g. Gmail Takeout) or a Maildir tree through the sync pipeline."""
    from outreach.mail.runs import import_path

    with make_progress(app.err, quiet) as progress:
        result = import_path(app.sessions(), path, mailbox_name, list(addresses), progress=progress,
                             signals=not no_signals, ledger_policy=app.ledger_policy(), wait=wait,
                             refine=not no_refine)
    _print_summary(app, f"{mailbox_name} ({path})", result.totals, result.seconds,
                   [(f.name, f.status) for f in result.folders], refined=result.refined)


@click.group(cls=HelpGroup)
def signals() -> None:
    """Signals found in the mail: asks, offers, thanks, fulfilments, commitments, opt-outs."""


@signals.command("rebuild")
@click.option("--stale-only", is_flag=True, help="Only messages analysed by an older pipeline (or never).")
@click.option("--batch-size", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--no-ledgers", is_flag=True, help="Do not recompute the ledgers afterwards.")
@click.option("--quiet", "-q", is_flag=True)
@pass_app
def signals_rebuild(
    app: AppContext, stale_only: bool, batch_size: int, no_ledgers: bool, quiet: bool
) -> None:
    """Recompute every message's signals (after the patterns or the ask model changed), then the ledgers."""
    from outreach.ledger import refresh_ledgers
    from outreach.signals.storage import PIPELINE_VERSION, rebuild

    policy = app.ledger_policy()
    with app.sessions()() as session:
        with make_progress(app.err, quiet) as progress:
            summary = rebuild(session, progress, batch_size=batch_size, stale_only=stale_only)
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(summary.signals.items())) or "none"
        click.echo(f"signals ({PIPELINE_VERSION}): {summary.messages} message(s) in {summary.seconds:.1f}s "
                   f"({summary.rate:,.0f} msg/s); found: {kinds}")
        if not no_ledgers:
            done = refresh_ledgers(session, policy=policy)
            session.commit()
            click.echo(f"ledgers: {done.contacts} contact(s), {done.rows} row(s) in {done.seconds:.1f}s")


@signals.command("refine")
@click.option("--quiet", "-q", is_flag=True)
@pass_app
def signals_refine(app: AppContext, quiet: bool) -> None:
    """Run the sentence classifier on the sentences a sync left pending (--no-refine), then the ledgers."""
    from outreach.signals.storage import refine

    with app.sessions(create=False)() as session, make_progress(app.err, quiet) as progress:
        summary = refine(session, policy=app.ledger_policy(), progress=progress)
    click.echo(f"signals refined: {summary.messages} message(s) in {summary.seconds:.1f}s "
               f"({summary.sentences} sentence(s) through the classifier); ledgers: {summary.contacts} contact(s)")


@click.group(cls=HelpGroup)
def ledger() -> None:
    """The relationship ledgers of the contacts."""


@ledger.command("rebuild")
@pass_app
def ledger_rebuild(app: AppContext) -> None:
    """Recompute every contact's ledger (team-wide and per mailbox) with the [ledger] policy."""
    from outreach.ledger import refresh_ledgers

    policy = app.ledger_policy()
    with app.sessions()() as session:
        done = refresh_ledgers(session, policy=policy)
        session.commit()
    click.echo(f"ledgers: {done.contacts} contact(s), {done.rows} row(s) in {done.seconds:.1f}s")


__all__ = ["db", "import_", "ledger", "login", "mailbox", "signals", "sync"]


@click.group(cls=HelpGroup)
def mailbox() -> None:
    """The team's mailboxes: whose addresses they hold, and where each address came from."""


@mailbox.command("list")
@format_option(*ROWS)
@pass_app
def mailbox_list(app: AppContext, fmt: str) -> None:
    """The mailboxes in the store, with their owner addresses."""
    from sqlalchemy import select

    from outreach.mail.owners import describe_mailbox
    from outreach.store.models import Mailbox

    with app.sessions(create=False)() as session:
        names = session.scalars(select(Mailbox.name).order_by(Mailbox.name)).all()
        found = [describe_mailbox(session, name) for name in names]
    rows = [
        {
            "mailbox": m.name,
            "addresses": ", ".join(a.address for a in m.addresses),
            "folders": ", ".join(f.name for f in m.folders),
            "messages": sum(f.messages for f in m.folders),
        }
        for m in found
        if m is not None
    ]
    emit_rows(app, rows, fmt, ["mailbox", "addresses", "folders", "messages"], title="Mailboxes")


@mailbox.command("show")
@click.argument("name")
@format_option("text", "json")
@pass_app
def mailbox_show(app: AppContext, name: str, fmt: str) -> None:
    """A mailbox's owner addresses and where each came from (the config, or the Sent folder), and its
    folders with the copies counted as the owner's mail."""
    from outreach.ledger.history import mailbox_id_for
    from outreach.mail.owners import SENT_FOLDER, describe_mailbox

    with app.sessions(create=False)() as session:
        mailbox_id_for(session, name)  # an unknown mailbox is a usage error naming the known ones
        found = describe_mailbox(session, name)
    assert found is not None
    if fmt == "json":
        emit_json(found.to_json())
        return
    click.echo(f"mailbox {found.name}")
    click.echo("  owner addresses:")
    for owner in found.addresses:
        where = "From of a message in the Sent folder" if owner.source == SENT_FOLDER else "configured"
        names = f" ({', '.join(owner.names)})" if owner.names else ""
        click.echo(f"    {owner.address}{names}: {where}")
    if not found.addresses:
        click.echo("    none: no Sent folder and no configured address, so none of its mail counts as the owner's")
    click.echo("  folders:")
    for folder in found.folders:
        kind = " (Sent)" if folder.is_sent else ""
        click.echo(f"    {folder.name}{kind}: {folder.messages} message(s), {folder.outbound} the owner's")
