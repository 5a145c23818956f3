"""Evaluating a campaign recipient by recipient: the checks behind every rule of the registry.

:func:`evaluate` reads the store in a fixed number of queries (the light ledgers of all recipients: the
figures the rules read, see :func:`load_ledgers_light`; the suppression list; recent campaign sends) and
hands the data to :func:`evaluate_data`, which is pure: the rule cases and the benchmarks call it
directly. Templates are compiled once per campaign. The evidence of a recipient finding is built when
it is first shown (JSON, HTML, ``--show``), reading the evidence lines it quotes then; a table shows
verdicts and reasons only and never pays for it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import NamedTuple

from sqlalchemy import select as sql_select
from sqlalchemy.orm import Session

from outreach.campaign.model import (
    AllowEntry,
    Campaign,
    CampaignReport,
    InlineSuppression,
    Policy,
    Recipient,
    RecipientReport,
    Rendered,
    SuppressedFinding,
    TemplateSource,
    Verdict,
)
from outreach.campaign.render import ContactFacts, RenderFailure, compiled, context_for, render
from outreach.config import Settings
from outreach.errors import CampaignError
from outreach.gcpause import collector_paused
from outreach.ledger import TEAM_SCOPE, EvidenceLine, LastAsk, Ledger, load_ledgers
from outreach.ledger.store import LIGHT_EVIDENCE, add_evidence, load_ledgers_light
from outreach.lint.findings import SEVERITY_RANK, DeferredEvidence, Evidence, Finding
from outreach.lint.registry import all_rules, get_rule, resolve_codes
from outreach.lint.text import Match, find_asks, find_familiarity, find_placeholders, html_to_text, line_of
from outreach.store.models import SendLog
from outreach.suppression import SuppressionEntry, SuppressionList, load_suppressions

COLD_TIERS = ("none", "one-way")
MAX_EVIDENCE = 5
RECIPIENT_CODES = ("R001", "R002", "R003", "R004", "R005", "R006", "R007", "R008")
# findings that quote ledger evidence, and the figures they quote
EVIDENCE_FIGURES: dict[str, tuple[str, ...]] = {
    "R002": ("unanswered_outbound", "sent", "received"),
    "R003": ("last_two_way", "two_way_threads"),
    "R004": ("asks_by_us", "offers_by_us"),
    "R006": ("asks_by_us",),
    "R007": ("opt_outs",),
}
# the recipient findings that quote evidence lines light ledgers do not carry
DEFERRED_CODES = frozenset(
    code for code, figures in EVIDENCE_FIGURES.items() if not set(figures) <= set(LIGHT_EVIDENCE)
)
# codes implemented here, by scope; tests compare them with the registry
IMPLEMENTED = frozenset(RECIPIENT_CODES + ("T001", "T002", "T003", "T004", "M001", "M002", "H001"))


@dataclass(frozen=True, slots=True)
class Send:
    """A campaign message recorded as sent in the store's send log."""

    campaign: str
    date: datetime


@dataclass
class StoreData:
    """What evaluation reads from the store."""

    ledgers: Mapping[str, Ledger]
    suppressions: SuppressionList = field(default_factory=SuppressionList)
    sends: Mapping[str, Sequence[Send]] = field(default_factory=dict)
    # with light ledgers (load_ledgers_light): reads the evidence lines of figures (address -> figure
    # names) into them, called when a deferred finding is first shown
    evidence_loader: Callable[[Mapping[str, Iterable[str]]], None] | None = None


# ---------------------------------------------------------------------------------------- store reads


def load_sends(
    session: Session, since: datetime, exclude_campaign: str | None, addresses: Iterable[str] | None = None
) -> dict[str, list[Send]]:
    """Campaign messages sent since ``since`` (other campaigns than ``exclude_campaign``), by recipient."""
    query = sql_select(SendLog.recipient, SendLog.campaign, SendLog.sent_at).where(
        SendLog.status == "sent", SendLog.sent_at >= since
    )
    if exclude_campaign is not None:
        query = query.where(SendLog.campaign != exclude_campaign)
    wanted = None if addresses is None else set(addresses)
    sends: dict[str, list[Send]] = {}
    for recipient, campaign, sent_at in session.execute(query):
        address = recipient.strip().lower()
        if (wanted is None or address in wanted) and sent_at is not None:
            sends.setdefault(address, []).append(Send(campaign, sent_at))
    return sends


