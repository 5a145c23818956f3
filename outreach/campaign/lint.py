"""Linting templates on their own (``outreach lint``): the rules that have a template check
(:mod:`outreach.lint.rules`: T002 leftover placeholders, T003 familiarity a stranger would get, T004 the
asks), run on each template without a recipient list.

Syntax errors and template-injection attempts raise :class:`~outreach.errors.CampaignError` (exit 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

from jinja2 import ChainableUndefined, Environment, TemplateError, meta, nodes
from jinja2.exceptions import SecurityError

from outreach.campaign.budget import RenderTimeout, over_budget, render_budget, timed
from outreach.campaign.loader import load_campaign
from outreach.campaign.mailmerge import TEMPLATE as MAILMERGE_TEMPLATE
from outreach.campaign.recipients import display_path
from outreach.campaign.render import (
    CONTACT_FIELDS,
    RESERVED,
    TEMPLATE_GLOBALS,
    CampaignSandbox,
    ContactFacts,
    check_safe,
    make_environment,
)
from outreach.errors import CampaignError
from outreach.lint.facts import TemplateFacts, TemplateVariable
from outreach.lint.findings import Finding
from outreach.lint.registry import all_rules, get_rule, resolve_codes
from outreach.lint.suppressions import InlineSuppression, Usage, apply_suppressions, inline_suppressions
from outreach.lint.template import TemplateSource, static_text

STRANGER = ContactFacts(tier="none", last_two_way=None, balance=0.0, strength=0, name=None)


@dataclass
class TemplateLint:
    """Findings of a template lint, and warnings (unused or refused suppressions)."""

    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _kind(path: Path) -> Literal["text", "html"]:
    return "html" if any(s in (".html", ".htm") for s in path.suffixes) else "text"


def as_stranger(tpl: TemplateSource) -> str:
    """The template rendered for a stranger (tier ``none``, every other variable blank), in the campaign's
    sandbox with its bounds (a template can be hostile here too); its literal text if it cannot render."""
    env = CampaignSandbox(
        undefined=ChainableUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    try:
        with render_budget(), timed():
            return env.from_string(tpl.source).render(contact=STRANGER)
    except (RenderTimeout, MemoryError) as exc:
        raise CampaignError(f"{tpl.name}: {over_budget(exc)}") from None
    except SecurityError as exc:
        raise CampaignError(f"{tpl.name}: unsafe template: {exc}") from None
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError, AttributeError):
        return static_text(tpl.source)


def _reports_unused(code: str) -> bool:
    """Whether a template's suppression of ``code`` that suppressed nothing here is unused: not when the
    rule looks at recipients and its template check (if any) cannot see all they would get."""
    rule = get_rule(code)
    return rule.scope != "recipient" or rule.template_exhaustive


def template_variables(env: Environment, tpl: TemplateSource) -> list[TemplateVariable]:
    """The variables ``tpl`` reads from its context (not those it sets itself, nor the template globals),
    and each field it reads of ``contact`` and ``row``, at their first use."""
    tree = env.parse(tpl.source, name=tpl.key)
    outside = meta.find_undeclared_variables(tree) - set(TEMPLATE_GLOBALS)
    found: dict[tuple[str, str | None], TemplateVariable] = {}
    for node in tree.find_all((nodes.Name, nodes.Getattr, nodes.Getitem)):
        key: tuple[str, str | None]
        if isinstance(node, nodes.Name):
            key = (node.name, None)
        elif isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name) and node.node.name in RESERVED:
            key = (node.node.name, node.attr)
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.node, nodes.Name)
            and node.node.name in RESERVED
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            key = (node.node.name, node.arg.value)
        else:
            continue
        if key[0] in outside and key not in found:
            found[key] = TemplateVariable(key[0], key[1], node.lineno)
    return sorted(found.values(), key=lambda v: v.line)


def lint_templates(
    templates: Sequence[TemplateSource],
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    columns: Sequence[str] | None = None,
) -> TemplateLint:
    """The template checks of the enabled rules on each template; with ``columns`` (a campaign's CSV
    header), the variables are checked against them too (T001)."""
    enabled, warnings = resolve_codes(select, ignore)
    checks = [r.template for r in all_rules() if r.code in enabled and r.template is not None]
    result = TemplateLint(warnings=warnings)
    inline: list[InlineSuppression] = []
    for tpl in templates:
        env = make_environment({tpl.key: tpl.source}, autoescape=tpl.kind == "html")
        check_safe(env, tpl)
        inline += inline_suppressions(tpl, result.warnings)
        facts = TemplateFacts(tpl, partial(as_stranger, tpl), template_variables(env, tpl), columns, CONTACT_FIELDS)
        for check in checks:
            result.findings += check(facts)
    usage = Usage()
    result.findings, _ = apply_suppressions(result.findings, "", inline, (), usage)
    for sup in inline:
        if sup.source not in usage.used and all(_reports_unused(c) for c in sup.codes):
            result.warnings.append(f"{sup.source}: suppression of {', '.join(sup.codes)} matched nothing (unused)")
    result.findings.sort(key=lambda f: (f.path or "", f.line or 0, f.code))
    return result


def lint_path(path: str | Path, select: Sequence[str] = (), ignore: Sequence[str] = ()) -> TemplateLint:
    """Lint a template file, or every template of a campaign (a folder or its campaign.toml)."""
    given = Path(path)
    if given.is_dir() or given.name in ("campaign.toml", MAILMERGE_TEMPLATE):
        campaign = load_campaign(given)
        return lint_templates(campaign.templates, select, ignore, [c.strip() for c in campaign.columns])
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


__all__ = [
    "TemplateLint",
    "as_stranger",
    "lint_path",
    "lint_source",
    "lint_template",
    "lint_templates",
    "template_variables",
]
