"""R009 never-wrote-back: they write to us personally, we never wrote to them."""

from __future__ import annotations

from outreach.lint.facts import RecipientFacts, ledger_lines
from outreach.lint.findings import Evidence
from outreach.lint.rule import Rule, fails, passes

_INBOUND = {"tier": "inbound", "last_two_way": "", "sent": 0, "received": 3, "personal_received": 3}


def check(r: RecipientFacts) -> str | None:
    ledger = r.ledger
    if ledger.tier != "inbound":
        return None
    return f"they wrote to us personally {ledger.personal_received} time(s); we never wrote to them personally"


def evidence(r: RecipientFacts) -> list[Evidence]:
    ledger = r.ledger
    facts = [
        Evidence(
            f"they sent {ledger.personal_received} personal message(s); we sent them {ledger.sent} message(s), "
            "none of them personal"
        )
    ]
    return facts + ledger_lines(ledger, "received", "they wrote")


RULE = Rule(
    code="R009",
    name="never-wrote-back",
    severity="review",
    scope="recipient",
    doc="""
    They write to us personally, but nobody in the scope ever wrote to them personally (ledger tier
    `inbound`): an assistant, a colleague whose replies we never kept, a reader who writes in. They are not
    strangers, so this is not R001, but the first personal message we send them should not be a favour
    ask. Check the evidence (their messages) and answer them first, or accept the review when the
    relationship is real (the allow file records why).
    """,
    cases=(
        fails("they wrote three times, we never wrote", ledger=_INBOUND, verdicts=["REVIEW"]),
        passes("personal mail both ways", ledger={"tier": "acquaintance"}),
        passes(
            "accepted in the allow file",
            ledger=_INBOUND,
            allow=[{"address": "pat@example.org", "codes": ["R009"], "reason": "her assistant; we speak by phone"}],
        ),
    ),
    recipient=check,
    evidence=evidence,
    evidence_figures=("received",),
)
