"""What a lint rule is: its metadata, its pass/fail cases and its checks.

A rule is one module of :mod:`outreach.lint.rules` holding ``RULE = Rule(...)``; the registry finds it
there. The checks a rule has depend on what it looks at (a rule may have several):

- ``recipient``: one recipient's ledger (:class:`~outreach.lint.facts.RecipientFacts`) -> the finding's
  message, or None; ``evidence`` then words the finding's evidence (it gets the complete ledger; it may run
  long after the check, when the finding is first shown), quoting the lines of ``evidence_figures``;
- ``rendered``: one recipient's rendered message (:class:`~outreach.lint.facts.RenderedFacts`) -> findings;
  ``unrendered``: what stopped a recipient's message from rendering (its ``problems``) -> findings;
- ``template``: a template on its own, for ``outreach lint`` (:class:`~outreach.lint.facts.TemplateFacts`)
  -> findings; ``template_exhaustive`` says that it finds everything the rule would find in a campaign,
  so that a template's suppression of it that suppressed nothing is reported as unused;
- ``campaign``: the campaign as a whole (:class:`~outreach.lint.facts.CampaignFacts`) -> a finding, or None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from outreach.lint.facts import CampaignFacts, RecipientFacts, RenderedFacts, TemplateFacts
from outreach.lint.findings import DeferredEvidence, Evidence, Finding, Severity

Scope = Literal["recipient", "campaign"]
RecipientCheck = Callable[[RecipientFacts], str | None]
RecipientEvidence = Callable[[RecipientFacts], list[Evidence]]
RenderedCheck = Callable[[RenderedFacts], Sequence[Finding]]
TemplateCheck = Callable[[TemplateFacts], list[Finding]]
CampaignCheck = Callable[[CampaignFacts], Finding | None]


@dataclass(frozen=True, slots=True)
class Case:
    """One pass/fail example of a rule, run through the real evaluation by the tests (``tests/lint``).

    ``data`` holds what the example sets up: ``text``, ``subject``, ``html`` (the templates), ``row`` (the
    CSV row of the one recipient), ``ledger`` (ledger fields over a warm default), ``tiers`` or ``count``
    (several recipients), ``policy``, ``unsubscribe``, ``allow``, ``suppressions``, ``sends``,
    ``mode = "template"`` (lint ``text`` as ``outreach lint`` does) and ``verdicts`` (expected).
    """

    expect: Literal["pass", "fail"]
    description: str
    data: Mapping[str, Any]


def fails(description: str, **data: Any) -> Case:
    """An example the rule fires on."""
    return Case("fail", description, data)


def passes(description: str, **data: Any) -> Case:
    """An example the rule does not fire on."""
    return Case("pass", description, data)


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    name: str
    severity: Severity
    scope: Scope
    doc: str
    cases: tuple[Case, ...]
    overridable: bool = True  # False: cannot be ignored or suppressed (R007, R008)
    options: tuple[str, ...] = ()  # policy keys the rule reads
    recipient: RecipientCheck | None = None
    evidence: RecipientEvidence | None = None
    evidence_figures: tuple[str, ...] = ()  # ledger figures whose lines the evidence quotes
    rendered: RenderedCheck | None = None
    unrendered: RenderedCheck | None = None
    template: TemplateCheck | None = None
    template_exhaustive: bool = False
    campaign: CampaignCheck | None = None
    source: str = field(default="", compare=False)  # the module that defines it

    def finding(
        self,
        message: str,
        evidence: Iterable[Evidence] = (),
        path: str | None = None,
        line: int | None = None,
    ) -> Finding:
        quoted: Sequence[Evidence]
        if type(evidence) is list or type(evidence) is tuple:  # the common case, before the ABC check
            quoted = tuple(evidence)
        elif isinstance(evidence, DeferredEvidence):
            quoted = evidence
        else:
            quoted = tuple(evidence)
        return Finding(self.code, self.name, self.severity, message, quoted, path, line)

    @property
    def checks(self) -> tuple[str, ...]:
        """The kinds of checks the rule has (``recipient``, ``rendered``, ``unrendered``, ``template``,
        ``campaign``)."""
        kinds = ("recipient", "rendered", "unrendered", "template", "campaign")
        return tuple(kind for kind in kinds if getattr(self, kind) is not None)


__all__ = [
    "CampaignCheck",
    "Case",
    "RecipientCheck",
    "RecipientEvidence",
    "RenderedCheck",
    "Rule",
    "Scope",
    "TemplateCheck",
    "fails",
    "passes",
]
