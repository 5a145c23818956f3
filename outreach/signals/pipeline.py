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
made it about twice as fast.  :func:`find_signals` (the sync's path) does the components' work without
a doc per message (:meth:`SignalTagger.analyse`): what a sentence says on its own (phrase and regex
rules, ask score, word counts for the language) is worked out once per distinct sentence text and
cached -- mail repeats itself -- and spaCy tokenizes only the new sentences, all of a batch in one doc,
and of those only the stretches where a phrase may match (:class:`ChunkFilter`).  Only the sign-off,
greeting and "substance follows" checks are made per message; a message in which a phrase could run
from one sentence into the next goes through its own doc.  The results are those of ``nlp(text)``.
"""

from __future__ import annotations

import json
import re
import threading
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import import_module, resources
from typing import Any, NamedTuple, Protocol

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
_QUOTE_CHARS = tuple(map(chr, _QUOTES))
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


class SignalHit(NamedTuple):
    """One signal in a text: its kind, the sentence behind it and where that sentence is.

    A named tuple: a sync's worker sends tens of thousands per batch through a pipe, and tuples are
    several times cheaper to pickle and unpickle than dataclass instances."""

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
    if text.isascii() or not any(ch in text for ch in _QUOTE_CHARS):
        return text
    return text.translate(_QUOTES)


def bounded(text: str, limit: int = MAX_CHARS) -> str:
    """At most ``limit`` characters, cut at a line or word break when there is one near the end."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", limit - 400, limit)
    if cut < 0:
        cut = text.rfind(" ", limit - 200, limit)
    return text[: cut if cut > 0 else limit]


#: How much of a text :func:`detect_language` looks at.
LANGUAGE_CHARS = 2000
_STOP_WORDS: frozenset[str] | None = None


def _stop_words() -> frozenset[str]:
    global _STOP_WORDS
    if _STOP_WORDS is None:
        from spacy.lang.en.stop_words import STOP_WORDS

        _STOP_WORDS = frozenset(STOP_WORDS)
    return _STOP_WORDS


def word_counts(text: str) -> tuple[int, int, bool]:
    """(words, English stop words among them, any short English mail word among them) of ``text``."""
    words = _WORD_RE.findall(text.lower())
    if not words:
        return 0, 0, False
    return len(words), sum(map(_stop_words().__contains__, words)), not _SHORT_EN.isdisjoint(words)


def language_of(words: int, stop: int, short: bool) -> str:
    """The verdict of :func:`detect_language` from the :func:`word_counts` of the text it looks at."""
    if not words:
        return "unknown"
    if words <= 4:
        return "en" if stop or short else "unknown"
    return "en" if stop / words >= 0.2 else "unknown"


def detect_language(text: str) -> str:
    """``"en"`` when English stop words make up a fair share of the words, else ``"unknown"``."""
    return language_of(*word_counts(text[:LANGUAGE_CHARS]))


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
# (The first character is matched before the look-behinds, which then take it in: a regex that starts with
# a character set skips to the next candidate quickly, one that starts with a look-around does not.)
_SENT_END_RE = re.compile(
    r"[.!?\n](?:(?<=[.!?])(?<!\bMr.)(?<!\bMs.)(?<!\bDr.)(?<!\bSt.)(?<!\bvs.)(?<!\bMrs.)(?<!\bNo.)(?<!\be\.g.)"
    r"(?<!\bi\.e.)(?<!\betc.)(?<!\bInc.)(?<!\bJr.)(?<!\bSr.)(?<![ \t][A-Z].)[.!?]*[\"')\]]*(?=\s)|(?<=\n)[ \t]*\n)"
)
_WRAP_WIDTH = 45  # a line at least this long followed by a line break is taken as hard-wrapped
_LINE_START = frozenset("-*>\u2022#")


