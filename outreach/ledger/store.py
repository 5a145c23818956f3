"""Ledgers in the store: computed and written after a sync (:func:`refresh_ledgers`), and read back —
whole (:func:`load_ledgers`, :func:`ledger_for`) or light, as the recipient rules need them
(:func:`load_ledgers_light`), per column (:func:`stored_ledger_columns`) and rolled up by domain.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from outreach.gcpause import collector_paused
from outreach.ledger.builder import computed
from outreach.ledger.facts import FactsLoader, raw_rows
from outreach.ledger.model import TEAM_SCOPE, TIERS, EvidenceLine, LastAsk, Ledger, LedgerPolicy
from outreach.store import chunked
from outreach.store.models import Contact, ContactLedger, MailboxAddress, Participant, utcnow


def load_ledgers(session: Session, addresses: Iterable[str], scope: str = TEAM_SCOPE) -> dict[str, Ledger]:
    """Stored ledgers for ``addresses`` (lower-cased); an address without one gets :meth:`Ledger.unknown`."""
    wanted = list(dict.fromkeys(a.strip().lower() for a in addresses))
    found: dict[str, Ledger] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = session.execute(
            select(Contact.address, ContactLedger.data)
            .join(ContactLedger, ContactLedger.contact_id == Contact.id)
            .where(Contact.address.in_(chunk), ContactLedger.scope == scope)
        )
        for address, data in rows:
            found[address] = Ledger.from_json(data)
    return {a: found.get(a) or Ledger.unknown(a, scope) for a in wanted}


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
    every contact when None.  Does not commit.  Both ways give the same rows for the same store and
    ``policy.as_of``.  Decay is computed as of the refresh: contacts no sync touches keep the strength and
    balance of their last refresh until a full one (``outreach ledger rebuild``, e.g. nightly).

    Either way the contacts are computed CONTACT_CHUNK at a time (their rows replaced, then the next
    chunk), from facts loaded for several chunks at once (see :class:`FactsLoader`): memory stays bounded."""
    started = time.perf_counter()
    policy = policy or LedgerPolicy()
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


@dataclass(frozen=True, slots=True)
class DomainSummary:
    """An organisation (mail domain) seen through its people's ledgers."""

    domain: str
    contacts: int
    best_tier: str
    strongest_contact: str
    strongest_strength: int
    last_two_way: datetime | None
    two_way_threads: int

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "contacts": self.contacts,
            "best_tier": self.best_tier,
            "strongest_contact": self.strongest_contact,
            "strongest_strength": self.strongest_strength,
            "last_two_way": self.last_two_way.isoformat() if self.last_two_way else None,
            "two_way_threads": self.two_way_threads,
        }


def domain_rollup(session: Session, scope: str = TEAM_SCOPE) -> list[DomainSummary]:
    """Per domain: contacts, best tier, strongest contact, last two-way exchange, two-way threads;
    strongest domains first."""
    rank = {tier: n for n, tier in enumerate(TIERS)}
    rows = session.execute(
        select(
            Contact.domain,
            Contact.address,
            ContactLedger.tier,
            ContactLedger.strength,
            ContactLedger.last_two_way,
            ContactLedger.data["two_way_threads"].as_integer(),
        )
        .join(ContactLedger, ContactLedger.contact_id == Contact.id)
        .where(ContactLedger.scope == scope)
    )
    acc: dict[str, dict[str, Any]] = {}
    for domain, address, tier, strength, last, threads in rows:
        slot = acc.setdefault(
            domain, {"contacts": 0, "tier": "none", "best": ("", -1), "last": None, "threads": 0}
        )
        slot["contacts"] += 1
        if rank.get(tier, 0) > rank[slot["tier"]]:
            slot["tier"] = tier
        best_address, best_strength = slot["best"]
        if strength > best_strength or (strength == best_strength and address < best_address):
            slot["best"] = (address, strength)
        if last is not None and (slot["last"] is None or last > slot["last"]):
            slot["last"] = last
        slot["threads"] += int(threads or 0)
    result = [
        DomainSummary(
            domain, s["contacts"], s["tier"], s["best"][0], max(0, s["best"][1]), s["last"], s["threads"]
        )
        for domain, s in acc.items()
    ]
    result.sort(key=lambda d: (-rank[d.best_tier], -d.strongest_strength, -d.two_way_threads, d.domain))
    return result


