"""Credentials for IMAP and SMTP: the only module that reads secrets.

A password comes from an environment variable, the system keyring (service ``outreach``, key
``imap:USER@HOST`` or ``smtp:USER@HOST``), or a prompt on the terminal, in that order; it is never
stored, logged or read from the config file. The environment is the one :mod:`outreach.config` captured
(``Settings.environ``): config stays the only module that reads ``os.environ``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping

import click
import keyring
from keyring.errors import KeyringError

from outreach.config import MailboxConfig
from outreach.errors import ConfigError, UsageError

KEYRING_SERVICE = "outreach"
SMTP_PASSWORD_ENV = "OUTREACH_SMTP_PASSWORD"
Prompt = Callable[[str], str]


def keyring_password(key: str) -> str | None:
    """Look a secret up in the system keyring; no keyring backend simply means no secret."""
    try:
        value = keyring.get_password(KEYRING_SERVICE, key)
    except (KeyringError, RuntimeError, OSError):
        return None
    return value if isinstance(value, str) else None


def terminal_prompt(label: str) -> str:
    """Ask for a password on the terminal (input hidden); without a terminal, a usage error."""
    if not sys.stdin.isatty():
        raise UsageError(f"{label}: no password in the environment or keyring, and no terminal to ask on")
    value: str = click.prompt(label, hide_input=True)
    return value


def imap_password_env_names(mailbox: MailboxConfig) -> list[str]:
    """The environment variables that may hold a mailbox's IMAP password, in the order they are tried."""
    names = []
    if mailbox.password_env:
        names.append(mailbox.password_env)
    safe = "".join(c if c.isalnum() else "_" for c in mailbox.name).upper()
    names += [f"OUTREACH_PASSWORD_{safe}", "OUTREACH_IMAP_PASSWORD"]
    return names


def smtp_password_env_names(mailbox: str | None = None) -> list[str]:
    """The environment variables that may hold an SMTP password: the sending mailbox's own
    (``OUTREACH_SMTP_PASSWORD_<MAILBOX>``, for a team whose members send from their own accounts), then
    ``OUTREACH_SMTP_PASSWORD``."""
    names = []
    if mailbox:
        names.append(f"{SMTP_PASSWORD_ENV}_{''.join(c if c.isalnum() else '_' for c in mailbox).upper()}")
    return [*names, SMTP_PASSWORD_ENV]


class Credentials:
    """Where passwords come from: ``environ`` (the captured environment), the keyring, then ``prompt``
    (None: no prompt, a missing password is an error naming where it was looked for)."""

    def __init__(self, environ: Mapping[str, str], prompt: Prompt | None = None) -> None:
        self.environ = environ
        self.prompt = prompt

    def imap_password(self, mailbox: MailboxConfig) -> str:
        """The IMAP account's password."""
        names = imap_password_env_names(mailbox)
        return self._secret(
            names,
            f"imap:{mailbox.username}@{mailbox.host}",
            f"Password for {mailbox.username} on {mailbox.host}",
            f"{mailbox.host}: no password for {mailbox.username} (set {' or '.join(names)}, or use the keyring)",
        )

    def smtp_password(self, username: str, host: str, mailbox: str | None = None) -> str:
        """The SMTP login's password (``mailbox``: the sending mailbox, whose own variable comes first)."""
        names = smtp_password_env_names(mailbox)
        return self._secret(
            names,
            f"smtp:{username}@{host}",
            f"SMTP password for {username} on {host}",
            f"{host}: no SMTP password for {username} (set {' or '.join(names)}, or use the keyring)",
        )

    def _secret(self, env_names: list[str], keyring_key: str, label: str, missing: str) -> str:
        """The first of: a set environment variable, the keyring's secret, the prompt's answer."""
        for var in env_names:
            value = self.environ.get(var)
            if value:
                return value
        secret = keyring_password(keyring_key)
        if secret:
            return secret
        if self.prompt is not None:
            return self.prompt(label)
        raise ConfigError(missing)


__all__ = [
    "Credentials",
    "KEYRING_SERVICE",
    "Prompt",
    "imap_password_env_names",
    "keyring_password",
    "smtp_password_env_names",
    "terminal_prompt",
]
