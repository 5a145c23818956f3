"""The spaCy components of the signals pipeline: ``outreach_sentences`` (sentence boundaries),
``outreach_language`` (``doc._.language``) and ``outreach_signals`` (:class:`SignalTagger`: the pattern
rules and the ask detector per sentence, batched, with a cache of what each sentence says on its own);
their doc extensions and factories, registered once per process."""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from outreach.errors import OutreachError
from outreach.signals.hits import KINDS, PATTERN_KINDS, SignalHit
from outreach.signals.rules import Rule, joined_gate, load_rules, required_literals
from outreach.signals.sentences import LANGUAGE_CHARS, detect_language, language_of, sentence_bounds, word_counts
from outreach.signals.tokenizer import BARRIER, ChunkFilter, OffsetMap

__all__ = [
    "MAX_SENTENCE_CHARS",
    "SCORE_CACHE_SIZE",
    "AskScorer",
    "SignalTagger",
    "doc_text",
    "register_extensions",
    "register_factories",
    "sentence_signals",
]

#: Sentences longer than this are not scored as asks (tables, pasted logs) but may still match patterns.
MAX_SENTENCE_CHARS = 600
SCORE_CACHE_SIZE = 50_000
_BARE_STRIP = " \t\r\n.,!:;-~*()"


class AskScorer(Protocol):
    """What the pipeline needs from the ask detector (``outreach.signals.ask.AskDetector``)."""

    threshold: float

    def score(self, sentences: Sequence[str]) -> list[float]: ...


def register_extensions() -> None:
    """The doc and span extensions of the components (spaCy keeps them per process: set once)."""
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
        self._regex_gate = joined_gate(self.regex_rules)
        # per regex rule, strings one of which (lower-cased) any match holds: an ASCII sentence without them
        # needs no search for that rule
        self._regex_needs = [required_literals(rule.regex) if rule.regex else None for rule in self.regex_rules]
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

    @asks.setter
    def asks(self, asks: AskScorer) -> None:
        self._asks = asks

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
        joiner = f" {BARRIER} "
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
                        if not follows[n] and not _after_substance_on_its_line(text, sents, n):
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


def _after_substance_on_its_line(text: str, sents: list[tuple[int, int]], n: int) -> bool:
    """Whether sentence ``n`` ends a line it shares with a sentence of substance before it ("I got the
    figures. Thanks"): thanks for what that sentence says, not a closing line."""
    if n == 0:
        return False
    a, b = sents[n - 1]
    return "\n" not in text[b : sents[n][0]] and len(text[a:b].split()) >= 4


def _tidy_of(info: _Sentence, text: str, start: int, end: int) -> str:
    tidy = info.tidy
    if tidy is None:
        tidy = info.tidy = _tidy(text[start:end])
    return tidy


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


_FACTORIES_DONE = False


def register_factories() -> None:
    """The three components as spaCy factories, once per process."""
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