def stored_ledger_columns(session: Session, scope: str = TEAM_SCOPE) -> dict[int, dict[str, Any]]:
    """contact id -> tier, strength, balance and last two-way exchange of the stored ledgers of ``scope``."""
    rows = session.execute(
        select(
            ContactLedger.contact_id,
            ContactLedger.tier,
            ContactLedger.strength,
            ContactLedger.balance,
            ContactLedger.last_two_way,
        ).where(ContactLedger.scope == scope)
    )
    return {
        cid: {
            "tier": tier,
            "strength": strength,
            "balance": balance,
            "last_two_way": last.isoformat() if last else None,
        }
        for cid, tier, strength, balance, last in rows
    }


def ledger_for(
    session: Session, address: str, scope: str = TEAM_SCOPE, policy: LedgerPolicy | None = None
) -> Ledger | None:
    """The ledger of one address: the stored one, else computed now (not stored); None when the address
    is not a contact in the store.  A contact without mail in ``scope`` gets tier ``none``."""
    address = address.strip().lower()
    row = session.execute(select(Contact.id).where(Contact.address == address)).first()
    if row is None:
        return None
    stored = session.scalar(
        select(ContactLedger.data).where(ContactLedger.contact_id == row[0], ContactLedger.scope == scope)
    )
    if stored:
        return Ledger.from_json(stored)
    for ledger in compute_ledgers(session, [row[0]], policy).get(row[0], []):
        if ledger.scope == scope:
            return ledger
    return Ledger.unknown(address, scope)


# ---------------------------------------------------------------------------------------- light reads


# What the recipient rules read from a ledger's JSON document: figures, our last ask, and the two kinds of
# evidence lines that decide or word a finding: our asks (their dates decide R006) and opt-outs (R007
# quotes the sentence). The other evidence lines are only quoted; they are read when a finding is shown
# (see DeferredEvidence). Like outreach.ledger.load_ledgers, the document is the source (not the columns
# copied out of it).
_LIGHT_FIGURES = (
    "name",
    "tier",
    "strength",
    "balance",
    "last_two_way",
    "sent",
    "received",
    "personal_received",
    "asks_by_us",
    "offers_by_us",
    "their_asks_fulfilled",
    "opt_outs",
    "last_ask_by_us",
)
LIGHT_EVIDENCE = ("asks_by_us", "opt_outs")
_CHUNK = 5000  # addresses per query (SQLite allows 32,766 bound parameters, PostgreSQL 65,535)


def _light_parts(dialect: str) -> tuple[Any, Any] | None:
    """Two values per ledger row, extracted by the database: the JSON array of the light figures (then
    the opt-out lines), and the JSON array of our asks' lines. None where the dialect has no JSON
    functions: then the whole ``data`` document is read."""
    if dialect == "sqlite":  # one parse of the document per row: SQLite keeps it for the second call
        paths = [f"$.{name}" for name in _LIGHT_FIGURES] + ["$.evidence.opt_outs"]
        return (
            func.json_extract(ContactLedger.data, *paths),
            func.json_extract(ContactLedger.data, "$.evidence.asks_by_us"),
        )
    if dialect == "postgresql":
        parts = [ContactLedger.data[name] for name in _LIGHT_FIGURES]
        parts.append(ContactLedger.data[("evidence", "opt_outs")])
        return func.json_build_array(*parts), ContactLedger.data[("evidence", "asks_by_us")]
    return None


# the day of a "date" member of minified JSON (as SQLite writes it) whose value is an ISO date string
_JSON_DAY = re.compile(r'"date":"(\d{4}-\d\d-\d\d)')


def maybe_since(lines_json: str, day: str) -> bool:
    """Whether evidence lines as minified JSON text may hold one dated ``day`` or later: False only if
    every date is null or an ISO date before ``day`` (so they need no decoding to be left out)."""
    days = _JSON_DAY.findall(lines_json)
    if len(days) != lines_json.count('"date":"'):  # a date string of another form: decode to see
        return True
    return max(days, default="") >= day


def _lines_of(values: Any, since: datetime | None = None) -> list[EvidenceLine]:
    """Evidence lines from their JSON; with ``since``, only those dated from then on."""
    if not isinstance(values, list):
        return []
    if since is None:
        return [EvidenceLine.from_json(v) for v in values]
    lines = []
    for value in values:
        date = _date_of(value.get("date"))
        if date is not None and (date if date.tzinfo else date.replace(tzinfo=UTC)) >= since:
            lines.append(EvidenceLine.from_json(value))
    return lines


