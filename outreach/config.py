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
    "host", "port", "username", "security", "addresses", "folders", "password_env", "batch_size", "timeout"
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
    return MailboxConfig(
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
