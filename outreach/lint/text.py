"""Text checks shared by the template lint and campaign evaluation: asks, placeholders, familiarity.

The ask detector of the signals pipeline (:mod:`outreach.signals`) is used when it can be imported;
until then (or if it fails to load) a phrase rule stands in. :func:`find_asks` is the only door.
"""

from __future__ import annotations

import html
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from outreach.lint.registry import get_rule

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


def _sentence_at(text: str, start: int, end: int) -> str:
    left = max(text.rfind(c, 0, start) for c in ".!?\n") + 1
    rights = [i for i in (text.find(c, end) for c in ".!?\n") if i >= 0]
    right = min(rights) + 1 if rights else len(text)
    return " ".join(text[left:right].split())


@cache
def _signals_detector() -> Callable[[list[str]], list[bool]] | None:
    """The signals pipeline's ask detector (``outreach.signals.ask``), or None while it cannot load.

    Imported lazily: linting must work while the pipeline (or its trained model) is not there yet.
    """
    try:
        module: Any = importlib.import_module("outreach.signals.ask")
        detector: Any = module.get_detector()
        is_ask: Callable[[list[str]], Any] = detector.is_ask
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
    matches = []
    for start, sentence in parts:
        hit = _ASK.search(sentence)
        if hit:
            matches.append(Match(hit.group(), " ".join(sentence.split()), start + hit.start()))
    return matches


@cache
def _placeholder_re() -> re.Pattern[str]:
    patterns = get_rule("T002").data.get("patterns", [])
    return re.compile("|".join(f"(?:{p})" for p in patterns))


@cache
def _familiarity_re() -> re.Pattern[str]:
    phrases = get_rule("T003").data.get("phrases", [])
    alternatives = "|".join(r"\s+".join(re.escape(w) for w in str(p).split()) for p in phrases)
    return re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)


def _matches(pattern: re.Pattern[str], text: str) -> list[Match]:
    return [
        Match(m.group(), _sentence_at(text, m.start(), m.end()), m.start()) for m in pattern.finditer(text)
    ]


_PLACEHOLDER_HINTS = ("[", "<", "{", "*|", "%", "XXX", "TODO", "TBD", "&lt;")


def find_placeholders(text: str) -> list[Match]:
    """Leftover placeholders (``[Name]``, ``<FIRST NAME>``, ``{{…}}``, ``XXX`` …) in a rendered text."""
    for hint in _PLACEHOLDER_HINTS:
        if hint in text:
            return _matches(_placeholder_re(), text)
    return []  # the common case, without the regex


@cache
def _familiarity_phrases() -> tuple[str, ...]:
    return tuple(" ".join(str(p).lower().split()) for p in get_rule("T003").data.get("phrases", []))


@cache
def _familiarity_keywords() -> tuple[str, ...]:
    """The longest word of each phrase: a text that has none of them has none of the phrases."""
    return tuple(dict.fromkeys(max(p.split(), key=len) if p else "" for p in _familiarity_phrases()))


def find_familiarity(text: str) -> list[Match]:
    """Phrases that claim a prior relationship ("as we discussed", "thanks again for" …)."""
    lowered = text.lower()
    for word in _familiarity_keywords():  # pre-filters: a word of a phrase, the phrase, then the regex
        if word in lowered:
            flat = " ".join(lowered.split())
            for phrase in _familiarity_phrases():
                if phrase in flat:
                    return _matches(_familiarity_re(), text)
            return []
    return []


_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)


def html_to_text(markup: str) -> str:
    """The visible text of an HTML body, for the text rules (tags dropped, entities decoded)."""
    return html.unescape(_TAG.sub(" ", markup))


def line_of(source: str, offset: int) -> int:
    return source.count("\n", 0, max(offset, 0)) + 1


__all__ = [
    "Match",
    "ask_detector_name",
    "find_asks",
    "find_familiarity",
    "find_placeholders",
    "html_to_text",
    "line_of",
    "sentences",
]
