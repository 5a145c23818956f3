"""R006 recent-ask-cooldown: we asked them (or sent them a campaign) within the cooldown."""

from __future__ import annotations

from datetime import UTC, datetime

from outreach.ledger import EvidenceLine
from outreach.lint.facts import MAX_EVIDENCE, RecipientFacts, Send, day, maybe_aware
from outreach.lint.findings import Evidence
from outreach.lint.rule import Rule, fails, passes


def _recent(r: RecipientFacts) -> list[tuple[datetime, EvidenceLine | Send]]:
    """Our asks and the campaign sends within the cooldown, with their dates, oldest first."""
    ledger = r.ledger
    asks = ledger.evidence.get("asks_by_us") or ()
    last_ask = ledger.last_ask_by_us
    if not (asks or last_ask is not None or r.sends):
        return []
    since, until = r.moment.since, r.moment.until
    recent: list[tuple[datetime, EvidenceLine | Send]] = []
    for ask in [*asks, last_ask.evidence] if last_ask is not None else asks:
        date = maybe_aware(ask.date)
        if date is not None and since <= date <= until:
            recent.append((date, ask))
    for send in r.sends:
        date = maybe_aware(send.date)
        if date is not None and date >= since:
            recent.append((date, send))
    recent.sort(key=lambda item: item[0])
    return recent


def check(r: RecipientFacts) -> str | None:
    ledger = r.ledger
    if not (r.sends or ledger.last_ask_by_us is not None or ledger.evidence.get("asks_by_us")):
        return None  # (the common case, without the call)
    recent = _recent(r)
    if not recent:
        return None
    latest = recent[-1][0]
    # calendar days, as a person counts them: asked on the 16th, judged on the 21st is 5 days, whatever the hour
    days = max((r.moment.now.astimezone(UTC).date() - latest.astimezone(UTC).date()).days, 0)
    return f"we asked them {days} day(s) ago ({day(latest)}; cooldown {r.policy.cooldown_days} days)"


def evidence(r: RecipientFacts) -> list[Evidence]:
    found = (
        Evidence(f"campaign {item.campaign!r} sent to them on {day(date)}", date=date)
        if isinstance(item, Send)
        else Evidence.from_line(item, "our ask")
        for date, item in _recent(r)
    )
    return list(dict.fromkeys(found))[-MAX_EVIDENCE:]


_ASK = {"message_id": 9, "direction": "out", "subject": "Panel next month?", "sentence": "Would you join our panel?"}

RULE = Rule(
    code="R006",
    name="recent-ask-cooldown",
    severity="review",
    scope="recipient",
    options=("cooldown_days",),
    doc="""
    We already asked this person something within the cooldown window (`cooldown_days`, default 30 days),
    counting every ask found in the team's mail and every campaign message recorded as sent in the store
    (other campaigns than this one). Back-to-back asks wear a relationship out; wait, or fold this ask into
    the conversation already going on.
    """,
    cases=(
        fails(
            "asked ten days ago",
            ledger={"tier": "warm", "last_ask_by_us": {**_ASK, "date": "2025-05-22T09:00:00+00:00", "answered": True}},
        ),
        fails(
            "another campaign was sent to them a week ago",
            ledger={"tier": "warm"},
            sends=[{"campaign": "may-newsletter", "date": "2025-05-25T08:00:00+00:00"}],
        ),
        passes(
            "last ask three months ago",
            ledger={"tier": "warm", "last_ask_by_us": {**_ASK, "date": "2025-03-01T09:00:00+00:00", "answered": True}},
        ),
    ),
    recipient=check,
    evidence=evidence,
    evidence_figures=("asks_by_us",),
)
