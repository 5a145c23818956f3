"""Evaluating a campaign: read the store once, run the rules of the registry, give every recipient a verdict.

The rules themselves — what each checks, and how it words its finding — are the files of
:mod:`outreach.lint.rules`; this module only feeds them (:mod:`outreach.lint.facts`) and collects what
they find.

:func:`evaluate` reads the store in a fixed number of queries (the light ledgers of all recipients: the
figures the rules read, see :func:`load_ledgers_light`; the suppression list; recent campaign sends) and
hands the data to :func:`evaluate_data`, which is pure: the rule cases and the benchmarks call it
directly. Templates are compiled once per campaign. The evidence of a recipient finding is built when
it is first shown (JSON, HTML, ``--show``, see :mod:`outreach.campaign.evidence`); a table shows
verdicts and reasons only and never pays for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select as sql_select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from outreach.campaign.budget import BudgetExceeded, render_budget
from outreach.campaign.evidence import POSITIVE, EvidenceReader
from outreach.campaign.model import Campaign, CampaignReport, Recipient, RecipientReport, Rendered, Verdict
from outreach.campaign.paths import PathLines, read_evidence, read_judging
from outreach.campaign.render import ContactFacts, RenderFailure, compiled, context_for, render
from outreach.config import Settings
from outreach.errors import CampaignError, UsageError
from outreach.gcpause import collector_paused
from outreach.ledger import TEAM_SCOPE, Ledger, LedgerPolicy, load_ledgers
from outreach.ledger.history import mailbox_id_for
from outreach.ledger.paths import BestPath, Lines
from outreach.lint.facts import (
    CampaignFacts,
    CampaignRow,
    Moment,
    RecipientFacts,
    RenderedFacts,
    RenderProblem,
    Send,
    Unsubscribing,
    now_or_given,
    positive_evidence,
)
from outreach.lint.findings import SEVERITY_RANK, Evidence, Finding
from outreach.lint.policy import Policy
from outreach.lint.registry import all_rules, report_order, resolve_codes
from outreach.lint.rule import CampaignCheck, RecipientCheck, RecipientEvidence, RenderedCheck
from outreach.lint.suppressions import AllowEntry, SuppressedFinding, Usage, apply_suppressions, unused_warnings
from outreach.lint.template import locator
from outreach.signals.storage import refine_for
from outreach.store.models import SendLog
from outreach.suppression import SuppressionList, load_suppressions


@dataclass
class StoreData:
    """What evaluation reads from the store."""

    ledgers: Mapping[str, Ledger]
    suppressions: SuppressionList = field(default_factory=SuppressionList)
    sends: Mapping[str, Sequence[Send]] = field(default_factory=dict)
    # with light ledgers (load_ledgers_light): reads the evidence lines of figures (address -> figure
    # names) into them, called when a deferred finding is first shown
    evidence_loader: Callable[[Mapping[str, Iterable[str]]], None] | None = None
    # each recipient's best path (who on the team knows them), and the messages behind its relationships
    paths: Mapping[str, BestPath] = field(default_factory=dict)
    path_lines: Lines | None = None
    # with sender = "best": the mailboxes configured for sending (each ledger's scope is its sender)
    senders: frozenset[str] | None = None


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
    return policy.selected(tuple(select), tuple(ignore))


# ---------------------------------------------------------------------------------------- the rules


class _Checks:
    """The checks of the enabled rules, by what they look at."""

    def __init__(self, enabled: frozenset[str]) -> None:
        rules = [r for r in all_rules() if r.code in enabled]
        self.recipient: list[tuple[str, RecipientCheck, RecipientEvidence, Callable[..., Finding]]] = [
            (r.code, r.recipient, r.evidence, r.finding)
            for r in rules
            if r.recipient is not None and r.evidence is not None
        ]
        self.rendered: list[RenderedCheck] = [r.rendered for r in rules if r.rendered is not None]
        self.unrendered: list[RenderedCheck] = [r.unrendered for r in rules if r.unrendered is not None]
        self.campaign: list[CampaignCheck] = [
            r.campaign for r in sorted(rules, key=lambda r: report_order(r.code)) if r.campaign is not None
        ]

    def of_recipient(self, facts: RecipientFacts, reader: EvidenceReader | None = None) -> list[Finding]:
        """The recipient rules' findings; with ``reader``, their evidence is left to it."""
        out: list[Finding] = []
        for code, check, evidence, finding in self.recipient:
            message = check(facts)
            if message is not None:
                quoted = evidence(facts) if reader is None else reader.defer(facts.address, code)
                out.append(finding(message, quoted))
        return out