def sentence_bounds(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text``, trimmed; spans without a letter or digit dropped."""
    cuts = set(map(_MATCH_END, _SENT_END_RE.finditer(text)))
    line_start = 0
    n = len(text)
    nl = text.find("\n")
    while nl >= 0:
        if nl - line_start < _WRAP_WIDTH:
            nxt = nl + 1
            while nxt < n and text[nxt] in " \t\r":
                nxt += 1
            if nxt < n:
                c = text[nxt]
                if c.isupper() or c.isdigit() or c in _LINE_START:
                    cuts.add(nl)
        line_start = nl + 1
        nl = text.find("\n", line_start)
    spans: list[tuple[int, int]] = []
    start = 0
    has_alnum = _HAS_ALNUM.search
    for cut in sorted(cuts) + [n]:
        piece = text[start:cut]
        kept = piece.strip()
        if kept and (kept[0].isalnum() or has_alnum(kept)):
            a = start + len(piece) - len(piece.lstrip())
            spans.append((a, a + len(kept)))
        start = cut
    return spans


_HAS_ALNUM = re.compile(r"[^\W_]")
_MATCH_END = re.Match.end


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


class _Sentence:
    """What one sentence says on its own, cached per sentence text (mail repeats itself: one-line replies,
    notices, a sender's stock phrases).

    ``phrases``: the phrase rules whose match starts in the sentence when it is tokenized alone (``None``
    until computed), and ``regexes`` the regex rules that match it, each only if it passes the checks the
    sentence alone decides (``unless``, ``requires``, ``sentence_start``, a bare phrase being the whole
    sentence), in the order the rules are tried; ``askable``: long enough and short enough to be scored
    as an ask; ``score`` the ask score once computed; ``words`` what :func:`detect_language` counts."""

    __slots__ = ("askable", "ask_info", "phrases", "regexes", "score", "tidy", "words")

    def __init__(self, regexes: tuple[Rule, ...], askable: bool) -> None:
        self.phrases: tuple[Rule, ...] | None = None
        self.regexes = regexes
        self.askable = askable
        self.words: tuple[int, int, bool] | None = None  # word_counts() of the sentence, once needed
        self.score: float | None = None
        self.ask_info: tuple[str, bool] | None = None
        self.tidy: str | None = None


def _passes(rule: Rule, lowered: str, at_start: bool) -> bool:
    """The checks of ``rule`` that its sentence alone decides (the sign-off ones come later)."""
    if rule.unless is not None and rule.unless.search(lowered):
        return False
    if rule.requires is not None and not rule.requires.search(lowered):
        return False
    if rule.sentence_start and not at_start:
        return False
    return not rule.bare or lowered.strip(_BARE_STRIP) == rule.phrase


class SignalTagger:
    """The ``outreach_signals`` component: patterns per sentence plus the ask detector, batched.

    Every sentence's own findings (:class:`_Sentence`) are cached by its text; only what depends on the
    rest of the message (the sign-off and greeting, whether a sentence of substance follows a bare
    "Thanks!") is decided per message.  :meth:`analyse` is the batch path of :func:`find_signals`: it
    tokenizes only the sentences it has not seen, all of a batch in one doc, and falls back to the whole
    message's doc when a phrase match could run from one sentence into the next.
    """

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
        # per regex rule, strings one of which (lower-cased) any match holds: an ASCII sentence without them
        # needs no search for that rule
        self._regex_needs = [_required_literals(rule.regex) if rule.regex else None for rule in self.regex_rules]
        self.chunk_filter: ChunkFilter | None = None  # built by find_signals on first use
        self._sentences: dict[str, _Sentence] = {}
        self._asks = asks
        self._ask_lock = threading.Lock()

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

    def analyse(self, texts: Sequence[str], chunk_filter: ChunkFilter) -> list[tuple[str, list[SignalHit]]]:
        """(language, hits) of each text: what the pipeline's components find in ``nlp(text)``, without
        making a doc of every text (see the class doc)."""
        self._bound_cache()
        results: list[tuple[str, list[SignalHit]]] = []
        jobs: list[_Job] = []
        unseen: dict[str, _Sentence] = {}
        for text in texts:
            sents = sentence_bounds(text)
            infos = self._infos(text, sents)
            language = _sentences_language(text, sents, infos)
            hits: list[SignalHit] = []
            results.append((language, hits))
            if language != "en" or not sents:
                continue
            phrases: list[list[Rule]] | None = None
            if chunk_filter.may_cross(text, sents):
                phrases = self._doc_phrases(chunk_filter(text), text, sents)
            else:
                for (a, b), info in zip(sents, infos, strict=True):
                    if info.phrases is None:
                        unseen[text[a:b]] = info
            jobs.append(_Job(text, sents, infos, phrases, hits))
        if unseen:
            self._sentence_phrases(unseen, chunk_filter)
        self._finish(jobs)
        return results

    # ------------------------------------------------------------------ internals

    def _bound_cache(self) -> None:
        if len(self._sentences) > SCORE_CACHE_SIZE:
            self._sentences.clear()

    def _infos(self, text: str, sents: list[tuple[int, int]]) -> list[_Sentence]:
        cache = self._sentences
        infos: list[_Sentence] = []
        for a, b in sents:
            sentence = text[a:b]
            info = cache.get(sentence)
            if info is None:
                info = cache[sentence] = self._new_sentence(sentence)
            elif info.words is None:  # seen before: it may well come again, its words are worth counting
                info.words = word_counts(sentence)
            infos.append(info)
        return infos

    def _new_sentence(self, sentence: str) -> _Sentence:
        regexes: tuple[Rule, ...] = ()
        rules = self.regex_rules
        lowered = sentence.lower()
        if rules and sentence.isascii():
            rules = [
                rule
                for rule, needs in zip(rules, self._regex_needs, strict=True)
                if needs is None or any(need in lowered for need in needs)
            ]
        elif rules and self._regex_gate is not None and self._regex_gate.search(sentence) is None:
            rules = []
        if rules:
            found: list[Rule] = []
            for rule in rules:
                assert rule.regex is not None
                m = rule.regex.search(sentence)
                if m is not None and _passes(rule, lowered, m.start() == 0):
                    found.append(rule)
            regexes = tuple(found)
        # one word without "?": never an ask in Enron mail (0 of 2,237), yet 12 % of sentences
        askable = len(sentence) <= MAX_SENTENCE_CHARS and (" " in sentence or "?" in sentence or "\n" in sentence)
        return _Sentence(regexes, askable)

    def _doc_phrases(self, doc: Any, text: str, sents: list[tuple[int, int]]) -> list[list[Rule]]:
        """Per sentence, the phrase rules matched in ``doc`` (whose source text is ``text``) that start in
        it and pass its own checks, in match order."""
        offsets: OffsetMap | None = doc.user_data.get("outreach_offsets")
        starts = [a for a, _ in sents]
        out: list[list[Rule]] = [[] for _ in sents]
        for match_id, token_start, _token_end in self.matcher(doc):
            rule = self.rules[self.strings[match_id]]
            char = doc[token_start].idx
            if offsets is not None:
                char = offsets.to_source(char)
            n = bisect_right(starts, char) - 1
            if n < 0 or char >= sents[n][1]:
                continue
            a, b = sents[n]
            if _passes(rule, text[a:b].lower(), char == a):
                out[n].append(rule)
        return out

    def _sentence_phrases(self, unseen: dict[str, _Sentence], chunk_filter: ChunkFilter) -> None:
        """Fill in ``phrases`` of the sentences in ``unseen``: tokenized together, a barrier between two
        sentences (each sentence is a run of whole chunks, so its tokens are those it has in its text)."""
        batch: list[str] = []
        size = 0
        for sentence in unseen:
            batch.append(sentence)
            size += len(sentence) + 3
            if size >= 50_000:
                self._phrases_of(batch, unseen, chunk_filter)
                batch, size = [], 0
        if batch:
            self._phrases_of(batch, unseen, chunk_filter)

    def _phrases_of(self, sentences: list[str], unseen: dict[str, _Sentence], chunk_filter: ChunkFilter) -> None:
        joiner = f" {_BARRIER} "
        text = joiner.join(sentences)
        sents: list[tuple[int, int]] = []
        pos = 0
        for sentence in sentences:
            sents.append((pos, pos + len(sentence)))
            pos += len(sentence) + len(joiner)
        for sentence, found in zip(sentences, self._doc_phrases(chunk_filter(text), text, sents), strict=True):
            unseen[sentence].phrases = tuple(found)

    def _process(self, docs: list[Any]) -> list[Any]:
        self._bound_cache()
        jobs: list[_Job] = []
        for doc in docs:
            hits: list[SignalHit] = []
            doc._.signals = hits
            text = doc_text(doc)
            if doc._.language != "en" or not text.strip():
                continue
            sents = doc._.sentence_spans
            if sents is None:
                sents = doc._.sentence_spans = sentence_bounds(text)
            if not sents:
                continue
            jobs.append(_Job(text, sents, self._infos(text, sents), self._doc_phrases(doc, text, sents), hits))
        self._finish(jobs)
        return docs

    def _finish(self, jobs: list[_Job]) -> None:
        """Score the asks still unscored, then put together each job's hits."""
        from outreach.signals.zoning import greeting_span, signoff_span

        todo: dict[int, _Sentence] = {}
        todo_text: list[str] = []
        for job in jobs:
            job.signoff = signoff_span(job.text)
            job.greeting = greeting_span(job.text)
            for (start, end), info in zip(job.sents, job.infos, strict=True):
                if (
                    info.askable
                    and info.score is None
                    and id(info) not in todo
                    and not _inside(start, end, job.signoff)
                    and not _inside(start, end, job.greeting)
                ):
                    todo[id(info)] = info
                    todo_text.append(job.text[start:end])
        if todo:
            for info, score in zip(todo.values(), self.asks.score(todo_text), strict=True):
                info.score = score
        threshold = self.asks.threshold
        order = {kind: n for n, kind in enumerate(KINDS)}
        for job in jobs:
            hits = self._hits(job, threshold)
            refusals = {h.start for h in hits if h.kind == "opt_out"}
            if refusals:
                # "Please remove me from your list" reads as a request, but it is a refusal, not an ask
                hits = [h for h in hits if not (h.kind == "ask" and h.start in refusals)]
            hits.sort(key=lambda h: (h.start, order.get(h.kind, 99)))
            job.hits[:] = hits

    def _hits(self, job: _Job, threshold: float) -> list[SignalHit]:
        text, sents, signoff = job.text, job.sents, job.signoff
        hits: list[SignalHit] = []
        follows: list[bool] | None = None  # does a sentence of four words or more follow sentence n?
        for n, ((start, end), info) in enumerate(zip(sents, job.infos, strict=True)):
            phrases = job.phrases[n] if job.phrases is not None else info.phrases
            rules = (*phrases, *info.regexes) if phrases else info.regexes
            if rules:
                kinds: set[str] = set()
                for rule in rules:
                    if rule.kind in kinds:
                        continue
                    if rule.bare:
                        # a bare "Thanks!" is gratitude only mid-text, never as the closing line
                        if _inside(start, end, signoff):
                            continue
                        if follows is None:
                            follows = _substance_follows(text, sents)
                        if not follows[n]:
                            continue  # nothing of substance follows: a closing "Thanks." even without a name
                    elif rule.kind == "thanks" and _inside(start, end, signoff):
                        continue  # the closing "Thanks," is a sign-off, not gratitude
                    kinds.add(rule.kind)
                    hits.append(
                        SignalHit(
                            rule.kind,
                            rule.subtype,
                            rule.personal,
                            _tidy_of(info, text, start, end),
                            start,
                            end,
                            rule.score,
                        )
                    )
            score = info.score
            if (
                score is not None
                and score >= threshold
                and info.askable
                and not _inside(start, end, signoff)
                and not _inside(start, end, job.greeting)
            ):
                if info.ask_info is None:
                    from outreach.signals.ask import ask_subtype, is_personal

                    sentence = text[start:end]
                    info.ask_info = (str(ask_subtype(sentence)), is_personal(sentence))
                hits.append(
                    SignalHit(
                        "ask",
                        info.ask_info[0],
                        info.ask_info[1],
                        _tidy_of(info, text, start, end),
                        start,
                        end,
                        round(score, 4),
                    )
                )
        return hits


@dataclass(slots=True)
class _Job:
    """One text on its way through :meth:`SignalTagger._finish`."""

    text: str
    sents: list[tuple[int, int]]
    infos: list[_Sentence]
    phrases: list[list[Rule]] | None  # per sentence, from the text's own doc; None: from ``infos``
    hits: list[SignalHit]
    signoff: tuple[int, int] | None = None
    greeting: tuple[int, int] | None = None


def _sentences_language(text: str, sents: list[tuple[int, int]], infos: list[_Sentence]) -> str:
    """``detect_language(text)`` from the sentences' word counts: outside its sentences a text has no
    letter, and no word runs from one sentence into the next.  (When most sentences are new, the text is
    counted at once instead.)"""
    new = [n for n, info in enumerate(infos) if info.words is None and sents[n][1] <= LANGUAGE_CHARS]
    if 2 * len(new) > len(infos):
        return detect_language(text)
    for n in new:
        a, b = sents[n]
        infos[n].words = word_counts(text[a:b])
    words = stop = 0
    short = False
    for (a, b), info in zip(sents, infos, strict=True):
        if b <= LANGUAGE_CHARS:
            counts = info.words
            assert counts is not None
        elif a < LANGUAGE_CHARS:
            counts = word_counts(text[a:LANGUAGE_CHARS])
        else:
            break
        words += counts[0]
        stop += counts[1]
        short = short or counts[2]
    return language_of(words, stop, short)


def _substance_follows(text: str, sents: list[tuple[int, int]]) -> list[bool]:
    out = [False] * len(sents)
    seen = False
    for n in range(len(sents) - 1, -1, -1):
        out[n] = seen
        a, b = sents[n]
        if not seen and len(text[a:b].split()) >= 4:
            seen = True
    return out


def _tidy_of(info: _Sentence, text: str, start: int, end: int) -> str:
    tidy = info.tidy
    if tidy is None:
        tidy = info.tidy = _tidy(text[start:end])
    return tidy


def _required_literals(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """Strings, lower case, one of which every match of ``pattern`` holds (lower-cased), read from its
    parse tree: the best of the literal runs and groups of a sequence, a branch needing one of each of its
    alternatives'; None when it cannot tell (the pattern is then always run).  Valid for ASCII text, whose
    case folding is lower()."""
    try:
        parser: Any = import_module("re._parser")
        constants: Any = import_module("re._constants")
        return _required_in(list(parser.parse(pattern.pattern, pattern.flags)), constants)
    except Exception:  # noqa: BLE001 - private parser API; without it every rule just runs
        return None


def _required_in(items: list[tuple[Any, Any]], c: Any) -> tuple[str, ...] | None:
    options: list[tuple[str, ...]] = []
    run: list[str] = []
    for op, av in [*items, (None, None)]:
        if op is c.LITERAL:
            run.append(chr(av).lower())
            continue
        if run:
            options.append(("".join(run),))
            run = []
        found: tuple[str, ...] | None = None
        if op is c.SUBPATTERN:
            found = _required_in(list(av[-1]), c)
        elif op is c.ATOMIC_GROUP:
            found = _required_in(list(av), c)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)) and av[0] >= 1:
            found = _required_in(list(av[2]), c)
        elif op is c.BRANCH:
            branches = [_required_in(list(branch), c) for branch in av[1]]
            if all(branches):
                found = tuple(sorted({need for branch in branches if branch for need in branch}))
        if found:
            options.append(found)
    if not options:
        return None
    # the most telling: the longest shortest string, then the fewest strings
    return max(options, key=lambda needs: (min(map(len, needs)), -len(needs)))


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
_PIPE_NAMES = ("outreach_sentences", "outreach_language", "outreach_signals")
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
_TOKEN_GAP = "\x00"  # stands for the white space (possibly none) between two tokens of a phrase
_EDGE_CACHE_SIZE = 20_000


def _trie_regex(keys: Iterable[str]) -> str:
    """A regex source matching, at a position, wherever one of ``keys`` matches there (``_TOKEN_GAP`` in a
    key matches any white space, also none).  Built as a character trie, so a search costs about one
    branch test per text character instead of one per key; a key that another key starts with ends the
    branch (a match of either is enough)."""
    trie: dict[str, Any] = {}
    for key in keys:
        node = trie
        for ch in key:
            if "" in node:
                break  # a shorter key already matches here
            node = node.setdefault(ch, {})
        else:
            node.clear()
            node[""] = {}

    def build(node: dict[str, Any]) -> str:
        if "" in node:
            return ""
        alternatives = [
            (r"\s*" if ch == _TOKEN_GAP else re.escape(ch)) + build(child) for ch, child in sorted(node.items())
        ]
        return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"

    return build(trie)


class ChunkFilter:
    """Tokenizes for :func:`find_signals` only the chunks (white-space separated pieces) of a text that
    may take part in a phrase match; every other stretch of chunks becomes one barrier token.

    The signals of a doc depend on its tokens only through the ``PhraseMatcher``; every other component
    works on the doc's source text.  A phrase match is a run of tokens whose lower-cased texts are the
    phrase's tokens, with nothing but white space (or nothing) between them, so the lower-cased text
    matches ``token1\\s*token2\\s*...`` where the match starts: one search of a trie-shaped regex over
    the lower-cased text finds every position where a match may start (a superset).  From each, the
    next ``max_len`` chunks are kept (a match covers at most that many tokens, so chunks), the rest is
    dropped.  The lean tokenizer splits chunks independently of one another, so the chunks kept get the
    same tokens as in the whole text, a barrier is in no phrase, and so the matches (mapped back to the
    source by the doc's :class:`OffsetMap`) are exactly those of the whole text.  Used by
    :func:`find_signals`; ``nlp(text)`` still tokenizes everything (``doc.sents`` and the tokens of
    those docs are complete).
    """

    def __init__(self, nlp: Any, phrases: Iterable[str]) -> None:
        self.tokenizer = nlp.tokenizer
        inner: Any = getattr(self.tokenizer, "tokenizer", None)
        self.inner = inner
        token_lists = [[t.lower_ for t in inner(p)] for p in phrases] if inner is not None else []
        token_lists = [list(tokens) for tokens in dict.fromkeys(map(tuple, token_lists)) if tokens]
        self.tokens = frozenset(t for tokens in token_lists for t in tokens)
        self.max_len = max((len(tokens) for tokens in token_lists), default=0)
        self.usable = (
            isinstance(self.tokenizer, TextKeepingTokenizer)
            and bool(token_lists)
            and _BARRIER not in self.tokens
            # (a phrase token has a letter: none is in the letterless stretches between sentences, see may_cross)
            and all(any(c.isalpha() for c in t) and _TOKEN_GAP not in t for t in self.tokens)
        )
        source = _trie_regex(_TOKEN_GAP.join(tokens) for tokens in token_lists) if self.usable else "(?!)"
        self.starts = re.compile(source)
        # from a chunk start: that chunk and up to max_len - 1 more
        self.reach = re.compile(rf"\S+(?: +\S+){{0,{max(0, self.max_len - 1)}}}")
        # two neighbouring tokens of a phrase: a match can run from one sentence into the next only if
        # the last token of the one and the first of the other are such a pair
        self.pairs = frozenset(pair for tokens in token_lists for pair in zip(tokens, tokens[1:], strict=False))
        self.pair_lasts = frozenset(a for a, _ in self.pairs)
        self.pair_last_chars = frozenset(a[-1] for a in self.pair_lasts)
        self._edges: dict[str, tuple[str, str]] = {}
        # with the lean tokenizer (whose affix rules split off punctuation only), a chunk of ASCII letters is
        # one token unless a special case splits it ("cannot")
        rules = getattr(inner, "rules", None) or {}
        self._special_words = frozenset(key.lower() for key in rules if key.isascii() and key.isalpha())
        self._lean = (
            getattr(inner, "prefix_search", None) == _PREFIX_RE.search
            and getattr(inner, "suffix_search", None) == _SUFFIX_RE.search
            and getattr(inner, "infix_finditer", None) == _INFIX_RE.finditer
            and getattr(inner, "token_match", None) is None
            and getattr(inner, "url_match", None) is None
        )

    def may_cross(self, text: str, sents: Sequence[tuple[int, int]]) -> bool:
        """Could a phrase match start in one of the sentences ``sents`` of ``text`` and run into the next?
        (False for nearly every text: the sentence must end in a token that a phrase continues, such as
        "thank", and the next one start with the token that follows it, such as "you".)"""
        if not self.usable:
            return True
        last_chars = self.pair_last_chars
        for n in range(len(sents) - 1):
            a, b = sents[n]
            if text[b - 1].lower()[-1:] not in last_chars:
                continue
            last = self._edge_tokens(text[a:b].rsplit(None, 1)[-1])[1]
            if last not in self.pair_lasts:
                continue
            a2, b2 = sents[n + 1]
            first = self._edge_tokens(text[a2:b2].split(None, 1)[0])[0]
            if (last, first) in self.pairs:
                return True
        return False

    def _edge_tokens(self, chunk: str) -> tuple[str, str]:
        """The first and last token (lower case) of a chunk."""
        if self._lean and chunk.isascii() and chunk.isalpha():
            low = chunk.lower()
            if low not in self._special_words:
                return low, low
        edges = self._edges.get(chunk)
        if edges is None:
            if len(self._edges) > _EDGE_CACHE_SIZE:
                self._edges.clear()
            tokens = self.inner(chunk)
            edges = self._edges[chunk] = (tokens[0].lower_, tokens[-1].lower_) if len(tokens) else ("", "")
        return edges

    def _match_starts(self, low: str) -> list[int]:
        """Every position of the lower-cased text where a phrase match may start (a superset)."""
        found: list[int] = []
        search = self.starts.search
        m = search(low)
        while m is not None:
            found.append(m.start())
            m = search(low, m.start() + 1)
        return found

    def __call__(self, text: str) -> Any:
        flat = text.translate(_FLAT_SPACE)
        if not self.usable or _OTHER_SPACE_RE.search(flat) is not None:
            return self.tokenizer(text)
        low = flat.lower()
        if len(low) != len(flat):  # lower() changed the length (rare letters): no offsets to share
            return self.tokenizer(text)
        # kept: (start, end) of stretches of whole chunks, in text order, merged
        kept: list[tuple[int, int]] = []
        reach = self.reach.match
        for at in self._match_starts(low):
            a = flat.rfind(" ", 0, at) + 1
            r = reach(flat, a)
            b = r.end() if r is not None else len(flat)
            if kept and a <= kept[-1][1]:
                if b > kept[-1][1]:
                    kept[-1] = (kept[-1][0], b)
            else:
                kept.append((a, b))
        # the output: kept chunks as they are, each dropped stretch as one barrier, white-space runs as
        # one space; ``runs``: the stretches of ``text`` collapsed to one character (sorted)
        pieces: list[str] = []
        runs: list[tuple[int, int]] = []
        pos = 0
        n = len(flat)
        for a, b in [*kept, (n, n)]:
            if a > pos:
                gap = flat[pos:a]
                lead = len(gap) - len(gap.lstrip(" "))
                if lead < len(gap):  # chunks to drop: [d0, d1)
                    d0 = pos + lead
                    d1 = pos + len(gap.rstrip(" "))
                    if lead:
                        pieces.append(" ")
                        if lead > 1:
                            runs.append((pos, d0))
                    pieces.append(_BARRIER)
                    if d1 - d0 > 1:
                        runs.append((d0, d1))
                    if a > d1:
                        pieces.append(" ")
                        if a - d1 > 1:
                            runs.append((d1, a))
                else:
                    pieces.append(" ")
                    if a - pos > 1:
                        runs.append((pos, a))
            if b > a:
                chunk = flat[a:b]
                if "  " in chunk:
                    runs.extend(m.span() for m in _SPACE_RUN_RE.finditer(flat, a, b))
                    chunk = _SPACE_RUN_RE.sub(" ", chunk)
                pieces.append(chunk)
            pos = b
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
