"""Rendering campaign templates safely: a sandboxed, strict Jinja2 environment, compiled once per campaign.

- :class:`jinja2.sandbox.ImmutableSandboxedEnvironment`: no attribute starting with ``_``, no method
  that changes a list or dict; template-injection attempts (``{{ ''.__class__.__mro__ }}``,
  ``{{ cycler.__init__.__globals__ }}``, ``{{ self._TemplateReference__context }}`` …) are refused when
  the template is loaded (a static check of the syntax tree) and again when it renders, as a
  :class:`~outreach.errors.CampaignError` naming the template and line.
- Sizes a template chooses are bounded, so that one expression cannot allocate gigabytes
  (``{{ "x"|center(10**9) }}``, ``{{ "%999999999s" % 1 }}``, ``{{ "{:>{w}}".format(1, w=10**9) }}`` …);
  going beyond a bound is refused like an injection (``unsafe template: …`` with template and line):

  - :data:`MAX_SEQUENCE` (100,000) bounds ``range`` (the sandbox's own bound, a render error), the
    result of ``*`` on a string, bytes, list or tuple, every int argument of a filter (except those whose
    arguments are values, not sizes: :data:`VALUE_FILTERS`) and of any other call — str and bytes
    methods (``ljust``, ``zfill``, ``expandtabs`` …) included, the template's own constructs (macros,
    ``namespace``, ``dict``, ``cycler``, ``joiner``, ``loop.cycle``) excepted — and every width and
    precision of printf-style formatting (``%`` and ``|format``, ``*`` widths too) and of ``str.format``
    / ``format_map`` (nested ``{:>{w}}`` widths too, checked once substituted). A number above it can
    still be printed or formatted (``{{ "{:,}".format(1500000) }}``, ``{{ "%d" % 1500000 }}``).
  - :data:`MAX_POWER` (64) bounds the exponent of ``**``, and :data:`MAX_POWER_BITS` (4096) the int it
    makes (``((10**64)**64)**64`` …, a CPU-bound loop otherwise).
  - ``lipsum`` is not available: its arguments multiply (100,000 paragraphs of 100,000 words), and no
    campaign sends placeholder text.

  The bounds are per operation: operations that multiply bounded sizes
  (``("x\n" * 50000)|indent(100000)``, ``s.replace("x", s)``, ``[s] * 100000|join``, a loop that doubles
  a string in a ``namespace``, nested loops) are stopped by the render budget instead
  (:mod:`outreach.campaign.budget`: bounded memory and time for every render).
- :class:`jinja2.StrictUndefined`: a missing variable is an error for that recipient (rule T001), and so
  is printing ``None`` (an unknown relationship fact) or an empty CSV cell.
- autoescape for the HTML body only.

The context of one recipient is their CSV row (each column as a variable, and all of it as ``row``, a
read-only mapping) plus ``contact``, a frozen :class:`ContactFacts` from their ledger.
"""

from __future__ import annotations

import functools
import operator
import re
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
from jinja2.runtime import Context, LoopContext, Macro
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
    safe_range,
)
from jinja2.utils import Cycler, Joiner, Namespace, missing
from markupsafe import Markup, soft_str

from outreach.campaign.budget import BudgetExceeded, RenderTimeout, over_budget, timed
from outreach.campaign.model import Campaign
from outreach.errors import CampaignError
from outreach.ledger import Ledger
from outreach.lint.template import TemplateSource

#: The largest size a template may ask for: items of ``range``, length of the result of ``*``, an int
#: argument of a filter or a call, a width or precision in ``%`` / ``|format`` / ``str.format``.
MAX_SEQUENCE = 100_000
#: The largest exponent of ``**``.
MAX_POWER = 64
#: The largest int ``**`` may make, in bits (about 1,200 digits): bounded exponents can still be nested.
MAX_POWER_BITS = 4096
#: Filters whose extra arguments are values (a default, a start, what a test compares with), not sizes;
#: ``map`` passes its arguments to another filter, which checks them itself.  ``format`` checks its
#: format string instead (see :func:`_check_printf`).
VALUE_FILTERS = frozenset(
    {"default", "d", "sum", "int", "float", "groupby", "map", "select", "reject", "selectattr", "rejectattr"}
)
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


CONTACT_FIELDS: tuple[str, ...] = tuple(ContactFacts.__dataclass_fields__)


