"""Signals per message: zone the body and analyse the sender's own text.

Pure (bodies in, picklable :class:`MessageSignals` out) and free of the store, so that a sync's worker
process imports this without SQLAlchemy; :mod:`outreach.signals.storage` writes the results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from outreach.signals.ask import MODEL_VERSION
from outreach.signals.favours import decide
from outreach.signals.hits import SignalHit
from outreach.signals.pipeline import find_signals
from outreach.signals.quoted import QuotedAuthor, quoted_author
from outreach.signals.sentences import MAX_CHARS, bounded, detect_language, normalise
from outreach.signals.zoning import split_zones

#: The shipped favour classifier (:func:`outreach.signals.favour.model_version`; a test keeps them equal).
FAVOUR_VERSION = "favour-1-24691380"
#: Stored with every signal and on every analysed message; bump when the patterns or the logic change
#: (the models' versions are part of it).  ``outreach signals rebuild`` recomputes older ones.
PIPELINE_VERSION = f"sig-3+{MODEL_VERSION}+{FAVOUR_VERSION}"
#: The version of a message analysed without the encoder for sentences that need it (a sync's fast
#: signals): ``outreach signals refine`` decides them (see :mod:`outreach.signals.favours`).
PENDING_VERSION = f"{PIPELINE_VERSION}~pending"
#: Bodies are zoned on at most this many characters; the own text is then cut to ``MAX_CHARS``.
ZONE_CHARS = 20000


class MessageSignals(NamedTuple):
    """What one message says, as found in its own text (a named tuple: cheap to pickle)."""

    language: str  # "en" | "unknown"
    signals: tuple[SignalHit, ...] = ()
    own_chars: int = 0  # length of the analysed own text
    quoted: QuotedAuthor | None = None  # the author of the message a reply quotes (see signals.quoted)
    pending: bool = False  # some sentences wait for the encoder (analysed with refine=False)

    def kinds(self) -> set[str]:
        return {s.kind for s in self.signals}

    def favour_label(self) -> str:
        """The one label of favour-train's notion these signals give a single sentence: ``favour_ask`` (a
        personal ask), ``bulk_cta`` (an ask that is not), ``offer``, ``thanks``, ``commitment`` or ``other``
        (an ask first: it is what the gate counts)."""
        asks = {s.personal for s in self.signals if s.kind == "ask"}
        if asks:
            return "favour_ask" if True in asks else "bulk_cta"
        kinds = self.kinds()
        return next((kind for kind in ("offer", "thanks", "commitment") if kind in kinds), "other")


def zone(body: str) -> tuple[str, QuotedAuthor | None]:
    """The sender's own text of a body (quotes, signature and boilerplate removed), bounded, and the
    author of the message it quotes when it is a reply."""
    if not body or not body.strip():
        return "", None
    try:
        zones = split_zones(body, max_chars=ZONE_CHARS)
    except Exception:  # noqa: BLE001 - zoning is promised never to raise; a body must never stop a sync
        return bounded(normalise(body)), None
    return bounded(normalise(zones.new_text), MAX_CHARS), quoted_author(zones.quoted_headers)


def own_text(body: str) -> str:
    """The sender's own text of a body (quotes, signature and boilerplate removed), bounded."""
    return zone(body)[0]


def analyse_texts(
    texts: Sequence[str | None], batch_size: int = 256, *, refine: bool = True
) -> list[MessageSignals]:
    """Signals of each message body in ``texts`` (zoned here); same order, one result per text: the final
    signals the ledger uses, the sentence classifier included.  With ``refine=False`` (a sync's fast path)
    the sentences that need the classifier keep the fast reading and the result is ``pending``."""
    zoned = [zone(t or "") for t in texts]
    owns = [own for own, _ in zoned]
    results = find_signals(owns, batch_size=batch_size)
    decided = decide(owns, results, refine)
    return [
        # a bare forward has no own text: its language is that of what it forwards
        MessageSignals(
            language if own.strip() else detect_language(text or ""),
            tuple(final.hits),
            len(own),
            quoted,
            final.pending,
        )
        for text, (own, quoted), (language, _), final in zip(texts, zoned, results, decided, strict=True)
    ]


__all__ = [
    "FAVOUR_VERSION",
    "PENDING_VERSION",
    "PIPELINE_VERSION",
    "MessageSignals",
    "analyse_texts",
    "own_text",
    "zone",
]
