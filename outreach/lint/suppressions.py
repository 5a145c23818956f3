"""Turning rules off for someone, or for a template, with a reason: allow entries and inline directives.

- An allow entry (the campaign's allow file) switches codes off for one recipient or ``@domain``
  ("introduced by X at event Y"), with an author and an expiry.
- ``{# outreach: disable=CODES reason="…" #}`` in a template switches codes off for every recipient.

Both need a reason; codes that can never be overridden (R007, R008) are refused with a warning; a
suppression that suppressed nothing is reported as unused (:func:`unused_warnings`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from outreach.errors import CampaignError, UsageError
from outreach.lint.codes import split_codes
from outreach.lint.findings import Finding
from outreach.lint.registry import get_rule
from outreach.lint.template import TemplateSource

_DIRECTIVE = re.compile(r"\{#-?\s*outreach:(?P<body>.*?)-?#\}", re.DOTALL)
_DISABLE = re.compile(
    r"""^\s*disable\s*=\s*(?P<codes>[A-Za-z0-9,\s]+?)\s*(?:reason\s*=\s*(?:"(?P<r1>[^"]*)"|'(?P<r2>[^']*)'))?\s*$"""
)


@dataclass(frozen=True, slots=True)
class AllowEntry:
    """A per-recipient suppression from the allow file ("introduced by X at event Y").

    ``address`` is an address or ``@domain``; ``source`` is ``file:line``.
    """

    address: str
    codes: tuple[str, ...]
    reason: str
    source: str
    author: str | None = None
    expires: date | None = None

    def matches(self, address: str) -> bool:
        if self.address.startswith("@"):
            return address.endswith(self.address)
        return address == self.address


@dataclass(frozen=True, slots=True)
class InlineSuppression:
    """``{# outreach: disable=CODES reason="…" #}`` in a template: the codes are off for every recipient."""

    codes: tuple[str, ...]
    reason: str
    source: str


@dataclass(frozen=True, slots=True)
class SuppressedFinding:
    """A finding that an allow entry or an inline directive switched off, and which one did (with the allow
    entry's author and expiry)."""

    finding: Finding
    source: str
    reason: str
    author: str | None = None
    expires: date | None = None

    def summary(self) -> str:
        """One line: ``R001 no-prior-contact (introduced by Dana; alex, until 2030-12-31)``."""
        vouched = [part for part in (self.author, self.expires and f"until {self.expires.isoformat()}") if part]
        by = f"; {', '.join(vouched)}" if vouched else ""
        return f"{self.finding.code} {self.finding.name} ({self.reason}{by})"

    def to_json(self) -> dict[str, Any]:
        return {
            "finding": self.finding.to_json(),
            "source": self.source,
            "reason": self.reason,
            "author": self.author,
            "expires": self.expires.isoformat() if self.expires else None,
        }


def rule_codes(value: object, where: str) -> tuple[str, ...]:
    """The rule codes a suppression names (each must be a known code); errors name ``where``."""
    try:
        codes = [code.upper() for code in split_codes(value, where)]
        for code in codes:
            get_rule(code)
    except UsageError as exc:
        raise CampaignError(f"{where}: {exc}") from None
    if not codes:
        raise CampaignError(f"{where}: no rule codes to allow")
    return tuple(codes)


def overridable(codes: Sequence[str], where: str, warnings: list[str]) -> tuple[str, ...]:
    """``codes`` without those that can never be suppressed (with a warning for each)."""
    kept = []
    for code in codes:
        rule = get_rule(code)
        if rule.overridable:
            kept.append(code)
        else:
            warnings.append(f"{where}: {code} {rule.name} can never be suppressed; the attempt is ignored")
    return tuple(kept)


def inline_suppressions(tpl: TemplateSource, warnings: list[str]) -> list[InlineSuppression]:
    """``{# outreach: disable=T003 reason="…" #}`` directives of a template."""
    found = []
    for match in _DIRECTIVE.finditer(tpl.source):
        where = f"{tpl.name}:{tpl.line_at(match.start())}"
        parsed = _DISABLE.match(match.group("body"))
        if not parsed:
            raise CampaignError(f'{where}: malformed directive; write {{# outreach: disable=CODE reason="why" #}}')
        codes = rule_codes(parsed.group("codes"), where)
        reason = (parsed.group("r1") or parsed.group("r2") or "").strip()
        if not reason:
            raise CampaignError(
                f'{where}: suppression of {", ".join(codes)} has no reason (add reason="why" to the directive)'
            )
        kept = overridable(codes, where, warnings)
        if kept:
            found.append(InlineSuppression(kept, reason, where))
    return found


@dataclass
class Usage:
    """The sources (``file:line``) of the suppressions that suppressed something."""

    used: set[str] = field(default_factory=set)


def apply_suppressions(
    findings: list[Finding],
    address: str,
    inline: Sequence[InlineSuppression],
    allow: Sequence[AllowEntry],
    usage: Usage,
) -> tuple[list[Finding], list[SuppressedFinding]]:
    """The findings left once ``inline`` directives and the ``allow`` entries for ``address`` applied, and
    the ones they switched off (never a rule that cannot be overridden)."""
    if not findings or not (inline or allow):
        return findings, []
    kept: list[Finding] = []
    suppressed: list[SuppressedFinding] = []
    entries = [e for e in allow if e.matches(address)]
    for finding in findings:
        by: InlineSuppression | AllowEntry | None = None
        if get_rule(finding.code).overridable:
            by = next((s for s in inline if finding.code in s.codes), None) or next(
                (e for e in entries if finding.code in e.codes), None
            )
        if by is None:
            kept.append(finding)
        else:
            usage.used.add(by.source)
            if isinstance(by, AllowEntry):
                suppressed.append(SuppressedFinding(finding, by.source, by.reason, by.author, by.expires))
            else:
                suppressed.append(SuppressedFinding(finding, by.source, by.reason))
    return kept, suppressed


def unused_warnings(inline: Iterable[InlineSuppression], allow: Iterable[AllowEntry], usage: Usage) -> list[str]:
    """One warning for each directive and allow entry that suppressed nothing."""
    warnings = [
        f"{sup.source}: suppression of {', '.join(sup.codes)} matched nothing (unused)"
        for sup in inline
        if sup.source not in usage.used
    ]
    warnings += [
        f"{entry.source}: allow entry for {entry.address} ({', '.join(entry.codes)}) matched nothing (unused)"
        for entry in allow
        if entry.source not in usage.used
    ]
    return warnings


__all__ = [
    "AllowEntry",
    "InlineSuppression",
    "SuppressedFinding",
    "Usage",
    "apply_suppressions",
    "inline_suppressions",
    "overridable",
    "rule_codes",
    "unused_warnings",
]
