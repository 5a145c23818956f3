"""Lint rules for campaigns: one file per rule in :mod:`outreach.lint.rules`, found by the registry.

Each rule has a stable code, a name, a default severity (block / review / info), a one-paragraph doc,
pass/fail cases and its checks (:mod:`outreach.lint.rule`); the checks read the inputs of
:mod:`outreach.lint.facts`. :mod:`outreach.campaign.evaluate` runs them for a campaign and
:mod:`outreach.campaign.lint` for templates alone; :mod:`outreach.lint.suppressions` applies allow
entries and inline directives.
"""

from __future__ import annotations

from outreach.lint.codes import split_codes
from outreach.lint.findings import SEVERITIES, SEVERITY_RANK, Evidence, Finding, Severity
from outreach.lint.registry import all_rules, get_rule, resolve_codes, rules_markdown
from outreach.lint.rule import Case, Rule

__all__ = [
    "Case",
    "Evidence",
    "Finding",
    "Rule",
    "SEVERITIES",
    "SEVERITY_RANK",
    "Severity",
    "all_rules",
    "get_rule",
    "resolve_codes",
    "rules_markdown",
    "split_codes",
]
