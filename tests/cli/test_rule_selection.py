"""Rule selections written as users write them, through the real CLI: one splitter for every place.

Found here: ``[lint] select = "T002"`` (a string, which TOML allows and ``preview`` took) made
``outreach lint`` iterate the string's characters and exit 2 with "'0' matches no rule code"; and
``send --select R001,R002`` was not split at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from campaign.data import warm_store, write_campaign
from click.testing import CliRunner

from outreach.cli import main

LINT = Path(__file__).resolve().parents[1] / "data" / "lint"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return warm_store(tmp_path, ["pat@example.org"])


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def config(tmp_path: Path, lint: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f"[lint]\n{lint}\n", encoding="utf-8")
    return str(path)


def campaign(tmp_path: Path) -> str:
    toml = 'name = "sel"\nmailbox = "alex"\n[template]\nsubject = "Hi {{ first_name }}"\ntext = "body.txt.j2"\n'
    body = "Hi {{ first_name }},\n\nAs we discussed: the launch is on XXX.\n"
    return str(write_campaign(tmp_path / "campaign", toml, body))


@pytest.mark.parametrize("select", ['select = "T002"', 'select = ["T002"]', 'select = "T002, T003"'])
def test_lint_takes_the_config_select_as_a_string_or_a_list(tmp_path: Path, select: str) -> None:
    code, out, err = invoke("--config", config(tmp_path, select), "lint", str(LINT / "placeholders.txt.j2"))
    assert code == 1, err
    assert "matches no rule code" not in err
    codes = {line.split(": ", 1)[1].split()[0] for line in out.splitlines()}
    assert codes == {"T002"}


def test_lint_ignore_string_in_the_config(tmp_path: Path) -> None:
    code, out, err = invoke(
        "--config", config(tmp_path, 'ignore = "T002 T003"'), "lint", str(LINT / "familiar.txt.j2")
    )
    assert (code, out) == (0, ""), err


def test_preview_and_send_take_the_same_selections(tmp_path: Path, db_url: str) -> None:
    folder = campaign(tmp_path)
    cfg = config(tmp_path, 'select = "T002"')
    code, out, err = invoke("--database-url", db_url, "--config", cfg, "preview", folder)
    assert code == 1 and "T002" in out and "T003" not in out, err
    # the command line wins over the config, and a comma-separated option is split (send too)
    for command in ("preview", "send"):
        code, out, err = invoke("--database-url", db_url, "--config", cfg, command, folder, "--select", "R001,R002")
        assert code == 0 and "matches no rule code" not in err, (command, out, err)
