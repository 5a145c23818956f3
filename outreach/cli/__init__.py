"""The ``outreach`` command: a thin layer over the library.

One module per family of commands: :mod:`.mail` (``sync``, ``import``, ``signals …``, ``ledger …``,
``db …``), :mod:`.contacts` (``contacts``, ``contact``, ``who-knows``, ``suppress …``), :mod:`.campaign`
(``preview``, ``lint``, ``rules``, ``send``); :mod:`.app` is what every command gets, :mod:`.output` the
one ``--format`` option and its writers. A command imports the library it drives when it runs: each
command loads only what it uses (importing all of the library costs about a second at every start).

Exit codes (also in ``outreach --help``): 0 success — for ``send``, every message it meant to send was
sent (recipients skipped for their verdict are reported, not failures); 1 a failure at run time (server,
store, a message not sent) or, for ``preview``/``lint``, recipients that are blocked or need review; 2 bad
usage or input.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console

from outreach.cli import campaign, contacts, mail
from outreach.cli.app import AppContext, HelpGroup, pass_app
from outreach.config import default_config_path, load_settings
from outreach.errors import OutreachError, UsageError
from outreach.version import __version__

EPILOG = """\b
Exit codes:
  0  success; for send: every message it meant to send was sent (recipients
     skipped for their verdict are reported, not counted as failures)
  1  a failure at run time (server, store, a message not sent), or for
     preview and lint: recipients blocked or needing review
  2  bad usage or input (an option, a file, a campaign, a store URL)

\b
Shell completion: add to ~/.bashrc (zsh: zsh_source, fish: fish_source)
  eval "$(_OUTREACH_COMPLETE=bash_source outreach)"
"""


class OutreachGroup(HelpGroup):
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


@click.group(cls=OutreachGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(__version__, "--version", "-V", prog_name="outreach")
@click.option("--database-url", envvar=None, help="Store URL (default: SQLite in the user data dir; "
              "env OUTREACH_DATABASE_URL).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help=f"Config file (default: {default_config_path()}; env OUTREACH_CONFIG).")
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


for _command in (
    mail.db,
    mail.sync,
    mail.import_,
    mail.login,
    mail.signals,
    mail.ledger,
    mail.mailbox,
    contacts.contacts,
    contacts.contact,
    contacts.who_knows,
    contacts.suppress,
    campaign.preview,
    campaign.lint_cmd,
    campaign.rules_cmd,
    campaign.send,
):
    main.add_command(_command)

__all__ = ["AppContext", "OutreachGroup", "main", "pass_app"]