def _finding_order() -> dict[str, tuple[int, bool, str]]:
    """The sort key of the findings of a rule: most severe first, recipient rules before campaign rules."""
    return {r.code: (-SEVERITY_RANK[r.severity], r.scope == "campaign", r.code) for r in all_rules()}


def _verdict(findings: Sequence[Finding]) -> Verdict:
    worst = max((SEVERITY_RANK[f.severity] for f in findings), default=0)
    return "BLOCKED" if worst >= 2 else "REVIEW" if worst == 1 else "READY"


def _allowed(allow: Sequence[AllowEntry]) -> Callable[[str, str], bool]:
    """Whether an allow entry lifts a code for an address."""

    def allowed(address: str, code: str) -> bool:
        return any(code in e.codes and e.matches(address) for e in allow)

    return allowed


# ---------------------------------------------------------------------------------------- evaluation


class _Row(NamedTuple):
    recipient: Recipient
    ledger: Ledger
    findings: list[Finding]
    rendered: Rendered | None


def _recipient_rows(
    campaign: Campaign, data: StoreData, checks: _Checks, moment: Moment, reader: EvidenceReader | None
) -> list[_Row]:
    """Every recipient's ledger rules, rendering and rendered-message rules."""
    locate = locator(campaign.templates)
    templates = compiled(campaign)
    subject_src, text_src = campaign.subject, campaign.text
    html_src = campaign.html if templates.html is not None else None
    ledgers, sends = data.ledgers, data.sends
    no_sends: tuple[Send, ...] = ()
    rows: list[_Row] = []
    facts = RecipientFacts(moment, "", Ledger.unknown(""), no_sends)  # one for all: checks keep nothing of it
    for recipient in campaign.recipients:
        address = recipient.address
        ledger = ledgers.get(address) or Ledger.unknown(address)
        facts.address, facts.ledger, facts.sends = address, ledger, sends.get(address, no_sends)
        findings = checks.of_recipient(facts, reader)
        context = context_for(recipient.row, ContactFacts.from_ledger(ledger))
        try:
            subject = render(templates.subject, subject_src, context)
            text = render(templates.text, text_src, context)
            html = None if html_src is None or templates.html is None else render(templates.html, html_src, context)
        except BudgetExceeded as exc:  # one line naming the recipient and the template line
            raise CampaignError(f"{address} (line {recipient.line}): {exc}") from None
        rendered = None
        if isinstance(subject, RenderFailure) or isinstance(text, RenderFailure) or isinstance(html, RenderFailure):
            failures = [part for part in (subject, text, html) if isinstance(part, RenderFailure)]
            problems = [RenderProblem(f.template.name, f.line, f.location, f.message) for f in failures]
            message = RenderedFacts(ledger.tier, None, None, None, problems, locate)
            for check in checks.unrendered:
                findings += check(message)
        else:
            rendered = Rendered(" ".join(subject.split()), text, html)
            if checks.rendered:
                message = RenderedFacts(ledger.tier, rendered.subject, text, html, (), locate)
                for check in checks.rendered:
                    findings += check(message)
        rows.append(_Row(recipient, ledger, findings, rendered))
    return rows


def _campaign_findings(campaign: Campaign, policy: Policy, rows: Sequence[_Row], checks: _Checks) -> list[Finding]:
    facts = CampaignFacts(
        policy,
        [
            CampaignRow(r.recipient.address, r.recipient.row, r.ledger, None if r.rendered is None else r.rendered.text)
            for r in rows
        ],
        campaign.templates,
        Unsubscribing(campaign.unsubscribe.url, campaign.unsubscribe.one_click),
        _allowed(campaign.allow),
    )
    return [finding for check in checks.campaign if (finding := check(facts)) is not None]


# a block the best path can turn into a way in: no relationship from the mailbox judged (R001, R002)
_PATH_CODES = frozenset({"R001", "R002"})


