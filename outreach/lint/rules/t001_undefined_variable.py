"""T001 undefined-variable: the template cannot be rendered for this recipient."""

from __future__ import annotations

from outreach.lint.facts import RenderedFacts
from outreach.lint.findings import Evidence, Finding
from outreach.lint.rule import Rule, fails, passes


def check(m: RenderedFacts) -> list[Finding]:
    return [
        RULE.finding(f"{p.message} ({p.location})", [Evidence(f"{p.location}: {p.message}")], path=p.path, line=p.line)
        for p in m.problems
    ]


_TEXT = "Hi {{ first_name }}, congratulations to {{ company }}.\n"

RULE = Rule(
    code="T001",
    name="undefined-variable",
    severity="block",
    scope="recipient",
    doc="""
    The template uses a variable this recipient does not have: a column missing from the recipients CSV, an
    empty cell, or a relationship fact we do not know (`contact.name` of a stranger). Rendering is strict, so
    nothing goes out with a blank where a name should be. Fill in the cell, or give the template a fallback
    (`{{ company or "your outlet" }}`, `{% if company %}…{% endif %}`).
    """,
    cases=(
        fails("no such column", text=_TEXT),
        fails(
            "the cell is empty for this recipient",
            text=_TEXT,
            row={"email": "pat@example.org", "first_name": "Pat", "company": ""},
        ),
        passes(
            "the column is there",
            text=_TEXT,
            row={"email": "pat@example.org", "first_name": "Pat", "company": "Example Press"},
        ),
        passes(
            "a fallback for an empty cell",
            text="Hi {{ first_name }}, congratulations to {{ company or 'your team' }}.\n",
            row={"email": "pat@example.org", "first_name": "Pat", "company": ""},
        ),
    ),
    unrendered=check,
)
