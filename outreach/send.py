"""Sending a campaign over SMTP: the only module that talks SMTP.

What a run does, in order:

1. Lints the whole campaign again (:func:`outreach.campaign.evaluate`) — never a stale preview.
2. For each recipient, decides: BLOCKED is never sent, whatever the flags; REVIEW only with
   ``accept_review`` or an allow entry; suppressed addresses/domains are skipped even if a rule was ignored;
   what the send log already knows is not sent again.
3. Sends the rest one at a time, under a per-minute rate and a per-mailbox daily cap, both counted from the
   send log (so they hold across runs and processes).

Idempotency: the send log has one row per (campaign, recipient), holding the Message-ID made before sending.

* ``sending`` is inserted and COMMITTED before the SMTP transaction starts;
* when the server accepts the message (250 after DATA) the row becomes ``sent`` (with ``sent_at``) in the
  same transaction that records the message in the store as outbound mail, and that is committed;
* a refusal the server makes before accepting is definite: 5xx is ``failed`` (with the reply, never retried
  automatically), 4xx is retried with exponential backoff and, when attempts run out, ``deferred``
  (tried again by the next run), like any other error that happened before DATA was finished.

The crash window: if the process dies (kill -9, power loss) after the server accepted DATA and before the
``sent`` commit, the row stays ``sending`` although the message went out.  SMTP cannot be asked afterwards
whether it delivered a message, so a ``sending`` row is treated as *possibly sent*: the next run lists it as
"unconfirmed" and does NOT send it again unless ``resend_unconfirmed`` is given (the same Message-ID is then
reused, so a receiving system that de-duplicates by Message-ID can drop a copy).  A crash anywhere else
loses nothing and duplicates nothing: rows still ``sending`` from a crash before DATA are reported the same
conservative way.  Two runs of the same campaign at once cannot both send to a recipient: the second one's
``sending`` insert hits the unique (campaign, recipient) key and skips it.
"""

from __future__ import annotations

import contextlib
import importlib
import ipaddress
import smtplib
import socket
import ssl
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outreach.config import SECURITY_MODES, MailboxConfig, Settings
from outreach.errors import AuthenticationError, ConfigError, MailServerError, UsageError, network_error
from outreach.mail.ingest import Ingestor, RawMessage, ensure_folder, ensure_mailbox
from outreach.store.models import MailboxAddress, SendLog, utcnow
from outreach.suppression import load_suppressions

SENT_FOLDER = "outreach-sent"  # the store folder of the sending mailbox that holds what outreach sent
FOLDER_SOURCE = "outreach"

DEFAULT_RATE_PER_MINUTE = 20  # Gmail-like safe defaults
DEFAULT_DAILY_CAP = 500
DEFAULT_RETRIES = 4  # attempts after the first one for a 4xx answer
DEFAULT_RETRY_BASE = 2.0  # seconds; doubled after each attempt
DEFAULT_TIMEOUT = 60.0

PORTS = {"ssl": 465, "starttls": 587, "plain": 25}

# statuses of a send_log row
SENDING, SENT, FAILED, DEFERRED = "sending", "sent", "failed", "deferred"

# what happened to a recipient in this run
WOULD_SEND = "would-send"
ACT_SENT = "sent"
ALREADY_SENT = "already-sent"
SKIPPED = "skipped"
ACT_FAILED = "failed"
ACT_DEFERRED = "deferred"
UNCONFIRMED = "unconfirmed"
NOT_REACHED = "not-sent"

_SMTP_KEYS = {
    "host",
    "port",
    "username",
    "security",
    "from",
    "from_name",
    "rate_per_minute",
    "daily_cap",
    "retries",
    "retry_base_seconds",
    "timeout",
    "helo",
}


# ---------------------------------------------------------------------------------------------- config


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


def campaign_smtp_table(campaign: Any) -> dict[str, Any]:
    """The campaign's ``[smtp]`` table: its ``smtp`` attribute, else read from its TOML file."""
    table = getattr(campaign, "smtp", None)
    if isinstance(table, Mapping):
        return dict(table)
    path = getattr(campaign, "path", None)
    if path is None:
        return {}
    path = Path(path)
    if path.is_dir():
        path = path / "campaign.toml"
    if path.suffix != ".toml" or not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}  # the campaign loader reports a broken file; nothing to add here
    smtp = data.get("smtp", {})
    if not isinstance(smtp, dict):
        raise ConfigError(f"{path}: [smtp] must be a table")
    return smtp


