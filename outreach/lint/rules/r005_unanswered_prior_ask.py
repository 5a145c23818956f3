"""R005 unanswered-prior-ask: our last ask got no reply."""

from __future__ import annotations

from outreach.lint.facts import RecipientFacts, day
from outreach.lint.findings import Evidence
from outreach.lint.rule import Rule, fails, passes


def check(r: RecipientFacts) -> str | None:
    last_ask = r.ledger.last_ask_by_us
    if last_ask is None or last_ask.answered:
        return None
    line = last_ask.evidence
    return f'our last ask ({day(line.date)}, "{line.subject or "(no subject)"}") got no reply'


def evidence(r: RecipientFacts) -> list[Evidence]:
    last_ask = r.ledger.last_ask_by_us
    return [] if last_ask is None else [Evidence.from_line(last_ask.evidence, "our unanswered ask")]


_ASK = {
    "message_id": 7,
    "date": "2025-02-01T09:00:00+00:00",
    "direction": "out",
    "subject": "Could you review our draft?",
    "sentence": "Could you review our draft by Friday?",
}

RULE = Rule(
    code="R005",
    name="unanswered-prior-ask",
    severity="review",
    scope="recipient",
    doc="""
    Our most recent ask to this person got no reply. Asking again before they answered the last one is
    pushy; a polite follow-up on the original ask, or letting it go, is usually better than a new ask.
    """,
    cases=(
        fails("the last ask is unanswered", ledger={"tier": "warm", "last_ask_by_us": {**_ASK, "answered": False}}),
        passes("the last ask was answered", ledger={"tier": "warm", "last_ask_by_us": {**_ASK, "answered": True}}),
    ),
    recipient=check,
    evidence=evidence,
)