def _advice(path: BestPath | None, ledger: Ledger, findings: Sequence[Finding], data: StoreData) -> str | None:
    """For a recipient blocked for want of a relationship only: who on the team can help (see
    :meth:`BestPath.advice`)."""
    if path is None or not any(f.code in _PATH_CODES for f in findings):
        return None
    if any(f.severity == "block" and f.code not in _PATH_CODES for f in findings):
        return None  # an opt-out, a suppression, a broken template: no path helps
    return path.advice(ledger.scope, data.senders)


def _reports(
    campaign: Campaign,
    rows: Sequence[_Row],
    campaign_findings: list[Finding],
    usage: Usage,
    data: StoreData,
    reader: EvidenceReader | None,
) -> tuple[list[RecipientReport], list[Finding], dict[str, int]]:
    """The verdicts: each recipient's findings with the campaign's, once suppressions applied."""
    inline, allow = campaign.inline_suppressions, campaign.allow
    campaign_findings, campaign_suppressed = apply_suppressions(campaign_findings, "", inline, (), usage)
    shared = [f for f in campaign_findings if f.severity != "info"]
    shared_suppressed = [s for s in campaign_suppressed if s.finding.severity != "info"]
    order = _finding_order()
    reports: list[RecipientReport] = []
    counts = {"READY": 0, "REVIEW": 0, "BLOCKED": 0}
    suppressing = bool(inline or allow)
    paths, best = data.paths, campaign.best_sender
    for recipient, ledger, findings, rendered in rows:
        suppressed: list[SuppressedFinding] = []
        if shared:
            findings = findings + shared
        if suppressing:
            findings, suppressed = apply_suppressions(findings, recipient.address, inline, allow, usage)
        if shared_suppressed:
            suppressed = shared_suppressed + suppressed
        verdict = _verdict(findings)
        counts[verdict] += 1
        if len(findings) > 1:
            findings.sort(key=lambda f: order[f.code])
        path = paths.get(recipient.address)
        report = RecipientReport(
            address=recipient.address,
            row=recipient.row,
            verdict=verdict,
            findings=findings,
            rendered=rendered,
            review_allowed=verdict != "BLOCKED",
            ledger=ledger,
            line=recipient.line,
            suppressed=suppressed,
            path=path,
            sender=ledger.scope if best else None,
        )
        if verdict == "BLOCKED":
            report.advice = _advice(path, ledger, findings, data)
        elif verdict == "READY":
            report.positive = positive_evidence(ledger) if reader is None else reader.defer(recipient.address, POSITIVE)
        reports.append(report)
    return reports, campaign_findings, counts


