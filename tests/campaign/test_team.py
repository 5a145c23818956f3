"""A team of three synced from a real Dovecot into SQLite and PostgreSQL (tests/team.py): who knows whom
(``outreach who-knows``), each recipient's best path in every preview format, and the reason of a recipient
who is cold for the campaign's mailbox and warm for a teammate's."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from team import NOBODY_KNOWS, PERSONAL_STRANGER, TeamStore, recipients_csv

from outreach.campaign import evaluate, load_campaign
from outreach.cli import main
from outreach.config import load_settings
from outreach.ledger.read import domain_rollup, who_knows
from outreach.store.models import Message

from .data import write_campaign

pytestmark = pytest.mark.slow

MAYA = "maya@techdaily.example"  # cold for alex, warm for jordan
NOOR = "noor@wiredweekly.example"  # alex wrote twice, no answer; sam exchanged mail once
RIO = "rio@wiredweekly.example"  # warm for alex
KIM = "kim@gmail.com"  # warm for jordan, a personal address


def cli(store: TeamStore, *args: str) -> Any:
    return CliRunner().invoke(main, ["--database-url", store.url, *args], catch_exceptions=False)


def campaign(tmp_path: Path, recipients: list[str], extra: str = "") -> Path:
    return write_campaign(
        tmp_path / "campaign",
        'name = "spring-report"\nmailbox = "alex"\n' + extra
        + '[template]\nsubject = "Our spring report, {{ first_name }}"\ntext = "body.txt.j2"\n'
        '[policy]\nscope = "mailbox"\n[unsubscribe]\nurl = "https://brightlane.example/u?e={email}"\n',
        "Hi {{ first_name }},\n\n{{ note }}\n\nOur spring report on reuse is out today.\n\nAlex\n",
        recipients_csv(recipients),
    )


# ------------------------------------------------------------------------------------------ who knows


def test_who_knows_a_person_strongest_first_with_the_messages(team_store: TeamStore) -> None:
    with team_store.sessions() as session:
        found = who_knows(session, "Maya@TechDaily.example")
        assert [(r.mailbox, r.tier) for r in found.direct] == [("jordan", "warm")]  # alex: nothing
        jordan = found.direct[0]
        assert jordan.last_two_way is not None and jordan.strength >= 40
        lines = found.lines[jordan.key]
        assert lines and lines[0].date is not None and lines[0].date.date() == jordan.last_two_way.date()
        for line in lines:  # each message behind the path is in the store, as quoted
            assert session.get(Message, line.message_id).subject == line.subject  # type: ignore[union-attr]
    result = cli(team_store, "who-knows", MAYA, "--format", "json")
    data = json.loads(result.output)
    assert data["outlet"] == "techdaily.example"
    assert [(r["mailbox"], r["relation"], r["tier"]) for r in data["relationships"]] == [("jordan", "direct", "warm")]
    assert data["relationships"][0]["messages"][0]["message_id"] == lines[0].message_id
    table = cli(team_store, "who-knows", MAYA)
    assert "jordan" in table.output and "warm" in table.output and f"#{lines[0].message_id}" in table.output


def test_who_knows_an_outlet_through_a_colleague(team_store: TeamStore) -> None:
    result = cli(team_store, "who-knows", NOBODY_KNOWS, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["mailbox"], r["relation"], r["contact"], r["tier"]) for r in rows] == [
        ("sam", "colleague", "lee@dailyherald.example", "warm")
    ]
    assert rows[0]["messages"].startswith("#")
    domain = json.loads(cli(team_store, "who-knows", "dailyherald.example", "--format", "json").output)
    assert [(r["mailbox"], r["contact"]) for r in domain["relationships"]] == [("sam", "lee@dailyherald.example")]
    # several teammates at one outlet: strongest first (alex warm with rio, sam acquaintance with noor,
    # alex one-way with noor)
    wired = json.loads(cli(team_store, "who-knows", "wiredweekly.example", "--format", "json").output)
    assert [(r["mailbox"], r["contact"], r["tier"]) for r in wired["relationships"]] == [
        ("alex", RIO, "warm"),
        ("sam", NOOR, "acquaintance"),
        ("alex", NOOR, "one-way"),
    ]


def test_personal_mail_domains_are_no_outlet(team_store: TeamStore) -> None:
    refused = CliRunner().invoke(main, ["--database-url", team_store.url, "who-knows", "gmail.com"])
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines() == [
        "error: gmail.com: a personal-mail domain, not an outlet; ask about an address "
        "(outreach who-knows someone@gmail.com)"
    ]
    stranger = cli(team_store, "who-knows", PERSONAL_STRANGER)  # kim@gmail.com is no colleague of hers
    assert "nobody on the team has exchanged personal mail with pat@gmail.com" in stranger.output
    kim = json.loads(cli(team_store, "who-knows", KIM, "--format", "json").output)
    assert kim["outlet"] is None and [r["mailbox"] for r in kim["relationships"]] == ["jordan"]
    with team_store.sessions() as session:
        domains = [d.domain for d in domain_rollup(session)]
    assert "gmail.com" not in domains and "techdaily.example" in domains


# ------------------------------------------------------------------------------------------ preview paths


def test_cold_for_one_mailbox_warm_for_another(team_store: TeamStore, tmp_path: Path) -> None:
    folder = campaign(tmp_path, [MAYA, NOBODY_KNOWS, PERSONAL_STRANGER, RIO, NOOR, KIM])
    with team_store.sessions() as session:
        report = evaluate(session, load_campaign(folder))
        jordan = who_knows(session, MAYA).direct[0]
        lee = who_knows(session, NOBODY_KNOWS).colleagues[0]
        sam_noor = next(r for r in who_knows(session, NOOR).direct if r.mailbox == "sam")
        report.load_evidence()
    by = {r.address: r for r in report.recipients}
    assert {a: r.verdict for a, r in by.items()} == {
        MAYA: "BLOCKED", NOBODY_KNOWS: "BLOCKED", PERSONAL_STRANGER: "BLOCKED", RIO: "READY", NOOR: "BLOCKED",
        KIM: "BLOCKED",
    }
    day = jordan.last_two_way.date().isoformat()  # type: ignore[union-attr]
    assert by[MAYA].reason == (
        "no relationship from alex's mailbox: never exchanged personal mail (tier none); "
        f"jordan is warm with them (last two-way {day}): send from jordan or ask for an introduction"
    )
    assert by[NOBODY_KNOWS].reason.endswith(
        "; nobody on the team knows them; sam is warm with lee@dailyherald.example at dailyherald.example "
        f"(last two-way {lee.last_two_way.date().isoformat()}): ask sam for an introduction"  # type: ignore[union-attr]
    )
    cold = "no relationship from alex's mailbox: never exchanged personal mail (tier none)"
    assert by[PERSONAL_STRANGER].reason == cold
    assert by[PERSONAL_STRANGER].path is not None and by[PERSONAL_STRANGER].path.kind == "none"
    assert by[NOOR].reason.startswith("mail only went one way: we wrote 2 time(s)")
    noor_day = sam_noor.last_two_way.date().isoformat()  # type: ignore[union-attr]
    assert by[NOOR].reason.endswith(
        f"; sam has exchanged personal mail with them (last two-way {noor_day}): "
        "send from sam or ask for an introduction"
    )
    assert "jordan is warm with them" in by[KIM].reason
    # READY: why we may ask, with the messages behind it
    assert by[RIO].advice is None
    positive = [e.text for e in by[RIO].positive]
    assert positive[0].startswith("personal mail both ways: last two-way exchange")
    assert "3 two-way thread(s)" in positive[0]
    assert any(e.message_id is not None for e in by[RIO].positive)
    # every relationship of a path links to its messages
    assert report.path_lines is not None
    best = by[MAYA].path.best  # type: ignore[union-attr]
    assert best == jordan and [m.message_id for m in report.path_lines(best)] == [  # type: ignore[arg-type]
        m.message_id for m in report.path_lines(jordan)
    ]


def test_best_path_in_every_preview_format(team_store: TeamStore, tmp_path: Path) -> None:
    folder = campaign(tmp_path, [MAYA, NOBODY_KNOWS, RIO])
    table = cli(team_store, "preview", str(folder))
    assert table.exit_code == 1
    header = table.output.splitlines()[0]
    assert header.split()[-3:] == ["best", "path", "reason"]
    maya_line = next(line for line in table.output.splitlines() if line.startswith(MAYA))
    assert "jordan: warm" in maya_line and "send from jordan" in maya_line
    ana_line = next(line for line in table.output.splitlines() if line.startswith(NOBODY_KNOWS))
    assert "via sam: lee@dailyherald.example (warm" in ana_line

    out = cli(team_store, "preview", str(folder), "--format", "csv").output
    rows = {r["address"]: r for r in csv.DictReader(io.StringIO(out))}
    assert rows[MAYA]["best_path"].startswith("jordan: warm") and "send from jordan" in rows[MAYA]["reason"]
    assert rows[RIO]["best_path"].startswith("alex: warm") and rows[RIO]["sender"] == "alex"

    data = json.loads(cli(team_store, "preview", str(folder), "--format", "json").output)
    maya = next(r for r in data["recipients"] if r["address"] == MAYA)
    assert maya["path"]["kind"] == "direct" and maya["path"]["best"]["mailbox"] == "jordan"
    assert maya["path"]["best"]["messages"] and all(m["message_id"] for m in maya["path"]["best"]["messages"])
    ana = next(r for r in data["recipients"] if r["address"] == NOBODY_KNOWS)
    assert ana["path"]["kind"] == "outlet" and ana["path"]["via"][0]["contact"] == "lee@dailyherald.example"
    assert data["as_of"] and data["tiers"]["none"] == 2 and data["tiers"]["warm"] == 1

    show = cli(team_store, "preview", str(folder), "--show", MAYA)
    assert "best path: jordan: warm" in show.output and "jordan knows them: warm, strength" in show.output
    first = maya["path"]["best"]["messages"][0]
    assert f"#{first['message_id']} {first['date'][:10]}" in show.output

    html = cli(team_store, "preview", str(folder), "--format", "html").output
    assert "send from jordan" in html and f"#{first['message_id']}" in html


def test_best_sender_judges_each_recipient_from_the_teammate_who_knows_them(
    team_store: TeamStore, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[send.jordan]\nfrom = "jordan@brightlane.example"\n', encoding="utf-8")
    folder = campaign(tmp_path, [MAYA, RIO, NOOR, KIM, NOBODY_KNOWS], 'sender = "best"\n')
    with team_store.sessions() as session:
        report = evaluate(session, load_campaign(folder), load_settings(config, team_store.url, environ={}))
    by = {r.address: r for r in report.recipients}
    assert {a: (r.sender, r.verdict) for a, r in by.items()} == {
        MAYA: ("jordan", "READY"),  # judged on jordan's ledger: warm
        RIO: ("alex", "READY"),
        KIM: ("jordan", "READY"),
        NOOR: ("alex", "BLOCKED"),  # sam knows noor, but sam's mailbox sends nothing: alex's one-way ledger
        NOBODY_KNOWS: ("alex", "BLOCKED"),
    }
    assert by[MAYA].ledger.scope == "jordan" and by[MAYA].ledger.tier == "warm"
    assert "but mailbox sam is not configured for sending ([send.sam]): ask sam to send it" in by[NOOR].reason
    table = cli(team_store, "--config", str(config), "preview", str(folder))
    maya_line = next(line for line in table.output.splitlines() if line.startswith(MAYA))
    assert maya_line.split()[4:6] == ["READY", "jordan"]
    assert "mailbox each from the teammate who knows them best, else alex" in table.output
