"""The relationship cases of tests/data/ledger/relationships.toml, through the real ingest, ledger and rules."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from outreach.campaign import campaign_from_strings, evaluate
from outreach.ledger import load_ledgers
from outreach.mail.ingest import Ingestor, RawMessage, ensure_folder
from outreach.mail.owners import open_mailbox
from outreach.signals.hook import SignalsHook
from outreach.store import open_store, session_factory

CASES = tomllib.loads((Path(__file__).parent.parent / "data" / "ledger" / "relationships.toml").read_text())["case"]
OWNER = "alex@brightlane.example"
CONTACT = "maya@techdaily.example"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FOOTER = "\n\n--\nYou are receiving this email because you subscribed. Unsubscribe: https://news.example/u"


def raw(message: dict[str, Any], number: int) -> bytes:
    who = {"me": f'"Alex Rivera" <{OWNER}>', "them": f'"Maya Chen" <{CONTACT}>'}
    to = ", ".join(who.get(a.strip(), a.strip()) for a in message["to"].split(","))
    body = message.get("body", "Hello.") + (FOOTER if message.get("bulk_footer") else "")
    head = [
        f"Message-ID: <{message.get('id', f'm{number}@case.example')}>",
        f"Date: {format_datetime(START + timedelta(days=message['day']))}",
        f"From: {who.get(message['from'], message['from'])}",
        f"To: {to}",
        f"Subject: {message['subject']}",
    ]
    if message.get("in_reply_to"):
        head.append(f"In-Reply-To: <{message['in_reply_to']}>")
    return ("\n".join(head) + "\n\n" + body + "\n").encode()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_relationship_case(case: dict[str, Any], tmp_path: Path) -> None:
    sessions = session_factory(open_store(f"sqlite:///{tmp_path / 'store.db'}"))
    hook = SignalsHook(sessions, "alex")
    with sessions() as session:
        mailbox = open_mailbox(session, "alex", [OWNER], True, lambda: [], lambda _: None)
        ingestor = Ingestor(session, mailbox, after_batch=hook)
        for number, message in enumerate(case["message"]):
            folder = ensure_folder(session, mailbox, message["folder"], "maildir", message["folder"] == "Sent")
            ingestor.ingest(folder, [RawMessage(raw(message, number))])
    hook.finish()
    when = START + timedelta(days=max(m["day"] for m in case["message"]) + 1)
    expect = case["expect"]
    with sessions() as session:
        ledger = load_ledgers(session, [CONTACT], "alex", when=when)[CONTACT]
        campaign = campaign_from_strings(
            text="Could you share our report with your readers?\n",
            rows=[{"email": CONTACT}],
            mailbox="alex",
            policy={"scope": "mailbox", "select": ["R"]},
        )
        report = evaluate(session, campaign, now=when)
    assert ledger.tier == expect["tier"]
    assert sorted(f.code for f in report.recipients[0].findings) == expect["codes"]
    for figure, value in expect.items():
        if figure not in ("tier", "codes"):
            assert getattr(ledger, figure) == value, figure
