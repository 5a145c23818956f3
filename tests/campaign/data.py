"""Campaign test data shared by the campaign, CLI and send tests: the ``mixed`` campaign's ledgers (every
verdict), ledgers written into a store, and campaign folders written from text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lint.cases import NOW, make_ledger
from sqlalchemy.orm import Session

from outreach.ledger import ledger_row_values
from outreach.store import open_store, session_factory
from outreach.store.models import Contact, ContactLedger, SendLog, Suppression

DATA = Path(__file__).resolve().parent.parent / "data" / "campaigns"


def mixed_ledgers(now: datetime = NOW) -> dict[str, dict[str, Any]]:
    """The ledgers of tests/data/campaigns/mixed/recipients.csv, dated relative to ``now``."""

    def _at(days_ago: int) -> str:
        return (now - timedelta(days=days_ago)).isoformat()

    def _line(
        mid: int, days_ago: int, subject: str, sentence: str | None = None, direction: str = "out"
    ) -> dict[str, Any]:
        return {
            "message_id": mid,
            "date": _at(days_ago),
            "direction": direction,
            "subject": subject,
            "sentence": sentence,
        }

    default = {"last_two_way": _at(60)}
    ledgers: dict[str, dict[str, Any]] = {
        "warm@example.org": {"tier": "warm", "last_two_way": _at(20), "balance": 1.5},
        "oneway@example.com": {
            "tier": "one-way",
            "sent": 3,
            "personal_received": 0,
            "received": 0,
            "evidence": {"sent": [_line(11, 200, "Our reuse report")]},
        },
        "stale@example.org": {
            "tier": "acquaintance",
            "last_two_way": _at(800),
            "evidence": {"last_two_way": [_line(12, 800, "Re: the Ghent panel", direction="in")]},
        },
        "taker@example.org": {
            "tier": "warm",
            "balance": -3.5,
            "asks_by_us": 4,
            "offers_by_us": 0,
            "evidence": {
                "asks_by_us": [
                    _line(13, 100, "A favour", "Could you share our post?"),
                    _line(14, 10, "Another favour", "Would you review this?"),
                ]
            },
            "last_ask_by_us": {
                **_line(14, 10, "Another favour", "Would you review this?"),
                "answered": False,
            },
        },
        "optout@example.org": {
            "tier": "warm",
            "opt_outs": 1,
            "evidence": {
                "opt_outs": [_line(15, 300, "Re: newsletter", "Please remove me from your list.", "in")]
            },
        },
        "blocked@suppressed.example": {"tier": "strong"},
        "intro@example.net": {"tier": "none", "last_two_way": ""},
        "nofield@example.org": {"tier": "warm"},
        "xss@example.org": {"tier": "warm"},
    }
    return {a: {**default, **d} for a, d in ledgers.items()}


def populate_mixed(session: Session, now: datetime = NOW) -> None:
    add_ledgers(session, mixed_ledgers(now))
    session.add(
        Suppression(kind="domain", value="suppressed.example", reason="outlet policy", added_by="legal")
    )
    session.add(
        SendLog(
            campaign="earlier",
            recipient="warm@example.org",
            mailbox="alex",
            message_id_header="<x@e>",
            status="sent",
            sent_at=now - timedelta(days=5),
        )
    )
    session.add(
        SendLog(
            campaign="mixed-test",
            recipient="stale@example.org",
            mailbox="alex",
            message_id_header="<y@e>",
            status="sent",
            sent_at=now - timedelta(days=1),
        )
    )
    session.commit()


def add_ledgers(session: Session, ledgers: dict[str, dict[str, Any]], scope: str = "*") -> None:
    for address, data in ledgers.items():
        contact = session.query(Contact).filter_by(address=address).one_or_none()
        if contact is None:
            contact = Contact(
                address=address, domain=address.rpartition("@")[2], display_name=None, display_names=[]
            )
            session.add(contact)
            session.flush()
        ledger = make_ledger(address, {**data, "scope": scope})
        session.add(ContactLedger(contact_id=contact.id, **ledger_row_values(ledger)))
    session.commit()


def warm_store(tmp_path: Path, addresses: list[str]) -> str:
    """A new SQLite store (its URL) where each address is a warm contact we wrote with recently."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_store(url)
    recent = datetime.now(UTC).isoformat()
    with session_factory(engine)() as session:
        add_ledgers(session, {a: {"tier": "warm", "last_two_way": recent} for a in addresses})
    engine.dispose()
    return url


def write_campaign(
    folder: Path,
    toml: str,
    body: str = "Hi {{ first_name }},\n\nOur report is out.\n",
    csv: str = "email,first_name\npat@example.org,Pat\n",
) -> Path:
    """A campaign folder: ``campaign.toml``, ``body.txt.j2`` and ``recipients.csv``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "campaign.toml").write_text(toml, encoding="utf-8")
    (folder / "body.txt.j2").write_text(body, encoding="utf-8")
    (folder / "recipients.csv").write_text(csv, encoding="utf-8")
    return folder
