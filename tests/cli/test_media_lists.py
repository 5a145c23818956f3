"""Media lists as PR teams have them: cells that look like formulas are data, `;`/tab separated files, a
BOM, a header-only file; the READY rows handed to another sender with their original columns; a mailmerge
campaign previewed and linted as it is. All through the real CLI on the sample mailbox's store."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest

from cli.conftest import Cli
from outreach.campaign import load_campaign

REPO = Path(__file__).resolve().parents[2]
WARM = REPO / "templates" / "warm-pitch"


def campaign_with(tmp_path: Path, recipients: bytes) -> Path:
    folder = tmp_path / "campaign"
    shutil.copytree(WARM, folder)
    (folder / "recipients.csv").write_bytes(recipients)
    return folder


# PR-team cells: handles, phone numbers, a lone "-", quoted commas, non-ASCII names.
LIST = (
    "email,first_name,outlet,note,twitter,phone\n"
    'maya@techdaily.example,Maya,"Tech Daily, Inc.",Your series on battery recycling is why I thought of you.,'
    "@maya_writes,+44 20 7946 0958\n"
    "jonas@nordicpodcast.example,Jönas,Nordic Podcast,Dana enjoyed the January episode.,-,=+1 555 0100\n"
    "lee@radiolab.example,Léa-Zoë,Radio Lab,Dana suggested I write to you after the panel in Lyon.,@lee,-\n"
)


def test_cells_starting_like_formulas_are_data_and_nothing_is_dropped(tmp_path: Path) -> None:
    campaign = load_campaign(campaign_with(tmp_path, LIST.encode()))
    assert not campaign.row_errors
    rows = {r.address: dict(r.row) for r in campaign.recipients}
    assert rows["maya@techdaily.example"]["twitter"] == "@maya_writes"
    assert rows["maya@techdaily.example"]["phone"] == "+44 20 7946 0958"
    assert rows["maya@techdaily.example"]["outlet"] == "Tech Daily, Inc."
    assert rows["jonas@nordicpodcast.example"]["twitter"] == "-"
    assert rows["jonas@nordicpodcast.example"]["phone"] == "=+1 555 0100"
    assert rows["lee@radiolab.example"]["first_name"] == "Léa-Zoë"


def test_the_rendered_message_keeps_the_cells_and_the_preview_csv_neutralises_them(cli: Cli, tmp_path: Path) -> None:
    folder = campaign_with(tmp_path, LIST.encode())
    (folder / "body.txt.j2").write_text("Hi {{ first_name }} ({{ twitter }}, {{ phone }}) at {{ outlet }},\nnews.\n")
    code, out, _ = cli("preview", str(folder), "--show", "maya@techdaily.example")
    assert "Hi Maya (@maya_writes, +44 20 7946 0958) at Tech Daily, Inc.," in out
    code, out, _ = cli("preview", str(folder), "--format", "csv")
    assert [r["address"] for r in csv.DictReader(io.StringIO(out))] == [
        "maya@techdaily.example", "jonas@nordicpodcast.example", "lee@radiolab.example"
    ]  # fmt: skip


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_semicolon_and_tab_separated_lists_are_detected(tmp_path: Path, delimiter: str) -> None:
    rows = list(csv.reader(io.StringIO(LIST)))
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter).writerows(rows)
    campaign = load_campaign(campaign_with(tmp_path, text.getvalue().encode()))
    assert not campaign.row_errors and campaign.delimiter == delimiter
    assert [r.row["outlet"] for r in campaign.recipients][0] == "Tech Daily, Inc."


def test_a_bom_is_accepted(tmp_path: Path) -> None:
    campaign = load_campaign(campaign_with(tmp_path, b"\xef\xbb\xbf" + LIST.encode()))
    assert not campaign.row_errors and campaign.columns[0] == "email" and len(campaign.recipients) == 3


def test_header_only_says_no_recipients_and_exits_2(cli: Cli, tmp_path: Path) -> None:
    folder = campaign_with(tmp_path, b"email,first_name,outlet,note\n\n")
    code, out, err = cli("preview", str(folder))
    assert code == 2
    assert err.strip().splitlines() == [f"error: {folder / 'recipients.csv'}: no recipients (the file has a header "
                                        "and no rows)"]  # fmt: skip


def test_a_list_with_another_separator_gets_a_one_line_hint(cli: Cli, tmp_path: Path) -> None:
    folder = campaign_with(tmp_path, b"email|first_name\nmaya@techdaily.example|Maya\n")
    code, _, err = cli("preview", str(folder))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "no 'email' column" in err and "separated by '|'?" in err


def test_ready_csv_has_the_ready_rows_with_the_original_columns(cli: Cli, tmp_path: Path) -> None:
    original = (WARM / "recipients.csv").read_text(encoding="utf-8").replace("email,", "Email,", 1)
    folder = campaign_with(tmp_path, original.encode())
    ready = tmp_path / "ready.csv"
    code, _, err = cli("preview", str(folder), "--ready-csv", str(ready))
    assert code == 1  # some are blocked or need review: the preview says so as always
    assert "wrote" in err and "2 READY recipient(s) of 8" in err
    lines = ready.read_text(encoding="utf-8").splitlines()
    source = original.splitlines()
    assert lines[0] == "Email,first_name,outlet,note"  # the header as written
    wanted = [row for row in csv.reader(source) if row[0].startswith(("maya@", "lee@"))]
    assert sorted(csv.reader(lines[1:])) == sorted(wanted)  # the cells as they were
    code, _, err = cli("preview", str(folder), "--ready-csv", str(ready), "--accept-review")
    addresses = {row["Email"] for row in csv.DictReader(io.StringIO(ready.read_text(encoding="utf-8")))}
    assert addresses == {"maya@techdaily.example", "lee@radiolab.example", "jonas@nordicpodcast.example",
                         "omar@citywire.example", "priya@startupbeat.example"}  # fmt: skip


MAILMERGE_TEMPLATE = """\
TO: {{email}}
SUBJECT: Our spring report, {{first_name}}
FROM: Alex Rivera <alex@brightlane.example>

