"""Credentials for IMAP and SMTP: the only module that reads secrets.

A password comes from an environment variable, the system keyring (service ``outreach``, key
``imap:USER@HOST`` or ``smtp:USER@HOST``), or a prompt on the terminal, in that order; it is never
stored, logged or read from the config file. The environment is the one :mod:`outreach.config` captured
(``Settings.environ``): config stays the only module that reads ``os.environ``.

A mailbox with ``auth = "oauth2"`` (Gmail, Google Workspace, Microsoft 365) logs in with an
:class:`OAuth2Login` instead: its access tokens come from the mailbox's ``oauth2_token_command`` (the token
it prints, like mbsync's PassCmd), or from the refresh token that ``outreach login`` keeps in the keyring
(service ``outreach``, key ``oauth2:USER``), refreshed with the provider (:mod:`outreach.oauth`). An access
token lives in memory only; it is renewed when it expires or when the server refuses it, and a refusal
after a renewal is one line naming the mailbox and what to run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence

import click
import keyring
from keyring.errors import KeyringError

from outreach.config import MailboxConfig
from outreach.errors import AuthenticationError, ConfigError, UsageError

KEYRING_SERVICE = "outreach"
SMTP_PASSWORD_ENV = "OUTREACH_SMTP_PASSWORD"
TOKEN_COMMAND_TIMEOUT = 120.0  # seconds a token command may take (a helper may ask the user something)
EXPIRY_MARGIN = 60.0  # an access token this close to its expiry is renewed before use
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
def oauth2_keyring_key(mailbox: MailboxConfig) -> str:
    """Where ``outreach login`` keeps a mailbox's refresh token in the keyring (service ``outreach``)."""
    return f"oauth2:{mailbox.username}"


class OAuth2Login:
    """An OAuth2 login to IMAP or SMTP: the account, the SASL mechanism asked for, and its access token,
    kept in memory and renewed when it expires (``access_token()``) or when the server refused it
    (``access_token(fresh=True)``)."""

    def __init__(self, mailbox: MailboxConfig, fetch: Callable[[], tuple[str, float | None]], fix: str) -> None:
        assert mailbox.oauth2 is not None
        self.mailbox = mailbox.name
        self.username = mailbox.username
        self.mechanism = mailbox.oauth2.mechanism
        self.fix = fix  # what to run when the token is refused
        self._fetch = fetch
        self._token: str | None = None
        self._expires: float | None = None
        self.renewals = 0  # tokens fetched after the first one

    def __repr__(self) -> str:
        return f"OAuth2Login(mailbox={self.mailbox!r}, username={self.username!r})"

    def access_token(self, fresh: bool = False) -> str:
        expired = self._expires is not None and self._expires - EXPIRY_MARGIN < time.time()
        if fresh or expired or self._token is None:
            if self._token is not None:
                self.renewals += 1
            self._token, self._expires = self._fetch()
        return self._token

    def refused(self, host: str, detail: str) -> AuthenticationError:
        """The one-line error for a token the server refused even once renewed."""
        return AuthenticationError(
            host, f"mailbox {self.mailbox!r}: the OAuth2 token for {self.username} was refused ({detail}); {self.fix}"
        )


Secret = str | OAuth2Login  # how to log in: a password, or OAuth2


def sasl_mechanism(asked: str, offered: Sequence[str]) -> str:
    """The OAuth2 SASL mechanism to use: the one asked for, else XOAUTH2 if the server offers it, else
    OAUTHBEARER if it does, else XOAUTH2 (``offered``: the server's AUTH= capabilities, upper case)."""
    if asked != "auto":
        return asked
    if "XOAUTH2" in offered or "OAUTHBEARER" not in offered:
        return "XOAUTH2"
    return "OAUTHBEARER"


