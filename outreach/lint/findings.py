"""What a lint rule reports: a :class:`Finding` with the :class:`Evidence` behind it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, overload

from outreach.ledger import EvidenceLine

Severity = Literal["block", "review", "info"]
SEVERITIES: tuple[Severity, ...] = ("block", "review", "info")
SEVERITY_RANK: dict[str, int] = {"info": 0, "review": 1, "block": 2}


@dataclass(frozen=True, slots=True)
class Evidence:
    """A fact or a message behind a finding.

    ``text`` always says what it is in one line; for a message, ``date``, ``subject``, ``sentence``,
    ``direction`` and ``message_id`` (the store's id) are set as well.
    """

    text: str
    date: datetime | None = None
    subject: str | None = None
    sentence: str | None = None
    direction: str | None = None
    message_id: int | None = None

    @classmethod
    def from_line(cls, line: EvidenceLine, label: str) -> Evidence:
        arrow = "we wrote" if line.direction == "out" else "they wrote"
        if line.inferred:  # our copy is not stored: their reply quotes it
            arrow = f"we wrote (seen quoted in their reply #{line.message_id})"
        when = line.date.date().isoformat() if line.date else "undated"
        text = f'{label}: {when} {arrow} "{line.subject or "(no subject)"}"'
        if line.sentence:
            text += f': "{line.sentence}"'
        return cls(
            text=text,
            date=line.date,
            subject=line.subject,
            sentence=line.sentence,
            direction=line.direction,
            message_id=line.message_id,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "date": self.date.isoformat() if self.date else None,
            "subject": self.subject,
            "sentence": self.sentence,
            "direction": self.direction,
            "message_id": self.message_id,
        }


class DeferredEvidence(Sequence[Evidence]):
    """The evidence of a finding, read from the store the first time it is used.

    A campaign preview printed as a table shows verdicts and messages only; quoting the messages behind
    thousands of findings is work for the outputs that show them (JSON, HTML, ``--show``). This is a
    read-only sequence like the tuple it stands for: iterating, indexing, ``len`` or comparing it calls
    ``load`` once and keeps the result.
    """

    __slots__ = ("_load", "_items")

    def __init__(self, load: Callable[[], Sequence[Evidence]] | None = None) -> None:
        self._load = load
        self._items: tuple[Evidence, ...] | None = None

    def _compute(self) -> Sequence[Evidence]:
        """The evidence: ``load()``, or what a subclass computes (with no closure for each finding)."""
        assert self._load is not None
        return self._load()

    @property
    def loaded(self) -> bool:
        return self._items is not None

    def resolve(self) -> tuple[Evidence, ...]:
        if self._items is None:
            self._items = tuple(self._compute())
            self._load = None
        return self._items

    @overload
    def __getitem__(self, index: int) -> Evidence: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Evidence, ...]: ...

    def __getitem__(self, index: int | slice) -> Evidence | tuple[Evidence, ...]:
        return self.resolve()[index]

    def __len__(self) -> int:
        return len(self.resolve())

    def __iter__(self) -> Iterator[Evidence]:
        return iter(self.resolve())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DeferredEvidence):
            other = other.resolve()
        return isinstance(other, tuple) and self.resolve() == other

    def __hash__(self) -> int:
        return hash(self.resolve())

    def __repr__(self) -> str:
        return repr(self.resolve()) if self.loaded else "DeferredEvidence(<not loaded>)"


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule that fired, with a one-line message and its evidence.

    ``path``/``line`` locate template findings (``file:line: CODE message`` in ``outreach lint``).
    ``evidence`` is a tuple, or a :class:`DeferredEvidence` that reads it from the store when first used.
    """

    code: str
    name: str
    severity: Severity
    message: str
    evidence: Sequence[Evidence] = ()
    path: str | None = None
    line: int | None = None

    @property
    def location(self) -> str:
        if self.path is None:
            return ""
        return f"{self.path}:{self.line}" if self.line is not None else self.path

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "severity": self.severity,
            "message": self.message,
            "evidence": [e.to_json() for e in self.evidence],
            "path": self.path,
            "line": self.line,
        }


__all__ = ["DeferredEvidence", "Evidence", "Finding", "SEVERITIES", "SEVERITY_RANK", "Severity"]
