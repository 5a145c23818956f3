"""What a send run did: one :class:`Outcome` per recipient, and the run's :class:`SendResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from outreach.send.settings import SendLimits, SmtpSettings

# statuses of a send_log row
SENDING, SENT, FAILED, DEFERRED = "sending", "sent", "failed", "deferred"

# what happened to a recipient in this run
WOULD_SEND = "would-send"
ACT_SENT = "sent"
ALREADY_SENT = "already-sent"
SKIPPED = "skipped"
ACT_FAILED = "failed"
ACT_DEFERRED = "deferred"
UNCONFIRMED = "unconfirmed"
NOT_REACHED = "not-sent"

@dataclass
class Outcome:
    """What became of one recipient in this run."""

    address: str
    verdict: str
    action: str  # would-send | sent | already-sent | skipped | failed | deferred | unconfirmed | not-sent
    reason: str = ""
    message_id: str | None = None
    attempts: int = 0
    findings: list[str] = field(default_factory=list)
    mailbox: str | None = None  # the mailbox it is (or would be) sent from, with sender = "best"

    @property
    def ok(self) -> bool:
        """True when nothing about this recipient needs a human."""
        return self.action in (WOULD_SEND, ACT_SENT, ALREADY_SENT)

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "verdict": self.verdict,
            "action": self.action,
            "reason": self.reason,
            "message_id": self.message_id,
            "attempts": self.attempts,
            "findings": self.findings,
            "mailbox": self.mailbox,
        }


@dataclass
class SendResult:
    campaign: str
    mailbox: str
    dry_run: bool
    smtp: SmtpSettings
    limits: SendLimits
    outcomes: list[Outcome] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped before the end (daily cap, server refused us …)
    warnings: list[str] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for o in self.outcomes if o.action == action)

    @property
    def exit_code(self) -> int:
        """0: every message the run meant to send went (or, in a dry run, would go); recipients skipped for
        their verdict are reported, not failures. 1: the run stopped early, or a message failed, was
        deferred, is unconfirmed or was not reached."""
        if self.stopped:
            return 1
        return 0 if all(o.ok or o.action == SKIPPED for o in self.outcomes) else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "mailbox": self.mailbox,
            "dry_run": self.dry_run,
            "stopped": self.stopped,
            "warnings": self.warnings,
            "counts": {a: self.count(a) for a in dict.fromkeys(o.action for o in self.outcomes)},
            "recipients": [o.to_json() for o in self.outcomes],
        }



__all__ = [
    "ACT_DEFERRED",
    "ACT_FAILED",
    "ACT_SENT",
    "ALREADY_SENT",
    "DEFERRED",
    "FAILED",
    "NOT_REACHED",
    "Outcome",
    "SENDING",
    "SENT",
    "SKIPPED",
    "SendResult",
    "UNCONFIRMED",
    "WOULD_SEND",
]
