"""The one spaCy pipeline that finds signals in the sender's own text.

``spacy.blank("en")`` (no model download, ever) with, in order:

* ``outreach_sentences`` -- a rule-based sentencizer for mail: a sentence ends at ``.``/``!``/``?``
  (not after "Mr." and the like), at a blank line, and at a line break after a short line when the
  next line starts like a sentence (hard-wrapped long lines are not split).  It sets the tokens'
  ``SENT_START`` (so ``doc.sents`` works) and ``doc._.sentence_spans`` (character spans).  Why not
  spaCy's ``sentencizer``: it builds a Python ``Token`` per token, and on mail it was the largest cost
  of the whole analysis (measured: half the time); this one works on the text and a numpy array;
* ``outreach_language`` -- ``doc._.language``: ``"en"`` or ``"unknown"`` from the share of English
  stop words (a cheap heuristic; the patterns only know English);
* ``outreach_signals`` -- ``doc._.signals``: every :class:`~outreach.signals.hits.SignalHit` with its
  sentence.  Asks come from the trained :class:`~outreach.signals.ask.AskDetector`; the other kinds from
  the phrase and regex patterns in ``patterns/<kind>.jsonl``.  Each sentence span also gets
  ``span._.signals`` through :func:`~outreach.signals.components.sentence_signals`.

Why phrases and not spaCy's token ``Matcher``: on this machine 100 token patterns cut the blank
tokenizer from ~1M to ~90k words/s, while a ``PhraseMatcher`` costs next to nothing.  So every pattern
is a lower-cased phrase (``PhraseMatcher`` on ``LOWER``) or one of a handful of regexes run on the
sentences that need them, with an optional ``unless`` regex vetoing the hit (``"if you are not
interested"`` is no opt-out).

Pattern file lines (JSON):  ``{"pattern": "thanks for", "subtype": ..., "unless": REGEX,
"requires": REGEX, "score": 1.0, "sentence_start": false, "bare": false}`` or the same with
``"regex"`` instead of ``"pattern"``.  ``bare`` means the phrase must be the whole sentence (a bare
"Thanks!"), which counts as thanks only when it is not in the sign-off and a sentence of substance
(four words or more) follows it: the closing "Thanks," is no gratitude.

Speed (Enron mail, one core): the tokenizer uses smaller affix rules than spaCy's English ones and sees
the text with white-space runs collapsed (:class:`~outreach.signals.tokenizer.TextKeepingTokenizer`,
offsets mapped back), which made it about twice as fast.  :func:`find_signals` (the sync's path) does the
components' work without a doc per message (:meth:`~outreach.signals.components.SignalTagger.analyse`):
what a sentence says on its own (phrase and regex rules, ask score, word counts for the language) is
worked out once per distinct sentence text and cached -- mail repeats itself -- and spaCy tokenizes only
the new sentences, all of a batch in one doc, and of those only the stretches where a phrase may match
(:class:`~outreach.signals.tokenizer.ChunkFilter`).  Only the sign-off, greeting and "substance follows"
checks are made per message; a message in which a phrase could run from one sentence into the next goes
through its own doc.  The results are those of ``nlp(text)``.

The parts, by job: :mod:`~outreach.signals.sentences` (normalising, bounding, sentences, language),
:mod:`~outreach.signals.rules` (the pattern files), :mod:`~outreach.signals.tokenizer` (the lean
tokenizer and the chunk filter), :mod:`~outreach.signals.components` (the spaCy components and
:class:`~outreach.signals.components.SignalTagger`), :mod:`~outreach.signals.hits` (what is found); this
module builds the nlp object and runs it (:func:`get_nlp`, :func:`build_nlp`, :func:`find_signals`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from outreach.errors import OutreachError
from outreach.signals.components import AskScorer, SignalTagger, register_extensions, register_factories
from outreach.signals.hits import SignalHit
from outreach.signals.sentences import MAX_CHARS, bounded, normalise
from outreach.signals.tokenizer import ChunkFilter, TextKeepingTokenizer, lean_tokenizer

__all__ = ["build_nlp", "find_signals", "get_nlp"]

_NLP: dict[str, Any] = {}
_PIPE_NAMES = ("outreach_sentences", "outreach_language", "outreach_signals")
_NLP_LOCK = threading.Lock()


def build_nlp(base: str | None = None, asks: AskScorer | None = None) -> Any:
    """A new signals pipeline.  ``base``: an installed English spaCy package to start from instead of
    ``spacy.blank("en")`` (its own components are disabled: only its tokenizer is used)."""
    import spacy

    register_extensions()
    register_factories()
    if base:
        if not spacy.util.is_package(base):
            raise OutreachError(
                f"spaCy pipeline {base!r} is not installed (the blank English one needs nothing)"
            )
        nlp = spacy.load(base, exclude=["parser", "ner", "tagger", "lemmatizer", "attribute_ruler", "senter"])
    else:
        nlp = spacy.blank("en")
        nlp.tokenizer = lean_tokenizer(nlp)
    nlp.tokenizer = TextKeepingTokenizer(nlp.tokenizer)
    nlp.max_length = max(nlp.max_length, MAX_CHARS * 4)
    nlp.add_pipe("outreach_sentences")
    nlp.add_pipe("outreach_language")
    tagger = nlp.add_pipe("outreach_signals")
    if asks is not None and isinstance(tagger, SignalTagger):
        tagger.asks = asks
    return nlp


def _chunk_filter(nlp: Any) -> ChunkFilter | None:
    tagger = nlp.get_pipe("outreach_signals") if "outreach_signals" in nlp.pipe_names else None
    if not isinstance(tagger, SignalTagger):
        return None
    chunk_filter: ChunkFilter | None = getattr(tagger, "chunk_filter", None)
    if chunk_filter is None:
        phrases = [rule.phrase for rule in tagger.rules.values() if rule.phrase is not None]
        chunk_filter = tagger.chunk_filter = ChunkFilter(nlp, phrases)
    return chunk_filter if chunk_filter.usable else None


def get_nlp(base: str | None = None) -> Any:
    """The signals pipeline of this process, built on first use and cached."""
    key = base or ""
    nlp = _NLP.get(key)
    if nlp is None:
        with _NLP_LOCK:
            nlp = _NLP.get(key)
            if nlp is None:
                nlp = _NLP[key] = build_nlp(base)
    return nlp


def find_signals(
    texts: Sequence[str], batch_size: int = 256, nlp: Any = None
) -> list[tuple[str, list[SignalHit]]]:
    """(language, hits) for each own text (already zoned; normalised and bounded here)."""
    nlp = nlp or get_nlp()
    prepared = [bounded(normalise(t or "")) for t in texts]
    chunk_filter = _chunk_filter(nlp)
    tagger = nlp.get_pipe("outreach_signals") if "outreach_signals" in nlp.pipe_names else None
    if chunk_filter is not None and isinstance(tagger, SignalTagger) and tuple(nlp.pipe_names) == _PIPE_NAMES:
        # the components' work without a doc per text (SignalTagger.analyse), batch by batch
        step = max(1, batch_size)
        return [
            found
            for at in range(0, len(prepared), step)
            for found in tagger.analyse(prepared[at : at + step], chunk_filter)
        ]
    inputs: Iterable[Any] = prepared if chunk_filter is None else (chunk_filter(t) for t in prepared)
    return [
        (doc._.language or "unknown", list(doc._.signals or []))
        for doc in nlp.pipe(inputs, batch_size=batch_size)
    ]
