"""Tokenizing mail for the signals pipeline: lean affix rules, white-space runs collapsed (offsets mapped
back by :class:`OffsetMap`), and :class:`ChunkFilter`, which tokenizes only the stretches of a text where a
phrase may match."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

__all__ = ["BARRIER", "ChunkFilter", "OffsetMap", "TextKeepingTokenizer", "lean_tokenizer"]

_FLAT_SPACE = str.maketrans({"\n": " ", "\r": " ", "\t": " ", "\x0b": " ", "\x0c": " "})
_SPACE_RUN_RE = re.compile(r"  +")


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
BARRIER = "|"
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
            and BARRIER not in self.tokens
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
                    pieces.append(BARRIER)
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
