"""End to end: Enron mail in a real Dovecot -> IMAP sync -> ledgers -> campaign lint -> real SMTP send.

germany-c's mailbox (INBOX and Sent) is loaded into Dovecot, an opt-out from one warm contact is appended
over IMAP, and the mailbox is synced into the store with the real sync; the other Enron users are imported
from Maildir, so the ledger is team-wide.  A campaign to a mix of contacts then gets the expected verdicts,
and ``outreach send`` (the CLI, in-process and as a subprocess killed with SIGKILL) delivers exactly the
READY ones to aiosmtpd, each exactly once.
"""

from __future__ import annotations

import email
import email.policy
import importlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outreach.cli import main
from outreach.config import MailboxConfig
from outreach.mail.runs import import_path, sync_mailbox
from outreach.store import open_store, session_factory
from outreach.store.models import Folder, Message, MessageLocation, SendLog

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
OWNER = "chris.germany@enron.com"
WARM = ["tamara.carter@enron.com", "h..fletcher@enron.com"]  # real two-way threads with germany-c
OPTED_OUT = "kimat.singla@enron.com"  # warm, until the opt-out appended below
ONE_WAY = "scott.neal@enron.com"  # germany-c wrote 9 times, never an answer
NEVER_SEEN = "pat.newcomer@example.org"
# one-way contacts introduced in person: an allow entry lifts R002 for them, so they are READY too
INTRODUCED = [
    "meredith.homco@enron.com",
    "robert.allwein@enron.com",
    "clarissa.garcia@enron.com",
    "maureen.smith@enron.com",
]
READY = WARM + INTRODUCED
BLOCKED = {OPTED_OUT: "R007", ONE_WAY: "R002", NEVER_SEEN: "R001"}

OPT_OUT_MESSAGE = (
    b"From: Kimat Singla <kimat.singla@enron.com>\r\n"
    b"To: Chris Germany <chris.germany@enron.com>\r\n"
    b"Subject: Re: your updates\r\n"
    b"Date: Mon, 03 Dec 2001 10:00:00 -0600\r\n"
    b"Message-ID: <optout-kimat-1@enron.com>\r\n"
    b"\r\n"
    b"Chris,\r\n\r\nPlease remove me from your list. I do not want these emails any more.\r\n\r\nKimat\r\n"
)


def _campaign_api() -> Any:
    module = importlib.import_module("outreach.campaign")
    if not hasattr(module, "evaluate") or not hasattr(module, "load_campaign"):
        pytest.skip("outreach.campaign.evaluate/load_campaign not available yet")
    return module


# ------------------------------------------------------------------------------------------ store


def _ledgers(sessions: sessionmaker[Session]) -> None:
    ledger = importlib.import_module("outreach.ledger")
    refresh = getattr(ledger, "refresh_ledgers", None)
    from outreach.errors import OutreachError

    with sessions() as session:
        if refresh is not None:
            from outreach.signals.storage import store_signals

            ids = list(session.scalars(select(Message.id).where(Message.signals_version.is_(None))))
            try:
                store_signals(session, ids)  # opt-outs and asks, what the ledger reads
            except OutreachError:  # STAND-IN while the ask model is not shipped yet: remove then
                session.rollback()
                refresh = None
        if refresh is not None:
            refresh(session)
        else:
            _stand_in_ledgers(session)
        session.commit()


def _stand_in_ledgers(session: Session) -> None:
    """STAND-IN until outreach.ledger.refresh_ledgers exists: tier from two-way threads, opt-outs by phrase.

    Remove once the ledger engineer's refresh_ledgers is in (``_ledgers`` then uses it automatically).
    """
    from sqlalchemy import insert

    from outreach.ledger import EvidenceLine, Ledger, ledger_row_values
    from outreach.ledger.history import histories
    from outreach.store.models import Contact, ContactLedger

    for hist in histories(session):
        opt_outs = [
            e
            for e in hist.received
            if "remove me from your list" in (session.get(Message, e.message_id).body_text or "").lower()
        ]
        tier = "warm" if hist.two_way_threads else ("one-way" if hist.sent or hist.received else "none")
        summary = hist.summary()
        ledger = Ledger(
            address=hist.address,
            tier=tier,
            sent=len(hist.sent),
            received=len(hist.received),
            two_way_threads=len(hist.two_way_threads),
            opt_outs=len(opt_outs),
            strength=60 if tier == "warm" else 5,
            last_two_way=max((e.date for e in hist.received if e.date), default=None)
            if tier == "warm"
            else None,
            evidence={
                "opt_outs": [
                    EvidenceLine(e.message_id, e.date, "in", e.subject, "Please remove me from your list.")
                    for e in opt_outs
                ]
            },
        )
        del summary
        contact_id = session.scalar(select(Contact.id).where(Contact.address == hist.address))
        session.execute(insert(ContactLedger), [{"contact_id": contact_id, **ledger_row_values(ledger)}])


