"""The one registry of lint rules: every module of :mod:`outreach.lint.rules` that defines ``RULE``.

Adding a rule is adding one file there (its code, name, severity, doc, pass/fail cases and checks, see
:mod:`outreach.lint.rule`): the registry finds it, the campaign evaluation and ``outreach lint`` run its
checks, ``outreach rules`` lists it and docs/rules.md documents it.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Sequence
from dataclasses import replace
from functools import cache

from outreach.errors import UsageError
from outreach.lint import rules as rules_package
from outreach.lint.findings import SEVERITIES
from outreach.lint.rule import Case, Rule

_CODE = re.compile(r"^[A-Z][0-9]{3}$")
# The families of codes, in the order their campaign findings are reported: relationship, template,
# mass mailing, headers (a new family letter comes after these).
FAMILIES = ("R", "T", "M", "H")


def _check(rule: Rule, where: str) -> Rule:
    problems = []
    if not _CODE.match(rule.code):
        problems.append(f"bad rule code {rule.code!r}")
    if rule.severity not in SEVERITIES:
        problems.append(f"bad severity {rule.severity!r}")
    if rule.scope not in ("recipient", "campaign"):
        problems.append(f"bad scope {rule.scope!r}")
    if not rule.checks:
        problems.append("no check")
    if rule.recipient is not None and rule.evidence is None:
        problems.append("a recipient check without its evidence")
    if problems:
        raise RuntimeError(f"{where}: {rule.code}: {'; '.join(problems)}")
    return replace(rule, doc=" ".join(rule.doc.split()), source=where)


@cache
def _registry() -> dict[str, Rule]:
    """Every rule module's ``RULE``, by code (imported once, on first use)."""
    found: dict[str, Rule] = {}
    for module_info in sorted(pkgutil.iter_modules(rules_package.__path__), key=lambda m: m.name):
        name = f"{rules_package.__name__}.{module_info.name}"
        rule = getattr(importlib.import_module(name), "RULE", None)
        if not isinstance(rule, Rule):
            continue  # a helper module, not a rule
        rule = _check(rule, name)
        if rule.code in found:
            raise RuntimeError(f"{name}: rule {rule.code} is defined twice (also in {found[rule.code].source})")
        found[rule.code] = rule
    return dict(sorted(found.items()))


def all_rules() -> list[Rule]:
    """Every registered rule, by code."""
    return list(_registry().values())


def get_rule(code: str) -> Rule:
    try:
        return _registry()[code]
    except KeyError:
        raise UsageError(f"unknown rule code {code!r}") from None


def report_order(code: str) -> tuple[int, str]:
    """Where a finding of ``code`` stands among a campaign's findings: by family (:data:`FAMILIES`), code."""
    family = FAMILIES.index(code[0]) if code[0] in FAMILIES else len(FAMILIES)
    return family, code


def _matching(pattern: str, where: str) -> set[str]:
    key = pattern.strip().upper()
    codes = {code for code in _registry() if code.startswith(key)}
    by_name = {r.code for r in _registry().values() if r.name == pattern.strip().lower()}
    if not key or not (codes or by_name):
        known = ", ".join(_registry())
        raise UsageError(f"{where}: {pattern!r} matches no rule code (known: {known})")
    return codes | by_name


def resolve_codes(
    select: Sequence[str] = (), ignore: Sequence[str] = (), where: str = "--select/--ignore"
) -> tuple[frozenset[str], list[str]]:
    """The enabled rule codes for ``select``/``ignore`` (codes, prefixes like ``R00`` or rule names).

    An empty ``select`` means every rule. Rules that cannot be overridden (R007, R008) stay enabled;
    the second value lists a warning for each attempt to turn them off.
    """
    enabled: set[str] = set()
    if select:
        for pattern in select:
            enabled |= _matching(pattern, where)
    else:
        enabled = set(_registry())
    for pattern in ignore:
        enabled -= _matching(pattern, where)
    warnings = []
    for rule in _registry().values():
        if not rule.overridable and rule.code not in enabled:
            warnings.append(f"{rule.code} {rule.name} cannot be turned off; it stays enabled")
            enabled.add(rule.code)
    return frozenset(enabled), warnings


def rules_markdown() -> str:
    """docs/rules.md, generated from the registry."""
    out = [
        "# Lint rules",
        "",
        "Generated from the rule files `outreach/lint/rules/*.py` by `outreach rules --format markdown`;",
        "do not edit.",
        "",
        "A recipient's verdict is the worst severity among its findings: any `block` makes it BLOCKED,",
        "any `review` makes it REVIEW, otherwise READY (`info` findings only inform). Campaign rules apply",
        "to every recipient. Select or ignore rules by code, prefix or name with `--select`/`--ignore` or",
        "`select`/`ignore` in `[policy]` (campaign.toml) or `[lint]` (config file); suppress them for one",
        "recipient in the campaign's allow file, or for a template with",
        '`{# outreach: disable=CODE reason="..." #}`. Rules marked *never overridable* cannot be turned',
        "off at all.",
        "",
        "| code | name | severity | scope | overridable |",
        "| --- | --- | --- | --- | --- |",
    ]
    for rule in all_rules():
        out.append(
            f"| [{rule.code}](#{rule.code.lower()}-{rule.name}) | {rule.name} | {rule.severity} | "
            f"{rule.scope} | {'yes' if rule.overridable else 'never'} |"
        )
    for rule in all_rules():
        out += ["", f"## {rule.code} {rule.name}", ""]
        meta = f"Severity **{rule.severity}**, {rule.scope} rule"
        if not rule.overridable:
            meta += ", never overridable"
        if rule.options:
            meta += "; policy options: " + ", ".join(f"`{o}`" for o in rule.options)
        out += [meta + ".", "", rule.doc, ""]
        for expect in ("fail", "pass"):
            examples = [c for c in rule.cases if c.expect == expect]
            if examples:
                label = "Fires on" if expect == "fail" else "Does not fire on"
                out.append(f"{label}: " + "; ".join(c.description or "(example)" for c in examples) + ".")
                out.append("")
    return "\n".join(out).rstrip() + "\n"


__all__ = ["Case", "FAMILIES", "Rule", "all_rules", "get_rule", "report_order", "resolve_codes", "rules_markdown"]
