"""Signals in the store: write a batch's results, analyse stored messages, rebuild them all.

:func:`store_signals` fits :class:`~outreach.mail.ingest.Ingestor`'s ``after_batch`` hook; :func:`rebuild`
recomputes every message after the patterns or the ask model changed (``outreach signals rebuild``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from outreach.signals.analyse import PIPELINE_VERSION, MessageSignals, analyse_texts
from outreach.store import bulk_insert_rows
from outreach.store.models import Message, Signal

CHUNK = 500
#: The columns of :func:`signal_rows`' tuples, in order.
SIGNAL_COLUMNS = ("message_id", "kind", "subtype", "personal", "sentence", "start", "end", "score", "pipeline_version")


def signal_rows(message_id: int, result: MessageSignals) -> list[tuple[Any, ...]]:
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
            PIPELINE_VERSION,
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


def store_signals(session: Session, message_ids: Sequence[int]) -> Counter[str]:
    """Analyse the given messages and store their signals (replacing older ones); count per kind.

    Usable as the ingest hook: ``Ingestor(..., after_batch=store_signals)``.  Does not commit.
    """
    conn = session.connection()
    counts: Counter[str] = Counter()
    ids = list(dict.fromkeys(message_ids))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = conn.execute(select(Message.id, Message.body_text).where(Message.id.in_(chunk))).all()
        results = analyse_texts([body for _, body in rows])
        conn.execute(delete(Signal).where(Signal.message_id.in_(chunk)))
        signal_values: list[tuple[Any, ...]] = []
        message_values: list[dict[str, object]] = []
        for (mid, _), result in zip(rows, results, strict=True):
            signal_values += signal_rows(mid, result)
            message_values.append(
                {"b_id": mid, "language": result.language, "signals_version": PIPELINE_VERSION,
                 **quoted_columns(result)}
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
        summary.signals.update(store_signals(session, ids))
        session.commit()
        summary.messages += len(ids)
        last_id = ids[-1]
        if progress is not None:
            progress.advance(len(ids))
    summary.seconds = time.perf_counter() - started
    return summary


__all__ = [
    "PIPELINE_VERSION",
    "SIGNAL_COLUMNS",
    "MessageSignals",
    "RebuildSummary",
    "rebuild",
    "quoted_columns",
    "signal_rows",
    "store_signals",
]
