"""A suppressed domain covers its subdomains, in preview (R008) and in send's last check alike.

Found here: the send's last check matched the exact domain only (``outreach/suppression.py``), while the
lint's R008 also matched parent domains, so ``news.example.com`` was blocked by a suppressed
``example.com`` in the preview and not in the last check before sending.
"""

from __future__ import annotations

from pathlib import Path

from campaign.data import warm_store, write_campaign
from click.testing import CliRunner
from sqlalchemy.orm import Session

from outreach.campaign import Campaign, CampaignReport, evaluate, load_campaign
from outreach.cli import main
from outreach.send import SendOptions, send_campaign
from outreach.store import open_store, session_factory
from outreach.suppression import add_suppression

SUB = "pat@news.example.com"
OTHER = "kim@example.org"


def _campaign(tmp_path: Path) -> Path:
    return write_campaign(
        tmp_path / "campaign",
        'name = "domains"\nmailbox = "alex"\n[template]\nsubject = "Hi {{ first_name }}"\ntext = "body.txt.j2"\n',
        "Hi {{ first_name }},\n\n{{ note }}\n\nOur report is out.\n",
        f"email,first_name,note\n{SUB},Pat,Your piece on repair cafes stayed with me.\n"
        f"{OTHER},Kim,The map in your last article was the clearest I have seen.\n",
    )


def test_preview_and_send_block_a_subdomain_of_a_suppressed_domain(tmp_path: Path) -> None:
    url, folder = warm_store(tmp_path, [SUB, OTHER]), str(_campaign(tmp_path))
    runner = CliRunner()
    added = runner.invoke(main, ["--database-url", url, "suppress", "add", "example.com", "--reason", "legal"])
    assert added.exit_code == 0, added.output
    preview = runner.invoke(main, ["--database-url", url, "preview", folder])
    row = next(line for line in preview.stdout.splitlines() if line.startswith(SUB))
    assert "BLOCKED" in row and "R008" in row and "domain example.com" in row
    send = runner.invoke(main, ["--database-url", url, "send", folder])
    lines = send.stdout.splitlines()
    assert any(line.startswith("BLOCKED") and SUB in line and "R008" in line for line in lines), send.stdout
    assert any(line.startswith("READY") and OTHER in line and "would-send" in line for line in lines)


def test_the_last_check_before_sending_covers_subdomains(tmp_path: Path) -> None:
    """The suppression arrives after the lint ran (a teammate adds it meanwhile): send's own last check,
    with the same matcher as R008, still keeps the subdomain address out."""
    engine = open_store(warm_store(tmp_path, [SUB, OTHER]))
    campaign = load_campaign(_campaign(tmp_path))

    def lint_then_suppress(session: Session, campaign: Campaign) -> CampaignReport:
        report = evaluate(session, campaign)
        add_suppression(session, "@example.com", "added while the lint ran")
        return report

    with session_factory(engine)() as session:
        result = send_campaign(session, campaign, None, SendOptions(dry_run=True), evaluator=lint_then_suppress)
    engine.dispose()
    outcomes = {o.address: o for o in result.outcomes}
    assert outcomes[OTHER].action == "would-send"
    assert outcomes[SUB].action == "skipped" and outcomes[SUB].verdict == "BLOCKED"
    assert outcomes[SUB].reason == "suppressed (domain example.com: added while the lint ran)"
