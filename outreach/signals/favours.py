"""One label per sentence, in the product's own sense of a favour: the favour classifier's decision merged
with what the pattern rules found.

The rules (``patterns/``) and the fast ask detector (:mod:`outreach.signals.ask`) find candidates; the
sentence classifier (:mod:`outreach.signals.favour`, a fine-tuned encoder) says what each sentence is:
``favour_ask``, ``offer``, ``commitment``, ``thanks``, ``bulk_cta`` or ``other``.  A fast gate decides the
clear sentences by itself (no request, offer, thanks or commitment cue: ``other``); only the others go to
the encoder.  Per sentence, then:

* ``favour_ask`` — one ask, personal (its subtype by the ask rules), and no offer, thanks or commitment;
* ``bulk_cta`` — one ask that is a generic call to action (not personal): never counted as a personal ask;
* ``offer`` / ``thanks`` / ``commitment`` / ``other`` — no ask ("Let me know if I can help" is an offer,
  not also an ask).  The offer, thanks or commitment the precise pattern rules found in the sentence
  stands; where they found none, the classifier's label is added (a thanks only with words beyond the
  "Thanks!": a bare sign-off is not gratitude).

A sentence with an opt-out ("Please remove me from your list") is an opt-out, not also an ask; nor is a
presentational directive ("Please see attached", :data:`PRESENTATIONAL`) or a sentence the gate passes as
clear.  Fulfilments, opt-outs and mass asks are the rules'
alone.  The encoder costs milliseconds a sentence, so a sync does not wait for it: with
``refine=False`` the sentences that need it keep the fast detector's reading and the message is marked
*pending*; the end of a sync (``outreach signals refine`` after ``--no-refine``, and ``preview`` and
``send`` for their recipients) decides them.  Decisions are cached per sentence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from outreach.signals.hits import KINDS, SignalHit
from outreach.signals.sentences import bounded, normalise, sentence_bounds

#: Sentences kept per cache: repeated lines (sign-offs, boilerplate) are decided once; the bound keeps memory
#: flat over a long sync.
CACHE_SIZE = 10_000
_ONE_LABEL = frozenset(("ask", "offer", "thanks", "commitment"))
_ASKS = frozenset(("favour_ask", "bulk_cta"))
#: Presentational directives ("Please see attached", "Please note", "Please be advised", "Please find
#: below"): never an ask, whatever the classifier says (favour-train labels 27 of the 30 sentences this
#: matches "other"; it keeps the classifier's rare confident misreadings of them out of the ledger).
PRESENTATIONAL = re.compile(r"^\W*(?:please\s+)?(?:see|note|be\s+advised|find|refer\s+to)\b", re.IGNORECASE)
_NOT_ASKS = frozenset(("offer", "thanks", "commitment"))

_labels: dict[str, tuple[str, float]] = {}  # sentence -> the encoder's label and its probability
_gated: dict[str, bool] = {}  # sentence -> whether it needs the encoder
_classified = [0]  # sentences the encoder has scored in this process (a cached sentence counts once)


class Decided(NamedTuple):
    """The final hits of one text, and whether some of its sentences still wait for the encoder."""

    hits: list[SignalHit]
    pending: bool


def _tidy(sentence: str) -> str:
    return " ".join(sentence.split())


def _needs_encoder(sentence: str) -> bool:
    found = _gated.get(sentence)
    if found is None:
        from outreach.signals.favour import needs_encoder

        if len(_gated) > CACHE_SIZE:
            _gated.clear()
        found = _gated[sentence] = needs_encoder(sentence)
    return found


def _classify(sentences: Sequence[str]) -> None:
    """Put the encoder's label of each of ``sentences`` (not yet decided) in the cache."""
    todo = list(dict.fromkeys(s for s in sentences if s not in _labels))
    if not todo:
        return
    from outreach.signals.favour import LABELS, FavourModel

    if len(_labels) + len(todo) > CACHE_SIZE:
        _labels.clear()
    model = FavourModel.load()
    probabilities = model.probabilities(todo)
    _classified[0] += len(todo)
    for sentence, label, p in zip(todo, model.decide(probabilities), probabilities, strict=True):
        _labels[sentence] = (label, round(float(p[LABELS.index(label)]), 4))


