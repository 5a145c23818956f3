"""The campaign's data: its definition (:class:`Campaign`) and its evaluation (:class:`CampaignReport`).

:class:`Policy`, :class:`TemplateSource`, :class:`AllowEntry`, :class:`InlineSuppression` and
:class:`SuppressedFinding` belong to the lint (:mod:`outreach.lint`), which reads them without a campaign
too; they are named here as well.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from outreach.config import SECURITY_MODES
from outreach.errors import ConfigError
from outreach.ledger import TIERS, Ledger
from outreach.ledger.paths import BestPath, Lines
from outreach.lint.findings import SEVERITY_RANK, DeferredEvidence, Evidence, Finding
from outreach.lint.policy import Policy
from outreach.lint.suppressions import AllowEntry, InlineSuppression, SuppressedFinding
from outreach.lint.template import TemplateSource

Verdict = Literal["READY", "REVIEW", "BLOCKED"]
VERDICTS: tuple[Verdict, ...] = ("READY", "REVIEW", "BLOCKED")
#: Who sends a campaign: its ``mailbox``, or for each recipient the teammate's mailbox with the strongest
#: relationship with them among those configured for sending (``best``).
SENDERS = ("mailbox", "best")


@dataclass(frozen=True, slots=True)
class Recipient:
    """A good row of the recipients CSV: its normalised address, the row itself and its line."""

    address: str
    row: Mapping[str, str]
    line: int
    cells: tuple[str, ...] = ()  # the row's cells as written, in the file's column order


@dataclass(frozen=True, slots=True)
class RowError:
    """A bad row of the recipients CSV, left out of the campaign."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """The ``[unsubscribe]`` table: what the sender puts in RFC 8058 List-Unsubscribe headers.

    ``url`` is https (one-click needs it) and may contain ``{email}``, replaced by the URL-quoted
    recipient address.
    """

    mailto: str | None = None
    url: str | None = None

    @property
    def one_click(self) -> bool:
        return bool(self.url and self.url.startswith("https://"))

    def headers(self, address: str) -> dict[str, str]:
        """``List-Unsubscribe`` (and ``List-Unsubscribe-Post`` when one-click) for one recipient."""
        targets = []
        if self.url:
            targets.append(f"<{self.url.replace('{email}', quote(address, safe=''))}>")
        if self.mailto:
            targets.append(f"<mailto:{self.mailto}?subject=unsubscribe>")
        if not targets:
            return {}
        headers = {"List-Unsubscribe": ", ".join(targets)}
        if self.one_click:
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return headers


_SMTP_KEYS = {
    "host": str,
    "port": int,
    "username": str,
    "security": str,
    "from": str,
    "from_name": str,
    "helo": str,
    "timeout": float,
    "rate_per_minute": int,
    "daily_cap": int,
    "retries": int,
    "retry_base_seconds": float,
}
_SMTP_MINIMUM = {"port": 1, "rate_per_minute": 1}  # the other numbers may be 0


@dataclass(frozen=True, slots=True)
class SmtpTable:
    """Where and how to send, as one table says it: a campaign's ``[smtp]``, the config's ``[send]`` or
    ``[send.MAILBOX]``, or the command-line options. Every key is optional (None: not said here); the
    sender merges the tables (:func:`outreach.send.settings.resolve_smtp`). ``from`` is ``from_address``.
    """

    host: str | None = None
    port: int | None = None
    username: str | None = None
    security: str | None = None
    from_address: str | None = None
    from_name: str | None = None
    helo: str | None = None
    timeout: float | None = None
    rate_per_minute: int | None = None
    daily_cap: int | None = None
    retries: int | None = None
    retry_base_seconds: float | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str) -> SmtpTable:
        """The table of ``data``, its keys and values checked; errors (:class:`ConfigError`) name ``where``.
        An empty string is a key not given."""
        unknown = set(data) - set(_SMTP_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for key, kind in _SMTP_KEYS.items():
            value = data.get(key)
            if value is None or value == "":
                continue
            if kind is str:
                value = str(value)
            elif kind is int:
                minimum = _SMTP_MINIMUM.get(key, 0)
                if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                    raise ConfigError(f"{where}: {key} must be an integer >= {minimum}")
            elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"{where}: {key} must be a number >= 0")
            else:
                value = float(value)
            values["from_address" if key == "from" else key] = value
        if values.get("security", "ssl") not in SECURITY_MODES:
            raise ConfigError(f"{where}: security must be one of {', '.join(SECURITY_MODES)}")
        return cls(**values)


@dataclass
class Campaign:
    """A loaded campaign: definition, templates and the good rows of its recipients CSV.

    ``row_errors`` lists the rows left out; ``warnings`` what loading noticed (expired allow entries …).
    """

    name: str
    mailbox: str
    path: Path
    recipients: list[Recipient]
    subject: TemplateSource
    text: TemplateSource
    html: TemplateSource | None = None
    row_errors: list[RowError] = field(default_factory=list)
    policy: Policy = field(default_factory=Policy)
    policy_table: dict[str, Any] = field(default_factory=dict)  # the raw [policy] table (merged over config)
    unsubscribe: Unsubscribe = field(default_factory=Unsubscribe)
    smtp: SmtpTable = field(default_factory=SmtpTable)  # the [smtp] table: how the sender sends it
    allow: list[AllowEntry] = field(default_factory=list)
    inline_suppressions: list[InlineSuppression] = field(default_factory=list)
    recipients_path: Path | None = None
    allow_path: Path | None = None
    warnings: list[str] = field(default_factory=list)
    sender: str = "mailbox"  # see SENDERS
    columns: tuple[str, ...] = ()  # the recipients CSV's header as written
    delimiter: str = ","  # the recipients CSV's
    _compiled: Any = field(default=None, repr=False, compare=False)

    @property
    def best_sender(self) -> bool:
        return self.sender == "best"

    @property
    def templates(self) -> list[TemplateSource]:
        return [t for t in (self.subject, self.text, self.html) if t is not None]


@dataclass(frozen=True, slots=True)
class Rendered:
    """One recipient's message as it would be sent."""

    subject: str
    text: str
    html: str | None = None


