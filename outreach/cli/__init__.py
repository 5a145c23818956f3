"""The ``outreach`` command: a thin layer over the library.

Exit codes: 0 success, 1 a failure at run time (server, store) or — for ``preview``/``lint``/``send`` —
recipients that are blocked or need review, 2 bad usage or input.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from outreach import __version__
from outreach.auth import Credentials, terminal_prompt
from outreach.config import MailboxConfig, Settings, load_settings
from outreach.errors import OutreachError, UsageError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AppContext:
    settings: Settings
    console: Console
    err: Console
    as_of: datetime | None = None  # --as-of: the "today" of ledgers and lint; None is now
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
@click.option("--as-of", "as_of", metavar="DATE",
              help="Compute ledgers and lint as if today were DATE (YYYY-MM-DD[THH:MM]): to see how a preview "
                   "will look next week, or to reproduce one. Not allowed when really sending.")
@click.pass_context
def main(ctx: click.Context, database_url: str | None, config_path: str | None, as_of: str | None) -> None:
    """outreach: see whether you have earned the right to ask, before you ask."""
    try:
        settings = load_settings(config_path, database_url)
        when = _parse_as_of(as_of) if as_of else None
    except OutreachError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(exc.exit_code)
    ctx.obj = AppContext(settings, Console(), Console(stderr=True), as_of=when)


def _parse_as_of(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--as-of {value!r}: not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


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
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds without an answer from the server before the connection counts as lost and is "
                   "retried (default: the mailbox's timeout, 30).")
@click.option("--wait", is_flag=True, help="If another sync of the mailbox is running, wait for it to finish "
              "instead of exiting.")
@click.option("--no-signals", is_flag=True,
              help="Store the mail only; analyse it later with `outreach signals rebuild --stale-only`.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output, only the summary.")
@pass_app
def sync(
    app: AppContext, mailbox_names: tuple[str, ...], host: str | None, port: int | None, username: str | None,
    security: str, addresses: tuple[str, ...], folders: tuple[str, ...], name: str | None, batch_size: int,
    timeout: float | None, wait: bool, no_signals: bool, quiet: bool,
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
    from outreach.cli.progress import make_progress

    credentials = Credentials(app.settings.environ, prompt=terminal_prompt)
    for config in configs:
        password = credentials.imap_password(config)
        started = time.perf_counter()  # the store's opening (a new one's creation) is part of the sync
        with make_progress(app.err, quiet) as progress:
            summary = sync_mailbox(app.sessions(), config, password, progress=progress,
                                   signals=not no_signals, ledger_policy=_ledger_policy(app), wait=wait)
        _print_summary(app, f"{config.name} ({config.host})", summary.totals, time.perf_counter() - started,
                       [(f.name, f.status) for f in summary.folders], summary.retries)


def _print_summary(
    app: AppContext, title: str, totals: Any, seconds: float, folders: list[tuple[str, str]], retries: int = 0
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


@main.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--mailbox", "mailbox_name", required=True, help="Mailbox (team member) the export belongs to.")
@click.option("--address", "addresses", multiple=True,
              help="The owner's own address (repeat for aliases; default: guessed from the Sent folder).")
@click.option("--no-signals", is_flag=True,
              help="Store the mail only; analyse it later with `outreach signals rebuild --stale-only`.")
@click.option("--wait", is_flag=True, help="If a sync or import of the mailbox is running, wait for it.")
@click.option("--quiet", "-q", is_flag=True)
@pass_app
def import_(
    app: AppContext, path: Path, mailbox_name: str, addresses: tuple[str, ...], no_signals: bool, wait: bool,
    quiet: bool,
) -> None:
    """Import an mbox file (e.g. Gmail Takeout) or a Maildir tree through the sync pipeline."""
    from outreach.cli.progress import make_progress
    from outreach.mail.runs import import_path

    with make_progress(app.err, quiet) as progress:
        result = import_path(app.sessions(), path, mailbox_name, list(addresses), progress=progress,
                             signals=not no_signals, ledger_policy=_ledger_policy(app), wait=wait)
    _print_summary(app, f"{mailbox_name} ({path})", result.totals, result.seconds,
                   [(f.name, f.status) for f in result.folders])


# ---------------------------------------------------------------------------------------- contacts

FORMATS = click.Choice(["table", "json", "csv"])


@main.command()
@click.option("--mailbox", "mailbox_name", help="Only this team member's mail (default: the whole team).")
@click.option("--sort", "sort_field", default="last_received", show_default=True,
              help="A column: address, domain, first/last sent/received, sent, received, two_way_threads, "
                   "tier, strength, balance, last_two_way.")
@click.option("--asc", is_flag=True, help="Ascending order (default: descending).")
@click.option("--by-domain", is_flag=True, help="One row per domain: contacts, best tier, strongest contact.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--limit", type=int, default=0, help="At most N rows (0: all).")
@pass_app
def contacts(app: AppContext, mailbox_name: str | None, sort_field: str, asc: bool, by_domain: bool, fmt: str,
             limit: int) -> None:
    """List contacts with their history and ledger: tier, strength, balance, last two-way exchange."""
    from outreach.ledger import TEAM_SCOPE, TIERS, domain_rollup, stored_ledger_columns
    from outreach.ledger.history import SORT_FIELDS, histories, mailbox_id_for, sort_histories

    scope = mailbox_name or TEAM_SCOPE
    with app.sessions()() as session:
        mailbox_id = mailbox_id_for(session, mailbox_name)
        if by_domain:
            domains = [d.to_json() for d in domain_rollup(session, scope)]
            _emit(app, domains[:limit] if limit else domains, fmt,
                  ["domain", "contacts", "best_tier", "strongest_contact", "strongest_strength",
                   "last_two_way", "two_way_threads"], title="Domains")
            return
        ledger_columns = ("tier", "strength", "balance", "last_two_way")
        if sort_field not in SORT_FIELDS and sort_field not in ledger_columns:
            raise UsageError(f"cannot sort by {sort_field!r}; choose one of "
                             f"{', '.join((*SORT_FIELDS, *ledger_columns))}")
        items = histories(session, mailbox_id=mailbox_id)
        columns = stored_ledger_columns(session, scope)
    if sort_field in SORT_FIELDS:
        items = sort_histories(items, sort_field, not asc)
    rows = []
    for hist in items:
        row = hist.summary()
        row.update(columns.get(hist.contact_id, {"tier": None, "strength": None, "balance": None,
                                                 "last_two_way": None}))
        rows.append(row)
    if sort_field in ledger_columns:
        rank = {tier: n for n, tier in enumerate(TIERS)}

        def key(row: dict[str, Any]) -> tuple[int, Any]:
            value = row.get(sort_field)
            if value is None:
                return (0, "")
            return (1, rank.get(value, -1) if sort_field == "tier" else value)

        rows.sort(key=key, reverse=not asc)
    rows = rows[:limit] if limit else rows
    everything = ["address", "name", "tier", "strength", "balance", "last_two_way", "first_sent", "last_sent",
                  "first_received", "last_received", "sent", "received", "two_way_threads"]
    # the table keeps to what fits a terminal; json and csv carry every column
    compact = ["address", "name", "tier", "strength", "balance", "last_two_way", "last_sent", "last_received",
               "sent", "received", "two_way_threads"]
    _emit(app, rows, fmt, compact if fmt == "table" else everything, title="Contacts")


@main.command()
@click.argument("address")
@click.option("--mailbox", "mailbox_name", help="Only this team member's mail (default: the whole team).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_app
def contact(app: AppContext, address: str, mailbox_name: str | None, fmt: str) -> None:
    """One contact's ledger: every figure with the dated messages (and sentences) behind it."""
    from outreach.ledger import TEAM_SCOPE, ledger_for
    from outreach.ledger.history import mailbox_id_for

    with app.sessions()() as session:
        mailbox_id_for(session, mailbox_name)  # an unknown mailbox is a usage error
        ledger = ledger_for(session, address, mailbox_name or TEAM_SCOPE, _ledger_policy(app))
    if ledger is None:
        raise UsageError(f"{address}: no such contact in the store")
    if fmt == "json":
        click.echo(json.dumps(ledger.to_json(), indent=2))
        return
    from outreach.ledger import format_ledger

    for line in format_ledger(ledger):
        click.echo(line)