def _layers(
    settings: Settings | None, campaign_table: Mapping[str, Any], mailbox: str
) -> list[tuple[str, Mapping[str, Any]]]:
    """Sources from the most to the least specific (options come on top of these)."""
    layers: list[tuple[str, Mapping[str, Any]]] = [("campaign [smtp]", campaign_table)]
    if settings is not None:
        send = settings.section("send")
        per_mailbox = send.get(mailbox) if mailbox else None
        if isinstance(per_mailbox, Mapping):
            layers.append((f"[send.{mailbox}]", per_mailbox))
        layers.append(("[send]", {k: v for k, v in send.items() if not isinstance(v, Mapping)}))
    for where, table in layers:
        unknown = set(table) - _SMTP_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    return layers


def _pick(layers: list[tuple[str, Mapping[str, Any]]], key: str) -> tuple[str, Any] | None:
    for where, table in layers:
        if key in table and table[key] is not None and table[key] != "":
            return where, table[key]
    return None


def _int(found: tuple[str, Any] | None, key: str, default: int, minimum: int = 0) -> int:
    if found is None:
        return default
    where, value = found
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}: {key} must be an integer >= {minimum}")
    return value


def _float(found: tuple[str, Any] | None, key: str, default: float) -> float:
    if found is None:
        return default
    where, value = found
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}: {key} must be a number >= 0")
    return float(value)


def resolve_smtp(
    settings: Settings | None,
    campaign: Any,
    overrides: Mapping[str, Any] | None = None,
    session: Session | None = None,
) -> SmtpSettings:
    """SMTP settings: ``overrides`` (command-line options) > campaign ``[smtp]`` > ``[send.MAILBOX]`` >
    ``[send]`` > the mailbox's config (username, first address) > the store's addresses of the mailbox.

    ``security = "plain"`` (no TLS at all) is only accepted from ``overrides``, i.e. asked for explicitly on
    the command line; a file cannot turn encryption off.
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None and v != ""}
    mailbox_name = str(getattr(campaign, "mailbox", "") or "")
    layers = [("options", overrides), *_layers(settings, campaign_smtp_table(campaign), mailbox_name)]
    mbox = _mailbox_config(settings, mailbox_name)

    found = _pick(layers, "security")
    port_found = _pick(layers, "port")
    port = _int(port_found, "port", 0, 1) if port_found else None
    if found is None:
        security = "starttls" if port == 587 else "ssl"
    else:
        where, value = found
        security = str(value)
        if security not in SECURITY_MODES:
            raise ConfigError(f"{where}: security must be one of {', '.join(SECURITY_MODES)}")
        if security == "plain" and where != "options":
            raise ConfigError(
                f'{where}: security = "plain" sends mail and password unencrypted; '
                "ask for it explicitly on the command line (--smtp-security plain)"
            )
    host = _pick(layers, "host")
    username = _pick(layers, "username")
    from_found = _pick(layers, "from")
    from_address = str(from_found[1]) if from_found else ""
    if not from_address and mbox is not None and mbox.addresses:
        from_address = mbox.addresses[0]
    if not from_address and session is not None and mailbox_name:
        from_address = _store_address(session, mailbox_name) or ""
    from_name = _pick(layers, "from_name")
    helo = _pick(layers, "helo")
    return SmtpSettings(
        host=str(host[1]) if host else "",
        port=port,
        username=str(username[1]) if username else (mbox.username if mbox is not None else ""),
        security=security,
        from_address=from_address.strip(),
        from_name=str(from_name[1]) if from_name else None,
        timeout=_float(_pick(layers, "timeout"), "timeout", DEFAULT_TIMEOUT),
        helo=str(helo[1]) if helo else None,
    )


def resolve_limits(
    settings: Settings | None, campaign: Any, overrides: Mapping[str, Any] | None = None
) -> SendLimits:
    """Rate, daily cap and retry settings with the same precedence as :func:`resolve_smtp`."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    mailbox_name = str(getattr(campaign, "mailbox", "") or "")
    layers = [("options", overrides), *_layers(settings, campaign_smtp_table(campaign), mailbox_name)]
    return SendLimits(
        rate_per_minute=_int(_pick(layers, "rate_per_minute"), "rate_per_minute", DEFAULT_RATE_PER_MINUTE, 1),
        daily_cap=_int(_pick(layers, "daily_cap"), "daily_cap", DEFAULT_DAILY_CAP, 0),
        retries=_int(_pick(layers, "retries"), "retries", DEFAULT_RETRIES, 0),
        retry_base_seconds=_float(
            _pick(layers, "retry_base_seconds"), "retry_base_seconds", DEFAULT_RETRY_BASE
        ),
    )


def _mailbox_config(settings: Settings | None, name: str) -> MailboxConfig | None:
    if settings is None or not name:
        return None
    return settings.mailboxes.get(name)


