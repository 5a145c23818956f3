"""What a lint rule reports: a :class:`Finding` with the :class:`Evidence` behind it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

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


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule that fired, with a one-line message and its evidence.

    ``path``/``line`` locate template findings (``file:line: CODE message`` in ``outreach lint``).
    """

    code: str
    name: str
    severity: Severity
    message: str
    evidence: tuple[Evidence, ...] = ()
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


__all__ = ["Evidence", "Finding", "SEVERITIES", "SEVERITY_RANK", "Severity"]
