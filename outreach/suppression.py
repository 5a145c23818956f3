"""The team's suppression list: addresses and whole domains that must never get a campaign.

``outreach suppress add/list/remove`` edits it; the linter's rule R008 blocks what is on it, and
:mod:`outreach.send` checks it once more right before sending.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from outreach.errors import UsageError
from outreach.store.models import Suppression, utcnow


def _norm(address: str) -> str:
    return address.strip().lower()


@dataclass(frozen=True)
class SuppressionEntry:
    kind: str
    value: str
    reason: str
    added_by: str | None
    added_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "value": self.value,
            "reason": self.reason,
            "added_by": self.added_by,
            "added_at": self.added_at.isoformat(timespec="seconds"),
        }


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


def suppressed(session: Session, addresses: Iterable[str]) -> dict[str, str]:
    """address -> why it is suppressed, for the addresses (or their domains) on the suppression list."""
    wanted = list(dict.fromkeys(_norm(a) for a in addresses))
    domains = list({a.rpartition("@")[2] for a in wanted})
    by_address: dict[str, str] = {}
    by_domain: dict[str, str] = {}
    for start in range(0, max(len(wanted), len(domains)), 500):
        a_chunk, d_chunk = wanted[start : start + 500], domains[start : start + 500]
        for kind, value, reason in session.execute(
            select(Suppression.kind, Suppression.value, Suppression.reason).where(
                or_(
                    (Suppression.kind == "address") & Suppression.value.in_(a_chunk),
                    (Suppression.kind == "domain") & Suppression.value.in_(d_chunk),
                )
            )
        ):
            (by_address if kind == "address" else by_domain)[value] = reason or ""
    out: dict[str, str] = {}
    for address in wanted:
        domain = address.rpartition("@")[2]
        if address in by_address:
            out[address] = f"address {address}" + (f": {by_address[address]}" if by_address[address] else "")
        elif domain in by_domain:
            out[address] = f"domain {domain}" + (f": {by_domain[domain]}" if by_domain[domain] else "")
    return out
