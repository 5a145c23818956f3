"""T002 leftover-placeholder: "Dear [Name]", in the rendered message or in the template."""

from __future__ import annotations

import re
from collections.abc import Sequence

from outreach.lint.facts import MAX_EVIDENCE, RenderedFacts, TemplateFacts
from outreach.lint.findings import Evidence, Finding
from outreach.lint.rule import Rule, fails, passes
from outreach.lint.text import Match, line_of, matches

PATTERNS = (
    r"(?i:\[\s*(?:first[ _]?name|last[ _]?name|full[ _]?name|name|company|organi[sz]ation|outlet|publication"
    r"|title|city|date|your name|recipient|contact)\s*\])",
    r"\[[A-Z][A-Z _]{2,}\]",
    r"<\s*[A-Z][A-Z _]{2,}\s*>",
    r"&lt;\s*[A-Z][A-Z _]{2,}\s*&gt;",
    r"\{\{.*?\}\}",
    r"\{%.*?%\}",
    r"\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}",  # {first_name}: a Python or C# format field
    r"<<\s*[A-Za-z_][\w ]{0,30}?\s*>>",  # <<name>>: Word's mail merge
    r"&lt;&lt;\s*[A-Za-z_][\w ]{0,30}?\s*&gt;&gt;",
    r"\*\|[A-Z0-9_]+\|\*",
    r"%[A-Z][A-Z0-9_]{2,}%",
    r"\bXXX+\b",
    r"\bTODO\b",
    r"\bTBD\b",
)
_PLACEHOLDER = re.compile("|".join(f"(?:{p})" for p in PATTERNS))
_HINTS = ("[", "<", "{", "*|", "%", "XXX", "TODO", "TBD", "&lt;")  # one of them is in every placeholder
# In HTML, what may become a hint once it is read as text: a tag is never visible, "<" only as an entity.
_HTML_HINTS = ("[", "{", "%", "&", "*|", "XXX", "TODO", "TBD")


def find_placeholders(text: str) -> list[Match]:
    """Leftover placeholders (``[Name]``, ``<FIRST NAME>``, ``{{…}}``, ``XXX`` …) in a text."""
    for hint in _HINTS:
        if hint in text:
            return matches(_PLACEHOLDER, text)
    return []  # the common case, without the regex


def _html_may_hold(html: str) -> bool:
    for hint in _HTML_HINTS:  # noqa: SIM110 - a loop: any() over a generator is slower, and this runs for every recipient
        if hint in html:
            return True
    return False


def check_rendered(m: RenderedFacts) -> Sequence[Finding]:
    hits = find_placeholders(m.text(_html_may_hold))
    if not hits:
        return ()
    names = ", ".join(dict.fromkeys(repr(h.text) for h in hits))
    evidence = [Evidence(f'rendered text: "{h.sentence}"', sentence=h.sentence) for h in hits[:MAX_EVIDENCE]]
    where = m.locate(hits[0].text)
    return [
        RULE.finding(
            f"leftover placeholder {names} in the message",
            evidence,
            path=where[0] if where else None,
            line=where[1] if where else None,
        )
    ]


def check_template(t: TemplateFacts) -> list[Finding]:
    tpl = t.template
    static = t.visible
    findings = []
    for hit in find_placeholders(static):
        line = tpl.locate(hit.text)
        if line is None:  # not in the source as it is (an entity, or split by a tag): where it is in the text
            line = tpl.first_line + line_of(static, hit.start) - 1
        findings.append(
            RULE.finding(
                f"leftover placeholder {hit.text!r}",
                [Evidence(f'"{hit.sentence}"', sentence=hit.sentence)],
                path=tpl.name,
                line=line,
            )
        )
    return findings


RULE = Rule(
    code="T002",
    name="leftover-placeholder",
    severity="block",
    scope="recipient",
    doc="""
    The rendered message still contains a placeholder meant to be replaced: `[Name]`, `[NAME]`,
    `<FIRST NAME>`, `{{…}}` or `{%…%}` that did not render, `{first_name}`, `<<name>>`, `*|FNAME|*` or
    `%NAME%` merge fields from another tool, `XXX`, `TODO` or `TBD`. Sending "Dear [Name]" tells the
    recipient they are a row in a spreadsheet. Replace it with a template variable or with real text.
    """,
    cases=(
        fails("bracketed name", text="Hi [Name],\n\nOur report is out.\n"),
        fails("angle-bracket placeholder", text="Dear <FIRST NAME>,\n\nOur report is out.\n"),
        fails("XXX left in", text="Hi {{ first_name }},\n\nThe launch is on XXX.\n"),
        fails("a Python format field", text="Hi {first_name},\n\nOur report is out.\n"),
        fails("a Word mail-merge field", text="Dear <<name>>,\n\nOur report is out.\n"),
        fails("an upper-case bracketed field", text="Dear [NAME],\n\nOur report is out.\n"),
        fails("a percent-sign merge field", text="Dear %NAME%,\n\nOur report is out.\n"),
        fails("found by the template lint too", mode="template", text="Dear <<name>>, hi {first_name}.\n"),
        fails(
            "a Word mail-merge field in the HTML body",
            text="Hi {{ first_name }},\n\nOur report is out.\n",
            html="<p>Dear &lt;&lt;name&gt;&gt;,</p><p>Our report is out.</p>",
        ),
        fails(
            "a CSV cell holding template syntax is not rendered, and is caught",
            text="Hi {{ first_name }},\n\nOur report is out.\n",
            row={"email": "pat@example.org", "first_name": "{{ 7*7 }}"},
        ),
        fails("found by the template lint as well", mode="template", text="Hi [Name],\n\nOur report is out.\n"),
        fails(
            "in the HTML body",
            text="Hi {{ first_name }},\n\nOur report is out.\n",
            html="<p>Hi {{ first_name }},</p><p>The launch is on <b>TBD</b>.</p>",
        ),
        passes("braces around prose are not a field", text="Hi {{ first_name }},\n\n{ see the appendix }\n"),
        passes(
            "fully rendered", text="Hi {{ first_name }},\n\nOur report is out [1].\n\n[1] https://example.org/report\n"
        ),
        passes(
            "an HTML body without one",
            text="Hi {{ first_name }},\n\nOur report is out.\n",
            html="<p>Hi {{ first_name }},</p><p>Our report is <em>out</em> &amp; free.</p>",
        ),
    ),
    rendered=check_rendered,
    template=check_template,
    template_exhaustive=True,
)
