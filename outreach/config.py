"""Configuration: the only module that reads the environment.

Precedence for every setting: command-line option > environment variable > config file > default.
The config file is TOML, by default ``config.toml`` in the user's config directory
(``outreach config-path`` prints it); ``OUTREACH_CONFIG`` or ``--config`` point elsewhere.

Passwords are never read from the config file: :mod:`outreach.auth` reads them from the environment
captured here (``Settings.environ``), the system keyring, or a prompt, and they are never stored or logged.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from outreach.errors import ConfigError

APP_NAME = "outreach"
SECURITY_MODES = ("ssl", "starttls", "plain")
AUTH_MODES = ("password", "oauth2")
OAUTH2_PROVIDERS = ("google", "microsoft")
OAUTH2_MECHANISMS = ("auto", "XOAUTH2", "OAUTHBEARER")


@dataclass(frozen=True)
class OAuth2Config:
    """How a mailbox gets OAuth2 access tokens: from ``token_command`` (its stdout), or from a refresh token
    that ``outreach login`` put in the keyring, refreshed with the ``provider``'s token endpoint."""

    provider: str | None = None  # "google" or "microsoft"
    token_command: str | None = None
    client_id: str | None = None
    client_secret: str | None = None  # Google's installed-app "secret" (not a secret, Google says)
    tenant: str = "common"  # Microsoft: the directory (tenant id or domain); "common" for any
    mechanism: str = "auto"  # XOAUTH2, OAUTHBEARER, or the first of them the server offers
    token_url: str | None = None  # Google's token endpoint (default https://oauth2.googleapis.com/token)
    auth_url: str | None = None  # Google's authorization endpoint (default https://accounts.google.com/…)
    authority: str | None = None  # Microsoft's authority (default https://login.microsoftonline.com/TENANT)


@dataclass(frozen=True)
class MailboxConfig:
    """One team member's IMAP account and the addresses that are theirs."""

    name: str
    host: str = ""
    port: int | None = None
    username: str = ""
    security: str = "ssl"
    addresses: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    password_env: str | None = None
    batch_size: int = 500
    timeout: float = 30.0  # seconds without an answer from the IMAP server before the connection counts as lost
    auth: str = "password"  # or "oauth2" (Gmail / Google Workspace, Microsoft 365)
    oauth2: OAuth2Config | None = None  # with auth = "oauth2"

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 993 if self.security == "ssl" else 143


@dataclass(frozen=True)
class Settings:
    """Everything outreach needs to know before touching a store or a server."""

    database_url: str
    config_path: Path | None
    mailboxes: Mapping[str, MailboxConfig] = field(default_factory=dict)
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)  # what auth reads passwords from

    def section(self, name: str) -> Mapping[str, Any]:
        """A table of the config file (``[ledger]``, ``[lint]``, ``[send]`` …), empty when absent."""
        return self.sections.get(name, {})

    def mailbox(self, name: str) -> MailboxConfig:
        try:
            return self.mailboxes[name]
        except KeyError:
            where = self.config_path or "the config file"
            known = ", ".join(sorted(self.mailboxes)) or "none"
            raise ConfigError(f"{where}: no mailbox named {name!r} (configured: {known})") from None


