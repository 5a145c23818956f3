"""R004 reciprocity-deficit: we asked more than we gave."""

from __future__ import annotations

from outreach.lint.facts import RecipientFacts, ledger_lines
from outreach.lint.findings import Evidence
from outreach.lint.rule import Rule, fails, passes


def check(r: RecipientFacts) -> str | None:
    ledger = r.ledger
    balance = ledger.balance
    if balance <= -r.policy.deficit_margin and balance < 0:
        return f"we asked more than we gave (balance {balance:+.1f}, {ledger.asks_by_us} asks by us)"
    return None


def evidence(r: RecipientFacts) -> list[Evidence]:
    ledger = r.ledger
    facts = [
        Evidence(
            f"reciprocity balance {ledger.balance:+.1f}: {ledger.asks_by_us} ask(s) by us, "
            f"{ledger.offers_by_us} offer(s) by us, {ledger.their_asks_fulfilled} of their asks "
            f"honoured (margin {r.policy.deficit_margin:g})"
        )
    ]
    facts += ledger_lines(ledger, "asks_by_us", "our ask")
    return facts + ledger_lines(ledger, "offers_by_us", "our offer")


RULE = Rule(
    code="R004",
    name="reciprocity-deficit",
    severity="review",
    scope="recipient",
    options=("deficit_margin",),
    doc="""
    We have asked this person for more than we have given them: the ledger's time-decayed reciprocity
    balance (help we gave and their asks we honoured, minus our asks) is at or below minus `deficit_margin`
    (default 2). Another ask widens the gap. Give before you ask — share something useful, answer one of
    their requests — or make this ask clearly worth their while.
    """,
    cases=(
        fails(
            "three asks, nothing given", ledger={"tier": "warm", "balance": -3.0, "asks_by_us": 3, "offers_by_us": 0}
        ),
        passes("balanced relationship", ledger={"tier": "warm", "balance": 0.5, "asks_by_us": 2, "offers_by_us": 2}),
        passes(
            "deficit within a wider margin",
            ledger={"tier": "warm", "balance": -3.0, "asks_by_us": 3},
            policy={"deficit_margin": 5},
        ),
    ),
    recipient=check,
    evidence=evidence,
    evidence_figures=("asks_by_us", "offers_by_us"),
)
