"""Signals per message: zone the body and analyse the sender's own text.

Pure (bodies in, picklable :class:`MessageSignals` out) and free of the store, so that a sync's worker
process imports this without SQLAlchemy; :mod:`outreach.signals.storage` writes the results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from outreach.signals.ask import MODEL_VERSION
from outreach.signals.hits import SignalHit
from outreach.signals.pipeline import find_signals
from outreach.signals.sentences import MAX_CHARS, bounded, detect_language, normalise
from outreach.signals.zoning import new_text

#: Stored with every signal and on every analysed message; bump when the patterns or the logic change
#: (the ask model's own version is part of it).  ``outreach signals rebuild`` recomputes older ones.
PIPELINE_VERSION = f"sig-1+{MODEL_VERSION}"
#: Bodies are zoned on at most this many characters; the own text is then cut to ``MAX_CHARS``.
ZONE_CHARS = 20000


class MessageSignals(NamedTuple):
    """What one message says, as found in its own text (a named tuple: cheap to pickle)."""

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


__all__ = ["PIPELINE_VERSION", "MessageSignals", "analyse_texts", "own_text"]