def default_database_url() -> str:
    data_dir = Path(platformdirs.user_data_dir(APP_NAME))
    return f"sqlite:///{data_dir / 'outreach.db'}"


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def load_settings(
    config_path: str | Path | None = None,
    database_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build :class:`Settings` from options, the environment and the config file."""
    env = dict(os.environ if environ is None else environ)
    explicit = config_path or env.get("OUTREACH_CONFIG")
    path = Path(explicit) if explicit else default_config_path()
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    elif explicit:
        raise ConfigError(f"{path}: config file not found")
    url = database_url or env.get("OUTREACH_DATABASE_URL") or data.get("database_url") or default_database_url()
    if not isinstance(url, str):
        raise ConfigError(f"{path}: database_url must be a string")
    mailboxes = {name: _mailbox(path, name, table) for name, table in _table(path, data, "mailboxes").items()}
    sections = {k: v for k, v in data.items() if isinstance(v, dict) and k != "mailboxes"}
    return Settings(
        database_url=url,
        config_path=path if path.exists() else None,
        mailboxes=mailboxes,
        sections=sections,
        environ=env,
    )


def _table(path: Path, data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [{key}] must be a table")
    return value


_MAILBOX_KEYS = {
    "host", "port", "username", "security", "addresses", "folders", "password_env", "batch_size", "timeout",
    "auth", "oauth2_provider", "oauth2_token_command", "oauth2_client_id", "oauth2_client_secret",
    "oauth2_tenant", "oauth2_mechanism", "oauth2_token_url", "oauth2_auth_url", "oauth2_authority",
}


def _mailbox(path: Path, name: str, table: Any) -> MailboxConfig:
    where = f"{path}: [mailboxes.{name}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = set(table) - _MAILBOX_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    if "password" in table:  # pragma: no cover - caught by the unknown-key check, kept explicit for clarity
        raise ConfigError(f"{where}: passwords do not belong in the config file")
    security = str(table.get("security", "ssl"))
    if security not in SECURITY_MODES:
        raise ConfigError(f"{where}: security must be one of {', '.join(SECURITY_MODES)}")
    port = table.get("port")
    if port is not None and not isinstance(port, int):
        raise ConfigError(f"{where}: port must be an integer")
    timeout = table.get("timeout", 30.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigError(f"{where}: timeout must be a positive number of seconds")
    auth = str(table.get("auth", "password"))
    if auth not in AUTH_MODES:
        raise ConfigError(f'{where}: auth must be "password" or "oauth2"')
    if auth != "oauth2" and any(key.startswith("oauth2_") for key in table):
        raise ConfigError(f'{where}: the oauth2_* keys go with auth = "oauth2"')
    return MailboxConfig(
        auth=auth,
        oauth2=_oauth2(where, table) if auth == "oauth2" else None,
        name=name,
        host=str(table.get("host", "")),
        port=port,
        username=str(table.get("username", "")),
        security=security,
        addresses=tuple(a.strip().lower() for a in table.get("addresses", [])),
        folders=tuple(str(f) for f in table.get("folders", [])),
        password_env=table.get("password_env"),
        batch_size=int(table.get("batch_size", 500)),
        timeout=float(timeout),
    )


def _oauth2(where: str, table: Mapping[str, Any]) -> OAuth2Config:
    """The oauth2_* keys of a mailbox with ``auth = "oauth2"``."""
    values = {key.removeprefix("oauth2_"): table[key] for key in table if key.startswith("oauth2_")}
    for key, value in values.items():
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: oauth2_{key} must be a non-empty string")
    provider = values.get("provider")
    if provider is not None and provider not in OAUTH2_PROVIDERS:
        raise ConfigError(f'{where}: oauth2_provider must be "google" or "microsoft"')
    mechanism = values.get("mechanism", "auto")
    if mechanism.upper() not in {m.upper() for m in OAUTH2_MECHANISMS}:
        raise ConfigError(f"{where}: oauth2_mechanism must be one of {', '.join(OAUTH2_MECHANISMS)}")
    if not values.get("token_command") and not (provider and values.get("client_id")):
        raise ConfigError(
            f'{where}: auth = "oauth2" needs oauth2_token_command, or oauth2_provider and oauth2_client_id '
            "(then sign in once with `outreach login`)"
        )
    if not table.get("username"):
        raise ConfigError(f'{where}: auth = "oauth2" needs username (the account\'s address)')
    return OAuth2Config(
        provider=provider,
        token_command=values.get("token_command"),
        client_id=values.get("client_id"),
        client_secret=values.get("client_secret"),
        tenant=values.get("tenant", "common"),
        mechanism="auto" if mechanism == "auto" else mechanism.upper(),
        token_url=values.get("token_url"),
        auth_url=values.get("auth_url"),
        authority=values.get("authority"),
    )