Hi {{first_name}},

Our spring report on reuse is out; {{note}}

Best,
Alex
"""


def mailmerge_folder(tmp_path: Path, template: str = MAILMERGE_TEMPLATE) -> Path:
    folder = tmp_path / "mm"
    folder.mkdir()
    (folder / "mailmerge_template.txt").write_text(template, encoding="utf-8")
    shutil.copy(WARM / "recipients.csv", folder / "mailmerge_database.csv")
    (folder / "mailmerge_server.conf").write_text("[smtp_server]\nhost = smtp.example.com\n", encoding="utf-8")
    return folder


def test_a_mailmerge_campaign_is_previewed_as_it_is(cli: Cli, tmp_path: Path) -> None:
    folder = mailmerge_folder(tmp_path)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    code, out, err = cli("preview", str(folder))
    assert code == 1, err
    verdicts = {line.split()[0]: line.split()[4] for line in out.splitlines()[1:9]}
    assert verdicts["maya@techdaily.example"] == "READY"
    assert verdicts["sam@unknownmedia.example"] == "BLOCKED" and verdicts["tom@dailyplanet.example"] == "BLOCKED"
    assert "(mailbox alex)" in out  # the FROM address is alex's
    code, out, _ = cli("preview", str(folder), "--show", "maya@techdaily.example")
    assert "Subject: Our spring report, Maya" in out and "Hi Maya," in out and "TO:" not in out
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # nothing rewritten


def test_a_mailmerge_campaign_is_linted_as_it_is(cli: Cli, tmp_path: Path) -> None:
    folder = mailmerge_folder(tmp_path, MAILMERGE_TEMPLATE.replace("{{note}}", "{{ notes }} [NAME]"))
    code, out, _ = cli("lint", str(folder))
    assert code == 1
    lines = out.splitlines()
    template = folder / "mailmerge_template.txt"
    assert any(line.startswith(f"{template}:7: T001") and "notes is not a column" in line for line in lines), out
    assert any(line.startswith(f"{template}:7: T002") and "[NAME]" in line for line in lines), out
