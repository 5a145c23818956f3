"""Clear answers: the version, a help that is not cut off, sorting domains, tables that fit the terminal and
stay whole when piped, an unknown campaign mailbox, every template variable checked, and renders that
cannot run away (the render budget). Through the real CLI on the sample mailbox's store."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.conftest import AS_OF, Cli
from outreach import __version__
from outreach.campaign.budget import TIME_BUDGET
from outreach.cli import main
from outreach.texttable import render_table

REPO = Path(__file__).resolve().parents[2]
WARM = REPO / "templates" / "warm-pitch"


def test_version_short_and_long() -> None:
    for flag in ("--version", "-V"):
        done = CliRunner().invoke(main, [flag])
        assert done.exit_code == 0 and done.output == f"outreach, version {__version__}\n"


def test_help_lists_every_command_whole_with_exit_codes_and_completion() -> None:
    done = subprocess.run([sys.executable, "-m", "outreach", "--help"], capture_output=True, text=True,
                          env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"}, timeout=60)  # fmt: skip
    assert done.returncode == 0
    flat = " ".join(done.stdout.split())
    assert "import Import an mbox file (e.g. Gmail Takeout) or a Maildir tree through the sync pipeline." in flat
    assert "..." not in done.stdout.split("Commands:")[1]  # no command's help cut off
    assert "Exit codes:" in done.stdout and "2 bad usage or input" in flat
    assert '_OUTREACH_COMPLETE=bash_source outreach' in done.stdout
    send_help = CliRunner().invoke(main, ["send", "--help"], terminal_width=100).output
    assert "Exit 0 when every message it meant to send was sent" in " ".join(send_help.split())
    command = str(Path(sys.executable).parent / "outreach")  # the installed command, as a shell runs it
    script = subprocess.run([command], capture_output=True, text=True, timeout=60,
                            env={"_OUTREACH_COMPLETE": "bash_source", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert "complete " in script.stdout  # the completion script the README tells to eval


def test_by_domain_honours_sort_and_asc_and_refuses_an_unknown_key(cli: Cli) -> None:
    def domains(*args: str) -> list[dict[str, str]]:
        code, out, err = cli("contacts", "--by-domain", "--format", "csv", *args)
        assert code == 0, err
        return list(csv.DictReader(io.StringIO(out)))

    names = [d["domain"] for d in domains("--sort", "domain", "--asc")]
    assert names == sorted(names) and len(names) > 3
    assert [d["domain"] for d in domains("--sort", "domain")] == sorted(names, reverse=True)
    counts = [int(d["strongest_strength"]) for d in domains("--sort", "strength", "--asc")]
    assert counts == sorted(counts)
    code, _, err = cli("contacts", "--by-domain", "--sort", "last_received")
    assert code == 2 and err.strip() == ("error: --by-domain cannot sort by 'last_received'; choose one of domain, "
                                         "contacts, best_tier, strongest_strength, last_two_way, two_way_threads")
    code, _, err = cli("contacts", "--sort", "bogus")
    assert code == 2 and "cannot sort by 'bogus'" in err


def test_piped_tables_keep_every_cell_whole(cli: Cli) -> None:
    code, out, _ = cli("contacts")
    lines = out.splitlines()
    assert lines[0] == "Contacts" and "…" not in out
    assert any(line.startswith("jonas@nordicpodcast.example  ") for line in lines)
    header = lines[1].split("  ")
    assert [h for h in header if h][:3] == ["address", "tier", "last 2-way"]


def test_a_table_fits_the_terminal_and_keeps_addresses_whole() -> None:
    columns = ["address", "name", "last_two_way", "note"]
    headers = {c: c for c in columns}
    rows = [{"address": "a.very.long.address@newsroom.example", "name": "Somebody With A Long Name",
             "last_two_way": "2026-11-16", "note": "x" * 80}]  # fmt: skip
    lines = render_table(columns, headers, rows, whole={"address"}, width=80)
    assert all(len(line) <= 80 for line in lines), lines
    assert lines[2].startswith("a.very.long.address@newsroom.example  Somebody W")
    assert "2026-11-16" in lines[2] and "…" in lines[2]
    narrow = render_table(columns, headers, rows, whole={"address"}, width=50)
    assert narrow[2].startswith("a.very.long.address@newsroom.example")
    assert narrow[-1].startswith("(left out to fit the terminal:")
    assert render_table(columns, headers, rows, whole={"address"})[2].endswith("x" * 80)  # piped: whole


def copy_campaign(tmp_path: Path) -> Path:
    folder = tmp_path / "campaign"
    shutil.copytree(WARM, folder)
    return folder


def test_a_campaign_with_an_unknown_mailbox_names_the_known_ones(cli: Cli, tmp_path: Path) -> None:
    folder = copy_campaign(tmp_path)
    toml = folder / "campaign.toml"
    toml.write_text(toml.read_text().replace('mailbox = "alex"', 'mailbox = "alx"'))
    for command in ("preview", "send"):
        code, _, err = cli(command, str(folder))
        assert code == 2
        assert err == f"error: {toml}: mailbox 'alx' is unknown (known mailboxes: alex)\n"


def test_lint_checks_every_variable_against_the_csv_and_the_contact_fields(cli: Cli, tmp_path: Path) -> None:
    folder = copy_campaign(tmp_path)
    body = folder / "body.txt.j2"
    body.write_text("Hi {{ first_name }} at {{ outlett }},\n{% if contact.tire == 'warm' %}hello{% endif %}\n"
                    "{{ row.first_name }} {{ row['nickname'] }}\n{% set x = 1 %}{{ x }} {{ range(2)|list }}\n")
    code, out, err = cli("lint", str(folder))
    assert code == 1, err
    found = [line for line in out.splitlines() if " T001 " in line]
    assert found == [
        f"{body}:1: T001 [block] outlett is not a column of the recipients CSV (columns: email, first_name, outlet, "
        "note) nor a contact field (contact.tier, contact.last_two_way, contact.balance, contact.strength, "
        "contact.name)",
        f"{body}:2: T001 [block] contact.tire is not a contact field (known: tier, last_two_way, balance, strength, "
        "name)",
        f"{body}:3: T001 [block] row.nickname: no such column in the recipients CSV (columns: email, first_name, "
        "outlet, note)",
    ]
    # the preview says the same in the same words, recipient by recipient: no Python repr anywhere
    code, out, _ = cli("preview", str(folder), "--format", "json")
    messages = re.findall(r'"message": "([^"]*)"', out)
    assert any(m.startswith("outlett is not a column of the recipients CSV") for m in messages), messages
    assert not any("object" in m or "'" in m.split(" (")[0] for m in messages if "T001" in m or "column" in m)


BLOW_UPS = {
    "indent": '{{ ("x\\n" * 50000)|indent(100000) }}',
    "replace": '{% set s = "x" * 100000 %}{{ s.replace("x", s) }}',
    "join": '{% set s = "y" * 100000 %}{{ ([s] * 100000)|join }}',
    "doubling": '{% set ns = namespace(s="z" * 1000) %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}'
    "{% endfor %}{{ ns.s|length }}",
}


@pytest.mark.parametrize("name", sorted(BLOW_UPS))
def test_composed_blow_ups_fail_in_one_line_within_the_budget(store: str, tmp_path: Path, name: str) -> None:
    folder = copy_campaign(tmp_path)
    (folder / "body.txt.j2").write_text(f"Hi {{{{ first_name }}}},\n\n{BLOW_UPS[name]}\n")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "outreach", "--database-url", store, "--as-of", AS_OF, "preview", str(folder)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert time.monotonic() - started < TIME_BUDGET + 20
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert re.fullmatch(
        rf"error: maya@techdaily\.example \(line 2\): {re.escape(str(folder / 'body.txt.j2'))}:3: rendering "
        r"(needs more than \d+ MB of memory|took longer than \d+ s) \(the render budget\)",
        line,
    ), line


def test_a_runaway_loop_is_stopped_by_the_time_budget(cli: Cli, tmp_path: Path) -> None:
    folder = copy_campaign(tmp_path)
    (folder / "body.txt.j2").write_text(
        "Hi {{ first_name }},\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n"
    )
    started = time.monotonic()
    code, _, err = cli("preview", str(folder))
    assert code == 2 and time.monotonic() - started < TIME_BUDGET + 10
    assert err == (f"error: maya@techdaily.example (line 2): {folder / 'body.txt.j2'}:2: rendering took longer "
                   f"than {TIME_BUDGET:g} s (the render budget)\n")  # fmt: skip
    code, _, err = cli("lint", str(folder))  # the template lint renders it too, for a stranger
    assert code == 2 and "took longer than" in err
