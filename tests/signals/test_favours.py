"""The final signals of single sentences in favour-train's notion (tests/data/signals/favours.jsonl): what
:func:`outreach.signals.analyse_texts` returns, sentence classifier included — the answer acceptance reads.

Each line: ``text``, the expected ``label`` (favour_ask, offer, thanks, commitment, bulk_cta, other) and an
optional ``note``; "known miss: …" documents an error of the classifier (an expected failure, not strict).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from outreach.signals.analyse import analyse_texts

CASES_PATH = Path(__file__).parent.parent / "data" / "signals" / "favours.jsonl"
CASES = [json.loads(line) for line in CASES_PATH.read_text(encoding="utf-8").splitlines() if line.strip()]


def _param(case: dict[str, Any]) -> Any:
    note = case.get("note", "")
    marks = [pytest.mark.xfail(reason=note, strict=False)] if note.startswith("known miss") else []
    return pytest.param(case, id=f"{case['label']}:{case['text'][:50]}", marks=marks)


def test_every_label_has_cases() -> None:
    labels = [c["label"] for c in CASES]
    assert {label: labels.count(label) >= 3 for label in set(labels)} == dict.fromkeys(
        ("favour_ask", "offer", "thanks", "bulk_cta", "other"), True
    )


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_final_label(case: dict[str, Any]) -> None:
    (result,) = analyse_texts([case["text"]])
    assert result.favour_label() == case["label"], [(s.kind, s.personal, s.sentence) for s in result.signals]
    assert not result.pending


def test_fast_reading_is_pending_where_the_classifier_decides() -> None:
    """Without the classifier (a sync's fast path), a sentence it must decide keeps the fast reading and
    the result says so; a sentence the gate passes as plain is final either way."""
    offer, plain = "Let me know if you have any questions.", "The launch went well and the numbers look good."
    fast_offer, fast_plain = analyse_texts([offer, plain], refine=False)
    assert fast_offer.pending and not fast_plain.pending
    assert fast_plain.signals == analyse_texts([plain])[0].signals
