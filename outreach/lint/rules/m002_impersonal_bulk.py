"""M002 impersonal-bulk: the same message to everyone but for the name."""

from __future__ import annotations

from outreach.lint.facts import CampaignFacts
from outreach.lint.findings import Evidence, Finding
from outreach.lint.rule import Rule, fails, passes


def check(c: CampaignFacts) -> Finding | None:
    common = c.common_body
    if common is None or not c.near_identical:
        return None
    body, count, bodies = common
    sample = body.replace("\x00", "…")[:160]
    return RULE.finding(
        f"{count} of {bodies} messages are identical but for names and short fields",
        [
            Evidence(
                f"{count} of {bodies} rendered bodies are the same once CSV values are removed "
                f"(threshold {c.policy.identical_share:.0%})"
            ),
            Evidence(f'common body: "{sample}"'),
        ],
    )


RULE = Rule(
    code="M002",
    name="impersonal-bulk",
    severity="review",
    scope="campaign",
    options=("identical_share",),
    doc="""
    The rendered messages are near-identical across recipients: once the short CSV values (names, outlets,
    titles) are taken out, at least `identical_share` (default 80%) of the bodies are the same text. Only
    the name changes, which every reader notices. Personalise (a `note` column with a sentence about their
    work, a tier-specific paragraph), or accept that this is a bulk mailing and make it one: with an
    unsubscribe link (H001).
    """,
    cases=(
        fails(
            "only the name changes",
            text="Hi {{ first_name }},\n\nOur spring report is out; it covers reuse in city halls.\n",
            tiers=["warm", "warm", "warm"],
        ),
        passes(
            "a personal note per recipient",
            text="Hi {{ first_name }},\n\n{{ note }}\n\nOur spring report is out.\n",
            tiers=["warm", "warm", "warm"],
        ),
        passes("a single recipient", text="Hi {{ first_name }},\n\nOur spring report is out.\n", tiers=["warm"]),
    ),
    campaign=check,
)