def evaluate_data(
    campaign: Campaign,
    data: StoreData,
    policy: Policy | None = None,
    now: datetime | None = None,
    extra_warnings: Sequence[str] = (),
) -> CampaignReport:
    """Evaluate ``campaign`` against ledgers and lists already read from the store (pure).

    With ``data.evidence_loader``, the ledgers are light (see :func:`load_ledgers_light`): the findings
    that quote other evidence lines get a :class:`~outreach.lint.findings.DeferredEvidence` that reads
    them when first shown.
    """
    policy = policy or campaign.policy
    enabled, warnings = resolve_codes(policy.select, policy.ignore, "select/ignore")
    warnings = list(extra_warnings) + list(campaign.warnings) + warnings
    checks = _Checks(enabled)
    moment = Moment(policy, now_or_given(now), data.suppressions)
    reader: EvidenceReader | None = None
    if data.evidence_loader is not None:
        ledgers, sends = data.ledgers, data.sends

        def full_evidence(address: str) -> dict[str, Sequence[Evidence]]:
            ledger = ledgers.get(address) or Ledger.unknown(address)
            found = checks.of_recipient(RecipientFacts(moment, address, ledger, sends.get(address, ())))
            return {**{f.code: f.evidence for f in found}, POSITIVE: positive_evidence(ledger)}

        reader = EvidenceReader(data.evidence_loader, full_evidence)
    compiled(campaign)
    with render_budget():
        rows = _recipient_rows(campaign, data, checks, moment, reader)
    usage = Usage()
    reports, campaign_findings, counts = _reports(
        campaign, rows, _campaign_findings(campaign, policy, rows, checks), usage, data, reader
    )
    warnings += unused_warnings(campaign.inline_suppressions, campaign.allow, usage)
    return CampaignReport(campaign, reports, campaign_findings, counts, warnings, moment.now, data.path_lines)


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

    The evidence lines that findings quote but no rule decides on, and the messages behind the
    recipients' paths, are read from the store (through ``session``) when first used: JSON, HTML and
    ``--show`` outputs read them, a table does not. Call :meth:`CampaignReport.load_evidence` to read them
    all while the store is open.
    """
    with collector_paused():
        policy = effective_policy(campaign, settings, select, ignore)
        return _evaluate(session, campaign, policy, ledger_policy(settings), now_or_given(now), settings)


def _evaluate(
    session: Session,
    campaign: Campaign,
    policy: Policy,
    judging: LedgerPolicy,
    now: datetime,
    settings: Settings | None = None,
) -> CampaignReport:
    addresses = [r.address for r in campaign.recipients]
    if policy.scope == "mailbox" or campaign.best_sender:
        try:
            mailbox_id_for(session, campaign.mailbox)
        except UsageError as exc:  # "no mailbox named 'x' in the store (known: a, b)"
            raise CampaignError(f"{campaign.path / 'campaign.toml'}: mailbox = {campaign.mailbox!r}: {exc}") from None
    warnings = _refine_recipients(session, addresses, judging)
    since = now - timedelta(days=policy.cooldown_days)
    found = read_judging(session, campaign, policy.scope == "team", settings, since, judging, now)

    def evidence(needed: Mapping[str, Iterable[str]]) -> None:
        # later, maybe once the caller closed the session (it can be used again): a read transaction
        # begun here ends here
        idle = not session.in_transaction()
        try:
            read_evidence(session, found, needed)
        finally:
            if idle:
                session.rollback()

    data = StoreData(
        ledgers=found.ledgers,
        suppressions=load_suppressions(session),
        sends=load_sends(session, since, campaign.name, addresses),
        evidence_loader=evidence,
        paths=found.paths,
        path_lines=PathLines(session, found.paths),
        senders=found.senders,
    )
    return evaluate_data(campaign, data, policy, now, warnings)


def _refine_recipients(session: Session, addresses: Sequence[str], judging: LedgerPolicy) -> list[str]:
    """Decide the recipients' sentences a sync left to the sentence classifier (``--no-refine``), so that
    every verdict reads final signals; a store we may not write to keeps the fast ones, with a warning."""
    try:
        refine_for(session, addresses, judging)
    except DBAPIError as error:
        session.rollback()
        return [f"the recipients' mail has signals the sentence classifier has not decided yet and the store "
                f"could not be written ({str(error.orig).strip()}): their verdicts use the fast signals; "
                f"run `outreach signals refine`"]
    return []


def ledger_policy(settings: Settings | None) -> LedgerPolicy:
    """The ``[ledger]`` table of the config: how ledgers are judged (half-lives, tiers)."""
    if settings is None:
        return LedgerPolicy()
    where = f"{settings.config_path}: [ledger]" if settings.config_path else "[ledger]"
    return LedgerPolicy.from_mapping(settings.section("ledger"), origin=where)


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
    """The recipient rules (R001–R009) for one address, e.g. a last check right before sending.

    With ``campaign``, its policy, allow entries and name (its own sends do not count for R006) apply.
    """
    policy = effective_policy(campaign, settings, select, ignore)
    enabled, _ = resolve_codes(policy.select, policy.ignore, "select/ignore")
    moment = Moment(policy, now_or_given(now), load_suppressions(session))
    normal = address.strip().lower()
    if campaign is not None and policy.scope == "mailbox":
        scope = campaign.mailbox
    ledger = load_ledgers(session, [normal], scope, ledger_policy(settings), moment.now)[normal]
    sends = load_sends(session, moment.since, campaign.name if campaign else None, [normal]).get(normal, [])
    findings = _Checks(enabled).of_recipient(RecipientFacts(moment, normal, ledger, sends))
    entries = list(allow) if allow is not None else (campaign.allow if campaign else [])
    kept, _ = apply_suppressions(findings, normal, (), entries, Usage())
    return kept


__all__ = ["StoreData", "check_address", "effective_policy", "evaluate", "evaluate_data", "load_sends"]
