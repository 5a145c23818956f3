"""Signals: what the sender of a message wrote themselves — asks, offers, thanks, fulfilled favours,
commitments, opt-outs and mass asks — each with its sentence as evidence.

* :mod:`outreach.signals.pipeline` — the spaCy pipeline (blank English + the project's components and
  pattern files in ``patterns/``), built lazily and cached per process; its parts:
  :mod:`~outreach.signals.sentences`, :mod:`~outreach.signals.rules`, :mod:`~outreach.signals.tokenizer`,
  :mod:`~outreach.signals.components`, and :mod:`~outreach.signals.hits` (what it finds);
* :mod:`outreach.signals.zoning` — a mail body's zones: the sender's own text, quotes, signature, boilerplate;
* :mod:`outreach.signals.ask` — the fast ask detector the pipeline uses (trained by
  :mod:`outreach.signals.ask_training`);
* :mod:`outreach.signals.favour` — the sentence classifier (a fine-tuned encoder and its gate), and
  :mod:`outreach.signals.favours` — its decision merged with the rules': one label per sentence;
* :mod:`outreach.signals.analyse` — per message: zoning and analysis (pure, no store);
* :mod:`outreach.signals.storage` — signals in the store: write, refine the pending ones, rebuild.

Importing this package loads neither spaCy nor the models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from outreach.signals.analyse import MessageSignals


def analyse_texts(texts: Sequence[str | None], *, refine: bool = True) -> list[MessageSignals]:
    """The final signals of each message body (or sentence) in ``texts``, in order: the same signals the
    ledger uses, sentence classifier included (see :func:`outreach.signals.analyse.analyse_texts`)."""
    from outreach.signals.analyse import analyse_texts as analyse

    return analyse(texts, refine=refine)


__all__ = ["analyse_texts"]