def _ledger_policy(app: AppContext) -> Any:
    from outreach.ledger import LedgerPolicy

    where = f"{app.settings.config_path}: [ledger]" if app.settings.config_path else "[ledger]"
    policy = LedgerPolicy.from_mapping(app.settings.section("ledger"), origin=where)
    if app.as_of is not None:
        policy = replace(policy, as_of=app.as_of)
    return policy


@main.group()
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
    from outreach.cli.progress import make_progress
    from outreach.ledger import refresh_ledgers
    from outreach.signals.storage import PIPELINE_VERSION, rebuild

    policy = _ledger_policy(app)
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


@main.group()
def ledger() -> None:
    """The relationship ledgers of the contacts."""


@ledger.command("rebuild")
@pass_app
def ledger_rebuild(app: AppContext) -> None:
    """Recompute every contact's ledger (team-wide and per mailbox) with the [ledger] policy."""
    from outreach.ledger import refresh_ledgers

    policy = _ledger_policy(app)
    with app.sessions()() as session:
        done = refresh_ledgers(session, policy=policy)
        session.commit()
    click.echo(f"ledgers: {done.contacts} contact(s), {done.rows} row(s) in {done.seconds:.1f}s")


def _emit(app: AppContext, rows: list[dict[str, Any]], fmt: str, columns: list[str], title: str = "") -> None:
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
    elif fmt == "csv":
        from outreach.csvsafe import safe_row

        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(safe_row(row) for row in rows)  # no cell a spreadsheet would run as a formula
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


