"""H001 missing-unsubscribe: a bulk campaign without one-click unsubscribe headers."""

from __future__ import annotations

from outreach.lint.facts import CampaignFacts
from outreach.lint.findings import Evidence, Finding
from outreach.lint.rule import Rule, fails, passes


def check(c: CampaignFacts) -> Finding | None:
    total = len(c.rows)
    if c.unsubscribe.one_click:
        return None
    near_identical = total > 1 and c.near_identical
    if not (total > c.policy.bulk_recipients or near_identical):
        return None
    why = f"{total} recipients" + (", near-identical bodies" if near_identical else "")
    url = c.unsubscribe.url
    return RULE.finding(
        f"bulk campaign ({why}) without one-click unsubscribe (RFC 8058 List-Unsubscribe/-Post)",
        [
            Evidence(
                'campaign.toml has no [unsubscribe] url = "https://…"'
                if not url
                else f"[unsubscribe] url {url} is not https"
            )
        ],
    )


_SAME = "Hi {{ first_name }},\n\nOur spring report is out.\n"
_PERSONAL = "Hi {{ first_name }},\n\n{{ note }}\n"

RULE = Rule(
    code="H001",
    name="missing-unsubscribe",
    severity="review",
    scope="campaign",
    options=("bulk_recipients",),
    doc="""
    A bulk campaign — more than `bulk_recipients` (default 20) recipients, or more than one with
    near-identical bodies (M002) — has no one-click unsubscribe configured. Mailbox providers expect bulk
    senders to send RFC 8058 `List-Unsubscribe` and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`
    headers, and recipients expect a way out. Add `[unsubscribe]` with an `https` `url` (and optionally a
    `mailto`) to campaign.toml; the sender then adds both headers.
    """,
    cases=(
        fails("near-identical bodies, no unsubscribe", text=_SAME, tiers=["warm", "warm", "warm"]),
        fails("many recipients, personal bodies, no unsubscribe", text=_PERSONAL, count=25),
        passes(
            "bulk with one-click unsubscribe",
            text=_SAME,
            tiers=["warm", "warm", "warm"],
            unsubscribe={"url": "https://example.org/unsubscribe?u={email}", "mailto": "leave@example.org"},
        ),
        passes("two personal messages", text=_PERSONAL, tiers=["warm", "warm"]),
    ),
    campaign=check,
)
