"""R001 no-prior-contact: a cold ask from a stranger."""

from __future__ import annotations

from outreach.ledger import TEAM_SCOPE
from outreach.lint.facts import RecipientFacts
from outreach.lint.findings import Evidence
from outreach.lint.rule import Rule, fails, passes


def check(r: RecipientFacts) -> str | None:
    if r.ledger.tier != "none":
        return None
    if r.ledger.scope == TEAM_SCOPE:
        return "never exchanged personal mail (tier none)"
    return f"no relationship from {r.ledger.scope}'s mailbox: never exchanged personal mail (tier none)"


def evidence(r: RecipientFacts) -> list[Evidence]:
    ledger = r.ledger
    scope = "the team's mail" if ledger.scope == TEAM_SCOPE else f"mailbox {ledger.scope}'s mail"
    facts = [Evidence(f"no personal mail exchanged with {r.address} in {scope}")]
    if ledger.received and not ledger.personal_received:
        facts.append(Evidence(f"the {ledger.received} message(s) from them were bulk, list or automated mail"))
    return facts


RULE = Rule(
    code="R001",
    name="no-prior-contact",
    severity="block",
    scope="recipient",
    doc="""
    We have never exchanged personal mail with this address (ledger tier `none`): no message either way, or
    only bulk, list and automated mail. A campaign message would be a cold ask from a stranger, which spends
    the team's reputation rather than a relationship. Remove the recipient, ask someone who knows them for
    an introduction, or — if they were introduced in person — record that in the allow file with a reason
    ("introduced by X at event Y"). The reason names the teammate who knows them, or who knows someone at
    their outlet, when there is one (the recipient's best path); with `sender = "best"` the campaign sends
    from that teammate's mailbox if it is configured for sending.
    """,
    cases=(
        fails("never exchanged mail", ledger={"tier": "none", "last_two_way": ""}),
        passes("warm contact", ledger={"tier": "warm"}),
        passes(
            "introduced in person, recorded in the allow file",
            ledger={"tier": "none", "last_two_way": ""},
            allow=[{"address": "pat@example.org", "codes": ["R001"], "reason": "introduced by Dana at PR Summit 2025"}],
        ),
    ),
    recipient=check,
    evidence=evidence,
)
