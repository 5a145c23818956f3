"""Signals per message: zone the body, analyse the sender's own text, store the results.

:func:`analyse_texts` is pure (bodies in, picklable :class:`MessageSignals` out), so a caller may run it
in a worker process; :func:`store_signals` does the database side for a batch of message ids and fits
:class:`~outreach.ingest.Ingestor`'s ``after_batch`` hook; :func:`rebuild` recomputes every message
after the patterns or the ask model changed (``outreach signals rebuild``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from outreach.models import Message, Signal
from outreach.signals.ask import MODEL_VERSION
from outreach.signals.pipeline import MAX_CHARS, SignalHit, bounded, detect_language, find_signals, normalise
from outreach.zoning import new_text

#: Stored with every signal and on every analysed message; bump when the patterns or the logic change
#: (the ask model's own version is part of it).  ``outreach signals rebuild`` recomputes older ones.
PIPELINE_VERSION = f"sig-1+{MODEL_VERSION}"
#: Bodies are zoned on at most this many characters; the own text is then cut to ``MAX_CHARS``.
ZONE_CHARS = 20000
CHUNK = 500


@dataclass(frozen=True, slots=True)
class MessageSignals:
    """What one message says, as found in its own text (picklable)."""

    language: str  # "en" | "unknown"
    signals: tuple[SignalHit, ...] = ()
    own_chars: int = 0  # length of the analysed own text

    def kinds(self) -> set[str]:
        return {s.kind for s in self.signals}


def own_text(body: str) -> str:
    """The sender's own text of a body (quotes, signature and boilerplate removed), bounded."""
    if not body or not body.strip():
        return ""
    try:
        own = new_text(body, max_chars=ZONE_CHARS)  # split_zones(...).new_text, faster
    except Exception:  # noqa: BLE001 - zoning is promised never to raise; a body must never stop a sync
        return bounded(normalise(body))
    return bounded(normalise(own), MAX_CHARS)


def analyse_texts(texts: Sequence[str | None], batch_size: int = 256) -> list[MessageSignals]:
    """Signals of each message body in ``texts`` (zoned here); same order, one result per text."""
    owns = [own_text(t or "") for t in texts]
    results = find_signals(owns, batch_size=batch_size)
    return [
        # a bare forward has no own text: its language is that of what it forwards
        MessageSignals(language if own.strip() else detect_language(text or ""), tuple(hits), len(own))
        for text, own, (language, hits) in zip(texts, owns, results, strict=True)
    ]


def signal_rows(message_id: int, result: MessageSignals) -> list[dict[str, object]]:
    return [
        {
            "message_id": message_id,
            "kind": hit.kind,
            "subtype": hit.subtype[:30] if hit.subtype else None,
            "personal": hit.personal,
            "sentence": hit.sentence[:1000],
            "start": hit.start,
            "end": hit.end,
            "score": hit.score,
            "pipeline_version": PIPELINE_VERSION,
        }
        for hit in result.signals
    ]


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
        signal_values: list[dict[str, object]] = []
        message_values: list[dict[str, object]] = []
        for (mid, _), result in zip(rows, results, strict=True):
            signal_values += signal_rows(mid, result)
            message_values.append(
                {"b_id": mid, "language": result.language, "signals_version": PIPELINE_VERSION}
            )
            counts.update(hit.kind for hit in result.signals)
        if signal_values:
            conn.execute(insert(Signal), signal_values)
        if message_values:
            conn.execute(
                update(Message)
                .where(Message.id == bindparam("b_id"))
                .values(language=bindparam("language"), signals_version=bindparam("signals_version")),
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
    "MessageSignals",
    "RebuildSummary",
    "analyse_texts",
    "own_text",
    "rebuild",
    "signal_rows",
    "store_signals",
]
