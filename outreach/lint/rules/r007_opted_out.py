"""R007 opted-out: they asked us to stop writing (never overridable)."""

from __future__ import annotations

from outreach.lint.facts import MAX_EVIDENCE, RecipientFacts, ledger_lines
from outreach.lint.findings import Evidence
from outreach.lint.rule import Rule, fails, passes


def check(r: RecipientFacts) -> str | None:
    ledger = r.ledger
    if ledger.opt_outs <= 0:
        return None
    lines = ledger.evidence.get("opt_outs", [])[-MAX_EVIDENCE:]
    sentence = next((line.sentence for line in lines if line.sentence), None)
    return "they asked us to stop writing" + (f': "{sentence}"' if sentence else "")


def evidence(r: RecipientFacts) -> list[Evidence]:
    return ledger_lines(r.ledger, "opt_outs", "they asked us to stop") or [
        Evidence(f"the ledger counts {r.ledger.opt_outs} opt-out request(s) from them")
    ]


_OPT_OUT = {
    "message_id": 3,
    "date": "2024-11-02T10:00:00+00:00",
    "direction": "in",
    "subject": "Re: our newsletter",
    "sentence": "Please take me off your list.",
}

RULE = Rule(
    code="R007",
    name="opted-out",
    severity="block",
    scope="recipient",
    overridable=False,
    doc="""
    This person asked us to stop writing to them ("please remove me", "unsubscribe", "stop emailing me").
    That request is final for campaigns: this rule cannot be ignored, selected away or suppressed in an allow
    file or template, and an attempt to do so is reported. Only a new, explicit request from them (a fresh
    two-way conversation that the ledger no longer counts as an opt-out) lifts it.
    """,
    cases=(
        fails(
            "they asked us to stop",
            ledger={"tier": "warm", "opt_outs": 1, "evidence": {"opt_outs": [_OPT_OUT]}},
        ),
        fails(
            "an allow entry cannot lift it",
            ledger={"tier": "warm", "opt_outs": 1},
            allow=[{"address": "pat@example.org", "codes": ["R007"], "reason": "they are a friend"}],
            policy={"ignore": ["R007"]},
        ),
        passes("never opted out", ledger={"tier": "warm", "opt_outs": 0}),
    ),
    recipient=check,
    evidence=evidence,
    evidence_figures=("opt_outs",),
)
