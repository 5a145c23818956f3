"""The one registry of lint rules, read from the data files in ``outreach/lint/rules/*.toml``.

A rule is data: a stable code, a name, a default severity, a scope (``recipient`` rules look at one
recipient, ``campaign`` rules at the campaign as a whole), a one-paragraph doc and pass/fail cases. The
Python checks that implement them live in :mod:`outreach.campaign.evaluate`; a test asserts that both
sides name the same codes.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal, cast

from outreach.errors import UsageError
from outreach.lint.findings import SEVERITIES, DeferredEvidence, Evidence, Finding, Severity

Scope = Literal["recipient", "campaign"]
_CODE = re.compile(r"^[A-Z][0-9]{3}$")


@dataclass(frozen=True, slots=True)
class Case:
    """One pass/fail example of a rule; the keys are described in :mod:`outreach.lint.cases`."""

    expect: Literal["pass", "fail"]
    description: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    name: str
    severity: Severity
    scope: Scope
    doc: str
    overridable: bool = True  # False: cannot be ignored or suppressed (R007, R008)
    options: tuple[str, ...] = ()  # policy keys the rule reads
    cases: tuple[Case, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)  # rule-specific data (patterns, phrases)
    source: str = ""

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


_RULE_KEYS = {"code", "name", "severity", "scope", "doc", "overridable", "options", "cases"}


def _load_file(name: str, text: str) -> list[Rule]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # pragma: no cover - the shipped files are tested
        raise RuntimeError(f"outreach/lint/rules/{name}: {exc}") from exc
    rules = []
    for table in data.get("rule", []):
        code = str(table["code"])
        if not _CODE.match(code):  # pragma: no cover
            raise RuntimeError(f"outreach/lint/rules/{name}: bad rule code {code!r}")
        severity = str(table["severity"])
        if severity not in SEVERITIES:  # pragma: no cover
            raise RuntimeError(f"outreach/lint/rules/{name}: {code}: bad severity {severity!r}")
        scope = str(table.get("scope", "recipient"))
        if scope not in ("recipient", "campaign"):  # pragma: no cover
            raise RuntimeError(f"outreach/lint/rules/{name}: {code}: bad scope {scope!r}")
        cases = tuple(
            Case(
                expect=cast(Literal["pass", "fail"], str(c.get("expect"))),
                description=str(c.get("description", "")),
                data={k: v for k, v in c.items() if k not in ("expect", "description")},
            )
            for c in table.get("cases", [])
        )
        rules.append(
            Rule(
                code=code,
                name=str(table["name"]),
                severity=severity,
                scope=cast(Scope, scope),
                doc=" ".join(str(table.get("doc", "")).split()),
                overridable=bool(table.get("overridable", True)),
                options=tuple(str(o) for o in table.get("options", [])),
                cases=cases,
                data={k: v for k, v in table.items() if k not in _RULE_KEYS},
                source=f"outreach/lint/rules/{name}",
            )
        )
    return rules


@cache
def _registry() -> dict[str, Rule]:
    found: dict[str, Rule] = {}
    folder = resources.files("outreach.lint") / "rules"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        for rule in _load_file(entry.name, entry.read_text(encoding="utf-8")):
            if rule.code in found:  # pragma: no cover
                raise RuntimeError(f"{rule.source}: rule {rule.code} is defined twice")
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
        "Generated from `outreach/lint/rules/*.toml` by `outreach rules --format markdown`; do not edit.",
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


__all__ = ["Case", "Rule", "all_rules", "get_rule", "resolve_codes", "rules_markdown"]
