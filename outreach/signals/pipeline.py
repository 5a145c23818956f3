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
* ``outreach_signals`` -- ``doc._.signals``: every :class:`SignalHit` with its sentence.  Asks come
  from the trained :class:`~outreach.signals.ask.AskDetector`; the other kinds from the phrase and
  regex patterns in ``patterns/<kind>.jsonl``.  Each sentence span also gets ``span._.signals``
  through :func:`sentence_signals`.

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
the text with white-space runs collapsed (:class:`TextKeepingTokenizer`, offsets mapped back), which
made it about twice as fast; ask scores are cached per sentence within a process.
"""

from __future__ import annotations

import json
import re
import threading
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

from outreach.errors import OutreachError

#: Every signal kind, in the order they are reported.
KINDS = ("ask", "offer", "thanks", "fulfilment", "commitment", "opt_out", "mass_ask")
#: Kinds found by the pattern files (asks come from the trained detector).
PATTERN_KINDS = ("offer", "thanks", "fulfilment", "commitment", "opt_out", "mass_ask")
#: How much of the own text is analysed: a bounded prefix keeps pathological messages cheap.
MAX_CHARS = 3000
#: Sentences longer than this are not scored as asks (tables, pasted logs) but may still match patterns.
MAX_SENTENCE_CHARS = 600
SCORE_CACHE_SIZE = 50_000

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})
_WORD_RE = re.compile(r"[a-z]+(?:'[a-z]+)?")
# English mail words that are not in spaCy's stop-word list but make a short text English.
_SHORT_EN = frozenset(
    {
        "thanks", "thank", "thx", "ok", "okay", "yes", "yep", "sure", "great", "good", "fine", "please",
        "pls", "regards", "best", "cheers", "hi", "hello", "hey", "sounds", "agreed", "done", "attached",
        "call", "me",
    }
)
_BARE_STRIP = " \t\r\n.,!:;-~*()"
_FLAT_SPACE = str.maketrans({"\n": " ", "\r": " ", "\t": " ", "\x0b": " ", "\x0c": " "})
_SPACE_RUN_RE = re.compile(r"  +")


@dataclass(frozen=True, slots=True)
class SignalHit:
    """One signal in a text: its kind, the sentence behind it and where that sentence is."""

    kind: str
    subtype: str | None
    personal: bool
    sentence: str
    start: int  # character offsets of the sentence in the analysed (own) text
    end: int
    score: float = 1.0


class AskScorer(Protocol):
    """What the pipeline needs from the ask detector (``outreach.signals.ask.AskDetector``)."""

    threshold: float

    def score(self, sentences: Sequence[str]) -> list[float]: ...


@dataclass(frozen=True, slots=True)
class Rule:
    """One line of a pattern file."""

    kind: str
    rule_id: str
    phrase: str | None
    regex: re.Pattern[str] | None
    subtype: str | None
    unless: re.Pattern[str] | None
    requires: re.Pattern[str] | None
    score: float
    sentence_start: bool
    bare: bool
    personal: bool


def load_rules(kind: str) -> list[Rule]:
    """The rules of ``patterns/<kind>.jsonl`` shipped with the package."""
    ref = resources.files("outreach.signals").joinpath("patterns", f"{kind}.jsonl")
    try:
        text = ref.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise OutreachError(f"signal patterns for {kind!r} missing from the package ({exc})") from exc
    return parse_rules(kind, text, f"patterns/{kind}.jsonl")


def parse_rules(kind: str, text: str, origin: str = "<patterns>") -> list[Rule]:
    rules: list[Rule] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            data = json.loads(line)
            phrase = data.get("pattern")
            regex = data.get("regex")
            if (phrase is None) == (regex is None):
                raise ValueError("give exactly one of 'pattern' and 'regex'")
            rules.append(
                Rule(
                    kind=kind,
                    rule_id=f"{kind}:{number}",
                    phrase=str(phrase).lower() if phrase is not None else None,
                    regex=re.compile(regex, re.IGNORECASE) if regex is not None else None,
                    subtype=data.get("subtype"),
                    unless=_compile(data.get("unless")),
                    requires=_compile(data.get("requires")),
                    score=float(data.get("score", 1.0)),
                    sentence_start=bool(data.get("sentence_start", False)),
                    bare=bool(data.get("bare", False)),
                    personal=bool(data.get("personal", kind != "mass_ask")),
                )
            )
        except (ValueError, re.error, TypeError, AttributeError) as exc:
            raise OutreachError(f"{origin}:{number}: bad pattern line: {exc}") from exc
    return rules


def _compile(value: Any) -> re.Pattern[str] | None:
    return re.compile(str(value), re.IGNORECASE) if value else None


# --------------------------------------------------------------------------------------------- helpers


def normalise(text: str) -> str:
    """Curly quotes to straight ones and NBSP to space: same length, so offsets stay valid."""
    return text.translate(_QUOTES)


def bounded(text: str, limit: int = MAX_CHARS) -> str:
    """At most ``limit`` characters, cut at a line or word break when there is one near the end."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", limit - 400, limit)
    if cut < 0:
        cut = text.rfind(" ", limit - 200, limit)
    return text[: cut if cut > 0 else limit]