def _command_token(mailbox: MailboxConfig, command: str) -> tuple[str, float | None]:
    """The access token ``command`` prints (its first line; expiry unknown: renewed when refused)."""
    where = f"[mailboxes.{mailbox.name}] oauth2_token_command"
    try:
        done = subprocess.run(
            command, shell=True, capture_output=True, text=True, timeout=TOKEN_COMMAND_TIMEOUT, stdin=None
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{where}: no token after {TOKEN_COMMAND_TIMEOUT:g} s") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot run ({exc.strerror})") from None
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        said = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(f"{where} failed (exit {done.returncode}): {said}")
    return lines[0], None


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

    def imap_login(self, mailbox: MailboxConfig) -> str | OAuth2Login:
        """How to log in to the mailbox's IMAP server: its password, or an :class:`OAuth2Login`."""
        if mailbox.auth == "oauth2":
            return self.oauth2_login(mailbox)
        return self.imap_password(mailbox)

    def oauth2_login(self, mailbox: MailboxConfig) -> OAuth2Login:
        """The OAuth2 login of a mailbox with ``auth = "oauth2"``; nothing is fetched before it is used."""
        oauth = mailbox.oauth2
        if oauth is None:
            raise ConfigError(f'[mailboxes.{mailbox.name}]: auth = "oauth2" is not set')
        login_fix = f"run `outreach login --mailbox {mailbox.name}`"
        if oauth.token_command:
            command = oauth.token_command
            fix = f"check its oauth2_token_command (or sign in with `outreach login --mailbox {mailbox.name}`)"
            return OAuth2Login(mailbox, lambda: _command_token(mailbox, command), fix)
        return OAuth2Login(mailbox, lambda: self._refreshed(mailbox), login_fix)

    def _refreshed(self, mailbox: MailboxConfig) -> tuple[str, float | None]:
        """A new access token from the refresh token in the keyring (a rotated refresh token is kept)."""
        from outreach import oauth

        key = oauth2_keyring_key(mailbox)
        refresh_token = keyring_password(key)
        if not refresh_token:
            raise ConfigError(
                f"mailbox {mailbox.name!r}: not signed in (no refresh token in the keyring under {KEYRING_SERVICE} "
                f"{key}); run `outreach login --mailbox {mailbox.name}`"
            )
        try:
            tokens = oauth.refresh(mailbox, refresh_token)
        except oauth.TokenRefused as exc:
            raise AuthenticationError(
                oauth.host_of(mailbox),
                f"mailbox {mailbox.name!r}: the sign-in of {mailbox.username} was revoked or has expired "
                f"({str(exc).removeprefix(oauth.host_of(mailbox) + ': ')}); "
                f"run `outreach login --mailbox {mailbox.name}`",
            ) from None
        if tokens.refresh_token and tokens.refresh_token != refresh_token:
            store_refresh_token(mailbox, tokens.refresh_token)
        return tokens.access_token, tokens.expires_at

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


def store_refresh_token(mailbox: MailboxConfig, refresh_token: str) -> str:
    """Keep a mailbox's refresh token in the system keyring; returns its key there."""
    key = oauth2_keyring_key(mailbox)
    try:
        keyring.set_password(KEYRING_SERVICE, key, refresh_token)
    except (KeyringError, RuntimeError, OSError) as exc:
        raise ConfigError(
            f"mailbox {mailbox.name!r}: no system keyring to keep the refresh token in ({exc}); "
            "install one (GNOME Keyring, KWallet, macOS Keychain), or use oauth2_token_command"
        ) from None
    return key


def sign_in(mailbox: MailboxConfig, say: Callable[[str], None], browser: bool = True) -> str:
    """``outreach login``: the provider's sign-in, then its refresh token into the keyring (its key)."""
    from outreach import oauth

    try:
        tokens = oauth.sign_in(mailbox, say, browser)
    except oauth.TokenRefused as exc:
        host = oauth.host_of(mailbox)
        raise AuthenticationError(host, str(exc).removeprefix(f"{host}: ")) from None
    assert tokens.refresh_token is not None
    return store_refresh_token(mailbox, tokens.refresh_token)


__all__ = [
    "Credentials",
    "KEYRING_SERVICE",
    "OAuth2Login",
    "Secret",
    "oauth2_keyring_key",
    "sasl_mechanism",
    "sign_in",
    "store_refresh_token",
    "Prompt",
    "imap_password_env_names",
    "keyring_password",
    "smtp_password_env_names",
    "terminal_prompt",
]