def classified() -> int:
    """How many sentences the encoder has scored in this process (the refinement's work: its rate)."""
    return _classified[0]


def decide(
    texts: Sequence[str], found: Sequence[tuple[str, list[SignalHit]]], refine: bool
) -> list[Decided]:
    """The final hits of each own text (``found``: the language and the hits of the rules and the fast
    detector, as :func:`~outreach.signals.pipeline.find_signals` gives them); with ``refine``, the
    encoder decides every sentence the gate passes."""
    spans: list[list[tuple[int, int, str]]] = []
    hard: list[str] = []
    for raw, (language, _) in zip(texts, found, strict=True):
        mine: list[tuple[int, int, str]] = []
        if language == "en":
            text = bounded(normalise(raw))  # as the rules read it: their offsets are into this text
            for a, b in sentence_bounds(text):
                sentence = _tidy(text[a:b])
                if sentence and _needs_encoder(sentence):
                    mine.append((a, b, sentence))
                    hard.append(sentence)
        spans.append(mine)
    if refine and hard:
        _classify(hard)
    return [
        _merge(hits, mine, refine) if language == "en" else Decided(hits, False)
        for (language, hits), mine in zip(found, spans, strict=True)
    ]


def _merge(hits: list[SignalHit], hard: list[tuple[int, int, str]], refine: bool) -> Decided:
    by_start = {a: (b, sentence) for a, b, sentence in hard}
    decided = {a: found for a, (_, sentence) in by_start.items() if refine and (found := _labels.get(sentence))}
    opt_outs = {h.start for h in hits if h.kind == "opt_out"}  # "Please remove me from your list": not an ask
    kept: list[SignalHit] = []
    for hit in hits:
        if hit.kind not in _ONE_LABEL:
            kept.append(hit)  # fulfilments, opt-outs, mass asks: the rules' alone
        elif hit.kind == "ask" and (hit.start in opt_outs or hit.start not in by_start):
            continue  # an opt-out; or an easy sentence, which the gate reads as "other"
        elif hit.start not in decided:
            kept.append(hit)  # the rules' find in an easy sentence, or not decided yet (the fast reading)
        elif hit.kind != "ask" and decided[hit.start][0] not in _ASKS:
            kept.append(hit)  # an offer, thanks or commitment the precise rules found, in a sentence not an ask
    fast_asks = {h.start: h for h in hits if h.kind == "ask"}
    for a, (label, p) in decided.items():
        b, sentence = by_start[a]
        if label in _ASKS:
            if a not in opt_outs and not PRESENTATIONAL.search(sentence):
                kept.append(_ask(label, p, sentence, a, b, fast_asks.get(a)))
        elif _adds(label, sentence) and not any(h.start == a and h.kind in _NOT_ASKS for h in kept):
            kept.append(SignalHit(label, "help" if label == "offer" else None, True, sentence, a, b, p))
    kept.sort(key=lambda h: (h.start, _ORDER.get(h.kind, 99)))
    return Decided(kept, len(decided) < len(by_start))


_ORDER = {kind: n for n, kind in enumerate(KINDS)}  # the order hits of one sentence are reported in


def _adds(label: str, sentence: str) -> bool:
    """Whether the classifier's label adds a signal where the rules found none (a bare "Thanks!" is a
    sign-off, not gratitude)."""
    return label in _NOT_ASKS and (label != "thanks" or len(sentence.split()) >= 3)


def _ask(label: str, p: float, sentence: str, start: int, end: int, fast: SignalHit | None) -> SignalHit:
    """The ask the classifier decided; its score is the classifier's probability (the clearest ask of a
    message is its evidence), its subtype the fast detector's or the ask rules'."""
    personal = label == "favour_ask"
    if fast is not None:
        subtype = fast.subtype
    else:
        from outreach.signals.ask import ask_subtype

        subtype = str(ask_subtype(sentence))
    return SignalHit("ask", subtype if personal else "other", personal, sentence, start, end, p)


__all__ = ["CACHE_SIZE", "PRESENTATIONAL", "Decided", "classified", "decide"]