def effective_policy(
    campaign: Campaign | None,
    settings: Settings | None,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
) -> Policy:
    """Defaults < config ``[lint]`` < campaign ``[policy]`` < command line (ignore lists add up)."""
    policy = Policy()
    if settings is not None:
        policy = policy.merged(settings.section("lint"), f"{settings.config_path or 'config'}: [lint]")
    if campaign is not None:
        policy = policy.merged(campaign.policy_table, f"{campaign.path / 'campaign.toml'}: [policy]")
    if select:
        policy = replace(policy, select=tuple(select))
    if ignore:
        policy = replace(policy, ignore=tuple(dict.fromkeys(policy.ignore + tuple(ignore))))
    return policy


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------- recipient rules


def _lines(ledger: Ledger, figure: str, label: str, last: bool = True) -> list[Evidence]:
    lines = ledger.evidence.get(figure, [])
    chosen = lines[-MAX_EVIDENCE:] if last else lines[:MAX_EVIDENCE]
    return [Evidence.from_line(line, label) for line in chosen]


def _day(value: datetime | None) -> str:
    return value.date().isoformat() if value else "never"


class RecipientRules:
    """R001–R008, set up once for an evaluation (policy, enabled rules, suppression list, time).

    Each rule decides and words its finding from the ledger's figures; its evidence is built by the
    matching ``_evidence_*`` method, right away or, with an :class:`_EvidenceReader`, when first shown.
    """

    def __init__(
        self, policy: Policy, enabled: frozenset[str], suppressions: SuppressionList, now: datetime
    ) -> None:
        self.policy = policy
        self.enabled = enabled
        self.suppressions = suppressions
        self.now = now
        self.since = now - timedelta(days=policy.cooldown_days)  # R006: asks and sends from then on
        self.until = now + timedelta(days=1)
        self.r001, self.r002, self.r003, self.r004, self.r005, self.r006 = (
            code in enabled for code in ("R001", "R002", "R003", "R004", "R005", "R006")
        )
        self.deficit = -policy.deficit_margin

    def check(
        self, address: str, ledger: Ledger, sends: Sequence[Send], reader: _EvidenceReader | None = None
    ) -> list[Finding]:
        """The findings of one recipient; with ``reader``, their evidence is left to it (see
        :class:`_EvidenceReader`), and the ledger may be light (see :func:`load_ledgers_light`)."""
        out: list[Finding] = []
        tier = ledger.tier
        policy = self.policy
        if tier == "none" and self.r001:
            out.append(
                get_rule("R001").finding(
                    "never exchanged personal mail (tier none)",
                    self._evidence_r001(address, ledger) if reader is None else reader.defer(address, "R001"),
                )
            )
        if tier == "one-way" and self.r002:
            if ledger.sent and not ledger.personal_received:
                message = f"mail only went one way: we wrote {ledger.sent} time(s), they never answered"
            elif ledger.personal_received and not ledger.sent:
                message = (
                    f"mail only went one way: they wrote {ledger.personal_received} time(s), "
                    "we never answered"
                )
            else:
                message = "mail only went one way (tier one-way)"
            out.append(
                get_rule("R002").finding(
                    message, self._evidence_r002(ledger) if reader is None else reader.defer(address, "R002")
                )
            )
        last_two_way = _aware(ledger.last_two_way)
        if self.r003 and last_two_way is not None:
            age = (self.now - last_two_way).days
            if age > policy.stale_days:
                out.append(
                    get_rule("R003").finding(
                        f"last two-way exchange {age // 30} months ago ({_day(last_two_way)})",
                        self._evidence_r003(ledger, last_two_way, age)
                        if reader is None
                        else reader.defer(address, "R003"),
                    )
                )
        balance = ledger.balance
        if self.r004 and balance <= self.deficit and balance < 0:
            out.append(
                get_rule("R004").finding(
                    f"we asked more than we gave (balance {balance:+.1f}, {ledger.asks_by_us} asks by us)",
                    self._evidence_r004(ledger) if reader is None else reader.defer(address, "R004"),
                )
            )
        last_ask = ledger.last_ask_by_us
        if self.r005 and last_ask is not None and not last_ask.answered:
            line = last_ask.evidence
            out.append(
                get_rule("R005").finding(
                    f'our last ask ({_day(line.date)}, "{line.subject or "(no subject)"}") got no reply',
                    [Evidence.from_line(line, "our unanswered ask")]
                    if reader is None
                    else reader.defer(address, "R005"),
                )
            )
        asks = ledger.evidence.get("asks_by_us")
        if self.r006 and (asks or last_ask is not None or sends):
            recent = self._recent(asks or (), last_ask, sends)
            if recent:
                latest = recent[-1][0]
                days = max((self.now - latest).days, 0)
                out.append(
                    get_rule("R006").finding(
                        f"we asked them {days} day(s) ago ({_day(latest)}; "
                        f"cooldown {policy.cooldown_days} days)",
                        self._evidence_r006(recent) if reader is None else reader.defer(address, "R006"),
                    )
                )
        if ledger.opt_outs > 0:  # R007 is always enabled
            lines = ledger.evidence.get("opt_outs", [])[-MAX_EVIDENCE:]
            sentence = next((line.sentence for line in lines if line.sentence), None)
            out.append(
                get_rule("R007").finding(
                    "they asked us to stop writing" + (f': "{sentence}"' if sentence else ""),
                    self._evidence_r007(ledger) if reader is None else reader.defer(address, "R007"),
                )
            )
        blocked = self.suppressions.match(address)
        if blocked is not None:  # R008 is always enabled
            reason = f" ({blocked.reason})" if blocked.reason else ""
            out.append(
                get_rule("R008").finding(
                    f"on the team's suppression list: {blocked.kind} {blocked.value}{reason}",
                    self._evidence_r008(blocked) if reader is None else reader.defer(address, "R008"),
                )
            )
        return out

    def _evidence_r001(self, address: str, ledger: Ledger) -> list[Evidence]:
        scope = "the team's mail" if ledger.scope == TEAM_SCOPE else f"mailbox {ledger.scope}'s mail"
        facts = [Evidence(f"no personal mail exchanged with {address} in {scope}")]
        if ledger.received and not ledger.personal_received:
            facts.append(
                Evidence(f"the {ledger.received} message(s) from them were bulk, list or automated mail")
            )
        return facts

    def _evidence_r002(self, ledger: Ledger) -> list[Evidence]:
        facts = [
            Evidence(
                f"we sent {ledger.sent} message(s), they sent {ledger.personal_received} personal "
                "message(s); no two-way thread"
            )
        ]
        ours = _lines(ledger, "unanswered_outbound", "we wrote, no answer")
        ours = ours or _lines(ledger, "sent", "we wrote")
        return facts + ours + _lines(ledger, "received", "they wrote")

    def _evidence_r003(self, ledger: Ledger, last_two_way: datetime, age: int) -> list[Evidence]:
        stale_days = self.policy.stale_days
        evidence = [
            Evidence(
                f"last two-way exchange on {_day(last_two_way)}, {age} days ago "
                f"(stale after {stale_days} days)",
                date=last_two_way,
            )
        ]
        return (
            evidence
            + (
                _lines(ledger, "last_two_way", "last two-way exchange")
                or _lines(ledger, "two_way_threads", "last two-way exchange")
            )[-1:]
        )

    def _evidence_r004(self, ledger: Ledger) -> list[Evidence]:
        evidence = [
            Evidence(
                f"reciprocity balance {ledger.balance:+.1f}: {ledger.asks_by_us} ask(s) by us, "
                f"{ledger.offers_by_us} offer(s) by us, {ledger.their_asks_fulfilled} of their asks "
                f"honoured (margin {self.policy.deficit_margin:g})"
            )
        ]
        evidence += _lines(ledger, "asks_by_us", "our ask")
        return evidence + _lines(ledger, "offers_by_us", "our offer")

    def _recent(
        self, asks: Sequence[EvidenceLine], last_ask: LastAsk | None, sends: Sequence[Send]
    ) -> list[tuple[datetime, EvidenceLine | Send]]:
        """R006: our asks and the campaign sends within the cooldown, with their dates, oldest first."""
        since, until = self.since, self.until
        recent: list[tuple[datetime, EvidenceLine | Send]] = []
        for ask in [*asks, last_ask.evidence] if last_ask is not None else asks:
            date = _aware(ask.date)
            if date is not None and since <= date <= until:
                recent.append((date, ask))
        for send in sends:
            date = _aware(send.date)
            if date is not None and date >= since:
                recent.append((date, send))
        recent.sort(key=lambda item: item[0])
        return recent

    def _evidence_r006(self, recent: Sequence[tuple[datetime, EvidenceLine | Send]]) -> list[Evidence]:
        evidence = (
            Evidence(f"campaign {item.campaign!r} sent to them on {_day(date)}", date=date)
            if isinstance(item, Send)
            else Evidence.from_line(item, "our ask")
            for date, item in recent
        )
        return list(dict.fromkeys(evidence))[-MAX_EVIDENCE:]

    def _evidence_r007(self, ledger: Ledger) -> list[Evidence]:
        return _lines(ledger, "opt_outs", "they asked us to stop") or [
            Evidence(f"the ledger counts {ledger.opt_outs} opt-out request(s) from them")
        ]

    def _evidence_r008(self, blocked: SuppressionEntry) -> list[Evidence]:
        who = f", added by {blocked.added_by}" if blocked.added_by else ""
        when = f" on {_day(blocked.added_at)}" if blocked.added_at else ""
        reason = f" ({blocked.reason})" if blocked.reason else ""
        return [
            Evidence(
                f"suppression list: {blocked.kind} {blocked.value}{reason}{who}{when}", date=blocked.added_at
            )
        ]


