"""Score outreach's verdicts against the independent ground truth of :mod:`enron_truth`.

For each mailbox, a bulk pitch (a template that asks a favour) goes to every address the ground truth
put in a category; the preview is judged as of the day after the mailbox's last message, per mailbox
(policy scope ``mailbox``), and each verdict is scored by what its category demands:

* ``warm_clear``, ``replied_quoting``: carries neither R001 nor R002;
* ``stranger``: BLOCKED with R001;
* ``outbound_only``: BLOCKED with R002 or R001;
* ``bulk_only``: BLOCKED by a recipient rule (not merely by the campaign-wide M001).

Campaign rules are left out of the preview (``select = R``): a mass-favour finding would block every
recipient and hide what the relationship rules say.  ``python tests/judgment/scoring.py STORE_URL``
prints the table for a store that already holds the four mailboxes.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from enron_truth import CATEGORIES, MailboxTruth  # noqa: E402

BLOCKING_RECIPIENT_CODES = {"R001", "R002", "R007", "R008"}
TEMPLATE = """Hello,

We have just published our spring report on energy trading. Could you share it with your readers
this week? A link in your next column would mean a lot to us.

Best regards
"""


@dataclass
class Score:
    """Per (mailbox, category): addresses judged right, and the ones judged wrong with their verdicts."""

    right: Counter[tuple[str, str]] = field(default_factory=Counter)
    total: Counter[tuple[str, str]] = field(default_factory=Counter)
    wrong: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    @property
    def agreement(self) -> float:
        total = sum(self.total.values())
        return sum(self.right.values()) / total if total else 0.0

    def category(self, name: str) -> tuple[int, int]:
        return (
            sum(n for (_, c), n in self.right.items() if c == name),
            sum(n for (_, c), n in self.total.items() if c == name),
        )

    def table(self) -> str:
        mailboxes = sorted({m for m, _ in self.total})
        lines = [f"{'category':<16}" + "".join(f"{m:>14}" for m in mailboxes) + f"{'all':>12}"]
        for name in CATEGORIES:
            cells = []
            for mailbox in mailboxes:
                key = (mailbox, name)
                cells.append(f"{self.right[key]:>6}/{self.total[key]:<4} ".rjust(14) if self.total[key] else " " * 14)
            right, total = self.category(name)
            lines.append(f"{name:<16}" + "".join(cells) + f"{right:>6}/{total:<5}")
        lines.append(f"agreement {self.agreement:.3f} ({sum(self.right.values())}/{sum(self.total.values())})")
        return "\n".join(lines)


def judged_right(category: str, verdict: str, codes: set[str]) -> bool:
    if category in ("warm_clear", "replied_quoting"):
        return not codes & {"R001", "R002"}
    if category == "stranger":
        return verdict == "BLOCKED" and "R001" in codes
    if category == "outbound_only":
        return verdict == "BLOCKED" and bool(codes & {"R001", "R002"})
    if category == "bulk_only":
        return verdict == "BLOCKED" and bool(codes & BLOCKING_RECIPIENT_CODES)
    raise ValueError(category)


def write_campaign(folder: Path, mailbox: str, addresses: list[str]) -> Path:
    """A bulk-pitch campaign for ``mailbox`` to ``addresses``, judged per mailbox with the recipient rules."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "body.txt.j2").write_text(TEMPLATE, encoding="utf-8")
    with (folder / "recipients.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email"])
        writer.writerows([a] for a in addresses)
    (folder / "campaign.toml").write_text(
        f"""name = "judgment-{mailbox}"
mailbox = "{mailbox}"
recipients = "recipients.csv"

[template]
subject = "Our spring report"
text = "body.txt.j2"

[policy]
scope = "mailbox"
select = ["R"]
""",
        encoding="utf-8",
    )
    return folder


def score_store(sessions: object, truths: Mapping[str, MailboxTruth], workdir: Path) -> Score:
    """Preview the bulk pitch of every mailbox in ``truths`` against the store behind ``sessions``."""
    from outreach.campaign import evaluate, load_campaign

    score = Score()
    for mailbox, truth in sorted(truths.items()):
        addresses = sorted(truth.categories)
        campaign = load_campaign(write_campaign(workdir / mailbox, mailbox, addresses))
        as_of = datetime.fromisoformat(truth.as_of).replace(tzinfo=UTC)
        with sessions() as session:  # type: ignore[operator]  # a sessionmaker
            report = evaluate(session, campaign, now=as_of)
        for recipient in report.recipients:
            category = truth.categories[recipient.address]
            codes = {f.code for f in recipient.findings}
            key = (mailbox, category)
            score.total[key] += 1
            if judged_right(category, recipient.verdict, codes):
                score.right[key] += 1
            else:
                tier = recipient.ledger.tier if recipient.ledger is not None else "?"
                score.wrong.setdefault(key, []).append(
                    f"{recipient.address} {recipient.verdict} {sorted(codes)} tier {tier}"
                )
    return score


def main(argv: list[str]) -> int:
    import tempfile

    from enron_truth import all_truths, default_root

    from outreach.store import open_store, session_factory

    sessions = session_factory(open_store(argv[0]))
    truths = all_truths(default_root())
    with tempfile.TemporaryDirectory() as tmp:
        score = score_store(sessions, truths, Path(tmp))
    print(score.table())
    if "--wrong" in argv:
        for key, items in sorted(score.wrong.items()):
            print(f"\n{key[0]} {key[1]} ({len(items)} wrong):")
            for item in items[:40]:
                print("  " + item)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
