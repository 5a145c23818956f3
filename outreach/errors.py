"""One error hierarchy for the whole package.

The CLI turns an :class:`OutreachError` into a one-line message and an exit code; anything else is a bug.
"""

from __future__ import annotations

import socket
import ssl


class OutreachError(Exception):
    """Base class of every error outreach raises on purpose."""

    exit_code = 1


class UsageError(OutreachError):
    """Bad input from the user: a file, an option, an address (exit code 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """The configuration file or environment is wrong; the message names the file and key."""


class InputFileError(UsageError):
    """A file the user gave us cannot be used; the message names the file and, where known, the line."""

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


class StoreError(OutreachError):
    """The store (database) cannot be opened or is at the wrong schema version."""


class NotAStoreError(UsageError):
    """The store URL names something that is not an outreach store: a file that is no database, another
    application's database, or nothing at all for a command that only reads (exit code 2)."""


class MailboxBusyError(StoreError):
    """Another sync or import of the same mailbox into the same store is running (exit code 1)."""

    def __init__(self, mailbox: str, holder_pid: str | None = None) -> None:
        who = f" (pid {holder_pid})" if holder_pid else ""
        super().__init__(f"another sync of mailbox {mailbox!r} is running{who}; wait for it to finish, or pass --wait")
        self.mailbox = mailbox


class MailServerError(OutreachError):
    """A mail server (IMAP or SMTP) refused us or could not be reached; the message names the host."""

    def __init__(self, host: str, message: str) -> None:
        super().__init__(f"{host}: {message}")
        self.host = host


class AuthenticationError(MailServerError):
    """The server rejected the credentials."""


class CampaignError(UsageError):
    """A campaign definition, template or recipients file is invalid."""


class SendError(OutreachError):
    """Sending was refused or failed in a way that stops the whole run."""


def network_error(host: str, port: int, exc: OSError) -> MailServerError:
    """The one-line error for a connection that failed (DNS, TLS, refused, timeout), naming host and port."""
    if isinstance(exc, socket.gaierror):
        return MailServerError(host, f"unknown host ({exc.strerror})")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return MailServerError(host, f"TLS certificate not trusted: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError):
        return MailServerError(host, f"TLS error: {exc.reason or exc}")
    if isinstance(exc, TimeoutError):
        return MailServerError(host, f"port {port}: connection timed out")
    if isinstance(exc, ConnectionRefusedError):
        return MailServerError(host, f"port {port}: connection refused")
    return MailServerError(host, f"port {port}: {exc.strerror or exc}")
