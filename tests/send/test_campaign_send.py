"""A campaign's ``[smtp]`` table, through the real loader and the real CLI to the test SMTP server.

Found here: ``[smtp]``, documented in ``outreach send --help``, was refused by the loader ("unknown key(s)
smtp"); the send tests passed because they handed ``send_campaign`` a duck-typed fake campaign.
"""

from __future__ import annotations

import email
import email.policy
from pathlib import Path
from typing import Any

import pytest
from campaign.data import warm_store, write_campaign
from click.testing import CliRunner

from outreach.campaign import load_campaign
from outreach.cli import main
from outreach.errors import CampaignError

OWNER = "alex@brightlane.example"
READERS = ["maya@techdaily.example", "jonas@nordicpodcast.example"]


def _campaign(tmp_path: Path, smtp: str) -> Path:
    return write_campaign(
        tmp_path / "campaign",
        'name = "smtp-table"\nmailbox = "alex"\n[template]\nsubject = "Our report, {{ first_name }}"\n'
        f'text = "body.txt.j2"\n[smtp]\n{smtp}',
        "Hi {{ first_name }},\n\n{{ note }}\n\nOur report is out.\n\nAlex\n",
        "email,first_name,note\n"
        f"{READERS[0]},Maya,Your piece on repair cafes stayed with me all week.\n"
        f"{READERS[1]},Jonas,The episode on town-hall reuse was the best one this year.\n",
    )


def _table(server: Any) -> str:
    return (
        f'host = "{server.host}"\nport = {server.port}\nfrom = "{OWNER}"\nfrom_name = "Alex Rivera"\n'
        "rate_per_minute = 600\nretries = 1\n"
    )


def test_the_loader_reads_the_smtp_table(tmp_path: Path) -> None:
    campaign = load_campaign(_campaign(tmp_path, 'host = "smtp.example.org"\nport = 587\nfrom = "a@example.org"\n'))
    assert (campaign.smtp.host, campaign.smtp.port, campaign.smtp.from_address) == (
        "smtp.example.org",
        587,
        "a@example.org",
    )
    with pytest.raises(CampaignError, match=r"campaign.toml: \[smtp\]: unknown key\(s\) hots"):
        load_campaign(_campaign(tmp_path, 'hots = "smtp.example.org"\n'))
    with pytest.raises(CampaignError, match=r"campaign.toml: \[smtp\]: port must be an integer >= 1"):
        load_campaign(_campaign(tmp_path, 'port = "587"\n'))


def test_send_uses_the_campaign_smtp_table(tmp_path: Path, smtp_server: Any) -> None:
    url, folder = warm_store(tmp_path, READERS), str(_campaign(tmp_path, _table(smtp_server)))
    runner = CliRunner()
    preview = runner.invoke(main, ["--database-url", url, "preview", folder])
    assert preview.exit_code == 0, preview.output
    # host, port, From and the rate come from [smtp]; only the unencrypted mode is asked for here, since
    # a file cannot turn encryption off
    sent = runner.invoke(main, ["--database-url", url, "send", folder, "--no-dry-run", "--smtp-security", "plain"])
    assert sent.exit_code == 0, sent.output
    assert (
        f"campaign smtp-table from {OWNER} (mailbox alex): sending via smtp {smtp_server.host}:{smtp_server.port}"
        in sent.output
    )
    assert "at most 600/min" in sent.output
    assert sorted(r for m in smtp_server.messages for r in m.rcpt_tos) == sorted(READERS)
    for received in smtp_server.messages:
        assert received.mail_from == OWNER
        msg = email.message_from_bytes(received.data.replace(b"\r\n", b"\n"), policy=email.policy.default)
        assert msg["From"].addresses[0].display_name == "Alex Rivera"
        assert str(msg["Subject"]).startswith("Our report, ")


def test_plain_smtp_from_the_campaign_file_is_refused(tmp_path: Path, smtp_server: Any) -> None:
    url = warm_store(tmp_path, READERS)
    folder = str(_campaign(tmp_path, _table(smtp_server) + 'security = "plain"\n'))
    sent = CliRunner().invoke(main, ["--database-url", url, "send", folder, "--no-dry-run"])
    assert sent.exit_code == 2 and "--smtp-security plain" in sent.output
    assert smtp_server.messages == []
