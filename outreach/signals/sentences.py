"""The own text as the signals pipeline sees it: normalised and bounded, cut into sentences, and its
language (English or not, from the share of English stop words)."""

from __future__ import annotations

import functools
import re

__all__ = [
    "LANGUAGE_CHARS",
    "MAX_CHARS",
    "bounded",
    "detect_language",
    "language_of",
    "normalise",
    "sentence_bounds",
    "word_counts",
]

#: How much of the own text is analysed: a bounded prefix keeps pathological messages cheap.
MAX_CHARS = 3000

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
    """Character spans of the sentences of ``text``, trimmed; spans without a letter or digit dropped.

    The rules and the favour decision both cut each own text of a batch (at most MAX_CHARS each): the
    second time is a cache hit. The list is shared: read it, do not change it."""
    return _sentence_bounds(text)


@functools.lru_cache(maxsize=1024)  # more than a sync's batch of own texts
def _sentence_bounds(text: str) -> list[tuple[int, int]]:
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
