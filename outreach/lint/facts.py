"""What the rules read: one input type per kind of check, built by the campaign's evaluation (or by
``outreach lint`` for a template alone), and the helpers the rules share to word their evidence.

- :class:`RecipientFacts` — one recipient's ledger and the campaign sends to them, with the evaluation's
  :class:`Moment` (policy, time, suppression list): the recipient rules (R…).
- :class:`RenderedFacts` — one recipient's rendered message, or why it could not be rendered: T001–T003.
- :class:`TemplateFacts` — a template on its own, as ``outreach lint`` sees it: T002–T004.
- :class:`CampaignFacts` — every recipient's row, ledger and body, and the campaign's templates,
  unsubscribe and allow entries: the campaign rules (T004, M…, H…).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from outreach.ledger import Ledger
from outreach.ledger.model import aware
from outreach.lint.findings import Evidence
from outreach.lint.policy import Policy
from outreach.lint.template import TemplateAsk, TemplateSource, template_asks, visible_text
from outreach.mail.parsing import html_to_text
from outreach.suppression import SuppressionList

MAX_EVIDENCE = 5  # evidence lines quoted by one finding
COLD_TIERS = ("none", "one-way")  # tiers of people we never had a two-way exchange with


def now_or_given(now: datetime | None) -> datetime:
    """``now`` as an aware datetime (naive means UTC), or the current time."""
    return datetime.now(UTC) if now is None else aware(now)


def maybe_aware(value: datetime | None) -> datetime | None:
    return None if value is None else aware(value)


def day(value: datetime | None) -> str:
    return value.date().isoformat() if value else "never"


def ledger_lines(ledger: Ledger, figure: str, label: str, last: bool = True) -> list[Evidence]:
    """The evidence lines of one of the ledger's figures (the last :data:`MAX_EVIDENCE`, or the first)."""
    lines = ledger.evidence.get(figure, [])
    chosen = lines[-MAX_EVIDENCE:] if last else lines[:MAX_EVIDENCE]
    return [Evidence.from_line(line, label) for line in chosen]


#: The ledger figures whose evidence lines say why we may ask a READY recipient (see positive_evidence).
POSITIVE_FIGURES = ("last_two_way", "two_way_threads", "their_asks_fulfilled", "offers_by_us", "thanks_received")


def positive_evidence(ledger: Ledger) -> list[Evidence]:
    """Why we may ask: the last two-way exchange and the two-way threads, the favours we gave (offers) and
    their asks we honoured, their thanks, a positive balance — each with the messages behind it."""
    out: list[Evidence] = []
    if ledger.last_two_way is not None:
        out.append(
            Evidence(
                f"personal mail both ways: last two-way exchange {day(ledger.last_two_way)}, "
                f"{ledger.two_way_threads} two-way thread(s), {ledger.exchanges} exchange(s)"
            )
        )
        out += ledger_lines(ledger, "last_two_way", "last two-way exchange")
        out += ledger_lines(ledger, "two_way_threads", "two-way thread")[-2:]
    if ledger.their_asks_fulfilled:
        out.append(Evidence(f"we honoured {ledger.their_asks_fulfilled} of their asks"))
        out += ledger_lines(ledger, "their_asks_fulfilled", "their ask we honoured")
    if ledger.offers_by_us:
        out.append(Evidence(f"we offered help {ledger.offers_by_us} time(s)"))
        out += ledger_lines(ledger, "offers_by_us", "we offered")
    out += ledger_lines(ledger, "thanks_received", "they thanked us")
    if ledger.balance > 0:
        out.append(Evidence(f"reciprocity balance {ledger.balance:+.1f}: we have given more than we asked"))
    return out


# ------------------------------------------------------------------------------------------ recipients


@dataclass(frozen=True, slots=True)
class Send:
    """A campaign message recorded as sent in the store's send log."""

    campaign: str
    date: datetime


class Moment:
    """What every recipient rule of one evaluation reads besides the recipient: the policy, the time (and
    the cooldown window it opens), the suppression list."""

    __slots__ = ("policy", "now", "since", "until", "suppressions")

    def __init__(self, policy: Policy, now: datetime, suppressions: SuppressionList) -> None:
        self.policy = policy
        self.now = now
        self.since = now - timedelta(days=policy.cooldown_days)  # R006: asks and sends from then on
        self.until = now + timedelta(days=1)
        self.suppressions = suppressions


class RecipientFacts:
    """One recipient as the recipient rules see them.

    The ledger may be light (see :func:`outreach.ledger.store.load_ledgers_light`): the figures are all
    there, the evidence lines of some figures are not. A rule's check reads figures only; its evidence,
    built when first shown, gets the ledger complete. One object may serve recipient after recipient: a
    check keeps nothing of it.
    """

    __slots__ = ("moment", "policy", "address", "ledger", "sends")

    def __init__(self, moment: Moment, address: str, ledger: Ledger, sends: Sequence[Send]) -> None:
        self.moment = moment
        self.policy = moment.policy
        self.address = address
        self.ledger = ledger
        self.sends = sends


# -------------------------------------------------------------------------------------- rendered message


class RenderProblem(NamedTuple):
    """Why a template could not be rendered for a recipient: where, and what went wrong."""

    path: str
    line: int | None
    location: str
    message: str


