"""The team's suppression list: addresses and whole domains that must never get a campaign.

``outreach suppress add/list/remove`` edits it; the linter's rule R008 blocks what is on it, and
:mod:`outreach.send` checks it once more right before sending, with the same matcher
(:class:`SuppressionList`): an address entry covers that address, a domain entry covers the domain and
every subdomain of it (``example.com`` covers ``news.example.com``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from outreach.errors import UsageError
from outreach.store.models import Suppression, utcnow


@dataclass(frozen=True, slots=True)
class SuppressionEntry:
    """One entry of the suppression list: ``kind`` is ``address`` or ``domain``."""

    kind: str
    value: str
    reason: str = ""
    added_by: str | None = None
    added_at: datetime | None = None

    def describe(self) -> str:
        """``domain example.com: legal`` — what it is, and why."""
        return f"{self.kind} {self.value}" + (f": {self.reason}" if self.reason else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "value": self.value,
            "reason": self.reason,
            "added_by": self.added_by,
            "added_at": self.added_at.isoformat(timespec="seconds") if self.added_at else None,
        }


class SuppressionList:
    """The suppression list, indexed by address and by domain: the one matcher of the package."""

    def __init__(self, entries: Iterable[SuppressionEntry] = ()) -> None:
        self.addresses: dict[str, SuppressionEntry] = {}
        self.domains: dict[str, SuppressionEntry] = {}
        for entry in entries:
            target = self.addresses if entry.kind == "address" else self.domains
            target[entry.value.strip().lower().lstrip("@")] = entry

    def match(self, address: str) -> SuppressionEntry | None:
        """The entry that covers ``address`` (normalised: lower case; the address itself, its domain or a
        parent domain), if any."""
        hit = self.addresses.get(address)
        if hit or not self.domains:
            return hit
        domain = address.rpartition("@")[2]
        while domain:
            hit = self.domains.get(domain)
            if hit:
                return hit
            domain = domain.partition(".")[2]
        return None


def load_suppressions(session: Session) -> SuppressionList:
    """The whole suppression list, read from the store."""
    rows = session.execute(
        select(
            Suppression.kind,
            Suppression.value,
            Suppression.reason,
            Suppression.added_by,
            Suppression.added_at,
        )
    )
    return SuppressionList(SuppressionEntry(k, v, r or "", a, at) for k, v, r, a, at in rows)


def suppression_key(value: str) -> tuple[str, str]:
    """("address", a@b.c) or ("domain", b.c) for what the user typed (``@b.c`` is a domain too)."""
    text = value.strip().lower()
    if text.startswith("@"):
        text = text[1:]
    if not text:
        raise UsageError("give an address or a domain")
    if "@" in text:
        local, _, domain = text.rpartition("@")
        if not local or not domain or "." not in domain or " " in text:
            raise UsageError(f"{value!r} is not an email address")
        return "address", text
    if "." not in text or " " in text or "/" in text:
        raise UsageError(f"{value!r} is neither an email address nor a domain")
    return "domain", text


def add_suppression(
    session: Session, value: str, reason: str = "", added_by: str | None = None
) -> tuple[bool, SuppressionEntry]:
    """Add ``value`` to the suppression list; (False, existing entry) when it is already there."""
    kind, key = suppression_key(value)
    row = session.scalar(select(Suppression).where(Suppression.kind == kind, Suppression.value == key))
    if row is not None:
        return False, _entry(row)
    row = Suppression(kind=kind, value=key, reason=reason, added_by=added_by, added_at=utcnow())
    session.add(row)
    session.commit()
    return True, _entry(row)


def remove_suppression(session: Session, value: str) -> bool:
    kind, key = suppression_key(value)
    result = session.execute(delete(Suppression).where(Suppression.kind == kind, Suppression.value == key))
    session.commit()
    return bool(getattr(result, "rowcount", 0))


def list_suppressions(session: Session) -> list[SuppressionEntry]:
    rows = session.scalars(select(Suppression).order_by(Suppression.kind, Suppression.value))
    return [_entry(r) for r in rows]


def _entry(row: Suppression) -> SuppressionEntry:
    return SuppressionEntry(row.kind, row.value, row.reason or "", row.added_by, row.added_at)


__all__ = [
    "SuppressionEntry",
    "SuppressionList",
    "add_suppression",
    "list_suppressions",
    "load_suppressions",
    "remove_suppression",
    "suppression_key",
]
