"""`outreach mailbox show` says whose addresses a mailbox holds and where each came from; the commands that
only read never create a store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[2] / "outreach" / "data" / "sample-mailbox"


def outreach(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "outreach", *args], capture_output=True, text=True, timeout=300)


def test_mailbox_show_lists_the_owner_addresses_and_their_source(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    done = outreach("--database-url", url, "import", str(SAMPLE), "--mailbox", "alex", "--address",
                    "alex@old-agency.example", "--quiet")  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = outreach("--database-url", url, "mailbox", "show", "alex")
    assert shown.returncode == 0, shown.stderr
    assert "    alex@old-agency.example: configured" in shown.stdout
    assert "    alex@brightlane.example (Alex Rivera): From of a message in the Sent folder" in shown.stdout
    data = json.loads(outreach("--database-url", url, "mailbox", "show", "alex", "--format", "json").stdout)
    assert {a["address"]: a["source"] for a in data["addresses"]} == {
        "alex@old-agency.example": "config",
        "alex@brightlane.example": "sent-folder",
    }
    sent = next(f for f in data["folders"] if f["sent"])
    assert sent["messages"] == sent["outbound"] > 0
    unknown = outreach("--database-url", url, "mailbox", "show", "sam")
    assert unknown.returncode == 2 and "no mailbox named 'sam' in the store (known: alex)" in unknown.stderr
    listed = json.loads(outreach("--database-url", url, "mailbox", "list", "--format", "json").stdout)
    assert [m["mailbox"] for m in listed] == ["alex"]


def test_reading_commands_do_not_create_a_store(tmp_path: Path) -> None:
    store = tmp_path / "data" / "outreach.db"
    url = f"sqlite:///{store}"
    for args in (["contacts"], ["contact", "maya@techdaily.example"], ["mailbox", "list"], ["suppress", "list"],
                 ["preview", str(Path(__file__).resolve().parents[2] / "templates" / "warm-pitch")]):
        done = outreach("--database-url", url, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.strip() == f"error: no store at {store}: run `outreach sync` or `outreach import` first"
        assert not store.parent.exists(), args


def test_a_file_that_is_no_store_is_one_line_and_untouched(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n")
    done = outreach("--database-url", f"sqlite:///{notes}", "contacts")
    assert done.returncode == 2
    assert done.stderr == f"error: {notes}: not an outreach store (not a SQLite database)\n"
    assert notes.read_text() == "not a database\n"
