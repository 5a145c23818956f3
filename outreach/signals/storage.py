"""Signals in the store: write a batch's results, analyse stored messages, refine the pending ones,
rebuild them all.

:func:`store_signals` analyses stored messages (the sync's hook uses it for what its worker did not do);
:func:`refine` decides the sentences a sync left to the sentence classifier (``outreach signals refine``,
and ``preview``/``send`` for their recipients' mail); :func:`rebuild` recomputes every message after the
patterns or the models changed (``outreach signals rebuild``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from outreach.ledger import LedgerPolicy, refresh_ledgers, touched_contacts
from outreach.signals.analyse import PENDING_VERSION, PIPELINE_VERSION, MessageSignals, analyse_texts
from outreach.signals.favours import classified
from outreach.store import bulk_insert_rows, lock_store_for_writing
from outreach.store.models import Contact, Message, Participant, Signal

CHUNK = 500
#: The columns of :func:`signal_rows`' tuples, in order.
SIGNAL_COLUMNS = ("message_id", "kind", "subtype", "personal", "sentence", "start", "end", "score", "pipeline_version")


def message_version(result: MessageSignals, noisy: bool) -> str:
    """The signals version of a message: pending while sentences of its wait for the classifier, unless the
    message is bulk, list or automated mail (no personal ask there to decide: its fast reading is final)."""
    return PENDING_VERSION if result.pending and not noisy else PIPELINE_VERSION


def signal_rows(message_id: int, result: MessageSignals, version: str = PIPELINE_VERSION) -> list[tuple[Any, ...]]:
    """The ``signal`` rows of one message's results, as tuples in :data:`SIGNAL_COLUMNS` order."""
    return [
        (
            message_id,
            hit.kind,
            hit.subtype[:30] if hit.subtype else None,
            hit.personal,
            hit.sentence[:1000],
            hit.start,
            hit.end,
            hit.score,
            version,
        )
        for hit in result.signals
    ]


def quoted_columns(result: MessageSignals) -> dict[str, Any]:
    """The ``message`` columns of the author of the message it quotes (see :mod:`outreach.signals.quoted`)."""
    quoted = result.quoted
    if quoted is None:
        return {"quoted_name": None, "quoted_address": None, "quoted_date": None}
    return {
        "quoted_name": quoted.name[:300] if quoted.name else None,
        "quoted_address": quoted.address[:320] if quoted.address else None,
        "quoted_date": quoted.date,
    }


def _analyse(rows: Sequence[Any], refine: bool) -> list[MessageSignals]:
    """The signals of rows of (id, body, noisy): personal mail refined or not, noisy mail never."""
    results: dict[int, MessageSignals] = {}
    for flag in (True, False):
        picked = [n for n, row in enumerate(rows) if bool(row[2]) is flag]
        if picked:
            found = analyse_texts([rows[n][1] for n in picked], refine=refine and not flag)
            results.update(zip(picked, found, strict=True))
    return [results[n] for n in range(len(rows))]


def store_signals(session: Session, message_ids: Sequence[int], refine: bool = False) -> Counter[str]:
    """Analyse the given messages and store their signals (replacing older ones); count per kind.  With
    ``refine``, the sentence classifier decides the sentences that need it in personal mail (bulk, list
    and automated mail keep the fast reading: no personal ask there to decide).  Does not commit."""
    conn = session.connection()
    counts: Counter[str] = Counter()
    ids = list(dict.fromkeys(message_ids))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = conn.execute(
            select(Message.id, Message.body_text, Message.is_bulk | Message.is_list | Message.is_automated).where(
                Message.id.in_(chunk)
            )
        ).all()
        results = _analyse(rows, refine)
        conn.execute(delete(Signal).where(Signal.message_id.in_(chunk)))
        signal_values: list[tuple[Any, ...]] = []
        message_values: list[dict[str, object]] = []
        for (mid, _, noisy), result in zip(rows, results, strict=True):
            version = message_version(result, bool(noisy))
            signal_values += signal_rows(mid, result, version)
            message_values.append(
                {"b_id": mid, "language": result.language, "signals_version": version, **quoted_columns(result)}
            )
            counts.update(hit.kind for hit in result.signals)
        bulk_insert_rows(conn, Signal, SIGNAL_COLUMNS, signal_values)
        if message_values:
            conn.execute(
                update(Message)
                .where(Message.id == bindparam("b_id"))
                .values(
                    language=bindparam("language"),
                    signals_version=bindparam("signals_version"),
                    quoted_name=bindparam("quoted_name"),
                    quoted_address=bindparam("quoted_address"),
                    quoted_date=bindparam("quoted_date"),
                ),
                message_values,
            )
    return counts


class RebuildProgress(Protocol):
    def folder(self, name: str, to_fetch: int) -> None: ...

    def advance(self, count: int) -> None: ...