# -------------------------------------------------------------------------------------------- send


@main.command()
@click.argument("campaign_path", metavar="CAMPAIGN", type=click.Path(path_type=Path))
@click.option("--dry-run/--no-dry-run", default=True, show_default=True,
              help="Only show what would be sent (the default); --no-dry-run sends.")
@click.option("--accept-review", is_flag=True, help="Also send to recipients whose verdict is REVIEW.")
@click.option("--resend-unconfirmed", is_flag=True,
              help="Send again to recipients a crashed run may or may not have sent to (same Message-ID).")
@click.option("--retry-failed", is_flag=True,
              help="Try again recipients the server refused (5xx) in an earlier run.")
@click.option("--append-sent", is_flag=True,
              help="Also APPEND each sent message to the mailbox's IMAP Sent folder.")
@click.option("--smtp-host", help="SMTP server (default: campaign [smtp] host, config [send] host).")
@click.option("--smtp-port", type=int, help="Default: 465 for ssl, 587 for starttls.")
@click.option("--smtp-user", help="SMTP login (password: OUTREACH_SMTP_PASSWORD, the keyring, or a prompt).")
@click.option("--smtp-security", type=click.Choice(["ssl", "starttls", "plain"]),
              help="TLS mode (certificates verified); plain is unencrypted: only for a local server.")
@click.option("--from", "from_address", help="From address (default: [smtp] from, or the mailbox's address).")
@click.option("--from-name", help="From display name.")
@click.option("--rate", "rate_per_minute", type=click.IntRange(min=1), help="Messages a minute (default 20).")
@click.option("--daily-cap", type=click.IntRange(min=0), help="Messages per mailbox per 24 h (default 500).")
@click.option("--limit", type=click.IntRange(min=1), help="Send at most N messages in this run.")
@click.option("--select", "select_rules", multiple=True, help="Only these lint rules (as for lint).")
@click.option("--ignore", "ignore_rules", multiple=True, help="Skip these lint rules (as for lint).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def send(
    ctx: click.Context, campaign_path: Path, dry_run: bool, accept_review: bool, resend_unconfirmed: bool,
    retry_failed: bool, append_sent: bool, smtp_host: str | None, smtp_port: int | None,
    smtp_user: str | None, smtp_security: str | None, from_address: str | None, from_name: str | None,
    rate_per_minute: int | None, daily_cap: int | None, limit: int | None, select_rules: tuple[str, ...],
    ignore_rules: tuple[str, ...], fmt: str,
) -> None:
    """Send CAMPAIGN over SMTP — a dry run unless --no-dry-run.

    The campaign is linted again right before sending: BLOCKED recipients are never sent, REVIEW ones only
    with --accept-review or an allow entry.  Sending is idempotent (a send log per campaign and recipient);
    a run stopped in the middle resumes with exactly the rest.
    """
    from outreach.campaign import load_campaign
    from outreach.lint.codes import split_codes
    from outreach.send import SendOptions, resolve_limits, resolve_smtp, send_campaign
    from outreach.signals.hook import SignalsHook

    app: AppContext = ctx.obj
    if app.as_of is not None and not dry_run:
        raise UsageError("--as-of only goes with a dry run: a real send is linted as of now")
    campaign = load_campaign(campaign_path)
    options = SendOptions(dry_run=dry_run, accept_review=accept_review, resend_unconfirmed=resend_unconfirmed,
                          retry_failed=retry_failed, append_sent=append_sent,
                          select=split_codes(select_rules, "--select"), ignore=split_codes(ignore_rules, "--ignore"),
                          limit=limit)
    smtp_overrides = {"host": smtp_host, "port": smtp_port, "username": smtp_user, "security": smtp_security,
                      "from": from_address, "from_name": from_name}
    limit_overrides = {"rate_per_minute": rate_per_minute, "daily_cap": daily_cap}
    text = fmt == "text"
    with app.sessions()() as session:
        smtp = resolve_smtp(app.settings, campaign, smtp_overrides, session=session)
        limits = resolve_limits(app.settings, campaign, limit_overrides)
        if text:
            mode = "DRY RUN, nothing will be sent" if dry_run else f"sending via {smtp.describe()}"
            click.echo(f"campaign {campaign.name} from {smtp.from_address or '?'} "
                       f"(mailbox {campaign.mailbox}): "
                       f"{mode}; at most {limits.rate_per_minute}/min, {limits.daily_cap}/24 h")
        result = send_campaign(session, campaign, app.settings, options, smtp=smtp, limits=limits,
                               credentials=Credentials(app.settings.environ, prompt=terminal_prompt),
                               on_outcome=_print_outcome if text else None,
                               after_ingest=SignalsHook.for_send(campaign.mailbox), now=app.as_of)
    if not text:
        click.echo(json.dumps(result.to_json(), indent=2))
        ctx.exit(result.exit_code)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    unconfirmed = [o.address for o in result.outcomes if o.action == "unconfirmed"]
    if unconfirmed:
        click.echo(f"UNCONFIRMED ({len(unconfirmed)}): possibly sent by an interrupted run, NOT sent again: "
                   + ", ".join(unconfirmed), err=True)
    counts = ", ".join(f"{result.count(a)} {a}" for a in dict.fromkeys(o.action for o in result.outcomes))
    click.echo(f"{'dry run: ' if dry_run else ''}{counts or 'no recipients'}")
    if dry_run and result.count("would-send"):
        click.echo("nothing was sent; run again with --no-dry-run to send")
    if result.stopped:
        click.echo(f"stopped: {result.stopped}", err=True)
    ctx.exit(result.exit_code)