@pytest.fixture
def store(tmp_path: Path, imap_account: Any, enron_dir: Path) -> Iterator[dict[str, Any]]:
    """germany-c synced from Dovecot (with an appended opt-out), the others imported; ledgers computed."""
    imap_account.load_maildir(enron_dir / "germany-c")
    imap_account.load_maildir(enron_dir / "germany-c" / ".Sent_reconstructed", "Sent")
    imap_account.append("INBOX", [OPT_OUT_MESSAGE])
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_store(url)
    sessions = session_factory(engine)
    config = MailboxConfig(
        name="germany-c",
        host=imap_account.host,
        port=imap_account.port,
        username=imap_account.user,
        security="plain",
        addresses=(OWNER,),
    )
    summary = sync_mailbox(sessions, config, imap_account.password)
    assert summary.totals.new > 300
    for user in ("beck-s", "kaminski-v", "mann-k"):
        import_path(sessions, enron_dir / user, user)
    _ledgers(sessions)
    yield {"url": url, "engine": engine, "sessions": sessions, "imap": imap_account, "config": config}
    engine.dispose()


def _campaign(tmp_path: Path, recipients: list[str]) -> Path:
    folder = tmp_path / "campaign"
    folder.mkdir()
    (folder / "campaign.toml").write_text(
        'name = "gas-report"\n'
        'mailbox = "germany-c"\n'
        'allow = "allow.toml"\n'
        "[template]\n"
        'subject = "Our winter gas report, {{ first_name }}"\n'
        'text = "body.txt.j2"\n'
        "[policy]\n"
        "stale_days = 100000\n"  # the Enron mail is from 2001
        "cooldown_days = 30\n"
        "[unsubscribe]\n"
        'mailto = "unsubscribe@enron.com"\n'
        'url = "https://enron.example/unsubscribe?u={email}"\n'
    )
    (folder / "body.txt.j2").write_text(
        "Hi {{ first_name }},\n\n{{ note }}\n\nThe winter gas report is out. "
        "Could you send me your comments on the storage section by Friday?\n\nChris\n"
    )
    notes = [
        "Thanks again for sorting out the {} nominations last week, that saved my Friday.",
        "Your point about {} storage on the call was right, the numbers bear it out.",
        "I still owe you lunch for the help with the {} pipeline capacity question.",
        "Good to hear the {} deal closed; the report has a section on what it means for you.",
        "You asked about {} transport rates in the spring: page four has them.",
        "Since you are covering {} now, the regional split in the appendix may help.",
        "Congratulations on the move to {}; the desk overview is in the first part.",
        "The {} curve you sent me is reproduced, with credit, in chapter two.",
        "Following up on {} from our chat: the storage table answers it.",
    ]
    places = [
        "Transco",
        "Tetco",
        "CNG",
        "Columbia",
        "Texas Eastern",
        "Iroquois",
        "Midwest",
        "Gulf",
        "Northeast",
    ]
    (folder / "recipients.csv").write_text(
        "email,first_name,note\n"
        + "".join(
            f'{a},{a.split(".")[0].title()},"{notes[i % len(notes)].format(places[i % len(places)])}"\n'
            for i, a in enumerate(recipients)
        )
    )
    (folder / "allow.toml").write_text(
        "".join(
            f'[[allow]]\naddress = "{a}"\ncodes = ["R002", "R005"]\n'
            'reason = "introduced in person at the gas forum"\n\n'
            for a in INTRODUCED
        )
    )
    return folder


def _config(tmp_path: Path, rate: int = 600, daily_cap: int = 500) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[send]\nfrom = "{OWNER}"\nfrom_name = "Chris Germany"\nrate_per_minute = {rate}\n'
        f"daily_cap = {daily_cap}\nretry_base_seconds = 0.05\n"
    )
    return path


def _send_args(store: dict[str, Any], config: Path, campaign: Path, server: Any, *extra: str) -> list[str]:
    return [
        "--database-url",
        store["url"],
        "--config",
        str(config),
        "send",
        str(campaign),
        "--smtp-host",
        server.host,
        "--smtp-port",
        str(server.port),
        "--smtp-security",
        "plain",
        *extra,
    ]


def _delivered(server: Any) -> Counter[str]:
    return Counter(r for m in server.messages for r in m.rcpt_tos)


# ------------------------------------------------------------------------------------------ tests