class CampaignUndefined(StrictUndefined):
    """Strict, with messages in the template's own words: ``compnay is not a column of the recipients
    CSV``, ``contact.tire is not a contact field (known: …)`` (not Jinja's Python-flavoured ones)."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        hint = self._undefined_hint
        if hint:
            return str(hint)
        obj, name = self._undefined_obj, self._undefined_name
        if obj is missing:
            return f"{name} is not a column of the recipients CSV nor a contact field"
        if type(obj) is ContactFacts:
            return f"contact.{name} is not a contact field (known: {', '.join(CONTACT_FIELDS)})"
        if isinstance(obj, MappingProxyType):
            return f"row.{name}: no such column in the recipients CSV"
        return f"{name} is not defined for a {type(obj).__name__} value"


def _finalize(value: Any) -> Any:
    if value is None:
        raise UndefinedError("a value is unknown for this recipient (None)")
    if type(value) is Missing:
        raise UndefinedError(f"{value.field} is empty for this recipient")
    return value


def _too_large(value: object) -> bool:
    return isinstance(value, int) and abs(value) > MAX_SEQUENCE


def _shown(number: int | str) -> str:
    """A number for an error message (not all of the digits of a huge one)."""
    if isinstance(number, int) and number.bit_length() > 64:
        return f"a number of about {number.bit_length() * 30103 // 100000 + 1} digits"
    text = str(number)
    return text if len(text) <= 20 else f"a number of {len(text)} digits"


def _check_sizes(what: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse an int argument beyond MAX_SEQUENCE (a count, a width, an indentation …)."""
    for value in (*args, *kwargs.values()):
        if _too_large(value):
            raise SecurityError(
                f"{what}: {_shown(value)} is too large for a count or width (at most {MAX_SEQUENCE})"
            )


def _check_width(digits: str, what: str) -> None:
    if len(digits) > len(str(MAX_SEQUENCE)) or int(digits) > MAX_SEQUENCE:
        raise SecurityError(f"{what} {_shown(digits)} is too large (at most {MAX_SEQUENCE})")


# After "%" and an optional "(key)": flags, width, precision, length modifier (CPython's grammar).
_PRINTF_SPEC = re.compile(r"[-+ #0]*(\*|[0-9]*)(?:\.(\*|[0-9]*))?[hlL]?")


def _check_printf(fmt: str | bytes, values: Any) -> None:
    """Refuse printf-style widths and precisions beyond MAX_SEQUENCE: digits, or ``*`` taken from ``values``."""
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    star = False
    i = text.find("%")
    while i >= 0:
        i += 1
        if text.startswith("(", i):  # a mapping key, whose parentheses may nest
            depth = 0
            while i < len(text):
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                i += 1
                if depth == 0:
                    break
        spec = _PRINTF_SPEC.match(text, i)
        assert spec is not None  # every part is optional
        for part, what in ((spec[1], "format width"), (spec[2], "format precision")):
            if part == "*":
                star = True
            elif part:
                _check_width(part, what)
        i = text.find("%", spec.end() + 1)  # after the conversion character (which may be "%")
    if star:
        for value in values if isinstance(values, tuple) else (values,):
            if _too_large(value):
                raise SecurityError(f"format width {_shown(value)} is too large (at most {MAX_SEQUENCE})")


def _check_format_spec(spec: str) -> None:
    """Refuse a str.format width or precision beyond MAX_SEQUENCE (any number in the spec, once nested
    fields are substituted; Unicode digits too, which str.format accepts)."""
    for digits in re.findall(r"\d+", spec):
        _check_width(digits, "format width or precision")


class _BoundedFormatter(SandboxedFormatter):
    def format_field(self, value: Any, format_spec: str) -> Any:
        _check_format_spec(format_spec)
        return super().format_field(value, format_spec)


class _BoundedEscapeFormatter(_BoundedFormatter, SandboxedEscapeFormatter):
    pass


