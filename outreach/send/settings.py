"""Where, how and how fast to send: SMTP settings, limits and options, merged from their sources.

Precedence, key by key: the command-line options > the campaign's ``[smtp]`` > the config's
``[send.MAILBOX]`` > ``[send]`` > the mailbox's config (username, first address) > the store's addresses
of the mailbox. Each table is an :class:`~outreach.campaign.model.SmtpTable`, checked where it is read.

A ``sender = "best"`` campaign sends each message from the mailbox it was judged on (MAILBOX above is that
mailbox): its From, From name and SMTP login then come from ``[send.MAILBOX]``, the mailbox's config or
the store only — never from the command line, the campaign or the team-wide ``[send]``, which would give
every teammate's message one identity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaign.model import Campaign, SmtpTable
from outreach.config import Settings
from outreach.errors import ConfigError, UsageError
from outreach.store.models import Mailbox, MailboxAddress

DEFAULT_RATE_PER_MINUTE = 20  # Gmail-like safe defaults
DEFAULT_DAILY_CAP = 500
DEFAULT_RETRIES = 4  # attempts after the first one for a 4xx answer
DEFAULT_RETRY_BASE = 2.0  # seconds; doubled after each attempt
DEFAULT_TIMEOUT = 60.0

PORTS = {"ssl": 465, "starttls": 587, "plain": 25}
OPTIONS = "options"  # the command line, the one source that may ask for security = "plain"
FLAT = "[send]"
IDENTITY = ("from_address", "from_name", "username")  # whose mail it is: per mailbox with sender = "best"
T = TypeVar("T")


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send, after merging options, the campaign's ``[smtp]`` and the config file."""

    host: str = ""
    port: int | None = None
    username: str = ""
    security: str = "ssl"
    from_address: str = ""
    from_name: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    helo: str | None = None

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else PORTS[self.security]

    def describe(self) -> str:
        who = f"{self.username}@" if self.username else ""
        return f"smtp {who}{self.host or '?'}:{self.effective_port} ({self.security})"


@dataclass(frozen=True)
class SendLimits:
    rate_per_minute: int = DEFAULT_RATE_PER_MINUTE
    daily_cap: int = DEFAULT_DAILY_CAP
    retries: int = DEFAULT_RETRIES
    retry_base_seconds: float = DEFAULT_RETRY_BASE


@dataclass(frozen=True)
class SendOptions:
    dry_run: bool = True
    accept_review: bool = False
    resend_unconfirmed: bool = False
    retry_failed: bool = False
    append_sent: bool = False
    select: Sequence[str] = ()
    ignore: Sequence[str] = ()
    limit: int | None = None  # send at most this many in this run


class Layers:
    """The SMTP tables of one send from ``mailbox`` (default: the campaign's), from the most to the least
    specific, each with where it came from."""

    def __init__(
        self,
        settings: Settings | None,
        campaign: Campaign,
        overrides: Mapping[str, Any] | None,
        mailbox: str | None = None,
    ) -> None:
        given = {k: v for k, v in (overrides or {}).items() if v is not None and v != ""}
        self.mailbox = mailbox or campaign.mailbox
        self.per_mailbox = campaign.best_sender
        self.tables: list[tuple[str, SmtpTable]] = [
            (OPTIONS, SmtpTable.from_mapping(given, OPTIONS)),
            (f"{campaign.path / 'campaign.toml'}: [smtp]", campaign.smtp),
        ]
        if self.per_mailbox and (fixed := [key for key in IDENTITY if getattr(self.tables[0][1], key)]):
            names = ", ".join("--from" if k == "from_address" else f"--{k.replace('_', '-')}" for k in fixed)
            raise UsageError(
                f'{campaign.path / "campaign.toml"}: sender = "best" sends as each teammate; {names} would send '
                "every message as one person (set them in the config's [send.NAME] tables)"
            )
        if settings is not None:
            send = settings.section("send")
            per_mailbox = send.get(self.mailbox)
            if isinstance(per_mailbox, Mapping):
                where = f"[send.{self.mailbox}]"
                self.tables.append((where, SmtpTable.from_mapping(per_mailbox, where)))
            flat = {k: v for k, v in send.items() if not isinstance(v, Mapping)}
            self.tables.append((FLAT, SmtpTable.from_mapping(flat, FLAT)))

    def pick(self, key: str) -> tuple[str, object] | None:
        """(where, value) of the most specific table that gives ``key`` (an identity key of a ``sender =
        "best"`` campaign: only from the mailbox's own table)."""
        for where, table in self.tables:
            if self.per_mailbox and key in IDENTITY and where in (OPTIONS, FLAT):
                continue
            value = getattr(table, key)
            if value is not None:
                return where, value
        return None

    def value(self, key: str, default: T) -> T:
        """The most specific value of ``key`` (of the type of ``default``: the tables are typed), or ``default``."""
        found = self.pick(key)
        return default if found is None else cast(T, found[1])