@dataclass(slots=True)
class RecipientReport:
    """The verdict for one recipient.

    ``rendered`` is None when the template could not be rendered for them (then a T001 finding says
    why). ``review_allowed`` is True when a person may approve sending after reviewing (verdict READY or
    REVIEW), False when the recipient is BLOCKED. ``ledger`` is the ledger the verdict was judged on: the
    team's, the campaign mailbox's, or — with ``sender = "best"`` — that of ``sender``, the mailbox the
    message goes out from. ``path`` is how the team reaches them (who knows them, or someone at their
    outlet); ``advice`` what to do instead of a cold ask (part of the reason). ``positive`` is, for a READY
    recipient, why we may ask (last two-way exchange, favours given and honoured).
    """

    address: str
    row: Mapping[str, str]
    verdict: Verdict
    findings: list[Finding]
    rendered: Rendered | None
    review_allowed: bool
    ledger: Ledger
    line: int = 0
    suppressed: list[SuppressedFinding] = field(default_factory=list)
    path: BestPath | None = None
    sender: str | None = None
    advice: str | None = None
    positive: Sequence[Evidence] = ()

    @property
    def tier(self) -> str:
        return self.ledger.tier

    @property
    def codes(self) -> list[str]:
        codes: list[str] = []
        for f in self.findings:
            if f.severity != "info" and f.code not in codes:
                codes.append(f.code)
        return codes

    @property
    def reason(self) -> str:
        """The one-line reason of the verdict: the message of the most severe finding, and the advice; for a
        recipient let through by the allow list, the exception that did."""
        worst: Finding | None = None
        rank = -1
        shown = 0  # findings that are not info
        for f in self.findings:
            if SEVERITY_RANK[f.severity] > rank:  # the first of the most severe
                worst, rank = f, SEVERITY_RANK[f.severity]
            if f.severity != "info":
                shown += 1
        if worst is None or worst.severity == "info":
            return self._allowed_reason()
        more = shown - 1
        reason = worst.message + (f" (+{more} more)" if more > 0 else "")
        return f"{reason}; {self.advice}" if self.advice else reason

    def _allowed_reason(self) -> str:
        """For a recipient nothing holds back: the allow-list exceptions that let them through, if any."""
        if not self.suppressed:
            return ""
        more = len(self.suppressed) - 1
        return f"allowed: {self.suppressed[0].summary()}" + (f" (+{more} more)" if more > 0 else "")

    def to_json(self, lines: Lines | None = None) -> dict[str, Any]:
        """The recipient as JSON; ``lines`` gives the messages behind each relationship of the path."""
        return {
            "address": self.address,
            "line": self.line,
            "tier": self.ledger.tier,
            "last_two_way": self.ledger.last_two_way.date().isoformat() if self.ledger.last_two_way else None,
            "balance": round(self.ledger.balance, 2),
            "strength": self.ledger.strength,
            "verdict": self.verdict,
            "codes": self.codes,
            "reason": self.reason,
            "review_allowed": self.review_allowed,
            "sender": self.sender,
            "path": None if self.path is None else self.path.to_json(lines),
            "findings": [f.to_json() for f in self.findings],
            "positive": [e.to_json() for e in self.positive],
            "suppressed": [s.to_json() for s in self.suppressed],
            "rendered": None
            if self.rendered is None
            else {"subject": self.rendered.subject, "text": self.rendered.text, "html": self.rendered.html},
            "row": dict(self.row),
        }


