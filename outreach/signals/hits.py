"""What the signals pipeline finds: :class:`SignalHit`, and the kinds of signal in the order they are
reported."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["KINDS", "PATTERN_KINDS", "SignalHit"]

#: Every signal kind, in the order they are reported.
KINDS = ("ask", "offer", "thanks", "fulfilment", "commitment", "opt_out", "mass_ask")
#: Kinds found by the pattern files (asks come from the trained detector).
PATTERN_KINDS = ("offer", "thanks", "fulfilment", "commitment", "opt_out", "mass_ask")


class SignalHit(NamedTuple):
    """One signal in a text: its kind, the sentence behind it and where that sentence is.

    A named tuple: a sync's worker sends tens of thousands per batch through a pipe, and tuples are
    several times cheaper to pickle and unpickle than dataclass instances."""

    kind: str
    subtype: str | None
    personal: bool
    sentence: str
    start: int  # character offsets of the sentence in the analysed (own) text
    end: int
    score: float = 1.0
