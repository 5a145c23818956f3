"""Verdicts for a mix of ledgers read from a real (SQLite) store: evaluate(), check_address()."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lint.cases import NOW
from sqlalchemy.orm import Session

from outreach.campaign import check_address, evaluate, load_campaign
from outreach.config import Settings
from outreach.store import open_store, session_factory
from outreach.store.models import Mailbox

from .data import DATA, add_ledgers, populate_mixed


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Session]:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with session_factory(engine)() as session:
        yield session
    engine.dispose()


@pytest.fixture
def mixed_store(store: Session) -> Session:
    populate_mixed(store)
    return store


def codes(report: Any, address: str) -> list[str]:
    return [f.code for f in report.recipient(address).findings]


def test_mixed_campaign_verdicts(mixed_store):
    campaign = load_campaign(DATA / "mixed")
    report = evaluate(mixed_store, campaign, now=NOW)
    verdicts = {r.address: r.verdict for r in report.recipients}
    assert verdicts == {
        "warm@example.org": "REVIEW",  # R006: campaign "earlier" 5 days ago
        "stranger@example.com": "BLOCKED",  # R001
        "oneway@example.com": "BLOCKED",  # R002
        "stale@example.org": "REVIEW",  # R003 (its send of this same campaign does not count for R006)
        "taker@example.org": "REVIEW",  # R004 R005 R006
        "optout@example.org": "BLOCKED",  # R007 despite the allow entry
        "blocked@suppressed.example": "BLOCKED",  # R008
        "intro@example.net": "READY",  # R001 allowed: introduced in person
        "nofield@example.org": "BLOCKED",  # T001: empty first_name
        "xss@example.org": "READY",
    }
    assert report.counts == {"READY": 2, "REVIEW": 3, "BLOCKED": 5}
    assert codes(report, "warm@example.org") == ["R006"]
    assert codes(report, "stale@example.org") == ["R003"]
    assert sorted(codes(report, "taker@example.org")) == ["R004", "R005", "R006"]
    assert codes(report, "optout@example.org") == ["R007"]
    assert codes(report, "blocked@suppressed.example") == ["R008"]
    assert codes(report, "stranger@example.com") == ["R001"]
    assert report.exit_code == 2  # bad CSV rows
    assert [r.review_allowed for r in report.recipients] == [v != "BLOCKED" for v in verdicts.values()]


def test_evidence_names_messages_and_facts(mixed_store):
    report = evaluate(mixed_store, load_campaign(DATA / "mixed"), now=NOW)
    optout = report.recipient("optout@example.org").findings[0]
    assert optout.message == 'they asked us to stop writing: "Please remove me from your list."'
    assert optout.evidence[0].subject == "Re: newsletter" and optout.evidence[0].date is not None
    taker = {f.code: f for f in report.recipient("taker@example.org").findings}
    assert "Would you review this?" in taker["R005"].evidence[0].text
    assert taker["R004"].evidence[0].text.startswith("reciprocity balance -3.5: 4 ask(s) by us")
    assert any("Could you share our post?" in e.text for e in taker["R004"].evidence)
    stale = report.recipient("stale@example.org").findings[0]
    assert "800 days ago" in stale.evidence[0].text and "Re: the Ghent panel" in stale.evidence[1].text
    warm = report.recipient("warm@example.org").findings[0]
    assert "campaign 'earlier' sent to them on" in warm.evidence[0].text
    blocked = report.recipient("blocked@suppressed.example").findings[0]
    assert "domain suppressed.example (outlet policy), added by legal" in blocked.evidence[0].text
    nofield = {(f.path or "").rsplit("/", 1)[-1]: f for f in report.recipient("nofield@example.org").findings}
    assert set(nofield) == {"campaign.toml", "body.txt.j2", "body.html.j2"}
    assert nofield["campaign.toml"].line == 7 and nofield["body.txt.j2"].line == 2
    assert all(f.code == "T001" and "first_name is empty" in f.message for f in nofield.values())


def test_suppressions_and_warnings(mixed_store):
    report = evaluate(mixed_store, load_campaign(DATA / "mixed"), now=NOW)
    intro = report.recipient("intro@example.net")
    assert [s.finding.code for s in intro.suppressed] == ["R001"]
    assert intro.suppressed[0].reason == "introduced by Dana Example at the Lyon panel"
    # the one-line reason of a recipient let through says which exception did it (nothing else holds them)
    assert intro.reason.startswith("allowed: R001 no-prior-contact (introduced by Dana Example at the Lyon panel")
    assert report.recipient("xss@example.org").reason == ""  # READY with no exception: no reason
    warnings = "\n".join(report.warnings)
    assert "allow.csv:5: allow entry for nobody@example.org (R002) matched nothing (unused)" in warnings
    assert "R007 opted-out can never be suppressed" in warnings
    # each recipient has a personal note, so M002 does not fire and the inline directive is unused
    assert "body.txt.j2:1: suppression of M002 matched nothing (unused)" in warnings


def test_rendered_messages_and_escaping(mixed_store):
    report = evaluate(mixed_store, load_campaign(DATA / "mixed"), now=NOW)
    warm = report.recipient("warm@example.org").rendered
    assert warm is not None and warm.subject == "News for Wendy"
    assert "Thanks again for the interview" in warm.text
    stranger = report.recipient("stranger@example.com").rendered
    assert stranger is not None and "Thanks again" not in stranger.text
    xss = report.recipient("xss@example.org").rendered
    assert xss is not None and xss.html is not None
    assert "<script>" in xss.text  # the text body is plain text
    assert "<script>" not in xss.html and "&lt;script&gt;" in xss.html
    assert "A &lt;b&gt;bold&lt;/b&gt; note &amp; more." in xss.html


def test_select_and_ignore(mixed_store):
    campaign = load_campaign(DATA / "mixed")
    report = evaluate(mixed_store, campaign, select=["R00"], ignore=["R006", "R007"], now=NOW)
    assert codes(report, "warm@example.org") == []
    assert codes(report, "optout@example.org") == ["R007"]  # never overridable
    assert codes(report, "nofield@example.org") == []  # T001 not selected
    assert any("R007 opted-out cannot be turned off" in w for w in report.warnings)


def test_config_lint_section_and_campaign_policy_precedence(mixed_store, tmp_path):
    settings = Settings(
        database_url="sqlite://",
        config_path=None,
        sections={"lint": {"stale_days": 10, "ignore": ["R006"], "cooldown_days": 3}},
    )
    report = evaluate(mixed_store, load_campaign(DATA / "mixed"), settings, now=NOW)
    # campaign [policy] stale_days = 365 beats the config's 10: warm (20 days) is not stale
    assert codes(report, "warm@example.org") == []
    assert "R006" not in codes(report, "taker@example.org")


def test_mailbox_scope(store):
    add_ledgers(store, {"pat@example.org": {"tier": "warm"}})
    add_ledgers(store, {"pat@example.org": {"tier": "none", "last_two_way": ""}}, scope="alex")
    store.add(Mailbox(name="alex"))
    store.commit()
    from outreach.campaign import campaign_from_strings

    rows = [{"email": "pat@example.org", "first_name": "Pat"}]
    team = evaluate(
        store, campaign_from_strings(mailbox="alex", text="Hi {{ first_name }}\n", rows=rows), now=NOW
    )
    own = evaluate(
        store,
        campaign_from_strings(
            mailbox="alex", text="Hi {{ first_name }}\n", rows=rows, policy={"scope": "mailbox"}
        ),
        now=NOW,
    )
    assert team.recipients[0].verdict == "READY" and own.recipients[0].verdict == "BLOCKED"


def test_check_address(mixed_store):
    assert check_address(mixed_store, "warm@example.org", now=NOW)[0].code == "R006"
    assert [f.code for f in check_address(mixed_store, "Nobody@Else.example", now=NOW)] == ["R001"]
    found = {f.code for f in check_address(mixed_store, "x@sub.suppressed.example", now=NOW)}
    assert found == {"R001", "R008"}
    campaign = load_campaign(DATA / "mixed")
    assert check_address(mixed_store, "intro@example.net", campaign=campaign, now=NOW) == []
    assert [f.code for f in check_address(mixed_store, "optout@example.org", campaign=campaign, now=NOW)] == [
        "R007"
    ]


def test_now_defaults_to_the_current_time(store):
    add_ledgers(store, {"pat@example.org": {"tier": "warm", "last_two_way": datetime.now(UTC).isoformat()}})
    assert check_address(store, "pat@example.org") == []
