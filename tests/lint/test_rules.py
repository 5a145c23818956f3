"""The rule registry: every rule documented, every pass/fail case run through the real code, one file per
rule found by the registry (a new rule is a new file and nothing else)."""

from __future__ import annotations

from pathlib import Path

import pytest

from outreach.errors import UsageError
from outreach.lint import all_rules, get_rule, resolve_codes, rules_markdown

from .cases import run_case

REPO = Path(__file__).resolve().parents[2]
CASES = [
    pytest.param(rule, case, id=f"{rule.code}-{case.expect}-{i}")
    for rule in all_rules()
    for i, case in enumerate(rule.cases)
]


@pytest.mark.parametrize(("rule", "case"), CASES)
def test_rule_case(rule, case):
    result = run_case(rule, case)
    assert result.ok, f"{rule.code} {case.expect} case {case.description!r}: {result.detail}"


def test_every_rule_has_doc_and_cases():
    rules = all_rules()
    assert len(rules) >= 15
    for rule in rules:
        assert len(rule.doc) > 80, f"{rule.code} has no real doc"
        assert rule.name and rule.severity in ("block", "review", "info")
        assert any(c.expect == "pass" for c in rule.cases), f"{rule.code} has no pass case"
        assert any(c.expect == "fail" for c in rule.cases), f"{rule.code} has no fail case"
        assert all(c.description for c in rule.cases), f"{rule.code} has a case without description"


def test_every_rule_has_the_checks_of_its_scope():
    for rule in all_rules():
        assert rule.source == f"outreach.lint.rules.{rule.code.lower()}_{rule.name.replace('-', '_')}"
        if rule.scope == "recipient":
            assert rule.recipient or rule.rendered or rule.unrendered, rule.code
        else:
            assert rule.campaign, rule.code
        assert rule.recipient is None or rule.evidence is not None, rule.code


def test_required_rules_and_severities():
    expected = {
        "R001": ("no-prior-contact", "block"),
        "R002": ("one-way-only", "block"),
        "R003": ("stale-relationship", "review"),
        "R004": ("reciprocity-deficit", "review"),
        "R005": ("unanswered-prior-ask", "review"),
        "R006": ("recent-ask-cooldown", "review"),
        "R007": ("opted-out", "block"),
        "R008": ("suppressed", "block"),
        "M001": ("asymmetric-mass-favour", "block"),
        "M002": ("impersonal-bulk", "review"),
        "T001": ("undefined-variable", "block"),
        "T002": ("leftover-placeholder", "block"),
        "T003": ("false-familiarity", "block"),
        "T004": ("favour-ask", "info"),
        "H001": ("missing-unsubscribe", "review"),
    }
    for code, (name, severity) in expected.items():
        rule = get_rule(code)
        assert (rule.name, rule.severity) == (name, severity)
    assert not get_rule("R007").overridable and not get_rule("R008").overridable


def test_select_and_ignore_by_code_prefix_and_name():
    enabled, warnings = resolve_codes(["R00"], [])
    assert enabled == {f"R00{i}" for i in range(1, 10)} and not warnings
    enabled, _ = resolve_codes([], ["T", "stale-relationship"])
    assert "T001" not in enabled and "R003" not in enabled and "M001" in enabled
    enabled, warnings = resolve_codes(["T001"], ["R007"])
    assert {"T001", "R007", "R008"} <= enabled and "R001" not in enabled
    assert any("R007" in w for w in warnings) and any("R008" in w for w in warnings)
    with pytest.raises(UsageError, match="Z9"):
        resolve_codes(["Z9"], [])


def test_docs_rules_md_is_generated_from_the_registry():
    text = rules_markdown()
    for rule in all_rules():
        assert f"## {rule.code} {rule.name}" in text
        assert rule.doc in text
    assert (REPO / "docs" / "rules.md").read_text(encoding="utf-8") == text, (
        "docs/rules.md is stale: run `outreach rules --format markdown > docs/rules.md`"
    )