def _store_address(session: Session, mailbox_name: str) -> str | None:
    from outreach.store.models import Mailbox

    return session.scalar(
        select(MailboxAddress.address)
        .join(Mailbox, Mailbox.id == MailboxAddress.mailbox_id)
        .where(Mailbox.name == mailbox_name)
        .order_by(MailboxAddress.id)
        .limit(1)
    )


# -------------------------------------------------------------------------------------------- messages


def unsubscribe_headers(campaign: Any, address: str) -> dict[str, str]:
    """``List-Unsubscribe`` (and RFC 8058 ``List-Unsubscribe-Post`` with an https URL) for one recipient,
    as the campaign's ``[unsubscribe]`` table defines them (the same headers its lint checks)."""
    config = getattr(campaign, "unsubscribe", None)
    if config is None:
        return {}
    headers: Mapping[str, str] = config.headers(address)
    return {str(k): str(v) for k, v in headers.items()}


def build_message(
    *,
    from_address: str,
    from_name: str | None,
    to_address: str,
    to_name: str | None,
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    date: datetime,
    extra_headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """A standards-conforming message (policy SMTP: CRLF, encoded headers), text with optional HTML."""
    msg = EmailMessage(policy=email_policy.SMTP)
    msg["From"] = _address(from_address, from_name)
    msg["To"] = _address(to_address, to_name)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    for key, value in (extra_headers or {}).items():
        msg[key] = value
    msg.set_content(text, cte=_cte(text))
    if html:
        msg.add_alternative(html, subtype="html", cte=_cte(html))
    return msg


def _address(address: str, name: str | None) -> Address:
    local, _, domain = address.strip().rpartition("@")
    if not local or not domain:
        raise UsageError(f"{address!r} is not an email address")
    return Address(display_name=name or "", username=local, domain=domain)


def _cte(text: str) -> str | None:
    # 7bit-clean bodies: no need for the server to support 8BITMIME.
    return None if text.isascii() else "quoted-printable"


def message_id_domain(from_address: str) -> str:
    return from_address.rpartition("@")[2] or socket.getfqdn()


# ------------------------------------------------------------------------------------------- transport


class TemporaryFailure(Exception):
    """The server answered 4xx: not delivered, may work later."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code, self.text = code, text


class PermanentFailure(Exception):
    """The server answered 5xx to this message or recipient: not delivered, do not retry."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code, self.text = code, text


class SenderRefused(Exception):
    """The server refused us (MAIL FROM 5xx, AUTH): nothing can be sent in this run."""


class NotDelivered(Exception):
    """The connection failed before the message was handed over (before the end of DATA): safe to retry."""


class Unconfirmed(Exception):
    """The connection failed while the message was being handed over: it may or may not have been accepted."""


class _ConnectRefused(MailServerError):
    """Connecting failed in a way retrying cannot fix (TLS, credentials, unknown host)."""


class _AuthRefused(_ConnectRefused, AuthenticationError):
    pass


class Transport(Protocol):
    def deliver(self, mail_from: str, rcpt_to: str, data: bytes) -> str: ...

    def close(self) -> None: ...


class SmtpTransport:
    """One SMTP connection (reopened as needed) that delivers one message to one recipient at a time."""

    def __init__(self, config: SmtpSettings, password: str | None) -> None:
        self.config = config
        self.password = password
        self.smtp: smtplib.SMTP | None = None

    # -- connection

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        host, port = cfg.host, cfg.effective_port
        context = ssl.create_default_context()  # verifies the certificate and host name
        smtp: smtplib.SMTP
        try:
            if cfg.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    host, port, local_hostname=cfg.helo, timeout=cfg.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(host, port, local_hostname=cfg.helo, timeout=cfg.timeout)
                if cfg.security == "starttls":
                    smtp.ehlo()
                    if not smtp.has_extn("starttls"):
                        smtp.close()
                        raise _ConnectRefused(
                            host, "the server does not offer STARTTLS; refusing to send in clear"
                        )
                    smtp.starttls(context=context)
            smtp.ehlo()
            if cfg.username:
                if self.password is None:
                    raise _ConnectRefused(host, f"no SMTP password for {cfg.username}")
                smtp.login(cfg.username, self.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise _AuthRefused(
                host, f"SMTP login failed for {cfg.username}: {_reply(exc.smtp_error)}"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise _ConnectRefused(host, f"SMTP: {exc}") from exc
        except socket.gaierror as exc:
            raise _ConnectRefused(host, f"unknown host ({exc.strerror})") from exc
        except ssl.SSLCertVerificationError as exc:
            raise _ConnectRefused(host, f"TLS certificate not trusted: {exc.verify_message}") from exc
        except ssl.SSLError as exc:
            raise _ConnectRefused(host, f"TLS error: {exc.reason or exc}") from exc
        except smtplib.SMTPConnectError as exc:
            raise MailServerError(host, f"port {port}: {exc.smtp_code} {_reply(exc.smtp_error)}") from exc
        except smtplib.SMTPException as exc:
            raise MailServerError(host, f"port {port}: SMTP error: {exc}") from exc
        except OSError as exc:
            raise network_error(host, port, exc) from exc
        return smtp

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                with contextlib.suppress(OSError):
                    self.smtp.close()
            self.smtp = None

    def _drop(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(OSError):
                self.smtp.close()
            self.smtp = None

    # -- one message

    def deliver(self, mail_from: str, rcpt_to: str, data: bytes) -> str:
        """Hand one message over; returns the server's final reply.  Raises the failures above."""
        if self.smtp is None:
            try:
                self.smtp = self._connect()
            except _ConnectRefused as exc:  # retrying cannot help: credentials, TLS, no such host
                raise SenderRefused(str(exc)) from exc
            except MailServerError as exc:
                raise NotDelivered(str(exc)) from exc
        smtp = self.smtp
        options = ["SMTPUTF8"] if not (mail_from + rcpt_to).isascii() else []
        try:
            code, reply = smtp.mail(mail_from, options)
            self._check(code, reply, stage="MAIL FROM")
            code, reply = smtp.rcpt(rcpt_to)
            self._check(code, reply, stage="RCPT TO")
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise NotDelivered(f"connection lost before DATA: {exc}") from exc
        try:
            code, reply = smtp.data(data)
        except smtplib.SMTPDataError as exc:  # the server refused DATA itself: nothing was handed over
            self._reset()
            self._raise_for(exc.smtp_code, _reply(exc.smtp_error))
            raise  # pragma: no cover - _raise_for always raises
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise Unconfirmed(f"connection lost during DATA: {exc}") from exc
        if code == 250:
            return f"{code} {_reply(reply)}"
        self._reset()
        self._raise_for(code, _reply(reply))
        raise AssertionError("unreachable")  # pragma: no cover

    def _check(self, code: int, reply: bytes, stage: str) -> None:
        if 200 <= code < 300:
            return
        self._reset()
        if stage == "MAIL FROM" and code >= 500:
            raise SenderRefused(f"{self.config.host}: MAIL FROM refused: {code} {_reply(reply)}")
        self._raise_for(code, _reply(reply))

    def _raise_for(self, code: int, text: str) -> None:
        if code == 421 or code == -1:
            self._drop()
        if 400 <= code < 500 or code == -1:
            raise TemporaryFailure(code, text)
        raise PermanentFailure(code, text)

    def _reset(self) -> None:
        if self.smtp is None:
            return
        try:
            self.smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()


def _reply(value: bytes | str) -> str:
    return (value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)).strip()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------- results


@dataclass
class Outcome:
    """What became of one recipient in this run."""

    address: str
    verdict: str
    action: str  # would-send | sent | already-sent | skipped | failed | deferred | unconfirmed | not-sent
    reason: str = ""
    message_id: str | None = None
    attempts: int = 0
    findings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing about this recipient needs a human."""
        return self.action in (WOULD_SEND, ACT_SENT, ALREADY_SENT)

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "verdict": self.verdict,
            "action": self.action,
            "reason": self.reason,
            "message_id": self.message_id,
            "attempts": self.attempts,
            "findings": self.findings,
        }


@dataclass
class SendResult:
    campaign: str
    mailbox: str
    dry_run: bool
    smtp: SmtpSettings
    limits: SendLimits
    outcomes: list[Outcome] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped before the end (daily cap, server refused us …)
    warnings: list[str] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for o in self.outcomes if o.action == action)

    @property
    def exit_code(self) -> int:
        """0: everything that should go went (or would go); 1: something blocked, failed or needs a human."""
        if self.stopped:
            return 1
        return 0 if all(o.ok for o in self.outcomes) else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "mailbox": self.mailbox,
            "dry_run": self.dry_run,
            "stopped": self.stopped,
            "warnings": self.warnings,
            "counts": {a: self.count(a) for a in dict.fromkeys(o.action for o in self.outcomes)},
            "recipients": [o.to_json() for o in self.outcomes],
        }


# ------------------------------------------------------------------------------------------- the run

Evaluator = Callable[..., Any]
Clock = Callable[[], datetime]


def send_campaign(
    session: Session,
    campaign: Any,
    settings: Settings | None = None,
    options: SendOptions | None = None,
    *,
    smtp: SmtpSettings | None = None,
    limits: SendLimits | None = None,
    password: str | None = None,
    prompt: Callable[[str], str] | None = None,
    transport: Transport | None = None,
    evaluator: Evaluator | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    after_ingest: Callable[[Session, list[int]], None] | None = None,
    append_sent: Callable[[bytes], None] | None = None,
    clock: Clock = utcnow,
    sleep: Callable[[float], None] = time.sleep,
) -> SendResult:
    """Lint ``campaign`` again and send (or, with ``options.dry_run``, show) what may go.

    ``smtp``/``limits`` default to :func:`resolve_smtp`/:func:`resolve_limits` without overrides.  The SMTP
    password comes from ``password``, else ``settings.smtp_password`` (environment, keyring, ``prompt``), and
    is only asked for when something is actually going to be sent.
    """
    options = options or SendOptions()
    smtp = smtp or resolve_smtp(settings, campaign, session=session)
    limits = limits or resolve_limits(settings, campaign)
    name = str(campaign.name)
    mailbox_name = str(getattr(campaign, "mailbox", "") or "")
    if not mailbox_name:
        raise UsageError(f"campaign {name!r}: no sending mailbox (set mailbox in the campaign)")
    result = SendResult(name, mailbox_name, options.dry_run, smtp, limits)

    def emit(outcome: Outcome) -> None:
        result.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    if evaluator is None:
        evaluator = importlib.import_module("outreach.campaign").evaluate
    # Always the whole lint, right now: nothing below relies on an earlier preview.
    report = evaluator(
        session, campaign, settings=settings, select=tuple(options.select), ignore=tuple(options.ignore)
    )
    session.commit()  # end the read transaction before the long-running loop
    recipients = list(report.recipients)
    logs = _send_log(session, name, [r.address for r in recipients])
    suppressions = load_suppressions(session)  # read again: the last check before sending

    candidates: list[tuple[Any, SendLog | None]] = []
    for rec in recipients:
        address = _norm(rec.address)
        log = logs.get(address)
        findings = [_finding_text(f) for f in getattr(rec, "findings", ())]
        base = Outcome(
            address,
            str(rec.verdict),
            SKIPPED,
            findings=findings,
            message_id=log.message_id_header if log else None,
            attempts=log.attempts if log else 0,
        )
        if log is not None and log.status == SENT:
            when = log.sent_at.isoformat(timespec="seconds") if log.sent_at else "?"
            emit(replace(base, action=ALREADY_SENT, reason=f"already sent at {when}"))
            continue
        if log is not None and log.status == SENDING and not options.resend_unconfirmed:
            emit(
                replace(
                    base,
                    action=UNCONFIRMED,
                    reason=(
                        "possibly sent: a run started sending it at "
                        f"{log.created_at.isoformat(timespec='seconds')}"
                        " and did not record the result; check the recipient's mail or the server's log, then"
                        " send again with --resend-unconfirmed (same Message-ID) if it did not arrive"
                    ),
                )
            )
            continue
        if log is not None and log.status == FAILED and not options.retry_failed:
            emit(
                replace(
                    base,
                    action=ACT_FAILED,
                    reason=f"failed in an earlier run: {log.error or '?'} (--retry-failed to try again)",
                )
            )
            continue
        verdict = str(rec.verdict)
        if verdict == "BLOCKED":
            emit(replace(base, reason="blocked: " + ("; ".join(findings) or "by the campaign lint")))
            continue
        if verdict == "REVIEW" and not options.accept_review:
            emit(
                replace(
                    base,
                    reason="needs review: "
                    + ("; ".join(findings) or "see the lint")
                    + " (after reviewing, send with --accept-review, or record an allow entry)",
                )
            )
            continue
        if verdict == "REVIEW" and not bool(getattr(rec, "review_allowed", False)):
            emit(replace(base, reason="needs review, and the lint does not allow approving it"))
            continue
        if verdict not in ("READY", "REVIEW"):
            emit(replace(base, reason=f"unknown verdict {verdict!r}"))
            continue
        if getattr(rec, "rendered", None) is None:
            emit(replace(base, reason="the template could not be rendered for this recipient"))
            continue
        hit = suppressions.match(address)
        if hit is not None:
            emit(replace(base, verdict="BLOCKED", reason=f"suppressed ({hit.describe()})"))
            continue
        candidates.append((rec, log))

    if options.dry_run:
        for rec, log in candidates:
            address = _norm(rec.address)
            note = " (resend of an unconfirmed message)" if log is not None and log.status == SENDING else ""
            emit(
                Outcome(
                    address,
                    str(rec.verdict),
                    WOULD_SEND,
                    reason=f"would send{note}",
                    message_id=log.message_id_header if log else None,
                    findings=[_finding_text(f) for f in getattr(rec, "findings", ())],
                )
            )
        return result

    if not candidates:
        return result
    if not smtp.from_address:
        raise UsageError("no From address: set [smtp] from in the campaign, [send] from, or --from")
    if not smtp.host and transport is None:
        raise UsageError(
            "no SMTP host: set [smtp] host in the campaign, [send] host in the config, or --smtp-host"
        )
    if smtp.security == "plain" and not is_loopback(smtp.host):
        result.warnings.append(f"{smtp.host}: sending WITHOUT encryption (--smtp-security plain)")
    if transport is None:
        if smtp.username and password is None:
            if settings is None:
                raise UsageError(f"{smtp.host}: no SMTP password for {smtp.username}")
            password = settings.smtp_password(smtp.username, smtp.host, prompt)
        transport = SmtpTransport(smtp, password)
    if options.append_sent and append_sent is None:
        if settings is None:
            raise UsageError("--append-sent needs the mailbox's IMAP settings from the config file")
        append_sent = _imap_appender(settings, mailbox_name, prompt)

    sender = _Sender(
        session,
        campaign,
        smtp,
        limits,
        options,
        transport,
        emit,
        result,
        after_ingest,
        append_sent,
        clock,
        sleep,
    )
    try:
        sender.run(candidates)
    finally:
        transport.close()
    return result


class _Sender:
    """The send loop of one run (split out of :func:`send_campaign` to keep each step readable)."""

    def __init__(
        self,
        session: Session,
        campaign: Any,
        smtp: SmtpSettings,
        limits: SendLimits,
        options: SendOptions,
        transport: Transport,
        emit: Callable[[Outcome], None],
        result: SendResult,
        after_ingest: Callable[[Session, list[int]], None] | None,
        append_sent: Callable[[bytes], None] | None,
        clock: Clock,
        sleep: Callable[[float], None],
    ) -> None:
        self.session, self.campaign, self.smtp, self.limits = session, campaign, smtp, limits
        self.options, self.transport, self.emit, self.result = options, transport, emit, result
        self.after_ingest, self.append_sent, self.clock, self.sleep = after_ingest, append_sent, clock, sleep
        self.name = str(campaign.name)
        self.mailbox = str(campaign.mailbox)
        self.last_send: datetime | None = None

    def run(self, candidates: list[tuple[Any, SendLog | None]]) -> None:
        sent_now = 0
        for index, (rec, log) in enumerate(candidates):
            rest = candidates[index:]
            if self.options.limit is not None and sent_now >= self.options.limit:
                self._not_reached(rest, f"--limit {self.options.limit} reached in this run")
                return
            stop = self._wait_for_slot()
            if stop is not None:
                self.result.stopped = stop
                self._not_reached(rest, stop)
                return
            try:
                outcome = self._send_one(rec, log)
            except SenderRefused as exc:
                self.result.stopped = str(exc)
                self._not_reached(rest, "not sent: the server refused the sender")
                return
            except _StopRun as exc:
                self.result.stopped = str(exc)
                self.emit(exc.outcome)
                self._not_reached(rest[1:], "not sent: run stopped")
                return
            self.emit(outcome)
            if outcome.action == ACT_SENT:
                sent_now += 1

    def _not_reached(self, rest: list[tuple[Any, SendLog | None]], reason: str) -> None:
        for rec, log in rest:
            self.emit(
                Outcome(
                    _norm(rec.address),
                    str(rec.verdict),
                    NOT_REACHED,
                    reason=reason,
                    message_id=log.message_id_header if log else None,
                )
            )

    # -- limits

    def _wait_for_slot(self) -> str | None:
        """Sleep until the per-minute rate allows the next message; a reason to stop at the daily cap."""
        now = self.clock()
        day_ago = now - timedelta(hours=24)
        used = (
            self.session.scalar(
                select(func.count())
                .select_from(SendLog)
                .where(
                    SendLog.mailbox == self.mailbox,
                    or_(
                        (SendLog.status == SENT) & (SendLog.sent_at >= day_ago),
                        # possibly sent: counts against the cap too
                        (SendLog.status == SENDING) & (SendLog.created_at >= day_ago),
                    ),
                )
            )
            or 0
        )
        if used >= self.limits.daily_cap:
            oldest = self.session.scalar(
                select(func.min(SendLog.sent_at)).where(
                    SendLog.mailbox == self.mailbox, SendLog.status == SENT, SendLog.sent_at >= day_ago
                )
            )
            after = (
                f"; the next slot opens at {(oldest + timedelta(hours=24)).isoformat(timespec='minutes')}"
                if oldest
                else ""
            )
            return (
                f"daily cap reached: {used} message(s) sent from mailbox {self.mailbox!r} in the last 24 h "
                f"(cap {self.limits.daily_cap}){after}; run the command again later to send the rest"
            )
        last = self.session.scalar(
            select(func.max(SendLog.sent_at)).where(SendLog.mailbox == self.mailbox, SendLog.status == SENT)
        )
        self.session.commit()  # no transaction stays open while we wait
        if self.last_send is not None and (last is None or self.last_send > last):
            last = self.last_send
        if last is not None:
            interval = 60.0 / self.limits.rate_per_minute
            wait = interval - (now - last).total_seconds()
            if wait > 0:
                self.sleep(min(wait, interval))
        return None

    # -- one recipient

    def _send_one(self, rec: Any, log: SendLog | None) -> Outcome:
        address = _norm(rec.address)
        verdict = str(rec.verdict)
        findings = [_finding_text(f) for f in getattr(rec, "findings", ())]
        log = self._claim(address, log)
        if log is None:
            return Outcome(
                address,
                verdict,
                SKIPPED,
                reason="being sent by another run at the same time",
                findings=findings,
            )
        rendered = rec.rendered
        headers = unsubscribe_headers(self.campaign, address)
        msg = build_message(
            from_address=self.smtp.from_address,
            from_name=self.smtp.from_name,
            to_address=address,
            to_name=_recipient_name(rec),
            subject=str(rendered.subject),
            text=str(rendered.text),
            html=getattr(rendered, "html", None),
            message_id=log.message_id_header,
            date=self.clock(),
            extra_headers=headers,
        )
        data = msg.as_bytes()
        base = Outcome(address, verdict, ACT_SENT, message_id=log.message_id_header, findings=findings)
        attempt = 0
        while True:
            attempt += 1
            log.attempts += 1
            try:
                reply = self.transport.deliver(self.smtp.from_address, address, data)
            except TemporaryFailure as exc:
                if attempt > self.limits.retries:
                    self._finish(log, DEFERRED, f"{exc} (after {attempt} attempts)")
                    return replace(
                        base,
                        action=ACT_DEFERRED,
                        attempts=log.attempts,
                        reason=f"temporary failure after {attempt} attempt(s): {exc}; "
                        "the next run tries again",
                    )
                if not self._wait_to_retry(log, str(exc), attempt):
                    return replace(base, action=SKIPPED, reason="being sent by another run at the same time")
                continue
            except NotDelivered as exc:
                if attempt > self.limits.retries:
                    self._finish(log, DEFERRED, str(exc))
                    raise _StopRun(
                        f"{self.smtp.host}: giving up after {attempt} attempt(s): {exc}",
                        replace(base, action=ACT_DEFERRED, attempts=log.attempts, reason=f"not sent: {exc}"),
                    ) from exc
                if not self._wait_to_retry(log, str(exc), attempt):
                    return replace(base, action=SKIPPED, reason="being sent by another run at the same time")
                continue
            except PermanentFailure as exc:
                self._finish(log, FAILED, str(exc))
                return replace(base, action=ACT_FAILED, attempts=log.attempts, reason=f"refused: {exc}")
            except SenderRefused as exc:
                self._finish(log, DEFERRED, str(exc))
                raise
            except Unconfirmed as exc:
                log.error = str(exc)
                self.session.commit()  # stays `sending`: possibly sent
                raise _StopRun(
                    f"{self.smtp.host}: {exc}; stopped",
                    replace(
                        base,
                        action=UNCONFIRMED,
                        attempts=log.attempts,
                        reason=f"possibly sent ({exc}); not resent without --resend-unconfirmed",
                    ),
                ) from exc
            break
        now = self.clock()
        self.last_send = now
        self._record_sent(log, data, now)
        if self.append_sent is not None:
            try:
                self.append_sent(data)
            except Exception as exc:  # noqa: BLE001 - the mail went out; a copy in Sent is a nicety
                self.result.warnings.append(f"{address}: sent, but not copied to the IMAP Sent folder: {exc}")
        return replace(base, attempts=log.attempts, reason=f"accepted: {reply}")

    def _claim(self, address: str, log: SendLog | None) -> SendLog | None:
        """Insert (or take over) the recipient's row as ``sending`` and commit it before any SMTP traffic."""
        if log is not None:
            row = self.session.get(SendLog, log.id)
            if row is None or row.status == SENT:
                return None
            if row.status == SENDING and not self.options.resend_unconfirmed:
                return None
            return row if self._take(row, row.status) else None
        row = SendLog(
            campaign=self.name,
            recipient=address,
            mailbox=self.mailbox,
            message_id_header=make_msgid(domain=message_id_domain(self.smtp.from_address)),
            status=SENDING,
            attempts=0,
            created_at=self.clock(),
        )
        self.session.add(row)
        try:
            self.session.commit()
        except IntegrityError:
            self.session.rollback()
            return None
        return row

    def _take(self, log: SendLog, expected: str) -> bool:
        """Mark ``log`` ``sending`` if it is still ``expected`` with the attempt count we know, in one
        conditional UPDATE: of two runs taking over the same row, exactly one gets it."""
        attempts = log.attempts
        taken = self.session.execute(
            update(SendLog)
            .where(SendLog.id == log.id, SendLog.status == expected, SendLog.attempts == attempts)
            .values(status=SENDING, error=None, mailbox=self.mailbox, created_at=self.clock())
            .execution_options(synchronize_session=False)
        )
        self.session.commit()
        self.session.refresh(log)  # the UPDATE bypassed the ORM (and sessions may keep objects on commit)
        return bool(getattr(taken, "rowcount", 0) == 1)

    def _wait_to_retry(self, log: SendLog, error: str, attempt: int) -> bool:
        """Back off before the next attempt; False if another run took the recipient meanwhile.

        Nothing was handed over (a 4xx, or a connection lost before DATA), so while waiting the row says
        ``deferred``, not ``sending``: a run killed here leaves a recipient the next run simply sends to,
        not one shown as UNCONFIRMED (possibly sent) forever.
        """
        log.status, log.error = DEFERRED, error[:2000]
        self.session.commit()  # with the attempt count
        self.sleep(self.limits.retry_base_seconds * 2 ** (attempt - 1))
        return self._take(log, DEFERRED)

    def _finish(self, log: SendLog, status: str, error: str) -> None:
        log.status, log.error = status, error[:2000]
        self.session.commit()

    def _record_sent(self, log: SendLog, data: bytes, now: datetime) -> None:
        """Mark ``sent`` and store the message as outbound mail (with the ledger hook), in ONE commit.

        If the hook fails, the message is stored without it; if storing fails, ``sent`` is committed alone:
        the send log must record the send whatever else goes wrong.
        """
        hooks = [self.after_ingest, None] if self.after_ingest is not None else [None]
        problems: list[str] = []
        for hook in hooks:
            row = self.session.get(SendLog, log.id) or log
            row.status, row.sent_at, row.error = SENT, now, None
            try:
                mailbox = ensure_mailbox(self.session, self.mailbox, [self.smtp.from_address])
                folder = ensure_folder(self.session, mailbox, SENT_FOLDER, FOLDER_SOURCE, is_sent=True)
                origin = f"sent {log.message_id_header}"
                raw = RawMessage(raw=data, internal_date=now, flags="\\Seen", origin=origin)
                Ingestor(self.session, mailbox, after_batch=hook).ingest(folder, [raw])  # commits
                break
            except Exception as exc:  # noqa: BLE001 - see the docstring
                self.session.rollback()
                problems.append(f"{type(exc).__name__}: {exc}")
        else:
            row = self.session.get(SendLog, log.id) or log
            row.status, row.sent_at, row.error = SENT, now, None
            self.session.commit()
        if problems:
            what = "not recorded in the store's mail" if len(problems) == len(hooks) else "ledger not updated"
            self.result.warnings.append(f"{log.recipient}: sent, but {what}: {problems[0]}")


class _StopRun(Exception):
    def __init__(self, message: str, outcome: Outcome) -> None:
        super().__init__(message)
        self.outcome = outcome


def _recipient_name(rec: Any) -> str | None:
    row = getattr(rec, "row", None)
    if isinstance(row, Mapping):
        for key in ("name", "full_name", "display_name"):
            value = row.get(key)
            if value:
                return str(value)
        first, last = row.get("first_name"), row.get("last_name")
        if first or last:
            return " ".join(str(p) for p in (first, last) if p)
    return None


def _finding_text(finding: Any) -> str:
    if isinstance(finding, str):
        return finding
    rule = (
        getattr(finding, "rule", None) or getattr(finding, "code", None) or getattr(finding, "rule_id", None)
    )
    message = getattr(finding, "message", None) or getattr(finding, "text", None) or str(finding)
    return f"{rule}: {message}" if rule else str(message)


def _norm(address: str) -> str:
    return address.strip().lower()


def _send_log(session: Session, campaign: str, addresses: Iterable[str]) -> dict[str, SendLog]:
    wanted = list(dict.fromkeys(_norm(a) for a in addresses))
    found: dict[str, SendLog] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for row in session.scalars(
            select(SendLog).where(SendLog.campaign == campaign, SendLog.recipient.in_(chunk))
        ):
            found[row.recipient] = row
    return found


def _imap_appender(
    settings: Settings, mailbox_name: str, prompt: Callable[[str], str] | None
) -> Callable[[bytes], None]:
    """APPEND to the sending mailbox's IMAP Sent folder (its config and password are checked up front)."""
    from outreach.mail.imap import append_to_sent

    config = settings.mailbox(mailbox_name)
    if not config.host:
        raise ConfigError(f"[mailboxes.{mailbox_name}]: no IMAP host, cannot --append-sent")
    password = settings.password(config, prompt)

    def append(raw: bytes) -> None:
        append_to_sent(config, password, raw)

    return append
