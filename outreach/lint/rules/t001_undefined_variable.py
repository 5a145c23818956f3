"""T001 undefined-variable: the template cannot be rendered for this recipient."""

from __future__ import annotations

from outreach.lint.facts import RenderedFacts, TemplateFacts, TemplateVariable
from outreach.lint.findings import Evidence, Finding
from outreach.lint.rule import Rule, fails, passes


def check(m: RenderedFacts) -> list[Finding]:
    return [
        RULE.finding(f"{p.message} ({p.location})", [Evidence(f"{p.location}: {p.message}")], path=p.path, line=p.line)
        for p in m.problems
    ]


def check_template(t: TemplateFacts) -> list[Finding]:
    """Every variable against the CSV's columns (when the template belongs to a campaign) and the fields
    of ``contact``: one finding per unknown name, at its first use."""
    tpl = t.template
    findings = []
    for variable in t.variables:
        message = _unknown(variable, t)
        if message is not None:
            line = tpl.first_line + variable.line - 1
            where = f"{tpl.name}:{line}"
            findings.append(RULE.finding(message, [Evidence(f"{where}: {message}")], path=tpl.name, line=line))
    return findings


def _unknown(v: TemplateVariable, t: TemplateFacts) -> str | None:
    columns = t.columns
    if v.name == "contact":
        if v.field is None or v.field in t.contact_fields:
            return None
        return f"contact.{v.field} is not a contact field (known: {', '.join(t.contact_fields)})"
    if columns is None:  # a template alone: its CSV is not known
        return None
    known = ", ".join(columns)
    if v.name == "row":
        if v.field is None or v.field in columns:
            return None
        return f"row.{v.field}: no such column in the recipients CSV (columns: {known})"
    if v.name in columns:
        return None
    fields = ", ".join(f"contact.{f}" for f in t.contact_fields)
    return f"{v.name} is not a column of the recipients CSV (columns: {known}) nor a contact field ({fields})"


_TEXT = "Hi {{ first_name }}, congratulations to {{ company }}.\n"

RULE = Rule(
    code="T001",
    name="undefined-variable",
    severity="block",
    scope="recipient",
    doc="""
    The template uses a variable this recipient does not have: a column missing from the recipients CSV, an
    empty cell, a field `contact` does not have (`contact.tire`), or a relationship fact we do not know
    (`contact.name` of a stranger). Rendering is strict, so nothing goes out with a blank where a name
    should be. `outreach lint CAMPAIGN` checks every variable of the templates against the CSV's header
    and the contact fields before any recipient is rendered. Fill in the cell, fix the name, or give the
    template a fallback (`{{ company or "your outlet" }}`, `{% if company %}…{% endif %}`).
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
        fails("a misspelt contact field", text="Hi {{ first_name }}, you are {{ contact.tire }}.\n"),
        fails("a misspelt contact field, found by the template lint", mode="template",
              text="Hi {{ first_name }}, you are {{ contact.tire }}.\n"),
        passes("a known contact field, for the template lint", mode="template",
               text="Hi {{ first_name }}{% if contact.tier == 'warm' %}, good to see you{% endif %}.\n"),
        passes(
            "a fallback for an empty cell",
            text="Hi {{ first_name }}, congratulations to {{ company or 'your team' }}.\n",
            row={"email": "pat@example.org", "first_name": "Pat", "company": ""},
        ),
    ),
    unrendered=check,
    template=check_template,
)
