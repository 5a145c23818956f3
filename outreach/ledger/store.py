"""Ledgers in the store: computed and written after a sync (:func:`refresh_ledgers`), and read back —
whole (:func:`load_ledgers`, :func:`ledger_for`) or light, as the recipient rules need them
(:func:`load_ledgers_light`), per column (:func:`stored_ledger_columns`) and rolled up by domain.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from outreach.gcpause import collector_paused
from outreach.ledger.builder import computed
from outreach.ledger.facts import FactsLoader, raw_rows
from outreach.ledger.model import Ledger, LedgerPolicy
from outreach.store import chunked
from outreach.store.models import Contact, ContactLedger, MailboxAddress, Participant, utcnow


def ledger_row_values(ledger: Ledger) -> dict[str, Any]:
    """Column values of a ``contact_ledger`` row for ``ledger`` (without contact_id)."""
    return {
        "scope": ledger.scope,
        "tier": ledger.tier,
        "strength": ledger.strength,
        "balance": ledger.balance,
        "last_two_way": ledger.last_two_way,
        "data": ledger.to_json(),
    }


def compute_ledgers(
    session: Session, contact_ids: Iterable[int] | None = None, policy: LedgerPolicy | None = None
) -> dict[int, list[Ledger]]:
    """Ledgers (team-wide first, then per mailbox) of the given contacts, or of all; nothing is stored."""
    policy = policy or LedgerPolicy()
    loader = FactsLoader(session, policy)
    ids = loader.all_contacts() if contact_ids is None else sorted(set(contact_ids))
    out: dict[int, list[Ledger]] = {}
    with collector_paused():
        for _group, ledgers in computed(loader, ids, policy, as_json=False):
            for cid, items in ledgers.items():
                out[cid] = [ledger for ledger, _data in items]
    return out


@dataclass
class RefreshSummary:
    contacts: int = 0  # contacts with a ledger written
    rows: int = 0  # contact_ledger rows written (team-wide + per mailbox)
    seconds: float = 0.0


def refresh_ledgers(
    session: Session, contact_ids: Iterable[int] | None = None, policy: LedgerPolicy | None = None
) -> RefreshSummary:
    """Recompute and store the ledgers of ``contact_ids`` (after a sync: the contacts it touched), or of
    every contact when None.  Does not commit.  Both ways give the same rows for the same store.  A stored
    ledger counts all the mail and is judged as of its own latest message (``policy.as_of`` is ignored
    here): readers judge it as of their date (see :mod:`outreach.ledger.read`).

    Either way the contacts are computed CONTACT_CHUNK at a time (their rows replaced, then the next
    chunk), from facts loaded for several chunks at once (see :class:`FactsLoader`): memory stays bounded."""
    started = time.perf_counter()
    # a stored ledger counts all the mail and is judged as of its own latest message: readers judge it as of
    # their date (an --as-of given to a command that writes applies to what it reads, not to what it stores)
    policy = replace(policy, as_of=None) if policy is not None else LedgerPolicy()
    summary = RefreshSummary()
    conn = session.connection()
    own_contacts = select(Contact.id).where(Contact.address.in_(select(MailboxAddress.address)))
    conn.execute(delete(ContactLedger).where(ContactLedger.contact_id.in_(own_contacts)))
    loader = FactsLoader(session, policy)
    if contact_ids is None:
        conn.execute(delete(ContactLedger))
        ids = loader.all_contacts()
    else:
        ids = sorted(set(contact_ids))
    computed_at = utcnow()
    with collector_paused():
        for group, ledgers in computed(loader, ids, policy, as_json=True):
            if contact_ids is not None:
                conn.execute(delete(ContactLedger).where(ContactLedger.contact_id.in_(group)))
            rows = [
                {
                    "contact_id": cid,
                    "scope": ledger.scope,
                    "tier": ledger.tier,
                    "strength": ledger.strength,
                    "balance": ledger.balance,
                    "last_two_way": ledger.last_two_way,
                    "data": data,
                    "computed_at": computed_at,
                }
                for cid, items in ledgers.items()
                for ledger, data in items
            ]
            for start in range(0, len(rows), 1000):
                conn.execute(insert(ContactLedger), rows[start : start + 1000])
            summary.contacts += len(ledgers)
            summary.rows += len(rows)
    summary.seconds = time.perf_counter() - started
    return summary


def touched_contacts(session: Session, message_ids: Iterable[int]) -> set[int]:
    """The contacts taking part in the given messages: whose ledgers a sync must refresh."""
    ids = list(dict.fromkeys(message_ids))
    if session.autoflush:
        session.flush()
    conn = session.connection()
    found: set[int] = set()
    for chunk in chunked(ids):
        for rows in raw_rows(conn, select(Participant.contact_id).where(Participant.message_id.in_(chunk))):
            found.update(row[0] for row in rows)
    return found