def _date_of(value: Any) -> datetime | None:
    if not value:
        return None
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def load_ledgers_light(
    session: Session, addresses: Sequence[str], scope: str, asks_since: datetime | None = None
) -> dict[str, Ledger]:
    """The ledgers of ``addresses`` as the recipient rules need them: every figure they read, with the
    evidence lines of :data:`LIGHT_EVIDENCE` only (unknown addresses get ``Ledger.unknown``); with
    ``asks_since``, only the lines of our asks dated from then on (R006 reads no older ones).

    One query per :data:`_CHUNK` addresses, reading only those parts of the JSON document; decoding the
    evidence lines of thousands of ledgers is what made a large preview slow. :func:`add_evidence` reads
    the rest for the recipients whose findings are shown.
    """
    parts = _light_parts(session.get_bind().dialect.name)
    # an evidence line dated `asks_since` or later is dated, in its own time zone, no earlier than this
    # day (UTC offsets are under a day): lines as JSON text whose dates are all earlier are left out
    # without decoding them
    day = None if asks_since is None else (asks_since.astimezone(UTC) - timedelta(days=2)).date().isoformat()
    columns = (ContactLedger.data, ContactLedger.data) if parts is None else parts
    found: dict[str, Ledger] = {}
    for start in range(0, len(addresses), _CHUNK):
        chunk = addresses[start : start + _CHUNK]
        rows = session.connection().execute(  # plain rows: no ORM processing needed
            select(Contact.address, *columns)
            .join(ContactLedger, ContactLedger.contact_id == Contact.id)
            .where(Contact.address.in_(chunk), ContactLedger.scope == scope)
        ).all()
        for address, values, ask_lines in rows:
            if parts is None:
                document = values or {}
                evidence = document.get("evidence") or {}
                values = [document.get(name) for name in _LIGHT_FIGURES] + [evidence.get("opt_outs")]
                ask_lines = evidence.get("asks_by_us")
            elif isinstance(values, str):
                values = json.loads(values)
            if isinstance(ask_lines, str):
                ask_lines = json.loads(ask_lines) if day is None or maybe_since(ask_lines, day) else None
            (
                name, tier, strength, balance, last_two_way, sent, received, personal, asks, offers,
                honoured, opt_outs, last, opt_lines,
            ) = values  # fmt: skip
            lines = {}
            if ask_lines and (asks_lines := _lines_of(ask_lines, asks_since)):
                lines["asks_by_us"] = asks_lines
            if opt_lines:
                lines["opt_outs"] = _lines_of(opt_lines)
            found[address] = Ledger(
                address=address,
                scope=scope,
                name=name,
                domain=address.rpartition("@")[2],
                last_two_way=_date_of(last_two_way),
                sent=sent or 0,
                received=received or 0,
                personal_received=personal or 0,
                asks_by_us=asks or 0,
                offers_by_us=offers or 0,
                their_asks_fulfilled=honoured or 0,
                opt_outs=opt_outs or 0,
                balance=balance or 0.0,
                strength=strength or 0,
                tier=tier or "none",
                last_ask_by_us=(
                    None if not last else LastAsk(EvidenceLine.from_json(last), bool(last.get("answered")))
                ),
                evidence=lines,
            )
    return {a: found.get(a) or Ledger.unknown(a, scope) for a in addresses}


def add_evidence(
    session: Session, ledgers: Mapping[str, Ledger], needed: Mapping[str, Iterable[str]], scope: str
) -> None:
    """Read the evidence lines of ``needed`` (address -> figures) into the ledgers of ``ledgers``, next to
    the lines they already have."""
    dialect = session.get_bind().dialect.name
    part: Any = ContactLedger.data
    if dialect == "sqlite":
        part = func.json_extract(ContactLedger.data, "$.evidence")
    elif dialect == "postgresql":
        part = ContactLedger.data["evidence"]
    addresses = [a for a in needed if a in ledgers]
    for start in range(0, len(addresses), _CHUNK):
        chunk = addresses[start : start + _CHUNK]
        rows = session.connection().execute(
            select(Contact.address, part)
            .join(ContactLedger, ContactLedger.contact_id == Contact.id)
            .where(Contact.address.in_(chunk), ContactLedger.scope == scope)
        ).all()
        for address, data in rows:
            if isinstance(data, str):
                data = json.loads(data)
            evidence = (data or {}).get("evidence") if part is ContactLedger.data else data
            evidence = evidence if isinstance(evidence, dict) else {}
            ledger = ledgers[address]
            ledger.evidence = {
                **ledger.evidence,
                **{figure: _lines_of(evidence.get(figure)) for figure in needed[address]},
            }
