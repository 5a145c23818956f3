"""The pattern rules of the signal kinds (``patterns/<kind>.jsonl``, shipped with the package), and what
can be read from a rule's regex to skip running it."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module, resources
from typing import Any

from outreach.errors import OutreachError

__all__ = ["Rule", "joined_gate", "load_rules", "parse_rules", "required_literals"]


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



def required_literals(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
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


def joined_gate(rules: Sequence[Rule]) -> re.Pattern[str] | None:
    """One regex that matches a sentence wherever one of ``rules`` does: a sentence it does not match
    needs no rule-by-rule search.  The rules are case-insensitive, so is the gate; ``None`` when there
    are no rules or one cannot be joined with others (back-references, inline global flags)."""
    sources = [rule.regex.pattern for rule in rules if rule.regex is not None]
    if not sources or any(_UNJOINABLE_RE.search(src) for src in sources):
        return None
    return re.compile("|".join(f"(?:{src})" for src in sources), re.IGNORECASE)