@dataclass
class CampaignReport:
    """Everything ``evaluate`` found: one :class:`RecipientReport` per good row, in CSV order.

    ``as_of`` is the date the verdicts were judged as of; ``path_lines`` gives the messages behind the
    relationships of the recipients' paths (read from the store when first asked for).
    """

    campaign: Campaign
    recipients: list[RecipientReport]
    campaign_findings: list[Finding]
    counts: dict[str, int]
    warnings: list[str]
    as_of: datetime | None = None
    path_lines: Lines | None = None

    @property
    def row_errors(self) -> list[RowError]:
        return self.campaign.row_errors

    @property
    def exit_code(self) -> int:
        """2 if rows of the CSV were bad, 1 if anyone is blocked or to review, else 0."""
        if self.campaign.row_errors:
            return 2
        return 0 if all(r.verdict == "READY" for r in self.recipients) else 1

    def recipient(self, address: str) -> RecipientReport | None:
        wanted = address.strip().lower()
        return next((r for r in self.recipients if r.address == wanted), None)

    def tier_counts(self) -> dict[str, int]:
        """Recipients per tier of the ledger they were judged on, every tier (weakest first)."""
        counts = dict.fromkeys(TIERS, 0)
        for r in self.recipients:
            counts[r.ledger.tier] = counts.get(r.ledger.tier, 0) + 1
        return counts

    def load_evidence(self) -> None:
        """Read now the evidence that :func:`~outreach.campaign.evaluate` left to be read when first shown
        (it reads from the store the report came from: call this before closing it)."""
        for r in self.recipients:
            for finding in [*r.findings, *(s.finding for s in r.suppressed)]:
                if isinstance(finding.evidence, DeferredEvidence):
                    finding.evidence.resolve()
            if isinstance(r.positive, DeferredEvidence):
                r.positive.resolve()
            if r.path is not None and self.path_lines is not None:
                for relationship in r.path.shown:
                    self.path_lines(relationship)

    def to_json(self, include_rendered: bool = True) -> dict[str, Any]:
        recipients = []
        for r in self.recipients:
            data = r.to_json(self.path_lines)
            if not include_rendered:
                data.pop("rendered")
            recipients.append(data)
        return {
            "campaign": self.campaign.name,
            "mailbox": self.campaign.mailbox,
            "sender": self.campaign.sender,
            "path": str(self.campaign.path),
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "counts": self.counts,
            "tiers": self.tier_counts(),
            "campaign_findings": [f.to_json() for f in self.campaign_findings],
            "warnings": self.warnings,
            "row_errors": [{"path": e.path, "line": e.line, "message": e.message} for e in self.row_errors],
            "recipients": recipients,
        }


__all__ = [
    "AllowEntry",
    "Campaign",
    "CampaignReport",
    "InlineSuppression",
    "Policy",
    "Recipient",
    "RecipientReport",
    "Rendered",
    "RowError",
    "SENDERS",
    "SmtpTable",
    "SuppressedFinding",
    "TemplateSource",
    "Unsubscribe",
    "VERDICTS",
    "Verdict",
]
