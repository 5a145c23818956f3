"""Linting a template on its own (``outreach lint``): the T-rules that need no recipient list.

- T002 leftover placeholders in the template's literal text;
- T003 familiarity phrases that a recipient of tier ``none`` would get (the template is rendered for
  such a stranger with every other variable blank, so a phrase inside
  ``{% if contact.tier == "warm" %}`` does not count);
- T004 the asks it makes (info).

Syntax errors and template-injection attempts raise :class:`~outreach.errors.CampaignError` (exit 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from jinja2 import ChainableUndefined, TemplateError
from jinja2.exceptions import SecurityError

from outreach.campaign.evaluate import _apply_suppressions, _static_text, _Usage, template_asks
from outreach.campaign.loader import display_path, inline_suppressions, load_campaign
from outreach.campaign.model import InlineSuppression, TemplateSource
from outreach.campaign.render import CampaignSandbox, ContactFacts, check_safe, make_environment
from outreach.errors import CampaignError
from outreach.lint.findings import Evidence, Finding
from outreach.lint.registry import get_rule, resolve_codes
from outreach.lint.text import find_familiarity, find_placeholders, html_to_text, line_of

STRANGER = ContactFacts(tier="none", last_two_way=None, balance=0.0, strength=0, name=None)


@dataclass
class TemplateLint:
    """Findings of a template lint, and warnings (unused or refused suppressions)."""

    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _kind(path: Path) -> Literal["text", "html"]:
    return "html" if any(s in (".html", ".htm") for s in path.suffixes) else "text"


def _as_stranger(tpl: TemplateSource) -> str:
    env = CampaignSandbox(  # the campaign's sandbox, with its bounds (a template can be hostile here too)
        undefined=ChainableUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    try:
        return env.from_string(tpl.source).render(contact=STRANGER)
    except SecurityError as exc:
        raise CampaignError(f"{tpl.name}: unsafe template: {exc}") from None
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError, AttributeError):
        return _static_text(tpl.source)


def _locate(tpl: TemplateSource, snippet: str, fallback: int) -> int:
    index = tpl.source.lower().find(snippet.lower())
    return tpl.first_line + line_of(tpl.source, index) - 1 if index >= 0 else fallback


def _lint_one(tpl: TemplateSource, enabled: frozenset[str]) -> list[Finding]:
    findings: list[Finding] = []
    static = _static_text(tpl.source)
    if tpl.kind == "html":
        static = html_to_text(static)
    if "T002" in enabled:
        for hit in find_placeholders(static):
            line = _locate(tpl, hit.text, tpl.first_line + line_of(static, hit.start) - 1)
            findings.append(
                get_rule("T002").finding(
                    f"leftover placeholder {hit.text!r}",
                    [Evidence(f'"{hit.sentence}"', sentence=hit.sentence)],
                    path=tpl.name,
                    line=line,
                )
            )
    if "T003" in enabled:
        text = _as_stranger(tpl)
        if tpl.kind == "html":
            text = html_to_text(text)
        for hit in find_familiarity(text):
            findings.append(
                get_rule("T003").finding(
                    f'"{hit.text}" claims a relationship; it blocks recipients of tier none or one-way '
                    '(put it inside {% if contact.tier in ("warm", "strong") %})',
                    [Evidence(f'"{hit.sentence}"', sentence=hit.sentence)],
                    path=tpl.name,
                    line=_locate(tpl, hit.text, tpl.first_line),
                )
            )
    if "T004" in enabled:
        for ask in template_asks([tpl]):
            findings.append(
                get_rule("T004").finding(
                    f'asks a favour: "{ask.match.sentence}"',
                    [Evidence(f'"{ask.match.sentence}"', sentence=ask.match.sentence)],
                    path=tpl.name,
                    line=ask.line,
                )
            )
    return findings


def lint_templates(
    templates: Sequence[TemplateSource], select: Sequence[str] = (), ignore: Sequence[str] = ()
) -> TemplateLint:
    enabled, warnings = resolve_codes(select, ignore)
    result = TemplateLint(warnings=warnings)
    inline: list[InlineSuppression] = []
    for tpl in templates:
        env = make_environment({tpl.key: tpl.source}, autoescape=tpl.kind == "html")
        check_safe(env, tpl)
        inline += inline_suppressions(tpl, result.warnings)
        result.findings += _lint_one(tpl, enabled)
    usage = _Usage()
    result.findings, _ = _apply_suppressions(result.findings, "", inline, (), usage)
    for sup in inline:
        recipient_dependent = any(get_rule(c).scope == "recipient" and c != "T002" for c in sup.codes)
        if sup.source not in usage.used and not recipient_dependent:
            result.warnings.append(
                f"{sup.source}: suppression of {', '.join(sup.codes)} matched nothing (unused)"
            )
    result.findings.sort(key=lambda f: (f.path or "", f.line or 0, f.code))
    return result


def lint_path(path: str | Path, select: Sequence[str] = (), ignore: Sequence[str] = ()) -> TemplateLint:
    """Lint a template file, or every template of a campaign (a folder or its campaign.toml)."""
    given = Path(path)
    if given.is_dir() or given.name == "campaign.toml":
        return lint_templates(load_campaign(given).templates, select, ignore)
    display = display_path(given)
    try:
        source = given.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CampaignError(f"{display}: template not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignError(f"{display}: cannot read ({exc})") from None
    return lint_templates([TemplateSource(_kind(given), display, source, given)], select, ignore)


def lint_source(
    source: str,
    name: str = "<template>",
    kind: Literal["text", "html"] = "text",
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
) -> TemplateLint:
    return lint_templates([TemplateSource(kind, name, source)], select, ignore)


def lint_template(path: str | Path, select: Sequence[str] = (), ignore: Sequence[str] = ()) -> list[Finding]:
    """T-rule findings of a template file (or of a campaign's templates)."""
    return lint_path(path, select, ignore).findings


__all__ = ["TemplateLint", "lint_path", "lint_source", "lint_template", "lint_templates"]
