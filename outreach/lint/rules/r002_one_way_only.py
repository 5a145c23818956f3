"""R002 one-way-only: mail only ever went one way."""

from __future__ import annotations

from outreach.lint.facts import RecipientFacts, ledger_lines
from outreach.lint.findings import Evidence
from outreach.lint.rule import Rule, fails, passes


def check(r: RecipientFacts) -> str | None:
    ledger = r.ledger
    if ledger.tier != "one-way":
        return None
    bulk = ledger.received - ledger.personal_received
    return (
        f"mail only went one way: we wrote {ledger.sent} time(s), they wrote to us personally "
        f"{ledger.personal_received} time(s)" + (f" ({bulk} bulk or automated message(s))" if bulk else "")
    )


def evidence(r: RecipientFacts) -> list[Evidence]:
    ledger = r.ledger
    facts = [
        Evidence(
            f"we sent {ledger.sent} message(s), they sent {ledger.personal_received} personal "
            f"message(s) and {ledger.received - ledger.personal_received} bulk or automated one(s)"
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
    We wrote to this person and they never wrote to us personally (ledger tier `one-way`): no reply, no
    message of their own, in any conversation; bulk and automated mail from them does not count. Asking
    again someone who has not answered reads as entitlement. Wait for a real exchange first, or record why
    this case is different in the allow file.
    """,
    cases=(
        fails("they never answered", ledger={"tier": "one-way", "last_two_way": "", "sent": 4, "received": 0}),
        passes("acquaintance with a two-way thread", ledger={"tier": "acquaintance", "two_way_threads": 1}),
        passes(
            "they write to us, we never wrote back (that is R009, a review)",
            ledger={"tier": "inbound", "last_two_way": "", "sent": 0, "received": 3, "personal_received": 3},
        ),
    ),
    recipient=check,
    evidence=evidence,
    evidence_figures=("unanswered_outbound", "sent", "received"),
)