class RenderedFacts:
    """One recipient's rendered message (subject, text, HTML), or the problems that stopped it.

    :meth:`text` joins the subject, the text body and the visible text of the HTML body; the HTML is
    read as text only when a rule's quick test says it may hold what the rule looks for (reading HTML
    costs several times a rule's search).
    """

    __slots__ = ("tier", "subject", "body", "html", "problems", "locate", "rendered", "_plain", "_with_html")

    def __init__(
        self,
        tier: str,
        subject: str | None,
        body: str | None,
        html: str | None,
        problems: Sequence[RenderProblem],
        locate: Callable[[str], tuple[str, int] | None],
    ) -> None:
        self.tier = tier
        self.subject = subject
        self.body = body
        self.html = html
        self.problems = problems
        self.locate = locate  # snippet -> (template name, line) it came from
        self.rendered = subject is not None and body is not None
        self._plain = f"{subject}\n{body}"
        self._with_html: str | None = None

    def text(self, html_may_hold: Callable[[str], bool]) -> str:
        """Subject, text body and — when ``html_may_hold(html)`` — the HTML body's visible text."""
        if self.html is None or not html_may_hold(self.html):
            return self._plain
        if self._with_html is None:
            self._with_html = f"{self._plain}\n{html_to_text(self.html)}"
        return self._with_html


# -------------------------------------------------------------------------------------------- template


class TemplateVariable(NamedTuple):
    """A variable a template reads: a name (a CSV column, ``contact`` or ``row``), the field it reads of
    ``contact`` or ``row`` (``contact.tier``: "tier"), and the line (in the template's source) of its first use."""

    name: str
    field: str | None
    line: int


class TemplateFacts:
    """A template on its own (``outreach lint``): its source, what a reader sees of its literal text, what
    a stranger (tier ``none``, every other variable blank) would get (``as_stranger``), the variables it
    reads, the columns of the campaign's recipients CSV (``columns``; None for a template alone) and the
    fields of ``contact``."""

    __slots__ = ("template", "as_stranger", "variables", "columns", "contact_fields")

    def __init__(
        self,
        template: TemplateSource,
        as_stranger: Callable[[], str],
        variables: Sequence[TemplateVariable] = (),
        columns: Sequence[str] | None = None,
        contact_fields: Sequence[str] = (),
    ) -> None:
        self.template = template
        self.as_stranger = as_stranger
        self.variables = variables
        self.columns = columns
        self.contact_fields = contact_fields

    @property
    def visible(self) -> str:
        return visible_text(self.template)

    def stranger_visible(self) -> str:
        return visible_text(self.template, self.as_stranger())


# -------------------------------------------------------------------------------------------- campaign


class CampaignRow(NamedTuple):
    """One recipient of a campaign: address, CSV row, ledger, rendered text body (None: not rendered)."""

    address: str
    row: Mapping[str, str]
    ledger: Ledger
    body: str | None


def _normalise(body: str, values: Iterable[str]) -> str:
    for value in sorted({v for v in values if 2 <= len(v) <= 40}, key=len, reverse=True):
        body = body.replace(value, "\x00")
    return " ".join(body.split()).lower()


def most_common_body(rows: Sequence[CampaignRow], share: float) -> tuple[str, int, int] | None:
    """The most common rendered text body once CSV values are removed, how many recipients get it and
    out of how many rendered bodies; None when there are fewer than two, or when no body reaches
    ``share`` of them.

    Bodies are normalised one by one until no body can reach ``share`` any more (in a personalised
    campaign, after a fifth of the recipients): the result is the same as normalising them all.
    """
    rendered = [row for row in rows if row.body is not None]
    total = len(rendered)
    if total < 2:
        return None
    counts: Counter[str] = Counter()
    best = 0
    for done, (_, row, ledger, body) in enumerate(rendered):
        if (best + total - done) / total < share:
            return None  # the largest count will be at most best + total - done
        assert body is not None
        values = list(row.values()) + ([ledger.name] if ledger.name else [])
        normal = _normalise(body, values)
        counts[normal] += 1
        best = max(best, counts[normal])
    body, count = counts.most_common(1)[0]
    return body, count, total


@dataclass(frozen=True, slots=True)
class Unsubscribing:
    """The campaign's unsubscribe as the rules see it: its URL, and whether it is one-click (https)."""

    url: str | None
    one_click: bool


class CampaignFacts:
    """A campaign as a whole: every recipient (:class:`CampaignRow`), the templates, the policy, the
    unsubscribe, and whether the allow file lifts a rule for someone (``allowed(address, code)``).

    What several rules read is computed once, on first use: the templates' asks (T004, M001) and the most
    common body (M002, H001).
    """

    def __init__(
        self,
        policy: Policy,
        rows: Sequence[CampaignRow],
        templates: Sequence[TemplateSource],
        unsubscribe: Unsubscribing,
        allowed: Callable[[str, str], bool],
    ) -> None:
        self.policy = policy
        self.rows = rows
        self.templates = templates
        self.unsubscribe = unsubscribe
        self.allowed = allowed
        self._asks: list[TemplateAsk] | None = None
        self._common: tuple[tuple[str, int, int] | None] | None = None

    @property
    def asks(self) -> list[TemplateAsk]:
        if self._asks is None:
            self._asks = template_asks(self.templates)
        return self._asks

    @property
    def common_body(self) -> tuple[str, int, int] | None:
        """(body, recipients who get it, rendered bodies) when one body reaches ``identical_share``."""
        if self._common is None:
            self._common = (most_common_body(self.rows, self.policy.identical_share),)
        return self._common[0]

    @property
    def near_identical(self) -> bool:
        common = self.common_body
        return common is not None and common[1] / common[2] >= self.policy.identical_share


__all__ = [
    "COLD_TIERS",
    "POSITIVE_FIGURES",
    "CampaignFacts",
    "CampaignRow",
    "MAX_EVIDENCE",
    "Moment",
    "RecipientFacts",
    "RenderProblem",
    "RenderedFacts",
    "Send",
    "TemplateFacts",
    "TemplateVariable",
    "Unsubscribing",
    "day",
    "ledger_lines",
    "maybe_aware",
    "most_common_body",
    "now_or_given",
    "positive_evidence",
]
