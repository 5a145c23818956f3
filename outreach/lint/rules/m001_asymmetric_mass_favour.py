"""M001 asymmetric-mass-favour: a favour asked of many people we do not know."""

from __future__ import annotations

from outreach.lint.facts import COLD_TIERS, MAX_EVIDENCE, CampaignFacts
from outreach.lint.findings import Evidence, Finding
from outreach.lint.rule import Rule, fails, passes


def _introduced(c: CampaignFacts, address: str) -> bool:
    """Introduced in person: the allow file lifts R001 (no prior contact) or R002 (one-way only)."""
    return c.allowed(address, "R001") or c.allowed(address, "R002")


def check(c: CampaignFacts) -> Finding | None:
    policy = c.policy
    total = len(c.rows)
    if not c.asks or total < max(policy.mass_min_recipients, 1):
        return None
    cold = [
        (row.address, row.ledger.tier)
        for row in c.rows
        if row.ledger.tier in COLD_TIERS and not _introduced(c, row.address)
    ]
    share = len(cold) / total
    if not cold or share < policy.mass_share:
        return None
    ask = c.asks[0]
    evidence = [
        Evidence(f'the ask: "{ask.match.sentence}" ({ask.template.name}:{ask.line})', sentence=ask.match.sentence),
        Evidence(
            f"{len(cold)} of {total} recipients ({share:.0%}) are tier none or one-way "
            f"(threshold {policy.mass_share:.0%})"
        ),
    ]
    evidence += [Evidence(f"{address}: tier {tier}") for address, tier in cold[:MAX_EVIDENCE]]
    return RULE.finding(
        f"mass favour ask: {len(cold)} of {total} recipients ({share:.0%}) never had a two-way exchange with us",
        evidence,
    )


_ASK = "Hi {{ first_name }},\n\nCould you share our report with your readers?\n"

RULE = Rule(
    code="M001",
    name="asymmetric-mass-favour",
    severity="block",
    scope="campaign",
    options=("mass_share", "mass_min_recipients"),
    doc="""
    The template asks a favour (T004) and a large share of the recipients — `mass_share`, default 30% —
    are people we never had a two-way exchange with (tier `none` or `one-way`, not introduced in the allow
    file). Mass-asking strangers for favours is the pattern that burns a team's name fastest, so the whole
    campaign is blocked, every recipient included. Split the campaign: ask the people you know, and write
    to the others first without an ask, or through an introduction.
    """,
    cases=(
        fails(
            "favour asked of two strangers and one friend",
            text=_ASK,
            tiers=["none", "one-way", "warm"],
            verdicts=["BLOCKED", "BLOCKED", "BLOCKED"],
        ),
        passes("no ask", text="Hi {{ first_name }},\n\nOur report is out today.\n", tiers=["none", "one-way", "warm"]),
        passes("ask to people we know", text=_ASK, tiers=["warm", "strong", "acquaintance", "warm"]),
        passes(
            "below a higher threshold", text=_ASK, tiers=["none", "warm", "warm", "warm"], policy={"mass_share": 0.5}
        ),
    ),
    campaign=check,
)
