"""A new rule is one new file in outreach/lint/rules/: the registry finds it, and preview, ``outreach
lint``, ``outreach rules`` and the docs all run or show it, with nothing else edited."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from outreach.campaign import campaign_from_strings
from outreach.campaign.evaluate import StoreData, evaluate_data
from outreach.cli import main
from outreach.lint import registry
from outreach.lint import rules as rules_package

from .cases import NOW, make_ledger

RULE_FILE = '''
"""T099 exclamation-marks: too many exclamation marks."""

from outreach.lint.facts import RenderedFacts, TemplateFacts
from outreach.lint.findings import Finding
from outreach.lint.rule import Rule, fails, passes


def _count(text: str) -> Finding | None:
    return RULE.finding(f"{text.count('!')} exclamation marks") if text.count("!") >= 3 else None


def check_rendered(m: RenderedFacts) -> list[Finding]:
    found = _count(m.text(lambda html: "!" in html)) if m.rendered else None
    return [found] if found else []


def check_template(t: TemplateFacts) -> list[Finding]:
    found = _count(t.visible)
    return [found] if found else []


RULE = Rule(
    code="T099",
    name="exclamation-marks",
    severity="review",
    scope="recipient",
    doc="Three exclamation marks or more read as shouting; one is plenty.",
    cases=(fails("shouting", text="Hi!!! Our report!\\n"), passes("calm", text="Hi, our report.\\n")),
    rendered=check_rendered,
    template=check_template,
    template_exhaustive=True,
)
'''


@pytest.fixture
def new_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The rule file above dropped into the rules package (as a second folder of it)."""
    (tmp_path / "t099_exclamation_marks.py").write_text(RULE_FILE, encoding="utf-8")
    monkeypatch.setattr(rules_package, "__path__", [*rules_package.__path__, str(tmp_path)])
    registry._registry.cache_clear()
    yield
    registry._registry.cache_clear()
    sys.modules.pop("outreach.lint.rules.t099_exclamation_marks", None)


def test_a_new_rule_file_is_all_a_new_rule_takes(new_rule: None, tmp_path: Path) -> None:
    rule = registry.get_rule("T099")
    assert rule.source == "outreach.lint.rules.t099_exclamation_marks"
    assert "## T099 exclamation-marks" in registry.rules_markdown()
    campaign = campaign_from_strings(
        text="Hi {{ first_name }}!!! News!\n", rows=[{"email": "pat@example.org", "first_name": "Pat"}]
    )
    report = evaluate_data(campaign, StoreData({"pat@example.org": make_ledger("pat@example.org", {})}), now=NOW)
    assert [f.code for f in report.recipients[0].findings] == ["T099"] and report.recipients[0].verdict == "REVIEW"
    template = tmp_path / "loud.txt.j2"
    template.write_text("Hi {{ first_name }}!!! News!\n", encoding="utf-8")
    linted = CliRunner().invoke(main, ["lint", str(template)])
    assert linted.exit_code == 1 and "T099 [review] 4 exclamation marks" in linted.output
    listed = CliRunner().invoke(main, ["rules"])
    assert "T099  exclamation-marks" in listed.output