def _print_outcome(outcome: Any) -> None:
    click.echo(f"{outcome.verdict:<8} {outcome.address:<40} {outcome.action}: {outcome.reason}")


# ---------------------------------------------------------------------------------------- suppress


@main.group()
def suppress() -> None:
    """The suppression list: addresses and domains that never get a campaign."""


@suppress.command("add")
@click.argument("values", metavar="ADDRESS_OR_DOMAIN...", nargs=-1, required=True)
@click.option("--reason", default="", help="Why (kept with the entry).")
@click.option("--by", "added_by", default=None, help="Who added it.")
@pass_app
def suppress_add(app: AppContext, values: tuple[str, ...], reason: str, added_by: str | None) -> None:
    """Add addresses or domains (example.com or @example.com) to the suppression list."""
    from outreach.suppression import add_suppression

    with app.sessions()() as session:
        for value in values:
            added, entry = add_suppression(session, value, reason, added_by)
            click.echo(f"{'added' if added else 'already suppressed'}: {entry.kind} {entry.value}"
                       + (f" ({entry.reason})" if entry.reason else ""))


@suppress.command("remove")
@click.argument("values", metavar="ADDRESS_OR_DOMAIN...", nargs=-1, required=True)
@click.pass_context
def suppress_remove(ctx: click.Context, values: tuple[str, ...]) -> None:
    """Remove addresses or domains from the suppression list (exit 1 if one was not on it)."""
    from outreach.suppression import remove_suppression

    app: AppContext = ctx.obj
    missing = 0
    with app.sessions()() as session:
        for value in values:
            if remove_suppression(session, value):
                click.echo(f"removed: {value.strip().lower()}")
            else:
                missing += 1
                click.echo(f"not on the suppression list: {value}", err=True)
    ctx.exit(1 if missing else 0)


@suppress.command("list")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@pass_app
def suppress_list(app: AppContext, fmt: str) -> None:
    """List the suppression list."""
    from outreach.suppression import list_suppressions

    with app.sessions()() as session:
        rows = [e.to_json() for e in list_suppressions(session)]
    _emit(app, rows, fmt, ["kind", "value", "reason", "added_by", "added_at"], title="Suppressed")


# ------------------------------------------------------------------------------- preview, lint, rules


