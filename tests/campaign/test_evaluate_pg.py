"""evaluate() against a real store on SQLite and PostgreSQL (the ``database_url`` fixture gives both).

evaluate() reads light ledgers (figures, our recent asks, opt-outs) with the database's JSON functions
and reads the other evidence lines only when a finding's evidence is first used; both must give what
the rules give on the whole stored ledgers (outreach.ledger.load_ledgers + evaluate_data).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta, timezone
from typing import Any

import pytest
from lint.cases import NOW
from sqlalchemy.orm import Session, sessionmaker

from outreach.campaign import CampaignReport, campaign_from_strings, evaluate, evaluate_data, load_campaign
from outreach.campaign.evaluate import StoreData, load_sends
from outreach.campaign.evidence import deferred_figures
from outreach.campaign.model import Campaign
from outreach.campaign.paths import PathLines
from outreach.ledger import load_ledgers
from outreach.ledger.read import maybe_since, paths_for
from outreach.lint.findings import DeferredEvidence
from outreach.store import open_store, session_factory
from outreach.suppression import load_suppressions

from .data import DATA, add_ledgers, populate_mixed

MIXED_VERDICTS = {
    "warm@example.org": "REVIEW",
    "stranger@example.com": "BLOCKED",
    "oneway@example.com": "BLOCKED",
    "stale@example.org": "REVIEW",
    "taker@example.org": "REVIEW",
    "optout@example.org": "BLOCKED",
    "blocked@suppressed.example": "BLOCKED",
    "intro@example.net": "READY",
    "nofield@example.org": "BLOCKED",
    "xss@example.org": "READY",
}


def _line(mid: int, days_ago: int, subject: str, sentence: str | None = None) -> dict[str, Any]:
    date = (NOW - timedelta(days=days_ago)).isoformat()
    return {"message_id": mid, "date": date, "direction": "out", "subject": subject, "sentence": sentence}


# our last ask (recorded in last_ask_by_us) is old; a later one is only among the evidence lines: R006
# must see it (the light ledger keeps our asks from the cooldown window on)
ASKER = {
    "tier": "warm",
    "last_two_way": (NOW - timedelta(days=40)).isoformat(),
    "balance": -2.5,
    "asks_by_us": 3,
    "offers_by_us": 1,
    "evidence": {
        "asks_by_us": [_line(21, 200, "Old favour", "Could you share it?"), _line(22, 3, "New favour")],
        "offers_by_us": [_line(23, 90, "An offer", "Happy to send the data.")],
    },
    "last_ask_by_us": {**_line(21, 200, "Old favour", "Could you share it?"), "answered": True},
}


# our only recent ask was 29 days and 23 hours ago, written at UTC-14: the day in its date text is the
# day before the cooldown (30 days) began, and R006 must still see it
EDGE_ASK = {
    "message_id": 31,
    "date": (NOW - timedelta(days=30, hours=-1)).astimezone(timezone(timedelta(hours=-14))).isoformat(),
    "direction": "out",
    "subject": "Edge favour",
    "sentence": None,
}
EDGE = {
    "tier": "warm",
    "last_two_way": (NOW - timedelta(days=40)).isoformat(),
    "asks_by_us": 2,
    "evidence": {"asks_by_us": [_line(32, 100, "Old favour"), EDGE_ASK]},
    "last_ask_by_us": {**_line(32, 100, "Old favour"), "answered": True},
}


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = open_store(database_url)
    factory = session_factory(engine)
    with factory() as session:
        populate_mixed(session, NOW)
        add_ledgers(session, {"asker@example.org": ASKER, "edge@example.org": EDGE})
    yield factory
    engine.dispose()


def whole_ledgers(session: Session, campaign: Campaign) -> CampaignReport:
    """The same campaign evaluated on the whole stored ledgers, with every evidence line."""
    addresses = [r.address for r in campaign.recipients]
    policy = campaign.policy
    paths = paths_for(session, addresses, when=NOW)
    data = StoreData(
        load_ledgers(session, addresses),
        load_suppressions(session),
        load_sends(session, NOW - timedelta(days=policy.cooldown_days), campaign.name, addresses),
        paths=paths,
        path_lines=PathLines(session, paths),
    )
    return evaluate_data(campaign, data, now=NOW)


def as_json(report: CampaignReport) -> str:
    return json.dumps(report.to_json(), default=str, sort_keys=True)


def test_mixed_campaign_verdicts_and_evidence(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        report = evaluate(session, load_campaign(DATA / "mixed"), now=NOW)
    # as `outreach preview` does: the session is closed before the evidence is shown
    assert {r.address: r.verdict for r in report.recipients} == MIXED_VERDICTS
    assert report.counts == {"READY": 2, "REVIEW": 3, "BLOCKED": 5}
    optout = report.recipient("optout@example.org")
    assert optout is not None
    assert optout.findings[0].message == 'they asked us to stop writing: "Please remove me from your list."'
    deferred = [f.evidence for r in report.recipients for f in r.findings if f.code.startswith("R")]
    assert deferred and all(isinstance(e, DeferredEvidence) and not e.loaded for e in deferred)
    stale = report.recipient("stale@example.org")
    assert stale is not None and stale.findings[0].code == "R003"
    assert "Re: the Ghent panel" in stale.findings[0].evidence[1].text  # read from the store now
    taker = {f.code: f for f in report.recipient("taker@example.org").findings}  # type: ignore[union-attr]
    assert any("Could you share our post?" in e.text for e in taker["R004"].evidence)
    assert sessions.kw["bind"].pool.checkedout() == 0  # the reads through the closed session ended
    with sessions() as session:
        assert as_json(report) == as_json(whole_ledgers(session, load_campaign(DATA / "mixed")))


@pytest.mark.parametrize("identical", [False, True])
def test_small_campaign_matches_the_whole_ledgers(sessions: sessionmaker[Session], identical: bool) -> None:
    known = ["asker@example.org", "edge@example.org", "oneway@example.com", "stale@example.org"]
    known.append("taker@example.org")
    addresses = known + [f"new{i}@example.net" for i in range(25)]
    # notes longer than 40 characters are not blanked out for M002: personal bodies stay apart
    notes = [f"I liked your piece number {n} on repair cafes." for n in range(len(addresses))]
    rows = [{"email": a, "note": note} for a, note in zip(addresses, notes, strict=True)]
    note = "Our spring report is out." if identical else "{{ note }}"
    campaign = campaign_from_strings(
        name="small",
        mailbox="alex",
        subject="Our report",
        text=f"Hello,\n\n{note}\n\nBest,\nAlex\n",
        html=f"<p>Hello,</p><p>{note}</p>",
        rows=rows,
        today=NOW.date(),
    )
    with sessions() as session:
        report = evaluate(session, campaign, now=NOW)
        expected = whole_ledgers(session, campaign)
        report.load_evidence()
    assert as_json(report) == as_json(expected)
    asker = report.recipient("asker@example.org")
    assert asker is not None
    assert [f.code for f in asker.findings if f.code.startswith("R")] == ["R004", "R006"]
    assert asker.findings[1].message.startswith("we asked them 3 day(s) ago")
    assert any("An offer" in e.text for e in asker.findings[0].evidence)
    # 30 recipients are a bulk campaign: H001 (no one-click unsubscribe) for everyone
    assert [f.code for f in report.campaign_findings] == (["M002", "H001"] if identical else ["H001"])
    assert {r.address: r.verdict for r in report.recipients if r.verdict != "BLOCKED"} == {
        "asker@example.org": "REVIEW",
        "edge@example.org": "REVIEW",
        "stale@example.org": "REVIEW",
        "taker@example.org": "REVIEW",
    }
    assert report.counts == {"READY": 0, "REVIEW": 4, "BLOCKED": 26}  # strangers (R001), one-way (R002)
    edge = report.recipient("edge@example.org")
    assert edge is not None and edge.findings[0].code == "R006"
    assert edge.findings[0].message.startswith("we asked them 30 day(s) ago")  # 29 days 23 hours: calendar days
    assert "Edge favour" in edge.findings[0].evidence[0].text
    assert EDGE_ASK["date"][:10] < (NOW - timedelta(days=30)).date().isoformat()


def test_lines_as_json_text_left_out_only_when_all_dated_earlier() -> None:
    day = "2025-05-01"
    old = '[{"message_id":1,"date":"2025-04-29T23:00:00-11:00"},{"message_id":2,"date":null}]'
    assert not maybe_since(old, day)
    assert not maybe_since("[]", day)
    assert maybe_since('[{"message_id":1,"date":"2025-05-01T00:00:00+00:00"}]', day)
    assert maybe_since('[{"message_id":1,"date":"2025-04-02T00:00:00"},{"date":"2025-06-01"}]', day)
    assert maybe_since('[{"message_id":1,"date":"20250601T000000"}]', day)  # not the usual form: decode
    assert maybe_since('[{"message_id":1,"date":"soon"}]', day)


def test_deferred_codes_are_those_quoting_unread_lines() -> None:
    assert sorted(deferred_figures()) == ["R002", "R003", "R004", "R009"]
