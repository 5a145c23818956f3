"""Lint rules for campaigns: one registry of rules as data (``outreach/lint/rules/*.toml``).

Each rule has a stable code, a name, a default severity (block / review / info), a one-paragraph doc
and pass/fail cases. The checks that implement them are in :mod:`outreach.campaign.evaluate` and
:mod:`outreach.campaign.lint`.
"""

from __future__ import annotations

from outreach.lint.findings import SEVERITIES, SEVERITY_RANK, Evidence, Finding, Severity
from outreach.lint.registry import Case, Rule, all_rules, get_rule, resolve_codes, rules_markdown

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
]
