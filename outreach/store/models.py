"""The store's schema as typed SQLAlchemy models.

The schema itself is created and changed only by the alembic migrations in ``migrations/``; a test checks
that these models and the migrations agree.  Hot-path writes go through Core ``insert`` on the tables
(see :mod:`outreach.mail.ingest`), not through ORM objects.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC on every backend, returned as an aware UTC datetime."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[str]: JSON()}


class Mailbox(Base):
    """A team member's account: its messages are 'ours' when sent from one of its addresses."""

    __tablename__ = "mailbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MailboxAddress(Base):
    """One of a mailbox owner's own addresses or aliases (normalised, lower case)."""

    __tablename__ = "mailbox_address"
    __table_args__ = (UniqueConstraint("mailbox_id", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailbox.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320), index=True)
    # "config": the config file or --address; "sent-folder": the From of a message in the Sent folder
    source: Mapped[str] = mapped_column(String(20), default="config", server_default="config")
    added_at: Mapped[datetime | None] = mapped_column(default=utcnow)


class Folder(Base):
    """A folder of a mailbox (IMAP folder or imported file/tree) with its incremental-sync state."""

    __tablename__ = "folder"
    __table_args__ = (UniqueConstraint("mailbox_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailbox.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(10))  # imap | maildir | mbox
    is_sent: Mapped[bool] = mapped_column(default=False)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    highest_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    highest_modseq: Mapped[int | None] = mapped_column(BigInteger)
    uidnext: Mapped[int | None] = mapped_column(BigInteger)
    last_synced_at: Mapped[datetime | None]


class Thread(Base):
    """A conversation: messages linked by In-Reply-To/References or by subject, people and time."""

    __tablename__ = "thread"
    # A sync looks up the threads under a subject whose window reaches a date: the subject, then the range.
    __table_args__ = (Index("ix_thread_subject_key_last_date", "subject_key", "last_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    root_key: Mapped[str] = mapped_column(String(255), unique=True)  # message_key of the message that started it
    subject_key: Mapped[str] = mapped_column(String(300))
    first_date: Mapped[datetime | None]
    last_date: Mapped[datetime | None]


class Message(Base):
    """One message, however many folders or mailboxes it was seen in."""

    __tablename__ = "message"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Normalised Message-ID, or a content hash for messages without one: the de-duplication key.
    message_key: Mapped[str] = mapped_column(String(255), unique=True)
    message_id_header: Mapped[str | None] = mapped_column(Text)
    date: Mapped[datetime | None] = mapped_column(index=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    from_address: Mapped[str | None] = mapped_column(String(320), index=True)
    size: Mapped[int] = mapped_column(Integer, default=0)
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("thread.id", ondelete="SET NULL"), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(Text, index=True)  # an original finds its earlier replies
    references: Mapped[str | None] = mapped_column(Text)
    recipient_count: Mapped[int] = mapped_column(Integer, default=0)
    is_bulk: Mapped[bool] = mapped_column(default=False)
    is_list: Mapped[bool] = mapped_column(default=False)
    is_automated: Mapped[bool] = mapped_column(default=False)
    noise_reason: Mapped[str | None] = mapped_column(String(200))
    body_text: Mapped[str] = mapped_column(Text, default="")
    text_truncated: Mapped[bool] = mapped_column(default=False)
    parse_error: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(10))  # "en", "unknown", … set by the signals pipeline
    signals_version: Mapped[str | None] = mapped_column(String(40), index=True)  # None: not analysed yet
    # The topmost message a reply quotes (set by the signals analysis): its author and date, as quoted
    quoted_name: Mapped[str | None] = mapped_column(String(300))
    quoted_address: Mapped[str | None] = mapped_column(String(320))
    quoted_date: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessageLocation(Base):
    """Where a message was seen: a folder, its UID there, and its direction for that folder's owner."""

    __tablename__ = "message_location"
    __table_args__ = (
        UniqueConstraint("folder_id", "message_id"),
        Index("ix_message_location_folder_id_uid", "folder_id", "uid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), index=True)
    folder_id: Mapped[int] = mapped_column(ForeignKey("folder.id", ondelete="CASCADE"))
    uid: Mapped[int | None] = mapped_column(BigInteger)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    flags: Mapped[str] = mapped_column(String(500), default="")


class Contact(Base):
    """A correspondent, keyed by normalised address."""

    __tablename__ = "contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    domain: Mapped[str] = mapped_column(String(255), index=True)
    display_name: Mapped[str | None] = mapped_column(String(500))
    display_names: Mapped[list[str]] = mapped_column(default=list)


class Participant(Base):
    """A contact's role in a message: from, to, cc, bcc or reply-to."""

    __tablename__ = "participant"
    __table_args__ = (UniqueConstraint("message_id", "role", "contact_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(8))
    display_name: Mapped[str | None] = mapped_column(String(500))


class SyncRun(Base):
    """One run of ``sync`` or ``import`` and its summary, kept for the record."""

    __tablename__ = "sync_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailbox.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    skipped_reasons: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="running")


class Signal(Base):
    """A signal found in the sender's own text of a message, with its sentence as evidence."""

    __tablename__ = "signal"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), index=True)
    # ask | offer | thanks | fulfilment | commitment | opt_out | mass_ask (not indexed: read by message only)
    kind: Mapped[str] = mapped_column(String(20))
    subtype: Mapped[str | None] = mapped_column(String(30))
    personal: Mapped[bool] = mapped_column(default=True)
    sentence: Mapped[str] = mapped_column(Text)
    start: Mapped[int] = mapped_column(Integer)  # character offsets in the zoned own text
    end: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float, default=1.0)
    pipeline_version: Mapped[str] = mapped_column(String(40))


class ContactLedger(Base):
    """The computed relationship ledger of a contact, team-wide (scope "*") or for one mailbox (its name).

    The figures live in ``data`` (JSON, with evidence); the columns that campaigns filter on are copied
    out so that a preview of thousands of recipients is one indexed query.
    """

    __tablename__ = "contact_ledger"
    __table_args__ = (UniqueConstraint("contact_id", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(20))
    strength: Mapped[int] = mapped_column(Integer, default=0)
    balance: Mapped[float] = mapped_column(Float, default=0.0)
    last_two_way: Mapped[datetime | None]
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class SendLog(Base):
    """One campaign message to one recipient: the key that makes sending idempotent."""

    __tablename__ = "send_log"
    __table_args__ = (UniqueConstraint("campaign", "recipient"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(String(200))
    recipient: Mapped[str] = mapped_column(String(320))
    mailbox: Mapped[str] = mapped_column(String(200), index=True)
    message_id_header: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20))  # sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(index=True)


class Suppression(Base):
    """The team's suppression list: an address or a whole domain that must never get a campaign."""

    __tablename__ = "suppression"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # address | domain
    value: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(Text, default="")
    added_by: Mapped[str | None] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
