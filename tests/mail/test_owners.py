"""Whose mail is it: owner addresses from the configuration and from the Sent folder, where each came from,
and the direction they give the mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.ledger import load_ledgers
from outreach.ledger.history import histories
from outreach.mail.owners import CONFIG, SENT_FOLDER, address_name_key, name_key, owner_addresses
from outreach.mail.runs import import_path
from outreach.store import open_store, session_factory
from outreach.store.models import Mailbox, Message, MessageLocation

WORK, PHONE = "alex@brightlane.example", "alex.rivera@phone.example"
MAYA = "maya@techdaily.example"


def _write(folder: Path, name: str, sender: str, to: str, subject: str, day: int) -> None:
    (folder / "cur").mkdir(parents=True, exist_ok=True)
    (folder / "new").mkdir(exist_ok=True)
    when = datetime(2026, 3, 2, 9, tzinfo=UTC) + timedelta(days=day)
    head = f"Message-ID: <{name}@t>\nDate: {format_datetime(when)}\nFrom: {sender}\nTo: {to}\nSubject: {subject}"
    raw = head + "\n\nHi.\n"
    (folder / "cur" / f"{name}:2,S").write_text(raw)


def _export(root: Path, with_sent: bool = True) -> Path:
    # the inbox holds a message the owner sent from the phone (a copy to self), before the Sent folder
    # shows that address to be the owner's
    _write(root, "i1", f"Maya Chen <{MAYA}>", WORK, "Question", 1)
    _write(root, "i2", f"Alex Rivera <{PHONE}>", f"{MAYA}, {WORK}", "Re: Question", 2)
    if with_sent:
        _write(root / ".Sent", "s1", f"Alex Rivera <{WORK}>", MAYA, "Pitch", 0)
        _write(root / ".Sent", "s2", f"Alex Rivera <{PHONE}>", MAYA, "Re: Question", 2)
    return root


def test_the_sent_folder_teaches_the_owner_addresses_and_config_ones_are_kept(tmp_path: Path) -> None:
    sessions = session_factory(open_store(f"sqlite:///{tmp_path / 'store.db'}"))
    notes: list[str] = []

    class Progress:
        def note(self, text: str) -> None:
            notes.append(text)

        def folder(self, name: str, total: int) -> None: ...

        def advance(self, count: int) -> None: ...

    import_path(sessions, _export(tmp_path / "export"), "alex", ["alex@old-agency.example"], progress=Progress())  # type: ignore[arg-type]  # a progress protocol double
    with sessions() as session:
        mailbox_id = session.scalar(select(Mailbox.id).where(Mailbox.name == "alex"))
        assert mailbox_id is not None
        owners = {o.address: o.source for o in owner_addresses(session, mailbox_id)}
        assert owners == {"alex@old-agency.example": CONFIG, WORK: SENT_FOLDER, PHONE: SENT_FOLDER}
        # every copy of the owner's mail is outbound, in the Sent folder or not
        directions = dict(
            session.execute(
                select(Message.message_key, MessageLocation.direction).join(
                    MessageLocation, MessageLocation.message_id == Message.id
                )
            ).all()
        )
        assert directions == {"i1@t": "in", "i2@t": "out", "s1@t": "out", "s2@t": "out"}
        contacts = {h.address for h in histories(session)}
    assert contacts == {MAYA}  # the owner's aliases are never contacts
    assert any("learned from the Sent folder" in n for n in notes)


def test_an_address_learned_later_turns_the_stored_mail_from_it_outbound(tmp_path: Path) -> None:
    sessions = session_factory(open_store(f"sqlite:///{tmp_path / 'store.db'}"))
    root = tmp_path / "export"
    _write(root, "i1", f"Maya Chen <{MAYA}>", WORK, "Question", 1)
    _write(root, "i2", f"Alex Rivera <{PHONE}>", f"{MAYA}, {WORK}", "Re: Question", 2)
    _write(root / ".Sent", "s1", f"Alex Rivera <{WORK}>", MAYA, "Pitch", 0)
    import_path(sessions, root, "alex")
    with sessions() as session:
        assert _direction(session, "i2@t") == "in"  # nothing says yet that the phone address is Alex's
        assert histories(session, [PHONE])[0].received  # so it is a contact that wrote to us
    _write(root / ".Sent", "s2", f"Alex Rivera <{PHONE}>", MAYA, "Re: Question", 2)
    summary = import_path(sessions, root, "alex")
    assert summary.totals.learned == [PHONE]
    with sessions() as session:
        assert _direction(session, "i2@t") == "out"
        assert {h.address for h in histories(session)} == {MAYA}
        ledger = load_ledgers(session, [MAYA], "alex")[MAYA]
    assert ledger.personal_sent == 3 and ledger.tier == "acquaintance"  # s1, s2 and the copy i2


def _direction(session: Session, key: str) -> str:
    return session.scalars(
        select(MessageLocation.direction)
        .join(Message, Message.id == MessageLocation.message_id)
        .where(Message.message_key == key)
    ).one()


def test_a_mailbox_without_sent_folder_nor_address_gets_a_warning(tmp_path: Path) -> None:
    sessions = session_factory(open_store(f"sqlite:///{tmp_path / 'store.db'}"))
    notes: list[str] = []

    class Progress:
        def note(self, text: str) -> None:
            notes.append(text)

        def folder(self, name: str, total: int) -> None: ...

        def advance(self, count: int) -> None: ...

    import_path(sessions, _export(tmp_path / "export", with_sent=False), "alex", progress=Progress())  # type: ignore[arg-type]  # a progress protocol double
    assert any(n.startswith("warning: mailbox 'alex' has no Sent folder and no configured address") for n in notes)


def test_name_keys() -> None:
    assert name_key("Beck, Sally") == name_key("Sally Beck") == name_key("Sally M. Beck") == {"sally", "beck"}
    assert address_name_key("sally.beck@enron.com") == {"sally", "beck"}
    assert address_name_key("vince.j.kaminski@enron.com") == {"vince", "kaminski"}
    assert address_name_key("sbeck@enron.com") == frozenset()
