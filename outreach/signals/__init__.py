"""Signals: what the sender of a message wrote themselves — asks, offers, thanks, fulfilled favours,
commitments, opt-outs and mass asks — each with its sentence as evidence.

* :mod:`outreach.signals.pipeline` — the spaCy pipeline (blank English + the project's components and
  pattern files in ``patterns/``), built lazily and cached per process; its parts:
  :mod:`~outreach.signals.sentences`, :mod:`~outreach.signals.rules`, :mod:`~outreach.signals.tokenizer`,
  :mod:`~outreach.signals.components`, and :mod:`~outreach.signals.hits` (what it finds);
* :mod:`outreach.signals.zoning` — a mail body's zones: the sender's own text, quotes, signature, boilerplate;
* :mod:`outreach.signals.ask` — the trained ask detector the pipeline uses (trained by
  :mod:`outreach.signals.ask_training`);
* :mod:`outreach.signals.analyse` — per message: zoning and analysis (pure, no store);
* :mod:`outreach.signals.storage` — signals in the store: write, analyse stored messages, rebuild.

Importing this package loads neither spaCy nor the model; the names below are imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "KINDS": "outreach.signals.hits",
    "SignalHit": "outreach.signals.hits",
    "get_nlp": "outreach.signals.pipeline",
    "PIPELINE_VERSION": "outreach.signals.analyse",
    "MessageSignals": "outreach.signals.analyse",
    "analyse_texts": "outreach.signals.analyse",
    "store_signals": "outreach.signals.storage",
    "rebuild": "outreach.signals.storage",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'outreach.signals' has no attribute {name!r}")
    return getattr(import_module(module), name)
