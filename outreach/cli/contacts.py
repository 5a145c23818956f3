"""Commands for the people: ``contacts``, ``contact``, ``who-knows``, ``suppress …``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from outreach.cli.app import AppContext, HelpGroup, pass_app
from outreach.cli.output import ROWS, emit_json, emit_rows, format_option
from outreach.errors import UsageError

# --by-domain: the columns it can be sorted by (and the contact columns that mean the same)
DOMAIN_SORT = ("domain", "contacts", "best_tier", "strongest_strength", "last_two_way", "two_way_threads")
DOMAIN_ALIASES = {"tier": "best_tier", "strength": "strongest_strength"}
LEDGER_COLUMNS = ("tier", "strength", "balance", "last_two_way")


@click.command()
@click.option("--mailbox", "mailbox_name", help="Only this team member's mail (default: the whole team).")
@click.option("--sort", "sort_field", default=None,
              help="A column: address, domain, first/last sent/received, sent, received, two_way_threads, "
                   "tier, strength, balance, last_two_way (default last_received). With --by-domain: "
                   f"{', '.join(DOMAIN_SORT)} (tier and strength work too; default: strongest domains first).")
@click.option("--asc", is_flag=True, help="Ascending order (default: descending).")
@click.option("--by-domain", is_flag=True, help="One row per domain: contacts, best tier, strongest contact.")
@format_option(*ROWS, "html")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to FILE (html: the team's relationship map as one self-contained page).")
@click.option("--limit", type=int, default=0, help="At most N rows (0: all).")
@pass_app
def contacts(app: AppContext, mailbox_name: str | None, sort_field: str | None, asc: bool, by_domain: bool,
             fmt: str, output: Path | None, limit: int) -> None:
    """List contacts with their history and ledger: tier, strength, balance, last two-way exchange.

    --format html is the team's relationship map: by outlet, who on the team holds each relationship,
    its tier and strength, with the messages behind it (with --mailbox, that teammate's relationships).
    """
    from outreach.ledger import TEAM_SCOPE, domain_rollup, stored_ledger_columns
    from outreach.ledger.history import SORT_FIELDS, histories, mailbox_id_for, sort_histories

    if fmt == "html":
        _relationship_map(app, mailbox_name, output)
        return
    scope = mailbox_name or TEAM_SCOPE
    if by_domain:
        field = DOMAIN_ALIASES.get(sort_field or "", sort_field)
        if field is not None and field not in DOMAIN_SORT:
            raise UsageError(f"--by-domain cannot sort by {sort_field!r}; choose one of {', '.join(DOMAIN_SORT)}")
    else:
        field = sort_field or "last_received"
        if field not in SORT_FIELDS and field not in LEDGER_COLUMNS:
            raise UsageError(f"cannot sort by {field!r}; choose one of {', '.join((*SORT_FIELDS, *LEDGER_COLUMNS))}")
    with app.sessions(create=False)() as session:
        mailbox_id = mailbox_id_for(session, mailbox_name)
        if by_domain:
            domains = [d.to_json() for d in domain_rollup(session, scope, app.ledger_policy())]
            if field is not None:
                domains = sorted_rows(domains, field, asc)
            emit_rows(app, domains[:limit] if limit else domains, fmt,
                      ["domain", "contacts", "best_tier", "strongest_contact", "strongest_strength",
                       "last_two_way", "two_way_threads"], title="Domains")
            return
        items = histories(session, mailbox_id=mailbox_id)
        columns = stored_ledger_columns(session, scope, app.ledger_policy())
    if field in SORT_FIELDS:
        items = sort_histories(items, field, not asc)
    rows = []
    for hist in items:
        row = hist.summary()
        row.update(columns.get(hist.contact_id, {"tier": None, "strength": None, "balance": None,
                                                 "last_two_way": None}))
        rows.append(row)
    if field in LEDGER_COLUMNS:
        rows = sorted_rows(rows, field, asc)
    rows = rows[:limit] if limit else rows
    everything = ["address", "name", "tier", "strength", "balance", "last_two_way", "first_sent", "last_sent",
                  "first_received", "last_received", "sent", "received", "two_way_threads"]
    # the table keeps to what fits a terminal; json and csv carry every column
    # (in their order of importance: a narrow terminal leaves out the last ones)
    compact = ["address", "tier", "last_two_way", "strength", "balance", "name", "last_sent", "last_received",
               "sent", "received", "two_way_threads"]
    emit_rows(app, rows, fmt, compact if fmt == "table" else everything, title="Contacts")


def _relationship_map(app: AppContext, mailbox_name: str | None, output: Path | None) -> None:
    """``contacts --format html``: the team's relationship map (``mailbox_name``: only that teammate's
    relationships), to ``output`` or stdout."""
    from outreach.campaign.report.html import render_map
    from outreach.ledger.history import mailbox_id_for
    from outreach.ledger.read import team_map

    policy = app.ledger_policy()
    with app.sessions(create=False)() as session:
        mailbox_id_for(session, mailbox_name)  # an unknown mailbox is a usage error
        outlets, lines = team_map(session, policy, mailbox=mailbox_name)
    page = render_map(outlets, lambda r: lines.get(r.key, []), policy.now())
    if output is None:
        click.echo(page, nl=False)
    else:
        output.write_text(page, encoding="utf-8")
        people = len({r.address for o in outlets for r in o.relationships})
        click.echo(f"wrote {output} ({len(outlets)} outlet(s) and groups, {people} people)")
def sorted_rows(rows: list[dict[str, Any]], field: str, asc: bool) -> list[dict[str, Any]]:
    """Rows by ``field`` (descending unless ``asc``); tiers by rank, weakest first; empty values last
    when descending, first when ascending."""
    from outreach.ledger import TIERS

    rank = {tier: n for n, tier in enumerate(TIERS)}
    tiers = field in ("tier", "best_tier")

    def key(row: dict[str, Any]) -> tuple[int, Any]:
        value = row.get(field)
        if value is None:
            return (0, "")
        return (1, rank.get(value, -1) if tiers else value)

    return sorted(rows, key=key, reverse=not asc)


@click.command()
@click.argument("address")
@click.option("--mailbox", "mailbox_name", help="Only this team member's mail (default: the whole team).")
@format_option("text", "json")
@pass_app
def contact(app: AppContext, address: str, mailbox_name: str | None, fmt: str) -> None:
    """One contact's ledger: every figure with the dated messages (and sentences) behind it."""
    from outreach.ledger import TEAM_SCOPE, format_ledger, ledger_for
    from outreach.ledger.history import mailbox_id_for

    with app.sessions(create=False)() as session:
        mailbox_id_for(session, mailbox_name)  # an unknown mailbox is a usage error
        ledger = ledger_for(session, address, mailbox_name or TEAM_SCOPE, app.ledger_policy())
    if ledger is None:
        raise UsageError(f"{address}: no such contact in the store")
    if fmt == "json":
        emit_json(ledger.to_json())
        return

    for line in format_ledger(ledger):
        click.echo(line)


