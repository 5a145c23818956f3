"""The one hook that turns newly stored messages into signals and fresh ledgers.

Sync, import and send all store mail through :class:`~outreach.mail.ingest.Ingestor`; its ``after_batch``
hook is a :class:`SignalsHook`.  Each batch's new messages get their signals before the batch commits
(unless the sync's worker process computed them already); the ledgers of the contacts they touch are
refreshed once the run is done (sync, import: after the sentences the run left to the sentence classifier
are decided, see :mod:`outreach.signals.favours`) or in the batch's own transaction (``refresh_each_batch``:
a send, so that the next lint sees the message at once).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from outreach.ledger import LedgerPolicy, refresh_ledgers, touched_contacts
from outreach.signals.storage import RebuildProgress, refine_signals, store_signals
from outreach.store import chunked, lock_store_for_writing
from outreach.store.models import Contact, Folder, Mailbox, MailboxAddress, Message, MessageLocation, SyncRun

AfterBatch = Callable[[Session, list[int]], None]


def analyse_new(session: Session, message_ids: Sequence[int], refine: bool = False) -> None:
    """Store the signals of those of ``message_ids`` that have none yet (``refine``: with the sentence
    classifier, else the fast reading, left pending).  Does not commit."""
    missing: list[int] = []
    for chunk in chunked(list(message_ids)):
        missing += session.scalars(
            select(Message.id).where(Message.id.in_(chunk), Message.signals_version.is_(None))
        ).all()
    if missing:
        store_signals(session, missing, refine=refine)


class SignalsHook:
    """The ``after_batch`` hook of a run of one mailbox (see the module's doc).

    After a sync or import (``finish``), the ledgers refreshed are those of the contacts whose mail this
    mailbox gained: every location added since the run started (new messages and a colleague's copies of
    mail already stored), found by a location-id watermark.  If an earlier run of this mailbox crashed,
    its batches were committed without a ledger refresh, so every ledger is refreshed instead.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session] | None,
        mailbox_name: str,
        policy: LedgerPolicy | None = None,
        then: AfterBatch | None = None,
        *,
        refresh_each_batch: bool = False,
        refine: bool = True,
    ) -> None:
        self.sessions = sessions
        self.mailbox_name = mailbox_name
        self.policy = policy
        self.then = then
        self.refresh_each_batch = refresh_each_batch
        self.refine = refine
        self.refined = 0  # messages whose pending sentences finish() decided
        self.watermark = 0
        self.address_watermark = 0
        self.crashed_runs: list[int] = []
        if sessions is not None and not refresh_each_batch:
            with sessions() as session:
                self.watermark = session.scalar(select(func.max(MessageLocation.id))) or 0
                self.address_watermark = session.scalar(select(func.max(MailboxAddress.id))) or 0
                self.crashed_runs = list(
                    session.scalars(
                        select(SyncRun.id)
                        .join(Mailbox, Mailbox.id == SyncRun.mailbox_id)
                        .where(Mailbox.name == mailbox_name, SyncRun.status == "running")
                    )
                )
        self.full_refresh = bool(self.crashed_runs)

    @classmethod
    def for_send(cls, mailbox_name: str, policy: LedgerPolicy | None = None) -> SignalsHook:
        """The hook of a send: each sent message's signals and its recipients' ledgers, in its transaction."""
        return cls(None, mailbox_name, policy, refresh_each_batch=True)

    def __call__(self, session: Session, new_message_ids: list[int]) -> None:
        # a sent message is judged at once, classifier included (the next lint reads our ask in it)
        analyse_new(session, new_message_ids, refine=self.refresh_each_batch)
        if self.refresh_each_batch:
            refresh_ledgers(session, touched_contacts(session, new_message_ids), self.policy)
        if self.then is not None:
            self.then(session, new_message_ids)

    def finish(self, rethreaded: Iterable[int] = (), progress: RebuildProgress | None = None) -> int:
        """Decide the sentences the run left to the sentence classifier (every pending message of the
        store, unless ``refine`` is off), then refresh the ledgers the run changed (``rethreaded``: stored
        messages whose thread changed because threads merged); the number of contacts refreshed (-1: all)."""
        if self.sessions is None or self.refresh_each_batch:
            return 0
        with self.sessions() as session:
            refined_contacts: set[int] = set()
            if self.refine:
                self.refined, refined_contacts = refine_signals(session, progress=progress)
            lock_store_for_writing(session)  # a teammate's sync may be refreshing the same contacts
            if self.full_refresh:
                # All contacts, but in chunks: refresh_ledgers(None) would hold the whole store's facts.
                everyone = session.scalars(select(Contact.id)).all()
                refresh_ledgers(session, everyone, self.policy)
                session.execute(update(SyncRun).where(SyncRun.id.in_(self.crashed_runs)).values(status="interrupted"))
                session.commit()
                return -1
            gained = session.scalars(
                select(MessageLocation.message_id)
                .join(Folder, Folder.id == MessageLocation.folder_id)
                .join(Mailbox, Mailbox.id == Folder.mailbox_id)
                .where(Mailbox.name == self.mailbox_name, MessageLocation.id > self.watermark)
            ).all()
            # an owner address learned in the run turned the mailbox's mail from it outbound
            learned = select(MailboxAddress.address).where(MailboxAddress.id > self.address_watermark)
            turned = session.scalars(select(Message.id).where(Message.from_address.in_(learned))).all()
            contacts = touched_contacts(session, [*gained, *turned, *rethreaded]) | refined_contacts
            if contacts:
                refresh_ledgers(session, contacts, self.policy)
            session.commit()
        return len(contacts)


__all__ = ["AfterBatch", "SignalsHook", "analyse_new"]