@dataclass
class RebuildSummary:
    messages: int = 0
    signals: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def rebuild(
    session: Session,
    progress: RebuildProgress | None = None,
    batch_size: int = 1000,
    stale_only: bool = False,
) -> RebuildSummary:
    """Recompute the signals of every message (or only those of an older pipeline), committing per batch."""
    started = time.perf_counter()
    query = select(Message.id).order_by(Message.id)
    count_query = select(func.count(Message.id))
    if stale_only:
        stale = (Message.signals_version.is_(None)) | (Message.signals_version != PIPELINE_VERSION)
        query, count_query = query.where(stale), count_query.where(stale)
    total = int(session.scalar(count_query) or 0)
    summary = RebuildSummary()
    if progress is not None:
        progress.folder("signals", total)
    last_id = 0
    while True:
        ids = list(session.scalars(query.where(Message.id > last_id).limit(batch_size)))
        if not ids:
            break
        summary.signals.update(store_signals(session, ids, refine=True))
        session.commit()
        summary.messages += len(ids)
        last_id = ids[-1]
        if progress is not None:
            progress.advance(len(ids))
    summary.seconds = time.perf_counter() - started
    return summary


@dataclass
class RefineSummary:
    messages: int = 0  # whose pending sentences were decided
    sentences: int = 0  # that the sentence classifier scored (each distinct sentence once)
    contacts: int = 0  # whose ledgers were refreshed
    seconds: float = 0.0


def pending_messages(session: Session, contact_ids: Sequence[int] | None = None) -> list[int]:
    """The messages whose signals wait for the sentence classifier (of these contacts, when given)."""
    query = select(Message.id).where(Message.signals_version == PENDING_VERSION)
    if contact_ids is None:
        return list(session.scalars(query.order_by(Message.id)))
    found: set[int] = set()
    for start in range(0, len(contact_ids), CHUNK):
        chunk = contact_ids[start : start + CHUNK]
        involved = select(Participant.message_id).where(Participant.contact_id.in_(chunk))
        found.update(session.scalars(query.where(Message.id.in_(involved))))
    return sorted(found)


def refine_signals(
    session: Session,
    message_ids: Sequence[int] | None = None,
    progress: RebuildProgress | None = None,
    batch_size: int = 200,
) -> tuple[int, set[int]]:
    """Decide the pending sentences of ``message_ids`` (default: every pending message) with the sentence
    classifier and store the final signals, committing per batch (a run stopped midway keeps what it did);
    the number of messages refined and the contacts whose ledgers are now stale."""
    ids = list(message_ids) if message_ids is not None else pending_messages(session)
    if progress is not None and ids:
        progress.folder("refining signals", len(ids))
    refined = 0
    contacts: set[int] = set()
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        lock_store_for_writing(session)  # a teammate's sync may be refining the same messages
        pending = select(Message.id).where(Message.id.in_(chunk), Message.signals_version == PENDING_VERSION)
        still = list(session.scalars(pending))
        if still:
            store_signals(session, still, refine=True)
            contacts |= touched_contacts(session, still)
        session.commit()
        refined += len(still)
        if progress is not None:
            progress.advance(len(chunk))
    if refined:
        # the ledger refresh that follows reuses the model's memory: one process never holds both (the
        # 300 MB a process may take, at 50k messages)
        from outreach.signals.favour import FavourModel

        FavourModel.release()
    return refined, contacts


def refine(
    session: Session,
    message_ids: Sequence[int] | None = None,
    policy: LedgerPolicy | None = None,
    progress: RebuildProgress | None = None,
) -> RefineSummary:
    """:func:`refine_signals`, then refresh the ledgers of the contacts of the refined messages."""
    started, scored = time.perf_counter(), classified()
    refined, contacts = refine_signals(session, message_ids, progress)
    if contacts:
        lock_store_for_writing(session)
        refresh_ledgers(session, contacts, policy)
        session.commit()
    return RefineSummary(refined, classified() - scored, len(contacts), time.perf_counter() - started)


def refine_for(session: Session, addresses: Sequence[str], policy: LedgerPolicy | None = None) -> RefineSummary:
    """:func:`refine` the pending messages of these addresses (a campaign's recipients), so that their
    verdicts read final signals; one query when nothing in the store is pending."""
    if session.scalar(select(Message.id).where(Message.signals_version == PENDING_VERSION).limit(1)) is None:
        return RefineSummary()
    wanted = list(dict.fromkeys(a.strip().lower() for a in addresses))
    ids: list[int] = []
    for start in range(0, len(wanted), CHUNK):
        ids += session.scalars(select(Contact.id).where(Contact.address.in_(wanted[start : start + CHUNK]))).all()
    return refine(session, pending_messages(session, ids), policy)


__all__ = [
    "PENDING_VERSION",
    "PIPELINE_VERSION",
    "SIGNAL_COLUMNS",
    "MessageSignals",
    "RebuildSummary",
    "RefineSummary",
    "message_version",
    "pending_messages",
    "quoted_columns",
    "rebuild",
    "refine",
    "refine_for",
    "refine_signals",
    "signal_rows",
    "store_signals",
]
