"""``sender = "best"`` on a real team store (SQLite and PostgreSQL, synced from Dovecot: tests/team.py) and
a real SMTP server with one account per teammate: each recipient is judged on, and sent from, the mailbox
of the teammate who knows them best among those configured for sending — From, SMTP login and send log
follow it — exactly once, also when the sender is killed with SIGKILL mid-campaign and run again."""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from campaign.data import write_campaign
from click.testing import CliRunner
from sqlalchemy import select
from team import WARM, TeamStore, address, recipients_csv

from outreach.cli import main
from outreach.store.models import Folder, Mailbox, Message, MessageLocation, SendLog

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
LOGINS = {"alex": "alex-smtp", "jordan": "jordan-smtp"}  # sam has no [send.sam]: never sends
PASSWORDS = {"alex-smtp": "pw-alex", "jordan-smtp": "pw-jordan"}
ENV = {"OUTREACH_SMTP_PASSWORD_ALEX": "pw-alex", "OUTREACH_SMTP_PASSWORD_JORDAN": "pw-jordan"}
READY = {
    **{a: "alex" for a in WARM["alex"]},
    **{a: "jordan" for a in WARM["jordan"]},
}
NOOR = "noor@wiredweekly.example"  # sam knows her, sam does not send: blocked (alex's one-way ledger)
# alex's and jordan's people, interleaved: both mailboxes send in one run
RECIPIENTS = [a for pair in zip(WARM["alex"] + ("",), WARM["jordan"], strict=True) for a in pair if a] + [NOOR]


def setup(tmp_path: Path, rate: int = 600) -> tuple[Path, Path]:
    config = tmp_path / "config.toml"
    config.write_text(
        f"[send]\nrate_per_minute = {rate}\nretry_base_seconds = 0.05\n"
        + "".join(
            f'[send.{t}]\nfrom = "{address(t)}"\nfrom_name = "{t.title()}"\nusername = "{LOGINS[t]}"\n'
            for t in LOGINS
        ),
        encoding="utf-8",
    )
    folder = write_campaign(
        tmp_path / "campaign",
        'name = "spring-report"\nmailbox = "alex"\nsender = "best"\n'
        '[template]\nsubject = "Our spring report, {{ first_name }}"\ntext = "body.txt.j2"\n'
        '[unsubscribe]\nurl = "https://brightlane.example/u?e={email}"\n',
        "Hi {{ first_name }},\n\n{{ note }}\n\nOur spring report on reuse is out today.\n",
        recipients_csv(RECIPIENTS),
    )
    return config, folder


def args(store: TeamStore, config: Path, folder: Path, server: Any, *extra: str) -> list[str]:
    return ["--database-url", store.url, "--config", str(config), "send", str(folder), "--smtp-host", server.host,
            "--smtp-port", str(server.port), "--smtp-security", "plain", *extra]


def delivered(server: Any) -> Counter[str]:
    return Counter(r for m in server.messages for r in m.rcpt_tos)


def check_accounts(server: Any) -> None:
    """Every message went out from the mailbox that knows its recipient: its From, its SMTP login."""
    for message in server.messages:
        (recipient,) = message.rcpt_tos
        teammate = READY[recipient]
        parsed = email.message_from_bytes(message.data.replace(b"\r\n", b"\n"), policy=email.policy.default)
        assert parsed["From"].addresses[0].addr_spec == address(teammate), (recipient, parsed["From"])
        assert message.auth_user == LOGINS[teammate] and message.mail_from == address(teammate)


def test_each_message_goes_out_from_the_teammate_who_knows_them(
    fresh_team_store: TeamStore, tmp_path: Path, make_smtp_server: Any
) -> None:
    server = make_smtp_server(auth=PASSWORDS)
    config, folder = setup(tmp_path)
    runner = CliRunner()
    dry = runner.invoke(main, args(fresh_team_store, config, folder, server), env=ENV)
    assert "would-send [jordan]: would send from mailbox jordan" in dry.output, dry.output
    assert server.messages == []

    sent = runner.invoke(main, args(fresh_team_store, config, folder, server, "--no-dry-run"), env=ENV)
    assert sent.exit_code == 0, sent.output  # all it meant to send went (noor, blocked, is skipped)
    assert delivered(server) == Counter(list(READY)), sent.output
    check_accounts(server)
    assert f"BLOCKED  {NOOR}" in sent.output and "mailbox sam is not configured for sending" in sent.output
    with fresh_team_store.sessions() as session:
        log = dict(session.execute(select(SendLog.recipient, SendLog.mailbox)).all())
        assert log == READY  # the send log follows the sender
        # each sent message is stored as outbound mail of the mailbox that sent it
        stored = dict(
            session.execute(
                select(Message.message_id_header, Mailbox.name)
                .join(MessageLocation, MessageLocation.message_id == Message.id)
                .join(Folder, Folder.id == MessageLocation.folder_id)
                .join(Mailbox, Mailbox.id == Folder.mailbox_id)
                .where(Folder.name == "outreach-sent", MessageLocation.direction == "out")
            ).all()
        )
        headers = dict(session.execute(select(SendLog.recipient, SendLog.message_id_header)).all())
    assert {recipient: stored[headers[recipient]] for recipient in READY} == READY

    again = runner.invoke(main, args(fresh_team_store, config, folder, server, "--no-dry-run"), env=ENV)
    assert f"{len(READY)} already-sent" in again.output, again.output
    assert delivered(server) == Counter(list(READY))


def test_identity_options_are_refused_with_best(fresh_team_store: TeamStore, tmp_path: Path, smtp_server: Any) -> None:
    config, folder = setup(tmp_path)
    extra = ("--from", "x@brightlane.example")
    result = CliRunner().invoke(main, args(fresh_team_store, config, folder, smtp_server, *extra))
    assert result.exit_code == 2
    assert 'sender = "best" sends as each teammate; --from would send every message as one person' in result.output


def test_kill_9_mid_campaign_then_rerun_each_exactly_once_from_the_right_account(
    fresh_team_store: TeamStore, tmp_path: Path, make_smtp_server: Any
) -> None:
    server = make_smtp_server(auth=PASSWORDS)
    config, folder = setup(tmp_path, rate=30)  # a message every 2 s per mailbox
    env = {**os.environ, **ENV, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "outreach", *args(fresh_team_store, config, folder, server, "--no-dry-run")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
    )
    try:
        server.wait_for(len(WARM["alex"]) + 1, timeout=120)  # alex's three, and jordan's first
        time.sleep(0.7)  # inside jordan's 2 s gap: the message's `sent` is committed, the next not started
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    first = delivered(server)
    assert sum(first.values()) == len(WARM["alex"]) + 1 and set(first) <= set(READY)

    result = subprocess.run(
        [sys.executable, "-m", "outreach", *args(fresh_team_store, config, folder, server, "--no-dry-run",
                                                 "--rate", "600")],
        capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path,
    )
    assert "UNCONFIRMED" not in result.stdout + result.stderr, result.stdout + result.stderr
    assert delivered(server) == Counter(list(READY)), result.stdout
    check_accounts(server)
    assert f"{len(WARM['alex']) + 1} already-sent" in result.stdout
    assert f"{len(READY) - len(WARM['alex']) - 1} sent" in result.stdout
