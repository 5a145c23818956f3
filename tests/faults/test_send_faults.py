"""Send-path faults: the SMTP server going away mid-campaign, and ``kill -9`` of the sender at several points.

The fault suite for sending, as one list (tests elsewhere are not repeated here):

- 4xx retried with backoff, then delivered; a persistent 4xx deferred and sent by the next run; 5xx
  recorded as failed and not retried unless asked; an unreachable server stopping the run without losing
  anyone; a wrong SMTP password stopping at once; STARTTLS required when asked; another run claiming a
  recipient first: ``tests/send/test_send.py``.
- ``kill -9`` in the rate-limit gap, and right after the server accepted a message (the UNCONFIRMED
  window), on the Enron campaign: ``tests/send/test_e2e_campaign.py``.
- TLS verification and password hygiene of the SMTP connection: ``tests/faults/test_security.py``.
- Here: the server disappears after N messages and comes back (rerun: each READY recipient gets exactly
  one message, the failure recorded with its reason), and ``kill -9`` at four points of one campaign —
  before anything is sent, in the rate-limit gap, the moment the server accepted a message, and during
  the backoff after a 4xx — with a rerun after each: exactly-once delivery, counted at the SMTP server.

Found here: a sender killed while backing off after a 4xx left the recipient ``sending``, so every later
run showed it as UNCONFIRMED ("possibly sent") and never sent it, although a 4xx at RCPT means nothing was
handed over; ``--resend-unconfirmed``, the only way out, would also resend the genuinely unconfirmed ones.
The row is now ``deferred`` while the sender waits, and taken back atomically before the next attempt.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lint.cases import make_ledger
from sqlalchemy import create_engine, select

from outreach.ledger import ledger_row_values
from outreach.store import open_store, session_factory
from outreach.store.models import Contact, ContactLedger, SendLog

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
OWNER = "alex@brightlane.example"
READY = [f"reader{i}@outlet{i % 3}.example" for i in range(10)]


@pytest.fixture
def campaign(tmp_path: Path) -> dict[str, Any]:
    """A store where every recipient is a warm contact, a campaign to them, and a config for fast sending."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_store(url)
    now = datetime.now(UTC)  # a real send is linted as of now
    with session_factory(engine)() as session:
        for i, address in enumerate(READY):
            contact = Contact(address=address, domain=address.rpartition("@")[2], display_name=None, display_names=[])
            session.add(contact)
            session.flush()
            ledger = make_ledger(address, {"scope": "*", "last_two_way": (now - timedelta(days=20 + i)).isoformat(),
                                           "balance": 1.5})
            session.add(ContactLedger(contact_id=contact.id, **ledger_row_values(ledger)))
        session.commit()
    engine.dispose()
    folder = tmp_path / "campaign"
    folder.mkdir()
    (folder / "campaign.toml").write_text(
        'name = "fault-campaign"\nmailbox = "alex"\n[template]\nsubject = "Our report, {{ first_name }}"\n'
        'text = "body.txt.j2"\n[policy]\nstale_days = 365\ncooldown_days = 30\n'
        '[unsubscribe]\nmailto = "leave@brightlane.example"\nurl = "https://brightlane.example/u?e={email}"\n'
    )
    (folder / "body.txt.j2").write_text("Hi {{ first_name }},\n\n{{ note }}\n\nOur report is out today.\n\nAlex\n")
    with (folder / "recipients.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "first_name", "note"])
        for i, address in enumerate(READY):
            writer.writerow([address, f"Reader{i}", f"Your piece number {i} on repair cafés in town {i} stayed "
                                                    f"with me; chapter {i + 2} follows it up."])
    config = tmp_path / "config.toml"
    config.write_text(f'[send]\nfrom = "{OWNER}"\nfrom_name = "Alex"\nrate_per_minute = 60\ndaily_cap = 500\n'
                      "retries = 2\nretry_base_seconds = 0.3\n")
    return {"url": url, "folder": folder, "config": config, "tmp": tmp_path}


def send_args(campaign: dict[str, Any], server: Any, *extra: str) -> list[str]:
    return [sys.executable, "-m", "outreach", "--database-url", campaign["url"], "--config", str(campaign["config"]),
            "send", str(campaign["folder"]), "--no-dry-run", "--smtp-host", server.host, "--smtp-port",
            str(server.port), "--smtp-security", "plain", *extra]


def start(campaign: dict[str, Any], server: Any, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(send_args(campaign, server, *extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=campaign["tmp"])


def rerun(campaign: dict[str, Any], server: Any, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(send_args(campaign, server, "--rate", "600", *extra), capture_output=True, text=True,
                          timeout=180, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=campaign["tmp"])


def kill(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return out


def delivered(server: Any) -> Counter[str]:
    return Counter(r for m in server.messages for r in m.rcpt_tos)


def send_log(campaign: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    engine = create_engine(campaign["url"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(SendLog.recipient, SendLog.status, SendLog.error)).all()
    finally:
        engine.dispose()
    return {r.recipient: (r.status, r.error) for r in rows}


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.02)


def test_smtp_server_going_away_mid_campaign_then_coming_back(campaign: dict[str, Any], smtp_server: Any) -> None:
    proc = start(campaign, smtp_server)
    try:
        smtp_server.wait_for(4, timeout=120)
        time.sleep(0.3)  # the 4th message's `sent` is committed; the 5th is a second away (60 a minute)
        smtp_server.stop()  # the server goes away, its open connection with it
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            kill(proc)
    assert proc.returncode == 1, out
    first = delivered(smtp_server)
    assert sum(first.values()) == 4 and set(first) == set(READY[:4]), first
    # the run stopped with the reason, the recipient it was on is deferred with the error, nobody is lost
    assert "stopped: 127.0.0.1: giving up after 3 attempt(s)" in out and "connection refused" in out, out
    log = send_log(campaign)
    assert {a: s for a, (s, _) in log.items()} == {**{a: "sent" for a in READY[:4]}, READY[4]: "deferred"}
    assert "connection refused" in (log[READY[4]][1] or ""), log[READY[4]]
    assert f"{len(READY) - 5} not-sent" in out, out

    smtp_server.start()  # back (on a new port: the rerun is told so)
    again = rerun(campaign, smtp_server)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "4 already-sent" in again.stdout and f"{len(READY) - 4} sent" in again.stdout, again.stdout
    assert delivered(smtp_server) == Counter(READY)  # each exactly once over both runs
    assert {s for s, _ in send_log(campaign).values()} == {"sent"}


def test_kill_9_at_four_points_then_rerun_delivers_each_exactly_once(
    campaign: dict[str, Any], smtp_server: Any
) -> None:
    outputs: list[str] = []

    # 1. before anything is sent: right after the run announced itself (the lint is running)
    proc = start(campaign, smtp_server)
    assert proc.stdout is not None
    header = proc.stdout.readline()
    assert header.startswith("campaign fault-campaign"), header
    outputs.append(kill(proc))
    assert smtp_server.messages == []
    assert {s for s, _ in send_log(campaign).values()} <= {"sending"}  # at most the first one claimed

    # 2. in the rate-limit gap, two messages in
    proc = start(campaign, smtp_server, "--resend-unconfirmed")  # step 1 may have left a claim, unsent
    smtp_server.wait_for(2, timeout=120)
    time.sleep(0.3)
    outputs.append(kill(proc))
    assert sum(delivered(smtp_server).values()) == 2

    # 3. the moment the server accepted a message: possibly before the run recorded it (UNCONFIRMED)
    proc = start(campaign, smtp_server)
    smtp_server.wait_for(3, timeout=120)
    outputs.append(kill(proc))
    assert sum(delivered(smtp_server).values()) == 3

    # 4. while backing off after a 4xx: the server answered 451 at RCPT, so nothing was handed over
    log = send_log(campaign)
    following = next(a for a in READY if a not in log or log[a][0] == "deferred")
    smtp_server.fail_rcpt(following, 451)
    proc = start(campaign, smtp_server)
    wait_until(lambda: smtp_server.rcpt_attempts.get(following, 0) >= 2, 120, f"two attempts for {following}")
    time.sleep(0.1)  # inside the 0.6 s backoff before the third attempt
    outputs.append(kill(proc))
    assert delivered(smtp_server)[following] == 0
    assert send_log(campaign)[following][0] == "deferred", send_log(campaign)[following]
    smtp_server.clear_failures()

    # the rerun: everyone still due gets the message; the one possibly sent in 3 is not sent again
    final = rerun(campaign, smtp_server)
    assert delivered(smtp_server) == Counter(READY), (final.stdout, outputs)
    statuses = {a: s for a, (s, _) in send_log(campaign).items()}
    assert set(statuses) == set(READY)
    unconfirmed = [a for a, s in statuses.items() if s == "sending"]
    assert len(unconfirmed) <= 1 and all(s in ("sent", "sending") for s in statuses.values()), statuses
    if unconfirmed:  # killed inside the window: reported, not resent, and it did arrive once
        assert "UNCONFIRMED (1)" in final.stderr and unconfirmed[0] in final.stderr
        assert final.returncode == 1
    else:
        assert final.returncode == 0, final.stdout + final.stderr