@click.command("who-knows")
@click.argument("target", metavar="ADDRESS|DOMAIN")
@format_option(*ROWS)
@pass_app
def who_knows(app: AppContext, target: str, fmt: str) -> None:
    """Who on the team knows ADDRESS (or anyone at its outlet), or anyone at DOMAIN: every teammate's
    mailbox with a relationship, strongest first, with the messages behind it.

    Personal-mail domains (gmail.com, outlook.com ...) are nobody's outlet.
    """
    from outreach.ledger import EvidenceLine
    from outreach.ledger.read import who_knows as read_who_knows
    from outreach.ledger.text import message_ref

    with app.sessions(create=False)() as session:
        found = read_who_knows(session, target, app.ledger_policy())
    rows = found.rows()
    if fmt == "json":
        emit_json({"target": found.target, "outlet": found.outlet, "relationships": rows})
        return
    for row in rows:
        row["messages"] = "; ".join(message_ref(EvidenceLine.from_json(line)) for line in row["messages"])
    columns = ["mailbox", "relation", "contact", "tier", "strength", "last_two_way", "balance", "messages"]
    if fmt == "csv":
        emit_rows(app, rows, fmt, columns)
        return
    title = f"Who knows {found.target}" + (f" (outlet {found.outlet})" if found.outlet else "")
    if rows:
        emit_rows(app, rows, fmt, columns, title=title)
    else:
        where = f" or anyone at {found.outlet}" if found.outlet and "@" in found.target else ""
        click.echo(f"nobody on the team has exchanged personal mail with {found.target}{where}")


@click.group(cls=HelpGroup)
def suppress() -> None:
    """The suppression list: addresses and domains that never get a campaign."""


@suppress.command("add")
@click.argument("values", metavar="ADDRESS_OR_DOMAIN...", nargs=-1, required=True)
@click.option("--reason", default="", help="Why (kept with the entry).")
@click.option("--by", "added_by", default=None, help="Who added it.")
@pass_app
def suppress_add(app: AppContext, values: tuple[str, ...], reason: str, added_by: str | None) -> None:
    """Add addresses or domains (example.com or @example.com; a domain covers its subdomains) to the list."""
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
@format_option(*ROWS)
@pass_app
def suppress_list(app: AppContext, fmt: str) -> None:
    """List the suppression list."""
    from outreach.suppression import list_suppressions

    with app.sessions(create=False)() as session:
        rows = [e.to_json() for e in list_suppressions(session)]
    emit_rows(app, rows, fmt, ["kind", "value", "reason", "added_by", "added_at"], title="Suppressed")


__all__ = ["contact", "contacts", "suppress", "who_knows"]
