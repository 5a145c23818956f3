"""The sentence classifier's refinement from the command line: a sync or import refines what it stored
(and says how much); with ``--no-refine`` the messages stay pending until ``outreach signals refine``, or
until ``preview`` reads them for its recipients — whose verdicts then equal those of a refined store."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "outreach" / "data" / "sample-mailbox"
CAMPAIGN = REPO / "templates" / "warm-pitch"
AS_OF = "2025-06-01"


def outreach(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "outreach", "--database-url", f"sqlite:///{db}", "--as-of", AS_OF, *args],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip


def pending(db: Path, addresses: tuple[str, ...] = ()) -> int:
    """Messages whose signals wait for the classifier (of these addresses' mail, when given)."""
    query = "SELECT count(DISTINCT m.id) FROM message m"
    if addresses:
        query += " JOIN participant p ON p.message_id = m.id JOIN contact c ON c.id = p.contact_id"
        query += f" WHERE c.address IN ({','.join('?' * len(addresses))}) AND"
    else:
        query += " WHERE"
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"{query} m.signals_version LIKE '%~pending'", addresses).fetchone()[0])


def two_recipients(tmp_path: Path) -> tuple[Path, tuple[str, ...]]:
    """The warm pitch to its first two recipients only (so that other mail stays pending)."""
    campaign = tmp_path / "pitch"
    shutil.copytree(CAMPAIGN, campaign)
    lines = (campaign / "recipients.csv").read_text(encoding="utf-8").splitlines()[:3]
    (campaign / "recipients.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return campaign, tuple(line.split(",")[0] for line in lines[1:])


def test_import_refines_what_it_stored(tmp_path: Path) -> None:
    db = tmp_path / "refined.db"
    done = outreach(db, "import", str(SAMPLE), "--mailbox", "alex", "--quiet")
    assert done.returncode == 0, done.stderr
    refined = [line for line in done.stdout.splitlines() if "sentence classifier:" in line]
    assert len(refined) == 1 and refined[0].strip().endswith("message(s) refined")
    assert int(refined[0].split(":")[1].split()[0]) > 0
    assert pending(db) == 0


def test_no_refine_then_preview_then_refine(tmp_path: Path) -> None:
    fast, full = tmp_path / "fast.db", tmp_path / "full.db"
    done = outreach(fast, "import", str(SAMPLE), "--mailbox", "alex", "--quiet", "--no-refine")
    assert done.returncode == 0, done.stderr
    assert "sentence classifier" not in done.stdout
    campaign, addresses = two_recipients(tmp_path)
    assert 0 < pending(fast, addresses) < pending(fast)

    # preview refines its recipients' mail first: the same verdicts and reasons as on a refined store
    assert outreach(full, "import", str(SAMPLE), "--mailbox", "alex", "--quiet").returncode == 0
    seen = outreach(fast, "preview", str(campaign), "--format", "json")
    assert seen.returncode in (0, 1), seen.stderr
    assert pending(fast, addresses) == 0 and pending(fast) > 0
    expected = outreach(full, "preview", str(campaign), "--format", "json")
    assert json.loads(seen.stdout)["recipients"] == json.loads(expected.stdout)["recipients"]

    left = pending(fast)
    done = outreach(fast, "signals", "refine", "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"signals refined: {left} message(s) in ")
    assert pending(fast) == 0
    assert outreach(fast, "signals", "refine", "--quiet").stdout.startswith("signals refined: 0 message(s)")


def test_a_store_preview_cannot_write_keeps_the_fast_signals_with_a_warning(tmp_path: Path) -> None:
    db = tmp_path / "fast.db"
    assert outreach(db, "import", str(SAMPLE), "--mailbox", "alex", "--quiet", "--no-refine").returncode == 0
    waiting = pending(db)
    read_only = subprocess.run(
        [sys.executable, "-m", "outreach", "--database-url", f"sqlite:///file:{db}?mode=ro&uri=true",
         "--as-of", AS_OF, "preview", str(CAMPAIGN)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert read_only.returncode in (0, 1), read_only.stderr
    assert (
        "warning: the recipients' mail has signals the sentence classifier has not decided yet and the store "
        "could not be written (attempt to write a readonly database): their verdicts use the fast signals; "
        "run `outreach signals refine`"
    ) in read_only.stderr
    assert "maya@techdaily.example" in read_only.stdout and pending(db) == waiting