def test_enron_campaign_verdicts_and_real_send(
    tmp_path: Path, store: dict[str, Any], smtp_server: Any
) -> None:
    api = _campaign_api()
    recipients = READY + list(BLOCKED)
    folder = _campaign(tmp_path, recipients)
    config = _config(tmp_path)
    sessions: sessionmaker[Session] = store["sessions"]

    with sessions() as session:
        report = api.evaluate(session, api.load_campaign(folder))
    verdicts = {r.address: r.verdict for r in report.recipients}
    why = {r.address: [(f.code, f.message) for f in r.findings] for r in report.recipients}
    assert {a: verdicts[a] for a in READY} == {a: "READY" for a in READY}, why
    for address, code in BLOCKED.items():
        assert verdicts[address] == "BLOCKED"
        assert code in [f.code for f in next(r for r in report.recipients if r.address == address).findings]

    runner = CliRunner()
    # dry run: the plan, and nothing sent
    dry = runner.invoke(main, _send_args(store, config, folder, smtp_server))
    assert dry.exit_code == 0, dry.output  # blocked recipients are skipped and reported, not failures
    assert "DRY RUN" in dry.output and f"{len(READY)} would-send" in dry.output
    assert smtp_server.messages == []

    sent = runner.invoke(main, _send_args(store, config, folder, smtp_server, "--no-dry-run"))
    assert sent.exit_code == 0, sent.output  # all it meant to send went; the blocked ones are reported
    assert _delivered(smtp_server) == Counter(READY)
    for msg in smtp_server.messages:
        parsed = email.message_from_bytes(msg.data.replace(b"\r\n", b"\n"), policy=email.policy.default)
        assert parsed["From"].addresses[0].addr_spec == OWNER
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert str(parsed["Subject"]).startswith("Our winter gas report, ")

    # recorded as outbound mail of germany-c, so the ledger and R006 see it
    with sessions() as session:
        rows = session.execute(
            select(SendLog.recipient, SendLog.status, SendLog.message_id_header).where(
                SendLog.campaign == "gas-report"
            )
        ).all()
        assert {r.recipient: r.status for r in rows} == {a: "sent" for a in READY}
        stored = set(
            session.scalars(
                select(Message.message_id_header)
                .join(MessageLocation)
                .join(Folder)
                .where(Folder.name == "outreach-sent", MessageLocation.direction == "out")
            )
        )
        assert {r.message_id_header for r in rows} <= stored

    # ... and the lint sees it at once: a second ask now would hit the recent-ask cooldown (R006)
    with sessions() as session:
        after = api.evaluate(session, api.load_campaign(folder))
    codes = {r.address: [f.code for f in r.findings] for r in after.recipients}
    assert all("R006" in codes[a] for a in READY), codes

    # re-running sends nothing more
    again = runner.invoke(main, _send_args(store, config, folder, smtp_server, "--no-dry-run"))
    assert f"{len(READY)} already-sent" in again.output, again.output
    assert _delivered(smtp_server) == Counter(READY)


def test_kill_mid_campaign_then_resume_sends_each_exactly_once(
    tmp_path: Path, store: dict[str, Any], smtp_server: Any
) -> None:
    _campaign_api()
    folder = _campaign(tmp_path, READY + list(BLOCKED))
    config = _config(tmp_path, rate=30)  # one message every 2 s
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "outreach", *_send_args(store, config, folder, smtp_server, "--no-dry-run")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
    )
    try:
        smtp_server.wait_for(3, timeout=120)
        time.sleep(0.7)  # inside the 2 s gap: the third message's `sent` is committed, the fourth not started
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    first = _delivered(smtp_server)
    assert sum(first.values()) == 3 and set(first) <= set(READY)

    result = CliRunner().invoke(
        main, _send_args(store, config, folder, smtp_server, "--no-dry-run", "--rate", "600")
    )
    assert "UNCONFIRMED" not in result.output, result.output
    assert _delivered(smtp_server) == Counter(READY), result.output
    assert "3 already-sent" in result.output and f"{len(READY) - 3} sent" in result.output


def test_kill_right_after_the_server_accepts_is_reported_not_resent(
    tmp_path: Path, store: dict[str, Any], smtp_server: Any
) -> None:
    """The documented window: killed between the server's 250 and the `sent` commit."""
    _campaign_api()
    folder = _campaign(tmp_path, READY)
    config = _config(tmp_path, rate=30)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "outreach", *_send_args(store, config, folder, smtp_server, "--no-dry-run")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=tmp_path,
    )
    try:
        smtp_server.wait_for(2, timeout=120)
        proc.send_signal(signal.SIGKILL)  # as soon as the 2nd message is in: most likely inside the window
    finally:
        proc.wait(timeout=30)
    result = CliRunner().invoke(
        main, _send_args(store, config, folder, smtp_server, "--no-dry-run", "--rate", "600")
    )
    # whatever the timing, nobody got two messages and everybody READY got one
    assert _delivered(smtp_server) == Counter(READY), result.output
    with store["sessions"]() as session:
        statuses = Counter(session.scalars(select(SendLog.status)))
    assert statuses["sent"] + statuses["sending"] == len(READY) and statuses["sending"] <= 1
    if statuses["sending"]:
        assert "UNCONFIRMED" in result.output and result.exit_code == 1
