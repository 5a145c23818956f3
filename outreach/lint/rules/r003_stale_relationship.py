"""R003 stale-relationship: the last two-way exchange is old."""

from __future__ import annotations

from datetime import UTC

from outreach.lint.facts import RecipientFacts, day, ledger_lines, maybe_aware
from outreach.lint.findings import Evidence
from outreach.lint.rule import Rule, fails, passes


def _age(r: RecipientFacts) -> int | None:
    """Days since the last two-way exchange, when that is beyond the stale window."""
    last_two_way = r.ledger.last_two_way
    if last_two_way is None:
        return None
    if last_two_way.tzinfo is None:  # (maybe_aware, without two calls for every recipient)
        last_two_way = last_two_way.replace(tzinfo=UTC)
    age = (r.moment.now - last_two_way).days
    return age if age > r.policy.stale_days else None


def check(r: RecipientFacts) -> str | None:
    age = _age(r)
    if age is None:
        return None
    return f"last two-way exchange {age // 30} months ago ({day(r.ledger.last_two_way)})"


def evidence(r: RecipientFacts) -> list[Evidence]:
    ledger = r.ledger
    age = _age(r)
    last_two_way = maybe_aware(ledger.last_two_way)
    if age is None or last_two_way is None:  # the store changed since the check
        return []
    facts = [
        Evidence(
            f"last two-way exchange on {day(last_two_way)}, {age} days ago (stale after {r.policy.stale_days} days)",
            date=last_two_way,
        )
    ]
    lines = ledger_lines(ledger, "last_two_way", "last two-way exchange") or ledger_lines(
        ledger, "two_way_threads", "last two-way exchange"
    )
    return facts + lines[-1:]


RULE = Rule(
    code="R003",
    name="stale-relationship",
    severity="review",
    scope="recipient",
    options=("stale_days",),
    doc="""
    Our last two-way exchange with this person is older than the stale window (`stale_days`, default 365
    days). People change jobs and priorities, and an ask that opens a long silence feels transactional.
    Consider reconnecting without an ask first, or acknowledge the gap in the message.
    """,
    cases=(
        fails(
            "last two-way exchange two years ago",
            ledger={"tier": "acquaintance", "last_two_way": "2023-05-01T10:00:00+00:00"},
        ),
        passes(
            "last two-way exchange two months ago", ledger={"tier": "warm", "last_two_way": "2025-04-01T10:00:00+00:00"}
        ),
        passes(
            "a longer window in the campaign policy",
            ledger={"tier": "acquaintance", "last_two_way": "2023-05-01T10:00:00+00:00"},
            policy={"stale_days": 1000},
        ),
    ),
    recipient=check,
    evidence=evidence,
    evidence_figures=("last_two_way", "two_way_threads"),
)