@main.command()
@click.argument("campaign_path", metavar="CAMPAIGN", type=click.Path(path_type=Path))
@click.option("--show", "show_address", metavar="ADDRESS",
              help="Print the rendered message for one recipient, with its findings and evidence.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "html"]), default="table",
              show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to FILE (html: one self-contained page).")
@click.option("--select", "select_rules", multiple=True, help="Only these rules (codes, prefixes or names).")
@click.option("--ignore", "ignore_rules", multiple=True, help="Skip these rules (R007/R008 cannot be skipped).")
@click.pass_context
def preview(
    ctx: click.Context, campaign_path: Path, show_address: str | None, fmt: str, output: Path | None,
    select_rules: tuple[str, ...], ignore_rules: tuple[str, ...],
) -> None:
    """Lint CAMPAIGN recipient by recipient: READY / REVIEW / BLOCKED, with reasons and evidence.

    Exit 0 when every recipient is READY, 1 when some are blocked or need review, 2 on bad input
    (including bad rows of the recipients CSV, which are reported and left out).
    """
    from outreach.campaign import evaluate, load_campaign, present
    from outreach.lint.codes import split_codes

    app: AppContext = ctx.obj
    campaign = load_campaign(campaign_path)
    with app.sessions()() as session:
        report = evaluate(session, campaign, app.settings, split_codes(select_rules, "--select"),
                          split_codes(ignore_rules, "--ignore"), now=app.as_of)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if show_address:
        text, recipient = present.show_text(report, show_address)
        click.echo(text, nl=False)
        ctx.exit(0 if recipient.verdict == "READY" else 1)
    if fmt == "html":
        from outreach.report import render_html

        page = render_html(report)
        if output is None:
            click.echo(page, nl=False)
        else:
            output.write_text(page, encoding="utf-8")
            click.echo(f"wrote {output} ({len(report.recipients)} recipients: "
                       + ", ".join(f"{n} {v}" for v, n in report.counts.items()) + ")")
    else:
        body = {"json": present.json_text, "csv": present.csv_text}.get(fmt, present.table_text)(report)
        if output is None:
            click.echo(body, nl=False)
        else:
            output.write_text(click.unstyle(body), encoding="utf-8")
            click.echo(f"wrote {output}")
    if fmt in ("csv", "json") and report.row_errors:
        for error in report.row_errors:
            click.echo(f"error: {error}", err=True)
    ctx.exit(report.exit_code)


@main.command("lint")
@click.argument("paths", metavar="TEMPLATE...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--select", "select_rules", multiple=True, help="Only these rules (codes, prefixes or names).")
@click.option("--ignore", "ignore_rules", multiple=True, help="Skip these rules.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def lint_cmd(
    ctx: click.Context, paths: tuple[Path, ...], select_rules: tuple[str, ...], ignore_rules: tuple[str, ...],
    fmt: str,
) -> None:
    """Lint templates on their own (T-rules): `file:line: CODE message`, for editors and pre-commit.

    A TEMPLATE is a template file or a campaign (folder or campaign.toml). Exit 1 if a finding blocks or
    needs review, 2 on a syntax error or an unsafe template.
    """
    from outreach.campaign import lint_path, present
    from outreach.campaign.evaluate import effective_policy
    from outreach.lint.codes import split_codes

    app: AppContext = ctx.obj
    # the command line over the config's [lint], as for preview (a template alone has no [policy])
    policy = effective_policy(None, app.settings, split_codes(select_rules, "--select"),
                              split_codes(ignore_rules, "--ignore"))
    findings = []
    for path in paths:
        result = lint_path(path, policy.select, policy.ignore)
        findings += result.findings
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
    if fmt == "json":
        click.echo(json.dumps([f.to_json() for f in findings], indent=2, ensure_ascii=False))
    else:
        for line in present.lint_lines(findings):
            click.echo(line)
    ctx.exit(1 if any(f.severity != "info" for f in findings) else 0)


@main.command("rules")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "json"]), default="table",
              show_default=True)
def rules_cmd(fmt: str) -> None:
    """The lint rules: code, name, severity and doc (`--format markdown` writes docs/rules.md)."""
    from outreach.lint import all_rules, rules_markdown

    if fmt == "markdown":
        click.echo(rules_markdown(), nl=False)
    elif fmt == "json":
        click.echo(json.dumps([{"code": r.code, "name": r.name, "severity": r.severity, "scope": r.scope,
                                "overridable": r.overridable, "options": list(r.options), "doc": r.doc}
                               for r in all_rules()], indent=2))
    else:
        for r in all_rules():
            click.echo(f"{r.code}  {r.name:<24} {r.severity:<7} {r.scope:<9}"
                       f"{'' if r.overridable else ' never overridable'}")
