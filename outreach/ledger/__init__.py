"""The relationship ledger of each contact: what campaigns read to decide whether we may ask.

* :mod:`outreach.ledger.model` — the ledger, its evidence lines and the policy (no store access);
* :mod:`outreach.ledger.facts` — what a ledger is computed from, read from the store;
* :mod:`outreach.ledger.builder` — the computation (two-way threads, asks, balance, strength, tier);
* :mod:`outreach.ledger.store` — ledgers computed and written after a sync;
* :mod:`outreach.ledger.read` — the one reader of stored ledgers (whole and light, judged as of a date),
  the domain roll-up;
* :mod:`outreach.ledger.history` — who we corresponded with (the ``contacts`` listing);
* :mod:`outreach.ledger.text` — a ledger as text.
"""

from outreach.ledger.model import TEAM_SCOPE, TIERS, EvidenceLine, LastAsk, Ledger, LedgerPolicy, judge
from outreach.ledger.read import DomainSummary, domain_rollup, ledger_for, load_ledgers, stored_ledger_columns
from outreach.ledger.store import RefreshSummary, compute_ledgers, ledger_row_values, refresh_ledgers, touched_contacts
from outreach.ledger.text import format_ledger

__all__ = [
    "DomainSummary",
    "EvidenceLine",
    "LastAsk",
    "Ledger",
    "LedgerPolicy",
    "RefreshSummary",
    "TEAM_SCOPE",
    "TIERS",
    "compute_ledgers",
    "domain_rollup",
    "format_ledger",
    "judge",
    "ledger_for",
    "ledger_row_values",
    "load_ledgers",
    "refresh_ledgers",
    "stored_ledger_columns",
    "touched_contacts",
]
