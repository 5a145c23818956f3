"""Acceptance: outreach's verdicts on real mailboxes agree with an independent reading of the raw mail.

The four Enron mailboxes are loaded into a real Dovecot (INBOX, and the Sent folder found by SPECIAL-USE),
synced into one team store over IMAP, and a bulk pitch goes to every address the independent ground truth
(:mod:`enron_truth`, stdlib only, no outreach code) put in a category; see :mod:`scoring` for what each
category demands.  Target: agreement >= 0.97 over all categories, and no category far behind.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from enron_truth import CATEGORIES, MailboxTruth, all_truths  # noqa: E402
from scoring import Score, score_store  # noqa: E402

from outreach.config import MailboxConfig  # noqa: E402
from outreach.mail.runs import sync_mailbox  # noqa: E402
from outreach.store import open_store, session_factory  # noqa: E402

MAILBOXES = ("beck-s", "germany-c", "kaminski-v", "mann-k")
TARGET = 0.97


@pytest.fixture(scope="module")
def judged(
    dovecot: object, enron_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Score, dict[str, MailboxTruth]]:
    truths = all_truths(enron_dir)
    assert set(truths) == set(MAILBOXES)
    workdir = tmp_path_factory.mktemp("judgment")
    sessions = session_factory(open_store(f"sqlite:///{workdir / 'team.db'}"))
    for box in MAILBOXES:
        user, password = f"judge-{box}", f"pw-{box}"
        dovecot.add_user(user, password)  # type: ignore[attr-defined]
        dovecot.load_maildir(user, enron_dir / box / "cur")  # type: ignore[attr-defined]
        dovecot.load_maildir(user, enron_dir / box / ".Sent_reconstructed" / "cur", "Sent")  # type: ignore[attr-defined]
        config = MailboxConfig(
            name=box,
            host=dovecot.host,  # type: ignore[attr-defined]
            port=dovecot.port,  # type: ignore[attr-defined]
            username=user,
            security="plain",
        )
        summary = sync_mailbox(sessions, config, password)
        assert summary.totals.skipped_total == 0
    return score_store(sessions, truths, workdir / "campaigns"), truths


def test_verdicts_agree_with_the_independent_reading(judged: tuple[Score, dict[str, MailboxTruth]]) -> None:
    score, _ = judged
    print("\n" + score.table())
    wrong = {key: items[:5] for key, items in score.wrong.items()}
    assert score.agreement >= TARGET, f"agreement {score.agreement:.3f}; wrong: {wrong}"


@pytest.mark.parametrize("category", CATEGORIES)
def test_each_category_is_judged_right(judged: tuple[Score, dict[str, MailboxTruth]], category: str) -> None:
    score, _ = judged
    right, total = score.category(category)
    assert total > 0
    wrong = {key: items for key, items in score.wrong.items() if key[1] == category}
    assert right / total >= 0.9, f"{category}: {right}/{total}; wrong: {wrong}"


def test_the_scoring_can_fail(judged: tuple[Score, dict[str, MailboxTruth]]) -> None:
    """The scoring is not vacuous: a verdict the truth rules out is scored wrong in every category."""
    from scoring import judged_right

    assert not judged_right("warm_clear", "BLOCKED", {"R002"})
    assert not judged_right("replied_quoting", "BLOCKED", {"R001"})
    assert not judged_right("stranger", "READY", set())
    assert not judged_right("outbound_only", "REVIEW", {"R009"})
    assert not judged_right("bulk_only", "REVIEW", {"R009"})
