"""The public Python API: what the CLI calls, and what other tools can call.

Sessions are passed in; nothing here keeps global state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from outreach.config import MailboxConfig
from outreach.imap_sync import FolderSummary, ImapSync, SilentProgress, SyncProgress, SyncSummary
from outreach.importers import discover
from outreach.ingest import Ingestor, IngestStats, ensure_folder, ensure_mailbox, mailbox_addresses
from outreach.models import SyncRun, utcnow


@dataclass
class ImportSummary:
    mailbox: str
    source: str
    folders: list[FolderSummary] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def totals(self) -> IngestStats:
        total = IngestStats()
        for folder in self.folders:
            total.merge(folder.stats)
        return total


def sync_mailbox(
    sessions: sessionmaker[Session],
    config: MailboxConfig,
    password: str,
    progress: SyncProgress | None = None,
    **options: object,
) -> SyncSummary:
    """Sync one IMAP mailbox into the store (read-only, incremental, resumable)."""
    return ImapSync(sessions, config, password, progress=progress, **options).run()  # type: ignore[arg-type]


def import_path(
    sessions: sessionmaker[Session],
    path: str | Path,
    mailbox_name: str,
    addresses: Sequence[str] = (),
    progress: SyncProgress | None = None,
    batch_size: int = 500,
    after_batch: Callable[[Session, list[int]], None] | None = None,
) -> ImportSummary:
    """Import a Maildir tree or an mbox file for ``mailbox_name`` through the sync pipeline."""
    progress = progress or SilentProgress()
    started = time.perf_counter()
    folders = discover(path)
    summary = ImportSummary(mailbox_name, str(path))
    with sessions() as session:
        owner = list(addresses)
        if not owner and not mailbox_addresses(session, _mailbox_id(session, mailbox_name)):
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
            folder = ensure_folder(session, mailbox, source.name, source.kind, source.is_sent)
            result = FolderSummary(source.name, "imported")
            progress.folder(source.name, source.count())
            for batch in source.read(batch_size):
                result.stats.merge(ingestor.ingest(folder, batch))
                progress.advance(len(batch))
            summary.folders.append(result)
        totals = summary.totals
        run.finished_at = utcnow()
        run.fetched, run.new, run.duplicates = totals.fetched, totals.new, totals.duplicates
        run.skipped, run.skipped_reasons, run.status = totals.skipped_total, dict(totals.skipped), "done"
        session.commit()
    summary.seconds = time.perf_counter() - started
    return summary


def _mailbox_id(session: Session, name: str) -> int | None:
    from sqlalchemy import select

    from outreach.models import Mailbox

    return session.scalar(select(Mailbox.id).where(Mailbox.name == name))
