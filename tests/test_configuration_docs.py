"""docs/configuration.md documents every key the config file takes, section by section, and the config
examples of the README load as they are."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from outreach.campaign.model import _SMTP_KEYS
from outreach.config import _MAILBOX_KEYS, load_settings
from outreach.errors import ConfigError
from outreach.ledger import LedgerPolicy
from outreach.lint.policy import Policy

REPO = Path(__file__).resolve().parent.parent
DOC = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")


def section(title: str) -> set[str]:
    """The keys of the table under the heading that starts with ``title``."""
    match = re.search(rf"^## {re.escape(title)}.*?(?=^## |\Z)", DOC, re.M | re.S)
    assert match, title
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", match.group(0), re.M))


@pytest.mark.parametrize(
    ("title", "keys"),
    [
        ("Top level", {"database_url"}),
        ("`[mailboxes.NAME]`", set(_MAILBOX_KEYS)),
        ("`[ledger]`", {f.name for f in fields(LedgerPolicy)} - {"as_of"}),
        ("`[lint]`", {f.name for f in fields(Policy)}),
        ("`[send]`", set(_SMTP_KEYS)),
    ],
)
def test_every_key_is_documented_in_its_section(title: str, keys: set[str]) -> None:
    assert section(title) == keys


def test_the_readme_config_examples_load(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```toml\n(.*?)```", readme, re.S) if "[mailboxes." in b]
    blocks += re.findall(r"<<'TOML'\n(.*?)TOML\n", readme, re.S)
    assert len(blocks) >= 3
    for i, block in enumerate(blocks):
        path = tmp_path / f"config{i}.toml"
        path.write_text(block, encoding="utf-8")
        settings = load_settings(path, environ={})
        assert settings.mailboxes, block
    doc_blocks = re.findall(r"```toml\n(.*?)```", DOC, re.S)
    for block in doc_blocks:
        path = tmp_path / "doc.toml"
        path.write_text(block, encoding="utf-8")
        load_settings(path, environ={})


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('auth = "token"', 'auth must be "password" or "oauth2"'),
        ('oauth2_provider = "google"', 'the oauth2_* keys go with auth = "oauth2"'),
        ('auth = "oauth2"', "needs oauth2_token_command, or oauth2_provider and oauth2_client_id"),
        ('auth = "oauth2"\noauth2_provider = "yahoo"\noauth2_client_id = "x"', 'oauth2_provider must be "google"'),
        ('auth = "oauth2"\noauth2_token_command = "x"\noauth2_mechanism = "PLAIN"', "oauth2_mechanism must be one of"),
    ],
)
def test_oauth2_keys_are_checked(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[mailboxes.alex]\nhost = "imap.example.com"\nusername = "alex@example.com"\n{table}\n')
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(path, environ={})
