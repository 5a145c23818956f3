"""Rendering campaign templates safely: a sandboxed, strict Jinja2 environment, compiled once per campaign.

- :class:`jinja2.sandbox.ImmutableSandboxedEnvironment`: no attribute starting with ``_``, no method
  that changes a list or dict, bounded ``range``, ``*`` and ``**``; template-injection attempts
  (``{{ ''.__class__.__mro__ }}``, ``{{ cycler.__init__.__globals__ }}``,
  ``{{ self._TemplateReference__context }}`` …) are refused when the template is loaded (a static check
  of the syntax tree) and again when it renders, as a :class:`~outreach.errors.CampaignError` naming the
  template and line.
- :class:`jinja2.StrictUndefined`: a missing variable is an error for that recipient (rule T001), and so
  is printing ``None`` (an unknown relationship fact) or an empty CSV cell.
- autoescape for the HTML body only.

The context of one recipient is their CSV row (each column as a variable, and all of it as ``row``, a
read-only mapping) plus ``contact``, a frozen :class:`ContactFacts` from their ledger.
"""

from __future__ import annotations

import operator
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any

from jinja2 import (
    FunctionLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
    nodes,
)
from jinja2.defaults import DEFAULT_NAMESPACE
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

from outreach.campaign.model import Campaign, TemplateSource
from outreach.errors import CampaignError
from outreach.ledger import Ledger

MAX_SEQUENCE = 100_000
MAX_POWER = 64
RESERVED = ("contact", "row")


class Missing(str):
    """An empty CSV cell: renders as an error (T001) rather than as nothing; falsy in ``if``/``or``."""

    field: str = ""

    def __new__(cls, name: str) -> Missing:
        value = super().__new__(cls, "")
        value.field = name
        return value


@dataclass(frozen=True, slots=True)
class ContactFacts:
    """The read-only relationship facts a template may use as ``contact``."""

    tier: str
    last_two_way: date | None
    balance: float
    strength: int
    name: str | None

    @classmethod
    def from_ledger(cls, ledger: Ledger) -> ContactFacts:
        return cls(
            tier=ledger.tier,
            last_two_way=ledger.last_two_way.date() if ledger.last_two_way else None,
            balance=round(ledger.balance, 2),
            strength=ledger.strength,
            name=ledger.name or None,
        )


def _finalize(value: Any) -> Any:
    if value is None:
        raise UndefinedError("a value is unknown for this recipient (None)")
    if type(value) is Missing:
        raise UndefinedError(f"{value.field!r} is empty for this recipient")
    return value


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**"])

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if type(obj) is ContactFacts:  # plain frozen data: only its fields are reachable
            return attr in ContactFacts.__dataclass_fields__
        return bool(super().is_safe_attribute(obj, attr, value))

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            if isinstance(right, int | float) and abs(right) > MAX_POWER:
                raise SecurityError(f"exponent {right} is too large")
            return operator.pow(left, right)
        for seq, times in ((left, right), (right, left)):
            if (
                isinstance(seq, str | list | tuple)
                and isinstance(times, int)
                and len(seq) * times > MAX_SEQUENCE
            ):
                raise SecurityError("the result of * would be too large")
        return operator.mul(left, right)


# What every environment here has as globals: the sandbox's (its bounded ``range`` instead of the builtin,
# which let ``{{ range(10**9)|list }}`` eat all memory, since render() takes the globals from here).
_GLOBALS: dict[str, Any] = {**DEFAULT_NAMESPACE, "range": safe_range}


