"""A sync or an import of one mailbox, end to end: the mailbox's lock, the ingest of every folder, and
the signals hook (analysis, then the ledgers of the contacts the run touched).

Sessions are passed in; nothing here keeps global state.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from outreach.auth import Secret
from outreach.config import MailboxConfig
from outreach.ledger import LedgerPolicy
from outreach.mail.files import discover
from outreach.mail.imap import FolderSummary, ImapSync, RunSummary, SilentProgress, SyncProgress, SyncSummary
from outreach.mail.ingest import Ingestor, ensure_folder, finish_run
from outreach.mail.owners import open_mailbox
from outreach.signals.hook import AfterBatch, SignalsHook
from outreach.store import mailbox_sync_lock
from outreach.store.models import SyncRun


class ImportSummary(RunSummary):
    """What an import did, folder by folder."""


def sync_mailbox(
    sessions: sessionmaker[Session],
    config: MailboxConfig,
    password: Secret,
    progress: SyncProgress | None = None,
    signals: bool = True,
    ledger_policy: LedgerPolicy | None = None,
    wait: bool = False,
    *,
    refine: bool = True,
    after_batch: AfterBatch | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SyncSummary:
    """Sync one IMAP mailbox into the store (read-only, incremental, resumable); with ``signals``, the
    new messages are analysed and the ledgers of the contacts they touch refreshed. ``password`` is the
    password, or an :class:`~outreach.auth.OAuth2Login` (its token renewed on reconnects as needed).

    One sync or import of a mailbox runs at a time per store: while another holds the mailbox,
    :class:`~outreach.errors.MailboxBusyError` is raised, or with ``wait`` the sync waits for it."""
    with _mailbox_lock(sessions, config.name, wait, progress):
        started = time.perf_counter()
        hook = SignalsHook(sessions, config.name, ledger_policy, after_batch, refine=refine) if signals else None
        summary = ImapSync(
            sessions, config, password, progress=progress, after_batch=hook or after_batch, sleep=sleep, analyse=signals
        ).run()
        _note_learned(progress, summary.totals.learned)
        if hook is not None:
            hook.finish(summary.totals.rethreaded, progress)
            summary.refined = hook.refined
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
    after_batch: AfterBatch | None = None,
    signals: bool = True,
    ledger_policy: LedgerPolicy | None = None,
    wait: bool = False,
    *,
    refine: bool = True,
) -> ImportSummary:
    """Import a Maildir tree or an mbox file for ``mailbox_name`` through the sync pipeline; with
    ``signals``, new messages are analysed and the touched contacts' ledgers refreshed.  Like a sync, it
    holds the mailbox (see :func:`sync_mailbox`)."""
    with _mailbox_lock(sessions, mailbox_name, wait, progress):
        return _import_path(
            sessions, path, mailbox_name, addresses, progress, batch_size, after_batch, signals, ledger_policy, refine
        )


def _import_path(
    sessions: sessionmaker[Session],
    path: str | Path,
    mailbox_name: str,
    addresses: Sequence[str],
    progress: SyncProgress | None,
    batch_size: int,
    after_batch: AfterBatch | None,
    signals: bool,
    ledger_policy: LedgerPolicy | None,
    refine: bool,
) -> ImportSummary:
    progress = progress or SilentProgress()
    hook = SignalsHook(sessions, mailbox_name, ledger_policy, after_batch, refine=refine) if signals else None
    if hook is not None:
        after_batch = hook
    started = time.perf_counter()
    folders = discover(path)
    summary = ImportSummary(mailbox_name, str(path))
    with sessions() as session:
        sent = [folder for folder in folders if folder.is_sent]
        mailbox = open_mailbox(
            session, mailbox_name, addresses, bool(sent), lambda: sent[0].owner_guess(), progress.note
        )
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
    _note_learned(progress, summary.totals.learned)
    if hook is not None:
        hook.finish(summary.totals.rethreaded, progress)
        summary.refined = hook.refined
    summary.seconds = time.perf_counter() - started
    return summary


def _note_learned(progress: SyncProgress | None, learned: Sequence[str]) -> None:
    if progress is not None and learned:
        progress.note(f"owner address(es) learned from the Sent folder: {', '.join(dict.fromkeys(learned))}")