def recipient_findings(
    address: str,
    ledger: Ledger,
    policy: Policy,
    enabled: frozenset[str],
    suppressions: SuppressionList,
    sends: Sequence[Send],
    now: datetime,
) -> list[Finding]:
    """R001–R008 for one recipient."""
    return RecipientRules(policy, enabled, suppressions, now).check(address, ledger, sends)


# ---------------------------------------------------------------------------------------- template rules

_JINJA_TAG = re.compile(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", re.DOTALL)


def _static_text(source: str) -> str:
    """A template's literal text: tags removed, ``{{ … }}`` as ``X``; line breaks kept in place."""

    def repl(match: re.Match[str]) -> str:
        tag = match.group()
        return ("X" if tag.startswith("{{") else "") + "\n" * tag.count("\n")

    return _JINJA_TAG.sub(repl, source)


@dataclass(frozen=True, slots=True)
class TemplateAsk:
    template: TemplateSource
    line: int
    match: Match


def template_asks(templates: Sequence[TemplateSource]) -> list[TemplateAsk]:
    """The asks a campaign's templates make (rule T004), with file and line."""
    found = []
    for tpl in templates:
        text = _static_text(tpl.source)
        if tpl.kind == "html":
            text = re.sub(r"<[^>]*>", lambda m: "\n" * m.group().count("\n") + " ", text)
        for match in find_asks(text):
            found.append(TemplateAsk(tpl, tpl.first_line + line_of(text, match.start) - 1, match))
    return found


def _text_of(rendered: Rendered) -> str:
    parts = [rendered.subject, rendered.text]
    if rendered.html is not None:
        parts.append(html_to_text(rendered.html))
    return "\n".join(parts)


def rendered_findings(
    rendered: Rendered, tier: str, enabled: frozenset[str], template_lines: Callable[[str], str | None]
) -> list[Finding]:
    """T002 and T003 on one recipient's rendered message."""
    out: list[Finding] = []
    text = _text_of(rendered)
    if "T002" in enabled:
        hits = find_placeholders(text)
        if hits:
            names = ", ".join(dict.fromkeys(repr(h.text) for h in hits))
            evidence = [
                Evidence(f'rendered text: "{h.sentence}"', sentence=h.sentence) for h in hits[:MAX_EVIDENCE]
            ]
            first = template_lines(hits[0].text)
            out.append(
                get_rule("T002").finding(
                    f"leftover placeholder {names} in the message",
                    evidence,
                    path=first.rsplit(":", 1)[0] if first else None,
                    line=int(first.rsplit(":", 1)[1]) if first else None,
                )
            )
    if "T003" in enabled and tier in COLD_TIERS:
        hits = find_familiarity(text)
        if hits:
            phrase = hits[0].text
            evidence = [Evidence(f"tier {tier}: no two-way exchange with them")]
            evidence += [
                Evidence(f'rendered text: "{h.sentence}"', sentence=h.sentence) for h in hits[:MAX_EVIDENCE]
            ]
            first = template_lines(phrase)
            out.append(
                get_rule("T003").finding(
                    f'"{phrase}" claims a relationship we do not have (tier {tier})',
                    evidence,
                    path=first.rsplit(":", 1)[0] if first else None,
                    line=int(first.rsplit(":", 1)[1]) if first else None,
                )
            )
    return out


def _template_locator(templates: Sequence[TemplateSource]) -> Callable[[str], str | None]:
    cache: dict[str, str | None] = {}

    def locate(snippet: str) -> str | None:
        if snippet not in cache:
            cache[snippet] = None
            for tpl in templates:
                index = tpl.source.lower().find(snippet.lower())
                if index >= 0:
                    cache[snippet] = f"{tpl.name}:{tpl.first_line + line_of(tpl.source, index) - 1}"
                    break
        return cache[snippet]

    return locate


def _normalise(body: str, values: Iterable[str]) -> str:
    for value in sorted({v for v in values if 2 <= len(v) <= 40}, key=len, reverse=True):
        body = body.replace(value, "\x00")
    return " ".join(body.split()).lower()


# ---------------------------------------------------------------------------------------- evaluation


@dataclass
class _Usage:
    used: set[str] = field(default_factory=set)  # sources of suppressions that suppressed something


def _apply_suppressions(
    findings: list[Finding],
    address: str,
    inline: Sequence[InlineSuppression],
    allow: Sequence[AllowEntry],
    usage: _Usage,
) -> tuple[list[Finding], list[SuppressedFinding]]:
    if not findings or not (inline or allow):
        return findings, []
    kept: list[Finding] = []
    suppressed: list[SuppressedFinding] = []
    entries = [e for e in allow if e.matches(address)]
    for finding in findings:
        by: InlineSuppression | AllowEntry | None = None
        if get_rule(finding.code).overridable:
            by = next((s for s in inline if finding.code in s.codes), None) or next(
                (e for e in entries if finding.code in e.codes), None
            )
        if by is None:
            kept.append(finding)
        else:
            usage.used.add(by.source)
            suppressed.append(SuppressedFinding(finding, by.source, by.reason))
    return kept, suppressed


def _verdict(findings: Sequence[Finding]) -> Verdict:
    worst = max((SEVERITY_RANK[f.severity] for f in findings), default=0)
    return "BLOCKED" if worst >= 2 else "REVIEW" if worst == 1 else "READY"


class _EvidenceReader:
    """Builds the evidence of recipient findings when it is first shown, reading from the store the
    evidence lines that light ledgers lack.

    The first recipient asked for is done alone (``preview --show`` shows one); the next one does every
    recipient still pending, with one batch of queries (JSON and HTML outputs show them all). The
    recipient's findings are computed again with evidence, on the completed ledger, and each deferred
    finding takes the evidence of its twin.
    """

    def __init__(
        self,
        load: Callable[[Mapping[str, Iterable[str]]], None],
        findings_of: Callable[[str], list[Finding]],
    ) -> None:
        self.load = load
        self.findings_of = findings_of
        self.pending: dict[str, str] = {}  # address -> the codes of its deferred findings, end to end
        self.read: dict[str, dict[str, Sequence[Evidence]]] = {}

    def defer(self, address: str, code: str) -> DeferredEvidence:
        """The evidence of the finding ``code`` of ``address``, built when first used."""
        self.pending[address] = self.pending.get(address, "") + code
        return _Deferred(self, address, code)

    def evidence(self, address: str, code: str) -> Sequence[Evidence]:
        if address not in self.read:
            if self.read:
                batch, self.pending = self.pending, {}
            else:
                batch = {address: self.pending.pop(address, "")}
            needed: dict[str, set[str]] = {}
            for each, codes in batch.items():
                for deferred in DEFERRED_CODES:
                    if deferred in codes:
                        needed.setdefault(each, set()).update(EVIDENCE_FIGURES[deferred])
            with collector_paused():  # thousands of evidence lines that live as long as the report
                if needed:
                    self.load(needed)
                for each in batch:
                    self.read[each] = {f.code: f.evidence for f in self.findings_of(each)}
        # (empty if the store changed in between and the rule no longer fires)
        return self.read[address].get(code, ())


class _Deferred(DeferredEvidence):
    """The evidence of one finding, from an :class:`_EvidenceReader` (a few slots: no closure)."""

    __slots__ = ("reader", "address", "code")

    def __init__(self, reader: _EvidenceReader, address: str, code: str) -> None:
        super().__init__()
        self.reader, self.address, self.code = reader, address, code

    def _compute(self) -> Sequence[Evidence]:
        return self.reader.evidence(self.address, self.code)


class _Row(NamedTuple):
    recipient: Recipient
    ledger: Ledger
    findings: list[Finding]
    rendered: Rendered | None


def _most_common_body(rows: Sequence[_Row], share: float) -> tuple[str, int, int] | None:
    """M002: the most common rendered text body once CSV values are removed, how many recipients get it
    and out of how many rendered bodies; None when there are fewer than two, or when no body reaches
    ``share`` of them.

    Bodies are normalised one by one until no body can reach ``share`` any more (in a personalised
    campaign, after a fifth of the recipients): the result is the same as normalising them all.
    """
    rendered = [row for row in rows if row.rendered is not None]
    total = len(rendered)
    if total < 2:
        return None
    counts: Counter[str] = Counter()
    best = 0
    for done, (recipient, ledger, _, message) in enumerate(rendered):
        if (best + total - done) / total < share:
            return None  # the largest count will be at most best + total - done
        assert message is not None
        values = list(recipient.row.values()) + ([ledger.name] if ledger.name else [])
        normal = _normalise(message.text, values)
        counts[normal] += 1
        best = max(best, counts[normal])
    body, count = counts.most_common(1)[0]
    return body, count, total


@cache
def _finding_order() -> dict[str, tuple[int, bool, str]]:
    """The sort key of the findings of a rule: most severe first, recipient rules before campaign rules."""
    return {r.code: (-SEVERITY_RANK[r.severity], r.scope == "campaign", r.code) for r in all_rules()}


def evaluate_data(
    campaign: Campaign,
    data: StoreData,
    policy: Policy | None = None,
    now: datetime | None = None,
    extra_warnings: Sequence[str] = (),
) -> CampaignReport:
    """Evaluate ``campaign`` against ledgers and lists already read from the store (pure).

    With ``data.evidence_loader``, the ledgers are light (see :func:`load_ledgers_light`): the findings
    that quote other evidence lines get a :class:`DeferredEvidence` that reads them when first shown.
    """
    policy = policy or campaign.policy
    now = _now(now)
    enabled, warnings = resolve_codes(policy.select, policy.ignore, "select/ignore")
    warnings = list(extra_warnings) + list(campaign.warnings) + warnings
    templates = compiled(campaign)
    locate = _template_locator(campaign.templates)
    allow_entries = campaign.allow
    inline = campaign.inline_suppressions
    usage = _Usage()
    ledgers = data.ledgers
    suppressions = data.suppressions
    sends = data.sends
    rules = RecipientRules(policy, enabled, suppressions, now)
    reader: _EvidenceReader | None = None
    if data.evidence_loader is not None:
        loader = data.evidence_loader

        def full_findings(address: str) -> list[Finding]:
            ledger = ledgers.get(address) or Ledger.unknown(address)
            return rules.check(address, ledger, sends.get(address, ()))

        reader = _EvidenceReader(loader, full_findings)
    subject_tpl, text_tpl, html_tpl = templates.subject, templates.text, templates.html
    html_src = campaign.html if html_tpl is not None else None
    t001 = "T001" in enabled
    no_sends: tuple[Send, ...] = ()

    # -- per recipient: ledger rules, rendering, rendered-text rules
    rows: list[_Row] = []
    for recipient in campaign.recipients:
        address = recipient.address
        ledger = ledgers.get(address) or Ledger.unknown(address)
        findings = rules.check(address, ledger, sends.get(address, no_sends), reader)
        context = context_for(recipient.row, ContactFacts.from_ledger(ledger))
        subject = render(subject_tpl, campaign.subject, context)
        text = render(text_tpl, campaign.text, context)
        html = None if html_src is None or html_tpl is None else render(html_tpl, html_src, context)
        rendered: Rendered | None = None
        if not (
            isinstance(subject, RenderFailure)
            or isinstance(text, RenderFailure)
            or isinstance(html, RenderFailure)
        ):
            body = str(text)
            rendered = Rendered(" ".join(str(subject).split()), body, None if html is None else str(html))
            findings += rendered_findings(rendered, ledger.tier, enabled, locate)
        elif t001:
            for failure in (subject, text, html):
                if isinstance(failure, RenderFailure):
                    findings.append(
                        get_rule("T001").finding(
                            f"{failure.message} ({failure.location})",
                            [Evidence(f"{failure.location}: {failure.message}")],
                            path=failure.template.name,
                            line=failure.line,
                        )
                    )
        rows.append(_Row(recipient, ledger, findings, rendered))

    # -- campaign rules
    campaign_findings: list[Finding] = []
    asks = template_asks(campaign.templates)
    if asks and "T004" in enabled:
        first = asks[0]
        campaign_findings.append(
            get_rule("T004").finding(
                f'the template asks a favour: "{first.match.sentence}"',
                [
                    Evidence(f'{a.template.name}:{a.line}: "{a.match.sentence}"', sentence=a.match.sentence)
                    for a in asks[:MAX_EVIDENCE]
                ],
                path=first.template.name,
                line=first.line,
            )
        )
    total = len(rows)
    if asks and "M001" in enabled and total >= max(policy.mass_min_recipients, 1):
        cold = []
        for recipient, ledger, *_ in rows:
            if ledger.tier not in COLD_TIERS:
                continue
            introduced = any(
                e.matches(recipient.address) and {"R001", "R002"} & set(e.codes) for e in allow_entries
            )
            if not introduced:
                cold.append((recipient.address, ledger.tier))
        share = len(cold) / total
        if cold and share >= policy.mass_share:
            evidence = [
                Evidence(
                    f'the ask: "{asks[0].match.sentence}" ({asks[0].template.name}:{asks[0].line})',
                    sentence=asks[0].match.sentence,
                ),
                Evidence(
                    f"{len(cold)} of {total} recipients ({share:.0%}) are tier none or one-way "
                    f"(threshold {policy.mass_share:.0%})"
                ),
            ]
            evidence += [Evidence(f"{address}: tier {tier}") for address, tier in cold[:MAX_EVIDENCE]]
            campaign_findings.append(
                get_rule("M001").finding(
                    f"mass favour ask: {len(cold)} of {total} recipients ({share:.0%}) "
                    "never had a two-way exchange "
                    "with us",
                    evidence,
                )
            )
    common = _most_common_body(rows, policy.identical_share)
    near_identical = False
    if common is not None:
        body, count, bodies = common
        near_identical = count / bodies >= policy.identical_share
        if near_identical and "M002" in enabled:
            sample = body.replace("\x00", "…")[:160]
            campaign_findings.append(
                get_rule("M002").finding(
                    f"{count} of {bodies} messages are identical but for names and short fields",
                    [
                        Evidence(
                            f"{count} of {bodies} rendered bodies are the same "
                            "once CSV values are removed "
                            f"(threshold {policy.identical_share:.0%})"
                        ),
                        Evidence(f'common body: "{sample}"'),
                    ],
                )
            )
    bulk = total > policy.bulk_recipients or (total > 1 and near_identical)
    if bulk and "H001" in enabled and not campaign.unsubscribe.one_click:
        why = f"{total} recipients" + (", near-identical bodies" if near_identical else "")
        campaign_findings.append(
            get_rule("H001").finding(
                f"bulk campaign ({why}) without one-click unsubscribe (RFC 8058 List-Unsubscribe/-Post)",
                [
                    Evidence(
                        'campaign.toml has no [unsubscribe] url = "https://…"'
                        if not campaign.unsubscribe.url
                        else f"[unsubscribe] url {campaign.unsubscribe.url} is not https"
                    )
                ],
            )
        )
    campaign_findings, campaign_suppressed = _apply_suppressions(campaign_findings, "", inline, (), usage)
    shared = [f for f in campaign_findings if f.severity != "info"]

    # -- verdicts
    order = _finding_order()
    reports: list[RecipientReport] = []
    counts = {"READY": 0, "REVIEW": 0, "BLOCKED": 0}
    suppressing = bool(inline or allow_entries)
    shared_suppressed = [s for s in campaign_suppressed if s.finding.severity != "info"]
    for recipient, ledger, findings, rendered in rows:
        suppressed: list[SuppressedFinding] = []
        if shared:
            findings = findings + shared
        if suppressing:
            findings, suppressed = _apply_suppressions(
                findings, recipient.address, inline, allow_entries, usage
            )
        if shared_suppressed:
            suppressed = shared_suppressed + suppressed
        verdict = _verdict(findings)
        counts[verdict] += 1
        if len(findings) > 1:
            findings.sort(key=lambda f: order[f.code])
        reports.append(
            RecipientReport(
                address=recipient.address,
                row=recipient.row,
                verdict=verdict,
                findings=findings,
                rendered=rendered,
                review_allowed=verdict != "BLOCKED",
                ledger=ledger,
                line=recipient.line,
                suppressed=suppressed,
            )
        )
    for sup in inline:
        if sup.source not in usage.used:
            warnings.append(f"{sup.source}: suppression of {', '.join(sup.codes)} matched nothing (unused)")
    for entry in allow_entries:
        if entry.source not in usage.used:
            warnings.append(
                f"{entry.source}: allow entry for {entry.address} ({', '.join(entry.codes)}) "
                "matched nothing (unused)"
            )
    return CampaignReport(campaign, reports, campaign_findings, counts, warnings)


def evaluate(
    session: Session,
    campaign: Campaign,
    settings: Settings | None = None,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    *,
    now: datetime | None = None,
) -> CampaignReport:
    """Lint every recipient of ``campaign`` against the store; one query batch, templates compiled once.

    The evidence lines that findings quote but no rule decides on are read from the store (through
    ``session``) when a finding's evidence is first used: JSON, HTML and ``--show`` outputs read them, a
    table does not. Call :meth:`CampaignReport.load_evidence` to read them all while the store is open.
    """
    with collector_paused():
        return _evaluate(session, campaign, settings, select, ignore, now)


def _evaluate(
    session: Session,
    campaign: Campaign,
    settings: Settings | None,
    select: Sequence[str],
    ignore: Sequence[str],
    now: datetime | None,
) -> CampaignReport:
    policy = effective_policy(campaign, settings, select, ignore)
    now = _now(now)
    scope = TEAM_SCOPE if policy.scope == "team" else campaign.mailbox
    addresses = [r.address for r in campaign.recipients]
    warnings: list[str] = []
    if policy.scope == "mailbox":
        from outreach.store.models import Mailbox

        if session.scalar(sql_select(Mailbox.id).where(Mailbox.name == campaign.mailbox)) is None:
            raise CampaignError(
                f"{campaign.path / 'campaign.toml'}: mailbox {campaign.mailbox!r} is not in the store"
            )
    ledgers = load_ledgers_light(session, addresses, scope, now - timedelta(days=policy.cooldown_days))

    def read_evidence(needed: Mapping[str, Iterable[str]]) -> None:
        # later, maybe once the caller closed the session (it can be used again): a read transaction
        # begun here ends here
        idle = not session.in_transaction()
        try:
            add_evidence(session, ledgers, needed, scope)
        finally:
            if idle:
                session.rollback()

    data = StoreData(
        ledgers=ledgers,
        suppressions=load_suppressions(session),
        sends=load_sends(session, now - timedelta(days=policy.cooldown_days), campaign.name, addresses),
        evidence_loader=read_evidence,
    )
    return evaluate_data(campaign, data, policy, now, warnings)


def check_address(
    session: Session,
    address: str,
    settings: Settings | None = None,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    *,
    scope: str = TEAM_SCOPE,
    campaign: Campaign | None = None,
    allow: Sequence[AllowEntry] | None = None,
    now: datetime | None = None,
) -> list[Finding]:
    """The recipient rules (R001–R008) for one address, e.g. a last check right before sending.

    With ``campaign``, its policy, allow entries and name (its own sends do not count for R006) apply.
    """
    policy = effective_policy(campaign, settings, select, ignore)
    enabled, _ = resolve_codes(policy.select, policy.ignore, "select/ignore")
    now = _now(now)
    normal = address.strip().lower()
    if campaign is not None and policy.scope == "mailbox":
        scope = campaign.mailbox
    ledger = load_ledgers(session, [normal], scope)[normal]
    sends = load_sends(
        session, now - timedelta(days=policy.cooldown_days), campaign.name if campaign else None, [normal]
    ).get(normal, [])
    findings = recipient_findings(normal, ledger, policy, enabled, load_suppressions(session), sends, now)
    entries = list(allow) if allow is not None else (campaign.allow if campaign else [])
    kept, _ = _apply_suppressions(findings, normal, (), entries, _Usage())
    return kept


__all__ = [
    "IMPLEMENTED",
    "Send",
    "StoreData",
    "check_address",
    "effective_policy",
    "evaluate",
    "evaluate_data",
    "load_sends",
    "RecipientRules",
    "recipient_findings",
    "template_asks",
]