def _security(layers: Layers, port: int | None) -> str:
    found = layers.pick("security")
    if found is None:
        return "starttls" if port == 587 else "ssl"
    where, security = found
    if security == "plain" and where != OPTIONS:
        raise ConfigError(
            f'{where}: security = "plain" sends mail and password unencrypted; '
            "ask for it explicitly on the command line (--smtp-security plain)"
        )
    return str(security)


def resolve_smtp(
    settings: Settings | None,
    campaign: Campaign,
    overrides: Mapping[str, Any] | None = None,
    session: Session | None = None,
    mailbox_name: str | None = None,
) -> SmtpSettings:
    """SMTP settings to send from ``mailbox_name`` (default: the campaign's mailbox): ``overrides``
    (command-line options) > campaign ``[smtp]`` > ``[send.MAILBOX]`` > ``[send]`` > the mailbox's config
    (username, first address) > the store's addresses of the mailbox (see the module's doc for ``sender =
    "best"``).

    ``security = "plain"`` (no TLS at all) is only accepted from ``overrides``, i.e. asked for explicitly on
    the command line; a file cannot turn encryption off.
    """
    layers = Layers(settings, campaign, overrides, mailbox_name)
    name = layers.mailbox
    mailbox = settings.mailboxes.get(name) if settings is not None else None
    port: int | None = layers.value("port", None)
    from_name: str | None = layers.value("from_name", None)
    helo: str | None = layers.value("helo", None)
    from_address: str = layers.value("from_address", "")
    if not from_address and mailbox is not None and mailbox.addresses:
        from_address = mailbox.addresses[0]
    if not from_address and session is not None:
        from_address = _store_address(session, name) or ""
    return SmtpSettings(
        host=layers.value("host", ""),
        port=port,
        username=layers.value("username", mailbox.username if mailbox is not None else ""),
        security=_security(layers, port),
        from_address=from_address.strip(),
        from_name=from_name,
        timeout=layers.value("timeout", DEFAULT_TIMEOUT),
        helo=helo,
    )


def resolve_limits(
    settings: Settings | None,
    campaign: Campaign,
    overrides: Mapping[str, Any] | None = None,
    mailbox_name: str | None = None,
) -> SendLimits:
    """Rate, daily cap and retry settings with the same precedence as :func:`resolve_smtp`."""
    layers = Layers(settings, campaign, overrides, mailbox_name)
    return SendLimits(
        rate_per_minute=layers.value("rate_per_minute", DEFAULT_RATE_PER_MINUTE),
        daily_cap=layers.value("daily_cap", DEFAULT_DAILY_CAP),
        retries=layers.value("retries", DEFAULT_RETRIES),
        retry_base_seconds=layers.value("retry_base_seconds", DEFAULT_RETRY_BASE),
    )


def _store_address(session: Session, mailbox_name: str) -> str | None:
    return session.scalar(
        select(MailboxAddress.address)
        .join(Mailbox, Mailbox.id == MailboxAddress.mailbox_id)
        .where(Mailbox.name == mailbox_name)
        .order_by(MailboxAddress.id)
        .limit(1)
    )


__all__ = ["PORTS", "SendLimits", "SendOptions", "SmtpSettings", "resolve_limits", "resolve_smtp"]
