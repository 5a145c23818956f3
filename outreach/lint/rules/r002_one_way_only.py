"""R002 one-way-only: mail only ever went one way."""

from __future__ import annotations

from outreach.lint.facts import RecipientFacts, ledger_lines
from outreach.lint.findings import Evidence
from outreach.lint.rule import Rule, fails, passes


def check(r: RecipientFacts) -> str | None:
    ledger = r.ledger
    if ledger.tier != "one-way":
        return None
    if ledger.sent and not ledger.personal_received:
        return f"mail only went one way: we wrote {ledger.sent} time(s), they never answered"
    if ledger.personal_received and not ledger.sent:
        return f"mail only went one way: they wrote {ledger.personal_received} time(s), we never answered"
    return "mail only went one way (tier one-way)"


def evidence(r: RecipientFacts) -> list[Evidence]:
    ledger = r.ledger
    facts = [
        Evidence(
            f"we sent {ledger.sent} message(s), they sent {ledger.personal_received} personal "
            "message(s); no two-way thread"
        )
    ]
    ours = ledger_lines(ledger, "unanswered_outbound", "we wrote, no answer")
    ours = ours or ledger_lines(ledger, "sent", "we wrote")
    return facts + ours + ledger_lines(ledger, "received", "they wrote")


RULE = Rule(
    code="R002",
    name="one-way-only",
    severity="block",
    scope="recipient",
    doc="""
    Mail with this person only ever went one way (ledger tier `one-way`): we wrote and they never answered,
    or they wrote and we never answered. Asking again someone who has ignored us, or asking a favour of
    someone we ignored, reads as entitlement. Wait for a real exchange first, or record why this case is
    different in the allow file.
    """,
    cases=(
        fails("they never answered", ledger={"tier": "one-way", "last_two_way": "", "sent": 4, "received": 0}),
        passes("acquaintance with a two-way thread", ledger={"tier": "acquaintance", "two_way_threads": 1}),
    ),
    recipient=check,
    evidence=evidence,
    evidence_figures=("unanswered_outbound", "sent", "received"),
)
