"""The preview, lint and rules commands, driven through click's CliRunner."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from campaign.data import DATA, add_ledgers, populate_mixed
from click.testing import CliRunner

from outreach.cli import main

REPO = Path(__file__).resolve().parents[2]
LINT = REPO / "tests" / "data" / "lint"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    from outreach.store import open_store, session_factory

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = open_store(url)
    with session_factory(engine)() as session:
        populate_mixed(session, datetime.now(UTC))
        add_ledgers(
            session,
            {
                "robin.reporter@example.com": {"tier": "warm"},
                "kai.partner@example.net": {"tier": "strong"},
                "sam.editor@example.org": {"tier": "acquaintance"},
            },
        )
    engine.dispose()
    return url


def run(db_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--database-url", db_url, *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_preview_table(db_url):
    code, out, err = run(db_url, "preview", str(DATA / "mixed"))
    assert code == 2  # bad rows in the CSV
    lines = out.splitlines()
    assert lines[0].split() == [
        "address",
        "tier",
        "last",
        "two",
        "way",
        "balance",
        "verdict",
        "codes",
        "best",
        "path",
        "reason",
    ]
    row = next(line for line in lines if line.startswith("optout@example.org"))
    assert "BLOCKED" in row and "R007" in row and "they asked us to stop writing" in row
    intro = next(line for line in lines if line.startswith("intro@example.net"))
    assert "READY" in intro
    assert "campaign mixed-test (mailbox alex): 10 recipient(s): 2 READY, 3 REVIEW, 5 BLOCKED" in out
    assert "recipients.csv:12: missing email" in out
    assert "warning:" in err and "matched nothing (unused)" in err


def test_preview_exit_codes(db_url, tmp_path):
    camp = tmp_path / "ok"
    camp.mkdir()
    (camp / "campaign.toml").write_text(
        'name = "ok"\nmailbox = "alex"\n[template]\nsubject = "Hi"\ntext = "b.txt"\n', encoding="utf-8"
    )
    (camp / "b.txt").write_text("Hi {{ first_name }}, our report is out.\n", encoding="utf-8")
    (camp / "recipients.csv").write_text("email,first_name\nxss@example.org,Xena\n", encoding="utf-8")
    assert run(db_url, "preview", str(camp))[0] == 0
    (camp / "recipients.csv").write_text(
        "email,first_name\nxss@example.org,Xena\nnew@example.org,N\n", encoding="utf-8"
    )
    assert run(db_url, "preview", str(camp))[0] == 1
    code, _, err = run(db_url, "preview", str(tmp_path / "nowhere"))
    assert code == 2 and "campaign not found" in err
    code, _, err = run(db_url, "preview", str(camp), "--select", "Q9")
    assert code == 2 and "'Q9' matches no rule code" in err


def test_preview_json_and_csv(db_url):
    code, out, _ = run(db_url, "preview", str(DATA / "mixed"), "--format", "json")
    data = json.loads(out)
    assert data["counts"] == {"READY": 2, "REVIEW": 3, "BLOCKED": 5}
    optout = next(r for r in data["recipients"] if r["address"] == "optout@example.org")
    assert optout["findings"][0]["evidence"][0]["subject"] == "Re: newsletter"
    assert len(data["row_errors"]) == 3
    code, out, _ = run(db_url, "preview", str(DATA / "mixed"), "--format", "csv", "--ignore", "R006,R003")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["address"] for r in rows][:2] == ["warm@example.org", "stranger@example.com"]
    assert rows[0]["verdict"] == "READY" and rows[1]["codes"] == "R001"
    assert all(not r["reason"].startswith(("=", "+", "-", "@")) for r in rows)


def test_preview_show(db_url):
    code, out, _ = run(db_url, "preview", str(DATA / "mixed"), "--show", "Taker@Example.org")
    assert code == 1
    assert out.startswith("taker@example.org (line 6): REVIEW")
    assert "R005 unanswered-prior-ask" in out and "Would you review this?" in out
    assert (
        "Subject: News for Tom" in out
        and "List-Unsubscribe: <https://example.org/u?e=taker%40example.org>" in out
    )
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in out
    assert "--- HTML body ---" in out
    code, _, err = run(db_url, "preview", str(DATA / "mixed"), "--show", "who@example.org")
    assert code == 2 and "not a recipient" in err


def test_preview_examples(db_url):
    code, out, _ = run(db_url, "preview", str(REPO / "templates" / "cold-mass-ask"))
    assert code == 1 and "6 BLOCKED" in out and "M001 asymmetric-mass-favour" in out
    # With none of these people in the store, the warm pitch is a cold mass ask too; the one person
    # introduced in person (allow file) is not counted as cold. tests/cli/test_demo.py runs it on real history.
    code, out, _ = run(db_url, "preview", str(REPO / "templates" / "warm-pitch"))
    assert code == 1 and "lee@radiolab.example" in out and "M001" in out


def test_lint_output_is_file_line_code(db_url):
    code, out, _ = run(db_url, "lint", str(LINT / "placeholders.txt.j2"), str(LINT / "familiar.txt.j2"))
    assert code == 1
    lines = out.splitlines()
    assert any(
        line.endswith("placeholders.txt.j2:1: T002 [block] leftover placeholder '[Name]'") for line in lines
    )
    assert any("placeholders.txt.j2:3: T002 [block] leftover placeholder 'XXX'" in line for line in lines)
    assert any(
        "placeholders.txt.j2:4: T002 [block] leftover placeholder '<OUTLET NAME>'" in line for line in lines
    )
    assert any('familiar.txt.j2:3: T003 [block] "As we discussed"' in line for line in lines)
    assert not any("Great catching up" in line for line in lines)  # inside a tier condition
    assert not any("T004" in line for line in lines if "placeholders" in line)  # disabled inline, with reason


def test_lint_clean_unused_and_errors(db_url):
    assert run(db_url, "lint", str(LINT / "clean.txt.j2")) == (0, "", "")
    code, out, err = run(db_url, "lint", str(LINT / "unused.txt.j2"))
    assert code == 0 and "unused.txt.j2:1: suppression of T002 matched nothing (unused)" in err
    code, _, err = run(db_url, "lint", str(LINT / "no_reason.txt.j2"))
    assert code == 2 and "no_reason.txt.j2:2: suppression of T003 has no reason" in err
    code, _, err = run(db_url, "lint", str(LINT / "ssti.txt.j2"))
    assert code == 2 and "ssti.txt.j2:3: unsafe template" in err
    code, out, _ = run(db_url, "lint", str(REPO / "templates" / "cold-mass-ask"), "--format", "json")
    assert code == 0 and json.loads(out)[0]["code"] == "T004"


def test_lint_and_preview_name_the_line_of_the_ask(db_url):
    code, out, _ = run(db_url, "lint", str(REPO / "templates" / "cold-mass-ask"))
    assert code == 0 and "cold-mass-ask/body.txt.j2:5: T004 [info] asks a favour" in out
    code, out, _ = run(db_url, "preview", str(REPO / "templates" / "cold-mass-ask"))
    assert "(templates/cold-mass-ask/body.txt.j2:5)" in out or "cold-mass-ask/body.txt.j2:5)" in out


def test_rules_command(db_url):
    code, out, _ = run(db_url, "rules")
    assert code == 0 and "R007  opted-out" in out and "never overridable" in out
    code, out, _ = run(db_url, "rules", "--format", "markdown")
    assert out == (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