def detect_language(text: str) -> str:
    """``"en"`` when English stop words make up a fair share of the words, else ``"unknown"``."""
    from spacy.lang.en.stop_words import STOP_WORDS

    words = _WORD_RE.findall(text[:2000].lower())
    if not words:
        return "unknown"
    stop = sum(map(STOP_WORDS.__contains__, words))
    if len(words) <= 4:
        return "en" if stop or any(w in _SHORT_EN for w in words) else "unknown"
    return "en" if stop / len(words) >= 0.2 else "unknown"


# --------------------------------------------------------------------------------------------- components


def _register_extensions() -> None:
    from spacy.tokens import Doc, Span

    if not Doc.has_extension("signals"):
        Doc.set_extension("signals", default=None)
    if not Doc.has_extension("source_text"):
        Doc.set_extension("source_text", getter=doc_text)
    if not Doc.has_extension("sentence_spans"):
        Doc.set_extension("sentence_spans", default=None)
    if not Doc.has_extension("language"):
        Doc.set_extension("language", default=None)
    if not Span.has_extension("signals"):
        Span.set_extension("signals", getter=sentence_signals)


def sentence_signals(span: Any) -> list[SignalHit]:
    """The signals whose sentence is ``span`` (a sentence of a processed doc)."""
    hits: list[SignalHit] = span.doc._.signals or []
    return [h for h in hits if h.start < span.end_char and h.end > span.start_char]


# A sentence ends after . ! ? (and closing quotes/brackets) followed by white space, except after a
# few abbreviations; a blank line ends one too.  Line breaks after short lines are handled in code.
_SENT_END_RE = re.compile(
    r"(?=[.!?\n])(?:(?<!\bMr)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\bvs)(?<!\bMrs)(?<!\bNo)(?<!\be\.g)(?<!\bi\.e)"
    r"(?<!\betc)(?<!\bInc)(?<!\bJr)(?<!\bSr)(?<![ \t][A-Z])[.!?]+[\"')\]]*(?=\s)|\n[ \t]*\n)"
)
_WRAP_WIDTH = 45  # a line at least this long followed by a line break is taken as hard-wrapped
_LINE_START = frozenset("-*>\u2022#")


