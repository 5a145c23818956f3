"""Text checks shared by several rules: sentences, asks, matches with their sentence, line numbers.

The ask detector of the signals pipeline (:mod:`outreach.signals.ask`) is used when its model loads; if it
does not (a half-built install), a phrase rule stands in. :func:`find_asks` is the only door.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from outreach.signals.ask import get_detector

_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")

# The fallback ask rule: a request for the reader's action, not an offer ("would you like …").
_ASK = re.compile(
    r"""
    \b(?:could|can|would|will)\s+you\s+(?!like\b|prefer\b|rather\b)\w+
    | \bwould\s+you\s+(?:be\s+)?(?:willing|able|open|up\s+for|mind)\b
    | \bany\s+chance\s+(?:you|that\s+you)\b
    | \b(?:i|we)(?:'d|\s+would)\s+(?:love|appreciate|be\s+(?:grateful|thrilled|delighted|honou?red))\b
      [^.?!]*\b(?:if\s+you|for\s+you|your)\b
    | \b(?:i|we)\s+(?:was|were|am|are)\s+hoping\s+(?:you|that\s+you)\b
    | \bif\s+you\s+could\b
    | \bplease\s+(?:share|consider|cover|feature|write|review|introduce|forward|retweet|repost|post|link|
        mention|help|sign|join|attend|support|spread|include|add|let\s+me\s+know|get\s+back)\b
    | \b(?:do|would)\s+you\s+have\s+(?:time|a\s+(?:minute|moment|few\s+minutes))\b
    | \b(?:can|could|may)\s+(?:i|we)\s+ask\b
    | \b(?:a|one)\s+(?:small\s+|quick\s+|big\s+)?(?:favou?r)\b
    | \bintroduce\s+(?:me|us)\b
    | \bput\s+(?:me|us)\s+in\s+touch\b
    | \blet\s+me\s+know\s+if\s+you\s+(?:can|could|would)\b
    """,
    re.IGNORECASE | re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Match:
    """A hit in a text: the matched words, the sentence around them and the offset of the match."""

    text: str
    sentence: str
    start: int


def sentences(text: str) -> list[tuple[int, str]]:
    """(offset, sentence) pairs of a plain text, split on . ! ? and line breaks."""
    return [(m.start(), m.group().strip()) for m in _SENTENCE.finditer(text) if m.group().strip()]


def sentence_at(text: str, start: int, end: int) -> str:
    """The sentence of ``text`` around ``text[start:end]``, its white space folded."""
    left = max(text.rfind(c, 0, start) for c in ".!?\n") + 1
    rights = [i for i in (text.find(c, end) for c in ".!?\n") if i >= 0]
    right = min(rights) + 1 if rights else len(text)
    return " ".join(text[left:right].split())


def matches(pattern: re.Pattern[str], text: str) -> list[Match]:
    """Every match of ``pattern`` in ``text``, with its sentence."""
    return [Match(m.group(), sentence_at(text, m.start(), m.end()), m.start()) for m in pattern.finditer(text)]


@cache
def _signals_detector() -> Callable[[list[str]], list[bool]] | None:
    """The signals pipeline's ask detector, or None while its model cannot load."""
    try:
        is_ask = get_detector().is_ask
        probe = is_ask(["Could you share our report with your readers?"])
        if not isinstance(probe, list) or len(probe) != 1:
            return None
    except Exception:  # noqa: BLE001 - a half-built pipeline must not break linting
        return None

    def call(batch: list[str]) -> list[bool]:
        return [bool(v) for v in is_ask(batch)]

    return call


def ask_detector_name() -> str:
    return "signals" if _signals_detector() is not None else "phrase rule"


def find_asks(text: str) -> list[Match]:
    """The sentences of ``text`` that ask the reader for something."""
    parts = sentences(text)
    detector = _signals_detector()
    if detector is not None and parts:
        try:
            flags = detector([sentence for _, sentence in parts])
        except Exception:  # noqa: BLE001 - fall back to the phrase rule rather than fail a preview
            flags = []
        if len(flags) == len(parts):
            return [
                Match(sentence, " ".join(sentence.split()), start)
                for (start, sentence), flag in zip(parts, flags, strict=True)
                if flag
            ]
    found = []
    for start, sentence in parts:
        hit = _ASK.search(sentence)
        if hit:
            found.append(Match(hit.group(), " ".join(sentence.split()), start + hit.start()))
    return found


def line_of(source: str, offset: int) -> int:
    return source.count("\n", 0, max(offset, 0)) + 1


__all__ = ["Match", "ask_detector_name", "find_asks", "line_of", "matches", "sentence_at", "sentences"]
