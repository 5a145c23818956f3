"""Commands for campaigns: ``preview``, ``lint``, ``rules``, ``send``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from outreach.cli.app import AppContext
from outreach.cli.output import emit_json, format_option
from outreach.errors import CampaignError, UsageError

if TYPE_CHECKING:  # imported when the command runs (see outreach.cli)
    from sqlalchemy.orm import Session

    from outreach.campaign.model import Campaign
    from outreach.send import Outcome


@click.command()
@click.argument("campaign_path", metavar="CAMPAIGN", type=click.Path(path_type=Path))
@click.option("--show", "show_address", metavar="ADDRESS",
              help="Print the rendered message for one recipient, with its findings and evidence.")
@format_option("table", "json", "csv", "html")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to FILE (html: one self-contained page).")
@click.option("--select", "select_rules", multiple=True, help="Only these rules (codes, prefixes or names).")
@click.option("--ignore", "ignore_rules", multiple=True, help="Skip these rules (R007/R008 cannot be skipped).")
@click.option("--ready-csv", "ready_csv", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the READY recipients' rows, with the CSV's original columns, to FILE: for a "
                   "campaign sent with another tool (Mailmeteor, YAMM, GMass, mailmerge).")
@click.option("--accept-review", is_flag=True, help="With --ready-csv: the REVIEW recipients' rows too.")
@click.pass_context
def preview(
    ctx: click.Context, campaign_path: Path, show_address: str | None, fmt: str, output: Path | None,
    select_rules: tuple[str, ...], ignore_rules: tuple[str, ...], ready_csv: Path | None, accept_review: bool,
) -> None:
    """Lint CAMPAIGN recipient by recipient: READY / REVIEW / BLOCKED, with reasons and evidence.

    CAMPAIGN is a folder with a campaign.toml (or its path), or a mailmerge folder (mailmerge_template.txt
    and mailmerge_database.csv) as it is.

    Exit 0 when every recipient is READY, 1 when some are blocked or need review, 2 on bad input
    (including bad rows of the recipients CSV, which are reported and left out).
    """
    from outreach.campaign import evaluate, load_campaign
    from outreach.campaign.report import csv_text, json_text, render_html, show_text, table_text
    from outreach.lint.codes import split_codes

    app: AppContext = ctx.obj
    campaign = load_campaign(campaign_path)
    with app.sessions(create=False)() as session:
        known_mailbox(app, session, campaign)
        report = evaluate(session, campaign, app.settings, split_codes(select_rules, "--select"),
                          split_codes(ignore_rules, "--ignore"), now=app.as_of)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if ready_csv is not None:
        from outreach.campaign.export import ready_rows_csv

        text, count = ready_rows_csv(report, accept_review)
        try:
            ready_csv.write_text(text, encoding="utf-8", newline="")
        except OSError as exc:
            raise UsageError(f"{ready_csv}: cannot write ({exc.strerror})") from None
        which = "READY and REVIEW" if accept_review else "READY"
        click.echo(f"wrote {ready_csv}: {count} {which} recipient(s) of {len(report.recipients)}", err=True)
    if show_address:
        text, recipient = show_text(report, show_address)
        click.echo(text, nl=False)
        ctx.exit(0 if recipient.verdict == "READY" else 1)
    if fmt == "html":
        page = render_html(report)
        if output is None:
            click.echo(page, nl=False)
        else:
            output.write_text(page, encoding="utf-8")
            click.echo(f"wrote {output} ({len(report.recipients)} recipients: "
                       + ", ".join(f"{n} {v}" for v, n in report.counts.items()) + ")")
    else:
        if fmt == "table":
            terminal = output is None and app.console.is_terminal  # piped or to a file: lines whole
            body = table_text(report, width=app.console.width if terminal else None)
        else:
            body = {"json": json_text, "csv": csv_text}[fmt](report)
        if output is None:
            click.echo(body, nl=False)
        else:
            output.write_text(click.unstyle(body), encoding="utf-8")
            click.echo(f"wrote {output}")
    if fmt in ("csv", "json") and report.row_errors:
        for error in report.row_errors:
            click.echo(f"error: {error}", err=True)
    ctx.exit(report.exit_code)


@click.command("lint")
@click.argument("paths", metavar="TEMPLATE...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--select", "select_rules", multiple=True, help="Only these rules (codes, prefixes or names).")
@click.option("--ignore", "ignore_rules", multiple=True, help="Skip these rules.")
@format_option("text", "json")
@click.pass_context
def lint_cmd(
    ctx: click.Context, paths: tuple[Path, ...], select_rules: tuple[str, ...], ignore_rules: tuple[str, ...],
    fmt: str,
) -> None:
    """Lint templates on their own (T-rules): `file:line: CODE message`, for editors and pre-commit.

    A TEMPLATE is a template file or a campaign (folder or campaign.toml). Exit 1 if a finding blocks or
    needs review, 2 on a syntax error or an unsafe template.
    """
    from outreach.campaign import lint_path
    from outreach.campaign.evaluate import effective_policy
    from outreach.campaign.report import lint_lines
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
        emit_json([f.to_json() for f in findings])
    else:
        for line in lint_lines(findings):
            click.echo(line)
    ctx.exit(1 if any(f.severity != "info" for f in findings) else 0)


@click.command("rules")
@format_option("table", "markdown", "json")
def rules_cmd(fmt: str) -> None:
    """The lint rules: code, name, severity and doc (`--format markdown` writes docs/rules.md)."""
    from outreach.lint import all_rules, rules_markdown

    if fmt == "markdown":
        click.echo(rules_markdown(), nl=False)
    elif fmt == "json":
        emit_json([{"code": r.code, "name": r.name, "severity": r.severity, "scope": r.scope,
                    "overridable": r.overridable, "options": list(r.options), "doc": r.doc} for r in all_rules()])
    else:
        for r in all_rules():
            click.echo(f"{r.code}  {r.name:<24} {r.severity:<7} {r.scope:<9}"
                       f"{'' if r.overridable else ' never overridable'}")


@click.command()
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
@format_option("text", "json")
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

    Exit 0 when every message it meant to send was sent (or, in a dry run, would be): recipients skipped
    for their verdict are reported, not failures; 1 when a message failed, was deferred or is unconfirmed,
    or the run stopped (daily cap, the server refused us); 2 on bad input.
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
        known_mailbox(app, session, campaign)
        smtp = resolve_smtp(app.settings, campaign, smtp_overrides, session=session)
        limits = resolve_limits(app.settings, campaign, limit_overrides)
        if text:
            mode = "DRY RUN, nothing will be sent" if dry_run else f"sending via {smtp.describe()}"
            who = (f"each recipient's best-placed teammate (else {smtp.from_address or '?'}, mailbox "
                   f"{campaign.mailbox})" if campaign.best_sender
                   else f"{smtp.from_address or '?'} (mailbox {campaign.mailbox})")
            click.echo(f"campaign {campaign.name} from {who}: "
                       f"{mode}; at most {limits.rate_per_minute}/min, {limits.daily_cap}/24 h per mailbox")
        result = send_campaign(session, campaign, app.settings, options, smtp=smtp, limits=limits,
                               smtp_overrides=smtp_overrides, limit_overrides=limit_overrides,
                               credentials=app.credentials(),
                               on_outcome=_print_outcome if text else None,
                               after_ingest=SignalsHook.for_send(campaign.mailbox), now=app.as_of)
    if not text:
        emit_json(result.to_json())
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


def known_mailbox(app: AppContext, session: Session, campaign: Campaign) -> None:
    """A campaign's ``mailbox`` must be one the store or the config file knows, when they know any: else one
    line listing them (a store of hand-made ledgers, without mailboxes, cannot tell)."""
    from sqlalchemy import select

    from outreach.store.models import Mailbox, MailboxAddress

    known = set(session.scalars(select(Mailbox.name))) | set(app.settings.mailboxes)
    if campaign.mailbox not in known and "@" in campaign.mailbox:  # a mailmerge FROM: whose address is it?
        owners = {a: m.name for m in app.settings.mailboxes.values() for a in m.addresses}
        query = select(MailboxAddress.address, Mailbox.name).join(Mailbox, Mailbox.id == MailboxAddress.mailbox_id)
        owners.update((address, name) for address, name in session.execute(query))
        campaign.mailbox = owners.get(campaign.mailbox, campaign.mailbox)
    if known and campaign.mailbox not in known:
        raise CampaignError(
            f"{campaign.path / 'campaign.toml'}: mailbox {campaign.mailbox!r} is unknown "
            f"(known mailboxes: {', '.join(sorted(known))})"
        )


def _print_outcome(outcome: Outcome) -> None:
    sender = f" [{outcome.mailbox}]" if outcome.mailbox else ""
    click.echo(f"{outcome.verdict:<8} {outcome.address:<40} {outcome.action}{sender}: {outcome.reason}")


__all__ = ["lint_cmd", "preview", "rules_cmd", "send"]