def make_environment(sources: Mapping[str, str], autoescape: bool) -> ImmutableSandboxedEnvironment:
    def load(name: str) -> tuple[str, str, Callable[[], bool]] | None:
        source = sources.get(name)
        return None if source is None else (source, name, lambda: True)

    env = _Environment(
        loader=FunctionLoader(load),
        undefined=StrictUndefined,
        autoescape=autoescape,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    return env


def _unsafe_name(name: object) -> bool:
    return isinstance(name, str) and name.startswith("_")


def check_safe(env: ImmutableSandboxedEnvironment, tpl: TemplateSource) -> None:
    """Refuse templates that reach for internals (attributes or keys starting with ``_``)."""
    try:
        tree = env.parse(tpl.source, name=tpl.key)
    except TemplateSyntaxError as exc:
        raise _syntax_error(tpl, exc) from None
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        bad: object = None
        if isinstance(node, nodes.Getattr):
            bad = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            bad = node.arg.value
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
            arg = node.args[0]
            bad = arg.value if isinstance(arg, nodes.Const) else None
        if _unsafe_name(bad):
            line = tpl.first_line + node.lineno - 1
            raise CampaignError(
                f"{_file(tpl)}:{line}: unsafe template: access to {bad!r} is not allowed "
                "(attributes and keys starting with '_' are off limits)"
            )


def _file(tpl: TemplateSource) -> str:
    return tpl.name


def _syntax_error(tpl: TemplateSource, exc: TemplateSyntaxError) -> CampaignError:
    line = tpl.first_line + (exc.lineno or 1) - 1
    return CampaignError(f"{_file(tpl)}:{line}: template syntax error: {exc.message}")


@dataclass
class Compiled:
    """A campaign's templates, compiled once."""

    subject: Template
    text: Template
    html: Template | None
    sources: dict[str, TemplateSource]


def compile_templates(subject: TemplateSource, text: TemplateSource, html: TemplateSource | None) -> Compiled:
    plain_sources = {subject.key: subject.source, text.key: text.source}
    plain = make_environment(plain_sources, autoescape=False)
    templates: dict[str, TemplateSource] = {subject.key: subject, text.key: text}
    compiled: dict[str, Template] = {}
    for tpl in (subject, text):
        check_safe(plain, tpl)
        try:
            compiled[tpl.kind] = plain.get_template(tpl.key)
        except TemplateSyntaxError as exc:
            raise _syntax_error(tpl, exc) from None
    html_template = None
    if html is not None:
        rich = make_environment({html.key: html.source}, autoescape=True)
        check_safe(rich, html)
        templates[html.key] = html
        try:
            html_template = rich.get_template(html.key)
        except TemplateSyntaxError as exc:
            raise _syntax_error(html, exc) from None
    return Compiled(compiled["subject"], compiled["text"], html_template, templates)


def compiled(campaign: Campaign) -> Compiled:
    """The campaign's compiled templates (compiled on first use, then kept on the campaign)."""
    if campaign._compiled is None:
        campaign._compiled = compile_templates(campaign.subject, campaign.text, campaign.html)
    result: Compiled = campaign._compiled
    return result


def context_for(
    row: Mapping[str, str], facts: ContactFacts, globals_: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A recipient's template context: the environment's globals, their CSV row, ``row`` and ``contact``."""
    ctx: dict[str, Any] = dict(_GLOBALS if globals_ is None else globals_)
    ctx.update(row)
    if "" in row.values():
        ctx.update((k, Missing(k)) for k, v in row.items() if v == "")
    ctx["row"] = row if isinstance(row, MappingProxyType) else MappingProxyType(dict(row))
    ctx["contact"] = facts
    return ctx


@dataclass(frozen=True, slots=True)
class RenderFailure:
    """Why a template could not be rendered for one recipient."""

    template: TemplateSource
    line: int | None
    message: str

    @property
    def location(self) -> str:
        return f"{_file(self.template)}:{self.line}" if self.line else _file(self.template)


def _error_line(exc: BaseException, tpl: TemplateSource) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == tpl.key and frame.lineno:
            line = frame.lineno
    return None if line is None else tpl.first_line + line - 1


def render(template: Template, tpl: TemplateSource, context: dict[str, Any]) -> str | RenderFailure:
    """The rendered text, or a :class:`RenderFailure`; unsafe templates raise :class:`CampaignError`."""
    try:
        env = template.environment
        try:
            # Template.render() without copying the environment's globals (a ChainMap) into a new dict and
            # into the context's set of global names for every call: ``context`` already holds them (see
            # context_for), and that set only matters to ``{% import %}`` of a template whose globals
            # differ from the environment's, which no campaign template has.
            ctx = env.context_class(env, context, template.name, template.blocks)
            return env.concat(template.root_render_func(ctx))
        except Exception:
            env.handle_exception()
    except SecurityError as exc:
        line = _error_line(exc, tpl)
        where = f"{_file(tpl)}:{line}" if line else _file(tpl)
        raise CampaignError(f"{where}: unsafe template: {exc}") from None
    except UndefinedError as exc:
        return RenderFailure(tpl, _error_line(exc, tpl), str(exc.message or exc))
    except TemplateNotFound as exc:  # {% include %}, {% import %}, {% extends %} of anything but itself
        return RenderFailure(
            tpl, _error_line(exc, tpl), f"template {exc.name!r} not found: a campaign template cannot load other files"
        )
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as exc:
        return RenderFailure(tpl, _error_line(exc, tpl), f"cannot render: {exc}")


__all__ = [
    "Compiled",
    "ContactFacts",
    "Missing",
    "RenderFailure",
    "compile_templates",
    "compiled",
    "context_for",
    "make_environment",
    "render",
]
