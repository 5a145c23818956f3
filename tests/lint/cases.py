"""Running a rule's pass/fail cases (``cases`` in each ``outreach/lint/rules/*.py``) through the real code.

A case is a table of these keys, all optional:

- ``text``, ``subject``, ``html``: the templates (a plain announcement by default);
- ``row``: the CSV row of the one recipient (``pat@example.org``, first name Pat);
- ``ledger``: ledger fields of that recipient over a warm default (``last_two_way = ""`` for none);
- ``tiers`` (a tier per recipient) or ``count`` (that many warm recipients): several recipients,
  ``rN@example.org`` with a first name and a personal ``note`` each;
- ``policy``, ``unsubscribe``, ``allow`` (a list of allow entries): as in campaign.toml;
- ``suppressions``: suppression-list entries ``{kind, value, reason}``;
- ``sends``: campaign sends recorded for the recipient ``{campaign, date}``;
- ``mode = "template"``: lint ``text`` as ``outreach lint`` does, without recipients;
- ``verdicts``: the verdict expected for each recipient.

Evaluation runs at a fixed time, :data:`NOW`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from outreach.campaign.evaluate import StoreData, evaluate_data
from outreach.campaign.lint import lint_source
from outreach.campaign.loader import campaign_from_strings
from outreach.ledger import Ledger
from outreach.lint.facts import Send
from outreach.lint.rule import Case, Rule
from outreach.suppression import SuppressionEntry, SuppressionList

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DEFAULT_TEXT = (
    "Hi {{ first_name }},\n\nOur spring report is out; I thought of you when we wrote the part on reuse.\n\n"
    "Best,\nAlex\n"
)
DEFAULT_ROW = {"email": "pat@example.org", "first_name": "Pat"}
_WARM: dict[str, Any] = {
    "tier": "warm",
    "last_two_way": "2025-04-01T10:00:00+00:00",
    "strength": 60,
    "balance": 0.5,
    "sent": 6,
    "received": 5,
    "personal_received": 5,
    "two_way_threads": 3,
}


@dataclass(frozen=True, slots=True)
class CaseResult:
    ok: bool
    detail: str


def make_ledger(address: str, data: dict[str, Any], name: str | None = None) -> Ledger:
    values = {**_WARM, "address": address, "domain": address.rpartition("@")[2], "name": name, **data}
    if values["tier"] in ("none", "one-way") and "last_two_way" not in data:
        values["last_two_way"] = None
        values["two_way_threads"] = 0
    return Ledger.from_json(values)


def _recipients(data: dict[str, Any]) -> list[tuple[dict[str, str], dict[str, Any]]]:
    tiers = data.get("tiers")
    if tiers is None and "count" in data:
        tiers = ["warm"] * int(data["count"])
    if tiers is not None:
        return [
            (
                {
                    "email": f"r{i}@example.org",
                    "first_name": f"Name{i}",
                    "note": f"I liked your piece number {i} on community energy co-ops in small towns.",
                },
                {"tier": t},
            )
            for i, t in enumerate(tiers)
        ]
    if "recipients" in data:
        return [(dict(r.get("row", {})), dict(r.get("ledger", {}))) for r in data["recipients"]]
    return [(dict(data.get("row", DEFAULT_ROW)), dict(data.get("ledger", {})))]


def run_case(rule: Rule, case: Case) -> CaseResult:
    """Whether ``case`` behaves as it says: the rule fires on a ``fail`` case and not on a ``pass`` case."""
    data = dict(case.data)
    text = str(data.get("text", DEFAULT_TEXT))
    if data.get("mode") == "template":
        findings = lint_source(text).findings
        codes = [f.code for f in findings]
        fired = rule.code in codes
        ok = fired == (case.expect == "fail")
        return CaseResult(ok, f"template lint gave {codes or 'nothing'}")
    recipients = _recipients(data)
    campaign = campaign_from_strings(
        subject=str(data.get("subject", "Our spring report")),
        text=text,
        html=data.get("html"),
        rows=[row for row, _ in recipients],
        policy=data.get("policy"),
        unsubscribe=data.get("unsubscribe"),
        allow=data.get("allow", ()),
        today=NOW.date(),
    )
    if campaign.row_errors:
        return CaseResult(False, f"bad case rows: {[str(e) for e in campaign.row_errors]}")
    ledgers = {}
    for row, ledger in recipients:
        address = row["email"].lower()
        ledgers[address] = make_ledger(address, ledger, row.get("first_name"))
    first = recipients[0][0]["email"].lower()
    sends = {
        first: [
            Send(str(s["campaign"]), datetime.fromisoformat(str(s["date"]))) for s in data.get("sends", [])
        ]
    }
    suppressions = SuppressionList(
        SuppressionEntry(str(s["kind"]), str(s["value"]), str(s.get("reason", "")))
        for s in data.get("suppressions", [])
    )
    report = evaluate_data(campaign, StoreData(ledgers, suppressions, sends), now=NOW)
    codes = sorted(
        {f.code for r in report.recipients for f in r.findings} | {f.code for f in report.campaign_findings}
    )
    fired = rule.code in codes
    ok = fired == (case.expect == "fail")
    verdicts = [r.verdict for r in report.recipients]
    if ok and "verdicts" in data and list(data["verdicts"]) != verdicts:
        return CaseResult(False, f"verdicts {verdicts}, expected {data['verdicts']}")
    return CaseResult(ok, f"findings {codes or 'none'}; verdicts {verdicts}")


__all__ = ["CaseResult", "DEFAULT_TEXT", "NOW", "make_ledger", "run_case"]
