"""The demo's story, end to end through the real CLI: the sample mailbox, then the example campaign.

Each recipient of templates/warm-pitch stands for one situation in outreach/data/sample-mailbox.
Everything runs ``--as-of`` the day the story was written, so cooldowns and staleness do not drift.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AS_OF = "2026-11-21"

EXPECTED = {
    "maya@techdaily.example": ("warm", "READY", set()),  # years of favours both ways
    "lee@radiolab.example": ("none", "READY", set()),  # never written, but introduced in person (allow file)
    "jonas@nordicpodcast.example": ("warm", "REVIEW", {"R006"}),  # we asked him days ago
    "omar@citywire.example": ("acquaintance", "REVIEW", {"R003"}),  # one exchange, long ago
    "priya@startupbeat.example": ("acquaintance", "REVIEW", {"R005", "R006"}),  # our last ask unanswered
    "tom@dailyplanet.example": ("acquaintance", "BLOCKED", {"R007"}),  # asked us to stop
    "lena@greenbytes.example": ("one-way", "BLOCKED", {"R002", "R005"}),  # never answered us
    "sam@unknownmedia.example": ("none", "BLOCKED", {"R001"}),  # a stranger
}


def outreach(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "outreach", "--database-url", f"sqlite:///{db}", "--as-of", AS_OF, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("demo") / "outreach.db"
    done = outreach(db, "import", "outreach/data/sample-mailbox", "--mailbox", "alex", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "fetched 25, new 25, duplicates 0, skipped 0" in done.stdout
    # --quiet: no progress lines, but what outreach decided for the user is still said
    assert "message(s) to fetch" not in done.stderr and "/25" not in done.stderr
    assert "owner address(es) taken from the Sent folder: alex@brightlane.example" in done.stderr
    return db


def test_sample_mailbox_contacts_and_tiers(demo_db: Path) -> None:
    done = outreach(demo_db, "contacts", "--format", "json")
    rows = {r["address"]: r for r in json.loads(done.stdout)}
    assert rows["maya@techdaily.example"]["tier"] == "warm"
    assert rows["lena@greenbytes.example"]["tier"] == "one-way"  # we only wrote to her
    assert rows["news@presswire.example"]["tier"] == "none"  # only its newsletters: no personal mail either way
    assert "alex@brightlane.example" not in rows  # our own address is not a contact


def test_contact_evidence_points_at_the_sentences(demo_db: Path) -> None:
    ledger = json.loads(outreach(demo_db, "contact", "maya@techdaily.example", "--format", "json").stdout)
    thanks = [e["sentence"] for e in ledger["evidence"]["thanks_received"]]
    assert "Thank you so much for the introduction to Dana, the interview was great." in thanks
    assert ledger["their_asks_fulfilled"] >= 1  # we introduced her to our CTO, as asked


def test_warm_pitch_preview_gives_each_situation_its_verdict(demo_db: Path) -> None:
    done = outreach(demo_db, "preview", "templates/warm-pitch", "--format", "json")
    assert done.returncode == 1  # some recipients are blocked or need review
    report = json.loads(done.stdout)
    got = {
        r["address"]: (r["tier"], r["verdict"], {f["code"] for f in r["findings"] if f["severity"] != "info"})
        for r in report["recipients"]
    }
    assert got == EXPECTED


def test_the_report_offers_no_path_where_none_helps(demo_db: Path, tmp_path: Path) -> None:
    """One mailbox: nobody else on the team can send; tom, blocked for opting out, is known by alex, the
    mailbox judged, which makes no way in either. The report's summary counts no path, and says why the
    allowed recipient is READY."""
    out = tmp_path / "report.html"
    done = outreach(demo_db, "preview", "templates/warm-pitch", "--format", "html", "--output", str(out))
    assert done.returncode == 1, done.stderr
    page = out.read_text(encoding="utf-8")
    assert 'id="path-note"' not in page and "can go through a teammate" not in page
    lee = page.split('data-address="lee@radiolab.example"')[1].split("</tbody>")[0]
    assert "Allowed R001: introduced by Dana at the Lyon reuse panel, 2026-10" in lee


def test_dry_run_send_would_send_only_the_ready(demo_db: Path) -> None:
    done = outreach(demo_db, "send", "templates/warm-pitch")
    assert done.returncode == 0  # the blocked and review recipients are skipped, reported, not failures
    lines = [line.split() for line in done.stdout.splitlines()]
    would = {words[1] for words in lines if len(words) > 2 and words[2] == "would-send:"}
    assert would == {a for a, (_, verdict, _) in EXPECTED.items() if verdict == "READY"}
    assert "nothing was sent" in done.stdout


def test_as_of_is_refused_for_a_real_send(demo_db: Path) -> None:
    done = outreach(demo_db, "send", "templates/warm-pitch", "--no-dry-run")
    assert done.returncode == 2
    assert "--as-of only goes with a dry run" in done.stderr