class _BoundedFormat:
    """``str.format`` / ``str.format_map`` of a string, as the sandbox hands it to a template, with widths
    and precisions bounded (its arguments are values: they are not size-checked)."""

    def __init__(self, env: CampaignSandbox, method: Any) -> None:
        text: str = method.__self__
        self._method = method
        self._text = text
        self._is_format_map = method.__name__ == "format_map"
        self._formatter: SandboxedFormatter = (
            _BoundedEscapeFormatter(env, escape=text.escape) if isinstance(text, Markup) else _BoundedFormatter(env)
        )

    def __repr__(self) -> str:
        return repr(self._method)

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        if self._is_format_map:
            if kwargs:
                raise TypeError("format_map() takes no keyword arguments")
            if len(args) != 1:
                raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
            return type(self._text)(self._formatter.vformat(self._text, (), args[0]))
        return type(self._text)(self._formatter.vformat(self._text, args, kwargs))


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` refusing int arguments (after the value) beyond MAX_SEQUENCE; ``format`` its widths instead."""
    skip = 1 if getattr(func, "jinja_pass_arg", None) is None else 2  # the context (or environment), the value

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        if name == "format":
            if len(args) >= skip:
                _check_printf(soft_str(args[skip - 1]), kwargs or args[skip:])
        elif name not in VALUE_FILTERS:
            _check_sizes(f"filter {name!r}", args[skip:], kwargs)
        return func(*args, **kwargs)

    return bounded


# Callables whose arguments are values kept or compared, not sizes: the template's own constructs.
_VALUE_CALLABLES: tuple[Any, ...] = (dict, Namespace, Cycler, Joiner, safe_range)  # range: bounded itself


def _takes_values(obj: Any) -> bool:
    return (
        any(obj is c for c in _VALUE_CALLABLES)
        or isinstance(obj, Macro | LoopContext | _BoundedFormat)
        or isinstance(getattr(obj, "__self__", None), LoopContext)  # loop.cycle(...), loop.changed(...)
    )


class CampaignSandbox(ImmutableSandboxedEnvironment):
    """The sandbox every campaign template renders in (see the module docstring for what it bounds)."""

    intercepted_binops = frozenset(["*", "**", "%"])

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _bounded_filter(name, func) for name, func in self.filters.items()}
        self.globals.pop("lipsum", None)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if type(obj) is ContactFacts:  # plain frozen data: only its fields are reachable
            return attr in ContactFacts.__dataclass_fields__
        return bool(super().is_safe_attribute(obj, attr, value))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` and ``str.format_map`` with bounded widths (the sandbox's, with our formatter)."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        return _BoundedFormat(self, value)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        if not _takes_values(obj):
            name = getattr(obj, "__qualname__", None) or type(obj).__name__
            _check_sizes(f"{name}()", args, kwargs)
        return super().call(context, obj, *args, **kwargs)

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            if isinstance(right, int | float) and abs(right) > MAX_POWER:
                raise SecurityError(f"exponent {right} is too large")
            if isinstance(left, int) and isinstance(right, int) and left.bit_length() * right > MAX_POWER_BITS:
                raise SecurityError("the result of ** would be too large")  # ((10**64)**64)**64 …
            return operator.pow(left, right)
        if operator_ == "%":
            if isinstance(left, str | bytes):  # printf-style formatting, else a number's remainder
                _check_printf(left, right)
            return operator.mod(left, right)
        for seq, times in ((left, right), (right, left)):
            if (
                isinstance(seq, str | bytes | list | tuple)
                and isinstance(times, int)
                and len(seq) * times > MAX_SEQUENCE
            ):
                raise SecurityError("the result of * would be too large")
        return operator.mul(left, right)


# What every environment here has as globals: the sandbox's (its bounded ``range`` instead of the builtin,
# which let ``{{ range(10**9)|list }}`` eat all memory, since render() takes the globals from here).
# No ``lipsum`` (see the module docstring).
TEMPLATE_GLOBALS: dict[str, Any] = {
    **{name: value for name, value in DEFAULT_NAMESPACE.items() if name != "lipsum"},
    "range": safe_range,
}


def make_environment(sources: Mapping[str, str], autoescape: bool) -> ImmutableSandboxedEnvironment:
    def load(name: str) -> tuple[str, str, Callable[[], bool]] | None:
        source = sources.get(name)
        return None if source is None else (source, name, lambda: True)

    env = CampaignSandbox(
        loader=FunctionLoader(load),
        undefined=CampaignUndefined,
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
    ctx: dict[str, Any] = dict(TEMPLATE_GLOBALS if globals_ is None else globals_)
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
    """The rendered text, or a :class:`RenderFailure`; unsafe templates raise :class:`CampaignError`, a
    render over its budget (within :func:`~outreach.campaign.budget.render_budget`) :class:`BudgetExceeded`."""
    try:
        env = template.environment
        try:
            # Template.render() without copying the environment's globals (a ChainMap) into a new dict and
            # into the context's set of global names for every call: ``context`` already holds them (see
            # context_for), and that set only matters to ``{% import %}`` of a template whose globals
            # differ from the environment's, which no campaign template has.
            ctx = env.context_class(env, context, template.name, template.blocks)
            with timed():
                return env.concat(template.root_render_func(ctx))
        except Exception:
            env.handle_exception()
    except (RenderTimeout, MemoryError) as exc:  # over the render budget (outreach.campaign.budget)
        line = _error_line(exc, tpl)
        raise BudgetExceeded(over_budget(exc), f"{_file(tpl)}:{line}" if line else _file(tpl)) from None
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
    "CONTACT_FIELDS",
    "RESERVED",
    "TEMPLATE_GLOBALS",
    "CampaignSandbox",
    "CampaignUndefined",
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
