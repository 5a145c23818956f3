"""The store on SQLite and on a real PostgreSQL: migrations, no drift, de-duplication, bulk ingest."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select

from outreach.mail.ingest import Ingestor, RawMessage, ensure_folder
from outreach.mail.owners import ensure_mailbox
from outreach.mail.runs import import_path
from outreach.store import current_revision, head_revision, make_engine, open_store, session_factory, upgrade
from outreach.store.models import Base, Contact, Message, MessageLocation, Participant


def test_migrations_reach_head_and_match_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    names = set(inspect(engine).get_table_names())
    assert {"message", "message_location", "contact", "participant", "folder", "mailbox", "thread"} <= names


def test_open_store_upgrades_a_new_database(database_url: str) -> None:
    engine = open_store(database_url)
    assert current_revision(engine) == head_revision()


def _raw(mid: str, sender: str, to: str, subject: str = "Hello", body: str = "Body text") -> bytes:
    return (
        f"Message-ID: <{mid}>\r\nDate: Mon, 5 Jan 2015 10:00:00 +0000\r\nFrom: {sender}\r\nTo: {to}\r\n"
        f"Subject: {subject}\r\n\r\n{body}\r\n"
    ).encode()


def test_a_message_in_two_folders_and_two_mailboxes_is_one_message(database_url: str) -> None:
    sessions = session_factory(open_store(database_url))
    shared = _raw("m1@example.org", "Ann <ann@example.org>", "bo@example.com")
    with sessions() as session:
        ann = ensure_mailbox(session, "ann", ["ann@example.org"])
        bo = ensure_mailbox(session, "bo", ["bo@example.com"])
        ingest_ann = Ingestor(session, ann)
        sent = ensure_folder(session, ann, "Sent", "imap", is_sent=True)
        inbox = ensure_folder(session, ann, "INBOX", "imap")
        first = ingest_ann.ingest(sent, [RawMessage(shared, uid=1)])
        again = ingest_ann.ingest(inbox, [RawMessage(shared, uid=7)])
        bo_inbox = ensure_folder(session, bo, "INBOX", "imap")
        third = Ingestor(session, bo).ingest(bo_inbox, [RawMessage(shared, uid=3), RawMessage(shared, uid=4)])
        assert (first.new, first.duplicates) == (1, 0)
        assert (again.new, again.duplicates) == (0, 1)
        assert (third.new, third.duplicates) == (0, 2)
        assert session.scalar(select(func.count()).select_from(Message)) == 1
        locations = session.execute(select(MessageLocation.folder_id, MessageLocation.direction)).all()
        # Ann sent it (out, in both her folders); for Bo it is inbound mail.
        assert sorted(locations) == sorted([(sent.id, "out"), (inbox.id, "out"), (bo_inbox.id, "in")])
        assert sent.highest_uid == 1 and bo_inbox.highest_uid == 4


def test_contacts_keep_display_names_and_domains(database_url: str) -> None:
    sessions = session_factory(open_store(database_url))
    with sessions() as session:
        box = ensure_mailbox(session, "me", ["me@example.org"])
        folder = ensure_folder(session, box, "INBOX", "imap")
        ingestor = Ingestor(session, box)
        ingestor.ingest(folder, [RawMessage(_raw("a@x", "Sam Lee <Sam@Press.example.com>", "me@example.org"), uid=1)])
        ingestor.ingest(
            folder, [RawMessage(_raw("b@x", "Samuel Lee <sam@press.example.com>", "me@example.org"), uid=2)]
        )
        contact = session.scalars(select(Contact).where(Contact.address == "sam@press.example.com")).one()
        assert contact.domain == "press.example.com"
        assert set(contact.display_names) == {"Sam Lee", "Samuel Lee"}
        roles = session.execute(select(Participant.role).where(Participant.contact_id == contact.id)).scalars().all()
        assert roles == ["from", "from"]


def test_unparseable_messages_are_kept_with_the_reason(database_url: str) -> None:
    sessions = session_factory(open_store(database_url))
    with sessions() as session:
        box = ensure_mailbox(session, "me", ["me@example.org"])
        folder = ensure_folder(session, box, "INBOX", "imap")
        stats = Ingestor(session, box).ingest(
            folder,
            [RawMessage(b"\x00garbage", uid=1, origin="INBOX UID 1"), RawMessage(None, uid=2, origin="INBOX UID 2")],
        )
        assert stats.skipped == {"unparseable": 1, "empty message: no bytes to read": 1}
        assert any("INBOX UID 1" in p for p in stats.problems)
        row = session.execute(select(Message.parse_error)).scalar_one()
        assert row is not None and "no headers" in row
        assert folder.highest_uid == 2  # the sync moves on


def test_enron_import_is_idempotent(database_url: str, enron_dir: Path) -> None:
    sessions = session_factory(open_store(database_url))
    first = import_path(sessions, enron_dir / "germany-c", "germany-c")
    files = len(list((enron_dir / "germany-c" / "cur").iterdir())) + len(
        list((enron_dir / "germany-c" / ".Sent_reconstructed" / "cur").iterdir())
    )
    assert first.totals.fetched == files
    assert first.totals.new + first.totals.duplicates == files
    second = import_path(sessions, enron_dir / "germany-c", "germany-c")
    assert second.totals.new == 0
    assert second.totals.duplicates == files
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == first.totals.new