def sentence_bounds(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text``, trimmed; spans without a letter or digit dropped."""
    cuts = {m.end() for m in _SENT_END_RE.finditer(text)}
    line_start = 0
    n = len(text)
    while True:
        nl = text.find("\n", line_start)
        if nl < 0:
            break
        nxt = nl + 1
        while nxt < n and text[nxt] in " \t\r":
            nxt += 1
        if nxt < n and nl - line_start < _WRAP_WIDTH:
            c = text[nxt]
            if c.isupper() or c.isdigit() or c in _LINE_START:
                cuts.add(nl)
        line_start = nl + 1
    spans: list[tuple[int, int]] = []
    start = 0
    for cut in sorted(cuts) + [n]:
        a, b = start, cut
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a and _HAS_ALNUM.search(text, a, b):
            spans.append((a, b))
        start = cut
    return spans


_HAS_ALNUM = re.compile(r"[^\W_]")


def _sentences_component(doc: Any) -> Any:
    """Sentence boundaries from :func:`sentence_bounds`, set in one array operation."""
    import numpy as np
    from spacy.attrs import IDX, SENT_START

    spans = sentence_bounds(doc_text(doc))
    doc._.sentence_spans = spans
    if len(doc) == 0:
        return doc
    starts = np.full(len(doc), -1, dtype="int32")
    starts[0] = 1
    if spans:
        token_idx = doc.to_array([IDX]).astype("int64")
        offsets: OffsetMap | None = doc.user_data.get("outreach_offsets")
        wanted = [a for a, _ in spans] if offsets is None else [offsets.to_flat(a) for a, _ in spans]
        first = np.searchsorted(token_idx, np.array(wanted, dtype="int64"))
        starts[first[first < len(doc)]] = 1
    doc.from_array([SENT_START], starts.reshape(-1, 1).astype("uint64"))
    return doc


def doc_text(doc: Any) -> str:
    """The text the doc was made from (signal offsets refer to it); computed once for other docs, as
    spaCy joins ``doc.text`` from the tokens on every access."""
    text: str | None = doc.user_data.get("outreach_text")
    if text is None:
        text = doc.user_data["outreach_text"] = doc.text
    return text


def _language(doc: Any) -> Any:
    doc._.language = detect_language(doc_text(doc))
    return doc


class SignalTagger:
    """The ``outreach_signals`` component: patterns per sentence plus the ask detector, batched."""

    def __init__(self, nlp: Any, asks: AskScorer | None = None) -> None:
        from spacy.matcher import PhraseMatcher

        self.rules: dict[str, Rule] = {}
        self.regex_rules: list[Rule] = []
        self.matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        for kind in PATTERN_KINDS:
            for rule in load_rules(kind):
                self.rules[rule.rule_id] = rule
                if rule.phrase is not None:
                    self.matcher.add(rule.rule_id, [nlp.make_doc(rule.phrase)])
                else:
                    self.regex_rules.append(rule)
        self.strings = nlp.vocab.strings
        self._regex_gate = _joined_gate(self.regex_rules)
        self.chunk_filter: ChunkFilter | None = None  # built by find_signals on first use
        # Per-process caches keyed by the sentence text: mail repeats itself (one-line replies, notices)
        self._regex_cache: dict[str, tuple[tuple[int, int], ...]] = {}
        self._ask_info_cache: dict[str, tuple[str, bool]] = {}
        self._asks = asks
        self._ask_lock = threading.Lock()
        self._score_cache: dict[str, float] = {}

    @property
    def asks(self) -> AskScorer:
        if self._asks is None:
            with self._ask_lock:
                if self._asks is None:
                    self._asks = _load_ask_detector()
        return self._asks

    def __call__(self, doc: Any) -> Any:
        for done in self.pipe([doc]):
            return done
        return doc  # pragma: no cover - pipe yields every doc

    def pipe(self, docs: Iterable[Any], batch_size: int = 256) -> Iterator[Any]:
        batch: list[Any] = []
        for doc in docs:
            batch.append(doc)
            if len(batch) >= batch_size:
                yield from self._process(batch)
                batch = []
        if batch:
            yield from self._process(batch)

    # ------------------------------------------------------------------ internals

    def _process(self, docs: list[Any]) -> list[Any]:
        from outreach.zoning import greeting_span, signoff_span

        ask_sentences: list[str] = []
        ask_slots: list[tuple[int, int, int]] = []  # (doc index, start, end)
        found: list[list[SignalHit]] = []
        for index, doc in enumerate(docs):
            hits: list[SignalHit] = []
            found.append(hits)
            text = doc_text(doc)
            if doc._.language != "en" or not text.strip():
                continue
            sents = doc._.sentence_spans
            if sents is None:
                sents = doc._.sentence_spans = sentence_bounds(text)
            if not sents:
                continue
            signoff = signoff_span(text)
            greeting = greeting_span(text)
            starts = [s for s, _ in sents]
            self._patterns(doc, text, sents, starts, signoff, hits)
            for start, end in sents:
                if (
                    _inside(start, end, signoff)
                    or _inside(start, end, greeting)
                    or end - start > MAX_SENTENCE_CHARS
                ):
                    continue
                sentence = text[start:end]
                if " " not in sentence and "?" not in sentence and "\n" not in sentence:
                    # one word without "?": never an ask in Enron mail (0 of 2,237), yet 12 % of sentences
                    continue
                ask_sentences.append(sentence)
                ask_slots.append((index, start, end))
        if ask_sentences:
            self._score_asks(docs, ask_sentences, ask_slots, found)
        order = {kind: n for n, kind in enumerate(KINDS)}
        for doc, hits in zip(docs, found, strict=True):
            refusals = {h.start for h in hits if h.kind == "opt_out"}
            if refusals:
                # "Please remove me from your list" reads as a request, but it is a refusal, not an ask
                hits = [h for h in hits if not (h.kind == "ask" and h.start in refusals)]
            hits.sort(key=lambda h: (h.start, order.get(h.kind, 99)))
            doc._.signals = hits
        return docs

    def _patterns(
        self,
        doc: Any,
        text: str,
        sents: list[tuple[int, int]],
        starts: list[int],
        signoff: tuple[int, int] | None,
        hits: list[SignalHit],
    ) -> None:
        seen: set[tuple[str, int]] = set()
        offsets: OffsetMap | None = doc.user_data.get("outreach_offsets")

        def consider(rule: Rule, char: int) -> None:
            n = bisect_right(starts, char) - 1
            if n < 0:
                return
            start, end = sents[n]
            if char >= end or (rule.kind, start) in seen:
                return
            sentence = text[start:end]
            lowered = sentence.lower()
            if rule.unless is not None and rule.unless.search(lowered):
                return
            if rule.requires is not None and not rule.requires.search(lowered):
                return
            if rule.sentence_start and char != start:
                return
            if rule.bare:
                # a bare "Thanks!" is gratitude only mid-text, never as the closing line
                if lowered.strip(_BARE_STRIP) != rule.phrase or _inside(start, end, signoff):
                    return
                if not any(len(text[a:b].split()) >= 4 for a, b in sents[n + 1 :]):
                    return  # nothing of substance follows: a closing "Thanks." even without a name
            elif rule.kind == "thanks" and _inside(start, end, signoff):
                return  # the closing "Thanks," is a sign-off, not gratitude
            seen.add((rule.kind, start))
            hits.append(
                SignalHit(rule.kind, rule.subtype, rule.personal, _tidy(sentence), start, end, rule.score)
            )

        for match_id, token_start, _token_end in self.matcher(doc):
            rule = self.rules[self.strings[match_id]]
            char = doc[token_start].idx
            consider(rule, char if offsets is None else offsets.to_source(char))
        if self.regex_rules:
            regex_rules = self.regex_rules
            cache = self._regex_cache
            for start, end in sents:
                sentence = text[start:end]
                found = cache.get(sentence)
                if found is None:
                    found = self._regex_hits(sentence)
                    if len(cache) >= SCORE_CACHE_SIZE:
                        cache.clear()
                    cache[sentence] = found
                for index, offset in found:
                    consider(regex_rules[index], start + offset)

    def _regex_hits(self, sentence: str) -> tuple[tuple[int, int], ...]:
        """(index into ``regex_rules``, match offset) of every regex rule that matches ``sentence``."""
        if self._regex_gate is not None and self._regex_gate.search(sentence) is None:
            return ()
        hits: list[tuple[int, int]] = []
        for index, rule in enumerate(self.regex_rules):
            assert rule.regex is not None
            m = rule.regex.search(sentence)
            if m is not None:
                hits.append((index, m.start()))
        return tuple(hits)

    def _score_asks(
        self,
        docs: list[Any],
        sentences: list[str],
        slots: list[tuple[int, int, int]],
        found: list[list[SignalHit]],
    ) -> None:
        from outreach.signals.ask import ask_subtype, is_personal

        detector = self.asks
        threshold = detector.threshold
        # Mail repeats itself (one-line replies, forwarded notices): a per-process cache of scores.
        cache = self._score_cache
        todo = list({s for s in sentences if s not in cache})
        if todo:
            if len(cache) + len(todo) > SCORE_CACHE_SIZE:
                cache.clear()
            cache.update(zip(todo, detector.score(todo), strict=True))
        scores = [cache[s] for s in sentences]
        info_cache = self._ask_info_cache
        for sentence, (index, start, end), score in zip(sentences, slots, scores, strict=True):
            if score >= threshold:
                info = info_cache.get(sentence)
                if info is None:
                    if len(info_cache) >= SCORE_CACHE_SIZE:
                        info_cache.clear()
                    info = info_cache[sentence] = (str(ask_subtype(sentence)), is_personal(sentence))
                found[index].append(
                    SignalHit(
                        "ask",
                        info[0],
                        info[1],
                        _tidy(sentence),
                        start,
                        end,
                        round(score, 4),
                    )
                )


_UNJOINABLE_RE = re.compile(r"\\[1-9]|\(\?P=|\(\?[aiLmsux-]+\)")


def _joined_gate(rules: Sequence[Rule]) -> re.Pattern[str] | None:
    """One regex that matches a sentence wherever one of ``rules`` does: a sentence it does not match
    needs no rule-by-rule search.  The rules are case-insensitive, so is the gate; ``None`` when there
    are no rules or one cannot be joined with others (back-references, inline global flags)."""
    sources = [rule.regex.pattern for rule in rules if rule.regex is not None]
    if not sources or any(_UNJOINABLE_RE.search(src) for src in sources):
        return None
    return re.compile("|".join(f"(?:{src})" for src in sources), re.IGNORECASE)


def _tidy(sentence: str) -> str:
    """The sentence as evidence: white space runs (wrapped lines, indents) collapsed."""
    return " ".join(sentence.split())


def _inside(start: int, end: int, span: tuple[int, int] | None) -> bool:
    """Does the sentence [start, end) lie within ``span`` (a greeting or sign-off)?"""
    return span is not None and start >= span[0] and end <= span[1] + 1


def _load_ask_detector() -> AskScorer:
    from outreach.signals.ask import get_detector

    try:
        return get_detector()
    except (OSError, ValueError, KeyError) as exc:
        raise OutreachError(f"the ask model shipped with outreach cannot be loaded: {exc}") from exc


# --------------------------------------------------------------------------------------------- the nlp object

_NLP: dict[str, Any] = {}
_NLP_LOCK = threading.Lock()
_FACTORIES_DONE = False


def _register_factories() -> None:
    global _FACTORIES_DONE
    if _FACTORIES_DONE:
        return
    from spacy.language import Language

    if not Language.has_factory("outreach_sentences"):
        Language.component("outreach_sentences")(_sentences_component)
    if not Language.has_factory("outreach_language"):
        Language.component("outreach_language")(_language)
    if not Language.has_factory("outreach_signals"):

        @Language.factory("outreach_signals")
        def make_signal_tagger(nlp: Any, name: str) -> SignalTagger:
            return SignalTagger(nlp)

    _FACTORIES_DONE = True


def build_nlp(base: str | None = None, asks: AskScorer | None = None) -> Any:
    """A new signals pipeline.  ``base``: an installed English spaCy package to start from instead of
    ``spacy.blank("en")`` (its own components are disabled: only its tokenizer is used)."""
    import spacy

    _register_extensions()
    _register_factories()
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
        tagger._asks = asks
    return nlp


# Splitting rules for mail text, far smaller than spaCy's English ones (which handle every Unicode
# currency, emoticon and URL form): on Enron mail they make the tokenizer twice as fast.  The patterns
# only need words, English contractions ("I'll", "don't": kept from spaCy's exceptions) and sentence
# punctuation as tokens of their own.
_PREFIX_RE = re.compile(r"""^[\[\("'`<*_~>#=|{-]""")
_SUFFIX_RE = re.compile(r"""(?:[\]\)"'`>*_~,.;:!?%|}-]|'s|'S|n't)$""")
_INFIX_RE = re.compile(
    r"""\.{2,}|[!?]+(?=[A-Za-z])|(?<=[A-Za-z])[,;:/()"](?=[A-Za-z])|(?<=[a-z])\.(?=[A-Z])|--+"""
)


def lean_tokenizer(nlp: Any) -> Any:
    from spacy.tokenizer import Tokenizer

    return Tokenizer(
        nlp.vocab,
        rules=nlp.tokenizer.rules,
        prefix_search=_PREFIX_RE.search,
        suffix_search=_SUFFIX_RE.search,
        infix_finditer=_INFIX_RE.finditer,
    )


class OffsetMap:
    """Character offsets between a text and its copy with white-space runs collapsed to one space."""

    __slots__ = ("flat_breaks", "source_breaks", "shifts")

    def __init__(self, runs: list[tuple[int, int]]) -> None:
        self.flat_breaks: list[int] = [0]
        self.source_breaks: list[int] = [0]
        self.shifts: list[int] = [0]
        removed = 0
        for start, end in runs:
            removed += end - start - 1
            self.source_breaks.append(end)
            self.flat_breaks.append(end - removed)
            self.shifts.append(removed)

    def to_source(self, flat: int) -> int:
        return flat + self.shifts[bisect_right(self.flat_breaks, flat) - 1]

    def to_flat(self, source: int) -> int:
        return source - self.shifts[bisect_right(self.source_breaks, source) - 1]


class TextKeepingTokenizer:
    """Wraps a tokenizer: tokenizes the text with white space collapsed and keeps the original on the doc.

    Why: on mail, every "word\\nWord" chunk and every run of spaces costs the tokenizer a cache miss or a
    space token; collapsing them made tokenizing Enron mail about twice as fast.  ``doc.text`` is the
    collapsed text; ``doc._.source_text`` the original, which every signal offset refers to.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def __call__(self, text: str) -> Any:
        flat = text.translate(_FLAT_SPACE)
        runs = [m.span() for m in _SPACE_RUN_RE.finditer(flat)]
        if runs:
            flat = _SPACE_RUN_RE.sub(" ", flat)
        doc = self.tokenizer(flat)
        doc.user_data["outreach_text"] = text
        doc.user_data["outreach_offsets"] = OffsetMap(runs) if runs else None
        return doc

    def pipe(self, texts: Iterable[str], batch_size: int = 1000) -> Iterator[Any]:
        for text in texts:
            yield self(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tokenizer, name)


_OTHER_SPACE_RE = re.compile(r"[^\S ]")
# what a stretch of chunks that cannot take part in a phrase match is replaced with (a token of its own
# that is in no phrase, so no match can span the gap)
_BARRIER = "|"
# characters the lean tokenizer may split off the ends of a chunk (the apostrophe is left out: chunks
# with one take the exact path)
_EDGE_CHARS = '[]("`<*_~>#={}-),.;:!?%|'
_CHUNK_CACHE_SIZE = 200_000


class ChunkFilter:
    """Tokenizes for :func:`find_signals` only the chunks (white-space separated pieces) of a text that
    may take part in a phrase match; the others are tokenized as one barrier token per stretch.

    The signals of a doc depend on its tokens only through the ``PhraseMatcher``; every other component
    works on the doc's source text.  A phrase match starts in a chunk holding a token that starts some
    phrase and runs through at most ``max_len`` chunks, each holding a phrase token: chunks outside such
    runs are dropped.  The lean tokenizer splits chunks independently of one another, so the chunks
    kept get the same tokens as in the whole text and the matches (mapped back to the source by the
    doc's :class:`OffsetMap`) are the same.  Used by :func:`find_signals`; ``nlp(text)`` still
    tokenizes everything (``doc.sents`` and the tokens of those docs are complete).
    """

    def __init__(self, nlp: Any, phrases: Iterable[str]) -> None:
        self.tokenizer = nlp.tokenizer
        inner: Any = getattr(self.tokenizer, "tokenizer", None)
        self.inner = inner
        token_lists = [[t.lower_ for t in inner(p)] for p in phrases] if inner is not None else []
        self.tokens = frozenset(t for tokens in token_lists for t in tokens)
        self.first = frozenset(tokens[0] for tokens in token_lists if tokens)
        self.max_len = max((len(tokens) for tokens in token_lists), default=0)
        # pure-letter cores that the tokenizer's special cases may split ("cannot" -> "can", "not")
        rules = getattr(inner, "rules", None) or {}
        self.special_cores = frozenset(
            core.lower() for key in rules if (core := key.strip(_EDGE_CHARS)).isascii() and core.isalpha()
        )
        self.usable = (
            isinstance(self.tokenizer, TextKeepingTokenizer)
            and bool(token_lists)
            and _BARRIER not in self.tokens
            and all(any(c.isalpha() for c in t) for t in self.tokens)
        )
        self._kinds: dict[str, int] = {}

    def _kind(self, chunk: str) -> int:
        """2: a token of the chunk starts a phrase; 1: holds a phrase token; 0: neither."""
        if chunk.isascii() and "'" not in chunk:
            core = chunk.strip(_EDGE_CHARS)
            if not core:
                return 0  # only split-off punctuation: no token with a letter
            if core.isalpha():
                low = core.lower()
                if low not in self.special_cores:
                    return 2 if low in self.first else 1 if low in self.tokens else 0
        tokens = [t.lower_ for t in self.inner(chunk)]
        if any(t in self.first for t in tokens):
            return 2
        return 1 if any(t in self.tokens for t in tokens) else 0

    @staticmethod
    def _emit(
        pieces: list[str], runs: list[tuple[int, int]], prev: int, start: int, end: int, chunk: str | None
    ) -> int:
        """Append the white space before ``start`` and the chunk (``None``: a barrier for the dropped
        stretch ``start:end``), noting the runs collapsed to one character; returns ``end``."""
        gap = start - prev
        if gap:
            pieces.append(" ")
            if gap > 1:
                runs.append((prev, start))
        if chunk is not None:
            pieces.append(chunk)
        else:
            pieces.append(_BARRIER)
            if end - start > 1:
                runs.append((start, end))
        return end

    def __call__(self, text: str) -> Any:
        flat = text.translate(_FLAT_SPACE)
        if not self.usable or _OTHER_SPACE_RE.search(flat) is not None:
            return self.tokenizer(text)
        kinds = self._kinds
        if len(kinds) > _CHUNK_CACHE_SIZE:
            kinds.clear()
        # offsets in ``text`` (the translation keeps them); ``prev``: end of what is already emitted
        pieces: list[str] = []
        runs: list[tuple[int, int]] = []
        pos = prev = dropped_end = 0
        drop = -1  # start of the stretch of dropped chunks being collected
        reach = 0  # how many more chunks a phrase started before may still cover
        max_len = self.max_len
        get = kinds.get
        emit = self._emit
        for chunk in flat.split(" "):
            if not chunk:
                pos += 1
                continue
            kind = get(chunk)
            if kind is None:
                kind = kinds[chunk] = self._kind(chunk)
            if kind == 2 or (kind == 1 and reach > 0):
                reach = max_len - 1 if kind == 2 else reach - 1
                if drop >= 0:
                    prev = emit(pieces, runs, prev, drop, dropped_end, None)
                    drop = -1
                prev = emit(pieces, runs, prev, pos, pos + len(chunk), chunk)
            else:
                reach = 0
                if drop < 0:
                    drop = pos
                dropped_end = pos + len(chunk)
            pos += len(chunk) + 1
        if drop >= 0:
            prev = emit(pieces, runs, prev, drop, dropped_end, None)
        gap = len(flat) - prev
        if gap:
            pieces.append(" ")
            if gap > 1:
                runs.append((prev, len(flat)))
        doc = self.tokenizer.tokenizer("".join(pieces))
        doc.user_data["outreach_text"] = text
        doc.user_data["outreach_offsets"] = OffsetMap(runs) if runs else None
        return doc


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
    inputs: Iterable[Any] = prepared if chunk_filter is None else (chunk_filter(t) for t in prepared)
    return [
        (doc._.language or "unknown", list(doc._.signals or []))
        for doc in nlp.pipe(inputs, batch_size=batch_size)
    ]


__all__ = [
    "KINDS",
    "MAX_CHARS",
    "PATTERN_KINDS",
    "AskScorer",
    "Rule",
    "SignalHit",
    "SignalTagger",
    "bounded",
    "build_nlp",
    "detect_language",
    "find_signals",
    "get_nlp",
    "load_rules",
    "normalise",
    "parse_rules",
    "sentence_bounds",
    "sentence_signals",
]
