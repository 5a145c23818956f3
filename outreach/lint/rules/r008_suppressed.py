"""R008 suppressed: on the team's suppression list (never overridable)."""

from __future__ import annotations

from outreach.lint.facts import RecipientFacts, day
from outreach.lint.findings import Evidence
from outreach.lint.rule import Rule, fails, passes


def check(r: RecipientFacts) -> str | None:
    entry = r.moment.suppressions.match(r.address)
    if entry is None:
        return None
    reason = f" ({entry.reason})" if entry.reason else ""
    return f"on the team's suppression list: {entry.kind} {entry.value}{reason}"


def evidence(r: RecipientFacts) -> list[Evidence]:
    entry = r.moment.suppressions.match(r.address)
    if entry is None:
        return []
    who = f", added by {entry.added_by}" if entry.added_by else ""
    when = f" on {day(entry.added_at)}" if entry.added_at else ""
    reason = f" ({entry.reason})" if entry.reason else ""
    return [Evidence(f"suppression list: {entry.kind} {entry.value}{reason}{who}{when}", date=entry.added_at)]


RULE = Rule(
    code="R008",
    name="suppressed",
    severity="block",
    scope="recipient",
    overridable=False,
    doc="""
    The address, or its whole domain, is on the team's suppression list (the `suppression` table): legal
    asked us to stop, a journalist's outlet forbids pitches, a bounce or complaint. A domain covers its
    subdomains (`example.com` covers `news.example.com`), here and in the sender's last check. Like R007,
    it cannot be ignored or suppressed; remove the entry from the suppression list if it is wrong.
    """,
    cases=(
        fails(
            "address on the suppression list",
            suppressions=[{"kind": "address", "value": "pat@example.org", "reason": "complaint"}],
        ),
        fails(
            "domain on the suppression list",
            suppressions=[{"kind": "domain", "value": "example.org", "reason": "outlet policy"}],
        ),
        fails(
            "a parent domain on the suppression list",
            row={"email": "pat@news.example.org", "first_name": "Pat"},
            suppressions=[{"kind": "domain", "value": "example.org", "reason": "outlet policy"}],
        ),
        passes(
            "another domain is suppressed",
            suppressions=[{"kind": "domain", "value": "example.net", "reason": "outlet policy"}],
        ),
    ),
    recipient=check,
    evidence=evidence,
)
