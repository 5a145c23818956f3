"""The public Python API: what the CLI calls, and what other tools can call.

Sessions are passed in; nothing here keeps global state.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from outreach.config import MailboxConfig
from outreach.ledger import LedgerPolicy
from outreach.mail.files import discover
from outreach.mail.imap import FolderSummary, ImapSync, RunSummary, SilentProgress, SyncProgress, SyncSummary
from outreach.mail.ingest import Ingestor, ensure_folder, ensure_mailbox, finish_run, mailbox_addresses
from outreach.store import chunked, lock_store_for_writing, mailbox_sync_lock
from outreach.store.models import SyncRun


class ImportSummary(RunSummary):
    """What an import did, folder by folder."""


class SignalsHook:
    """The ``after_batch`` hook of a sync: makes sure each batch's new messages have their signals
    (computed in the sync's worker process when it had one, here otherwise) before the batch commits;
    once the run is done, refreshes the ledgers of the contacts whose mail this mailbox gained.

    What the mailbox gained is every location added since the run started (new messages and a
    colleague's copies of mail already stored), found by a location-id watermark.  If an earlier run of
    this mailbox crashed, its batches were committed without a ledger refresh, so every ledger is
    refreshed instead.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        mailbox_name: str,
        policy: LedgerPolicy | None = None,
        then: Callable[[Session, list[int]], None] | None = None,
    ) -> None:
        from sqlalchemy import func, select

        from outreach.store.models import Mailbox, MessageLocation, SyncRun

        self.sessions = sessions
        self.mailbox_name = mailbox_name
        self.policy = policy
        self.then = then
        with sessions() as session:
            self.watermark = session.scalar(select(func.max(MessageLocation.id))) or 0
            self.crashed_runs = list(
                session.scalars(
                    select(SyncRun.id)
                    .join(Mailbox, Mailbox.id == SyncRun.mailbox_id)
                    .where(Mailbox.name == mailbox_name, SyncRun.status == "running")
                )
            )
            self.full_refresh = bool(self.crashed_runs)

    def __call__(self, session: Session, new_message_ids: list[int]) -> None:
        from sqlalchemy import select

        from outreach.signals.storage import store_signals
        from outreach.store.models import Message

        missing: list[int] = []
        for chunk in chunked(new_message_ids):
            missing += session.scalars(
                select(Message.id).where(Message.id.in_(chunk), Message.signals_version.is_(None))
            ).all()
        if missing:
            store_signals(session, missing)
        if self.then is not None:
            self.then(session, new_message_ids)

    def finish(self) -> int:
        """Refresh the ledgers the run changed; the number of contacts refreshed (-1: all of them)."""
        from sqlalchemy import select, update

        from outreach.ledger import refresh_ledgers, touched_contacts
        from outreach.store.models import Contact, Folder, Mailbox, MessageLocation, SyncRun

        with self.sessions() as session:
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
            contacts = touched_contacts(session, gained)
            if contacts:
                refresh_ledgers(session, contacts, self.policy)
            session.commit()
        return len(contacts)


def sync_mailbox(
    sessions: sessionmaker[Session],
    config: MailboxConfig,
    password: str,
    progress: SyncProgress | None = None,
    signals: bool = True,
    ledger_policy: LedgerPolicy | None = None,
    wait: bool = False,
    **options: object,
) -> SyncSummary:
    """Sync one IMAP mailbox into the store (read-only, incremental, resumable); with ``signals``, the
    new messages are analysed and the ledgers of the contacts they touch refreshed.

    One sync or import of a mailbox runs at a time per store: while another holds the mailbox,
    :class:`~outreach.errors.MailboxBusyError` is raised, or with ``wait`` the sync waits for it."""
    with _mailbox_lock(sessions, config.name, wait, progress):
        started = time.perf_counter()
        hook = None
        if signals:
            then = options.pop("after_batch", None)
            hook = SignalsHook(sessions, config.name, ledger_policy, then)  # type: ignore[arg-type]
            options["after_batch"] = hook
            options["analyse"] = True
        summary = ImapSync(sessions, config, password, progress=progress, **options).run()  # type: ignore[arg-type]
        if hook is not None:
            hook.finish()
    summary.seconds = time.perf_counter() - started  # the ledger refresh is part of the sync's time
    return summary


def _mailbox_lock(
    sessions: sessionmaker[Session], mailbox: str, wait: bool, progress: SyncProgress | None
) -> contextlib.AbstractContextManager[None]:
    engine = sessions.kw.get("bind")
    if not isinstance(engine, Engine):  # bound to a connection: the caller manages concurrency
        return contextlib.nullcontext()
    return mailbox_sync_lock(engine, mailbox, wait=wait, on_wait=progress.note if progress is not None else None)


def import_path(
    sessions: sessionmaker[Session],
    path: str | Path,
    mailbox_name: str,
    addresses: Sequence[str] = (),
    progress: SyncProgress | None = None,
    batch_size: int = 500,
    after_batch: Callable[[Session, list[int]], None] | None = None,
    signals: bool = True,
    ledger_policy: LedgerPolicy | None = None,
    wait: bool = False,
) -> ImportSummary:
    """Import a Maildir tree or an mbox file for ``mailbox_name`` through the sync pipeline; with
    ``signals``, new messages are analysed and the touched contacts' ledgers refreshed.  Like a sync, it
    holds the mailbox (see :func:`sync_mailbox`)."""
    with _mailbox_lock(sessions, mailbox_name, wait, progress):
        return _import_path(
            sessions, path, mailbox_name, addresses, progress, batch_size, after_batch, signals, ledger_policy
        )


def _import_path(
    sessions: sessionmaker[Session],
    path: str | Path,
    mailbox_name: str,
    addresses: Sequence[str],
    progress: SyncProgress | None,
    batch_size: int,
    after_batch: Callable[[Session, list[int]], None] | None,
    signals: bool,
    ledger_policy: LedgerPolicy | None,
) -> ImportSummary:
    progress = progress or SilentProgress()
    hook = SignalsHook(sessions, mailbox_name, ledger_policy, after_batch) if signals else None
    if hook is not None:
        after_batch = hook
    started = time.perf_counter()
    folders = discover(path)
    summary = ImportSummary(mailbox_name, str(path))
    with sessions() as session:
        owner = list(addresses)
        known_id = _mailbox_id(session, mailbox_name)
        # mailbox_addresses(None) is the whole team's: a new mailbox must still guess its owner
        if not owner and (known_id is None or not mailbox_addresses(session, known_id)):
            for folder in folders:
                if folder.is_sent and (guess := folder.owner_guess()):
                    owner = guess
                    progress.note(f"owner address(es) taken from the Sent folder: {', '.join(guess)}")
                    break
        mailbox = ensure_mailbox(session, mailbox_name, owner)
        run = SyncRun(mailbox_id=mailbox.id, source=str(path))
        session.add(run)
        session.commit()
        ingestor = Ingestor(session, mailbox, after_batch=after_batch)
        for source in folders:
            target = ensure_folder(session, mailbox, source.name, source.kind, source.is_sent)
            result = FolderSummary(source.name, "imported")
            progress.folder(source.name, source.count())
            for batch in source.read(batch_size):
                result.stats.merge(ingestor.ingest(target, batch))
                progress.advance(len(batch))
            summary.folders.append(result)
        finish_run(run, summary.totals)
        session.commit()
    if hook is not None:
        hook.finish()
    summary.seconds = time.perf_counter() - started
    return summary


def _mailbox_id(session: Session, name: str) -> int | None:
    from sqlalchemy import select

    from outreach.store.models import Mailbox

    return session.scalar(select(Mailbox.id).where(Mailbox.name == name))
