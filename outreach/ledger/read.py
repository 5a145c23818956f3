"""Reading stored ledgers: the one reader, whole or light, each judged as of the reader's date.

A stored ledger is judged as of its own latest message (see :class:`~outreach.ledger.builder.LedgerBuilder`);
every reader here judges it again as of ``when`` (default: now; ``--as-of`` on the command line): recency and
the balance decay to that date, strength and tier follow (:func:`~outreach.ledger.model.judge`).  A read never
writes.  A ledger that already counts mail dated after ``when`` (reading the past) is computed from the
stored mail instead, leaving the later mail out.

* :func:`load_ledgers`, :func:`ledger_for`: whole ledgers, with every evidence line;
* :func:`load_ledgers_light`: as the recipient rules need them, for previews of thousands of recipients
  (figures, our asks and opt-outs; :func:`add_evidence` reads more lines for the findings shown);
* :func:`scope_ledgers`: every contact's light ledger in a scope (``contacts``, ``contacts --by-domain``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from outreach.errors import UsageError
from outreach.ledger.model import (
    TEAM_SCOPE,
    TIERS,
    EvidenceLine,
    Figures,
    LastAsk,
    Ledger,
    LedgerPolicy,
    aware,
    decayed_balance,
    judge,
    needs_facts,
    standing,
)
from outreach.ledger.outlets import is_personal_domain, outlet_of
from outreach.ledger.paths import (
    MAX_LINES,
    TWO_WAY_TIERS,
    BestPath,
    OutletMap,
    Relationship,
    best_per_teammate,
    by_outlet,
    evidence_figures,
    ranked,
)
from outreach.ledger.store import compute_ledgers
from outreach.store.models import Contact, ContactLedger

_CHUNK = 5000  # addresses per query (SQLite allows 32,766 bound parameters, PostgreSQL 65,535)


def _when(when: datetime | None, policy: LedgerPolicy | None) -> datetime:
    """The date to judge as of: ``when``, else the policy's ``as_of`` (``--as-of``), else now."""
    if when is None and policy is not None:
        when = policy.as_of
    return datetime.now(UTC) if when is None else aware(when)


def judged(
    session: Session,
    stored: Mapping[str, tuple[int, Ledger]],
    scope: str,
    policy: LedgerPolicy | None,
    when: datetime | None,
) -> dict[str, Ledger]:
    """Stored ledgers (address -> contact id and ledger) judged as of ``when``; those that already count
    later mail are computed from the stored mail as of ``when`` (with every evidence line)."""
    when = _when(when, policy)
    policy = policy or LedgerPolicy()
    out: dict[str, Ledger] = {}
    late: dict[int, str] = {}
    for address, (cid, ledger) in stored.items():
        if needs_facts(ledger, when):
            late[cid] = address
        else:
            out[address] = judge(ledger, policy, when)
    if late:
        for cid, ledgers in compute_ledgers(session, list(late), replace(policy, as_of=when)).items():
            for ledger in ledgers:
                if ledger.scope == scope:
                    out[late[cid]] = ledger
        for address in late.values():
            out.setdefault(address, Ledger.unknown(address, scope))
    return out


def load_ledgers(
    session: Session,
    addresses: Iterable[str],
    scope: str = TEAM_SCOPE,
    policy: LedgerPolicy | None = None,
    when: datetime | None = None,
) -> dict[str, Ledger]:
    """Whole ledgers of ``addresses`` (lower-cased) as of ``when``; an address without one gets
    :meth:`Ledger.unknown`."""
    wanted = list(dict.fromkeys(a.strip().lower() for a in addresses))
    stored: dict[str, tuple[int, Ledger]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = session.execute(
            select(Contact.address, Contact.id, ContactLedger.data)
            .join(ContactLedger, ContactLedger.contact_id == Contact.id)
            .where(Contact.address.in_(chunk), ContactLedger.scope == scope)
        )
        for address, cid, data in rows:
            stored[address] = (cid, Ledger.from_json(data))
    found = judged(session, stored, scope, policy, when)
    return {a: found.get(a) or Ledger.unknown(a, scope) for a in wanted}


def ledger_for(
    session: Session,
    address: str,
    scope: str = TEAM_SCOPE,
    policy: LedgerPolicy | None = None,
    when: datetime | None = None,
) -> Ledger | None:
    """The ledger of one address as of ``when`` (default: the policy's ``as_of``, else now): the stored one
    judged, else computed (not stored); None when the address is not a contact in the store.  A contact
    without mail in ``scope`` gets tier ``none``."""
    address = address.strip().lower()
    row = session.execute(select(Contact.id).where(Contact.address == address)).first()
    if row is None:
        return None
    if session.scalar(select(ContactLedger.id).where(ContactLedger.contact_id == row[0], ContactLedger.scope == scope)):
        return load_ledgers(session, [address], scope, policy, when)[address]
    policy = replace(policy or LedgerPolicy(), as_of=_when(when, policy))
    for ledger in compute_ledgers(session, [row[0]], policy).get(row[0], []):
        if ledger.scope == scope:
            return ledger
    return Ledger.unknown(address, scope)


# ---------------------------------------------------------------------------------------- light reads


# What the recipient rules read from a ledger's JSON document (and what judging it needs): figures, our last
# ask, and the two kinds of evidence lines that decide or word a finding: our asks (their dates decide R006)
# and opt-outs (R007 quotes the sentence). The other evidence lines are only quoted; they are read when a
# finding is shown (see DeferredEvidence).  The document is the source, not the columns copied out of it.
_LIGHT_FIGURES = (
    "name",
    "tier",
    "strength",
    "balance",
    "last_two_way",
    "sent",
    "personal_sent",
    "inferred_sent",
    "received",
    "personal_received",
    "two_way_threads",
    "two_way_messages",
    "exchanges",
    "asks_by_us",
    "offers_by_us",
    "their_asks_fulfilled",
    "opt_outs",
    "last_ask_by_us",
    "as_of",
    "version",
    "strength_parts",
)
LIGHT_EVIDENCE = ("asks_by_us", "opt_outs")


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
        if date is not None and aware(date) >= since:
            lines.append(EvidenceLine.from_json(value))
    return lines


def _date_of(value: Any) -> datetime | None:
    if not value:
        return None
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


@dataclass
class _LightRows:
    """Reads light ledgers: the JSON parts the database extracts, decoded into :class:`Ledger` objects."""

    session: Session
    scope: str
    asks_since: datetime | None = None

    def __post_init__(self) -> None:
        self.parts = _light_parts(self.session.get_bind().dialect.name)
        # an evidence line dated `asks_since` or later is dated, in its own time zone, no earlier than this
        # day (UTC offsets are under a day): lines as JSON text whose dates are all earlier are left out
        # without decoding them
        since = self.asks_since
        self.day = None if since is None else (since.astimezone(UTC) - timedelta(days=2)).date().isoformat()

    def read(self, where: ColumnElement[bool]) -> dict[str, tuple[int, Ledger]]:
        columns = (ContactLedger.data, ContactLedger.data) if self.parts is None else self.parts
        rows = self.session.connection().execute(  # plain rows: no ORM processing needed
            select(Contact.address, Contact.id, *columns)
            .join(ContactLedger, ContactLedger.contact_id == Contact.id)
            .where(where, ContactLedger.scope == self.scope)
        ).all()
        return {address: (cid, self._ledger(address, values, lines)) for address, cid, values, lines in rows}

    def _ledger(self, address: str, values: Any, ask_lines: Any) -> Ledger:
        if self.parts is None:
            document = values or {}
            evidence = document.get("evidence") or {}
            values = [document.get(name) for name in _LIGHT_FIGURES] + [evidence.get("opt_outs")]
            ask_lines = evidence.get("asks_by_us")
        elif isinstance(values, str):
            values = json.loads(values)
        if isinstance(ask_lines, str):
            ask_lines = json.loads(ask_lines) if self.day is None or maybe_since(ask_lines, self.day) else None
        figures = dict(zip(_LIGHT_FIGURES, values, strict=False))
        lines = {}
        if ask_lines and (asks_lines := _lines_of(ask_lines, self.asks_since)):
            lines["asks_by_us"] = asks_lines
        if opt_lines := values[len(_LIGHT_FIGURES)]:
            lines["opt_outs"] = _lines_of(opt_lines)
        last = figures["last_ask_by_us"]
        if isinstance(last, str):
            last = json.loads(last)
        parts = figures["strength_parts"]
        version = int(figures["version"] or 1)
        as_of = _date_of(figures["as_of"])
        ledger = Ledger(
            address=address,
            scope=self.scope,
            name=figures["name"],
            domain=address.rpartition("@")[2],
            last_two_way=_date_of(figures["last_two_way"]),
            balance=figures["balance"] or 0.0,
            strength=figures["strength"] or 0,
            strength_parts=json.loads(parts) if isinstance(parts, str) else dict(parts or {}),
            tier=figures["tier"] or "none",
            last_ask_by_us=None if not last else LastAsk(EvidenceLine.from_json(last), bool(last.get("answered"))),
            evidence=lines,
            as_of=as_of,
            version=version,
        )
        for key in _COUNTS:
            setattr(ledger, key, int(figures[key] or 0))
        return ledger


_COUNTS = (
    "sent",
    "personal_sent",
    "inferred_sent",
    "received",
    "personal_received",
    "two_way_threads",
    "two_way_messages",
    "exchanges",
    "asks_by_us",
    "offers_by_us",
    "their_asks_fulfilled",
    "opt_outs",
)


def load_ledgers_light(
    session: Session,
    addresses: Sequence[str],
    scope: str,
    asks_since: datetime | None = None,
    policy: LedgerPolicy | None = None,
    when: datetime | None = None,
) -> dict[str, Ledger]:
    """The ledgers of ``addresses`` as the recipient rules need them, judged as of ``when``: every figure
    they read, with the evidence lines of :data:`LIGHT_EVIDENCE` only (unknown addresses get
    ``Ledger.unknown``); with ``asks_since``, only the lines of our asks dated from then on (R006 reads no
    older ones).

    One query per :data:`_CHUNK` addresses, reading only those parts of the JSON document; decoding the
    evidence lines of thousands of ledgers is what made a large preview slow. :func:`add_evidence` reads
    the rest for the recipients whose findings are shown.
    """
    reader = _LightRows(session, scope, asks_since)
    stored: dict[str, tuple[int, Ledger]] = {}
    for start in range(0, len(addresses), _CHUNK):
        stored.update(reader.read(Contact.address.in_(addresses[start : start + _CHUNK])))
    found = judged(session, stored, scope, policy, when)
    return {a: found.get(a) or Ledger.unknown(a, scope) for a in addresses}


def scope_ledgers(
    session: Session, scope: str = TEAM_SCOPE, policy: LedgerPolicy | None = None, when: datetime | None = None
) -> dict[int, Ledger]:
    """contact id -> the light ledger of every contact with one in ``scope``, judged as of ``when``."""
    stored = _LightRows(session, scope).read(ContactLedger.scope == scope)
    ids = {address: cid for address, (cid, _) in stored.items()}
    return {ids[address]: ledger for address, ledger in judged(session, stored, scope, policy, when).items()}


def _evidence_rows(session: Session, addresses: Sequence[str], scope: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(address, evidence JSON: figure -> lines) of the stored ledgers of ``addresses`` in ``scope``."""
    dialect = session.get_bind().dialect.name
    part: Any = ContactLedger.data
    if dialect == "sqlite":
        part = func.json_extract(ContactLedger.data, "$.evidence")
    elif dialect == "postgresql":
        part = ContactLedger.data["evidence"]
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
            yield address, evidence if isinstance(evidence, dict) else {}


def add_evidence(
    session: Session, ledgers: Mapping[str, Ledger], needed: Mapping[str, Iterable[str]], scope: str
) -> None:
    """Read the evidence lines of ``needed`` (address -> figures) into the ledgers of ``ledgers``, next to
    the lines they already have."""
    addresses = [a for a in needed if a in ledgers]
    for address, evidence in _evidence_rows(session, addresses, scope):
        ledger = ledgers[address]
        ledger.evidence = {
            **ledger.evidence,
            **{figure: _lines_of(evidence.get(figure)) for figure in needed[address]},
        }


# ---------------------------------------------------------------------------------------- columns, domains


def stored_ledger_columns(
    session: Session, scope: str = TEAM_SCOPE, policy: LedgerPolicy | None = None, when: datetime | None = None
) -> dict[int, dict[str, Any]]:
    """contact id -> tier, strength, balance and last two-way exchange of the ledgers of ``scope``, as of
    ``when``."""
    return {
        cid: {
            "tier": ledger.tier,
            "strength": ledger.strength,
            "balance": ledger.balance,
            "last_two_way": ledger.last_two_way.isoformat() if ledger.last_two_way else None,
        }
        for cid, ledger in scope_ledgers(session, scope, policy, when).items()
    }


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


def domain_rollup(
    session: Session, scope: str = TEAM_SCOPE, policy: LedgerPolicy | None = None, when: datetime | None = None
) -> list[DomainSummary]:
    """Per outlet, as of ``when``: contacts, best tier, strongest contact, last two-way exchange, two-way
    threads; strongest outlets first. Personal-mail domains (gmail.com …) are no outlet: left out."""
    rank = {tier: n for n, tier in enumerate(TIERS)}
    acc: dict[str, dict[str, Any]] = {}
    for ledger in scope_ledgers(session, scope, policy, when).values():
        if is_personal_domain(ledger.domain):
            continue
        slot = acc.setdefault(
            ledger.domain, {"contacts": 0, "tier": "none", "best": ("", -1), "last": None, "threads": 0}
        )
        slot["contacts"] += 1
        if rank.get(ledger.tier, 0) > rank[slot["tier"]]:
            slot["tier"] = ledger.tier
        best_address, best_strength = slot["best"]
        strength, address, last = ledger.strength, ledger.address, ledger.last_two_way
        if strength > best_strength or (strength == best_strength and address < best_address):
            slot["best"] = (address, strength)
        if last is not None and (slot["last"] is None or last > slot["last"]):
            slot["last"] = last
        slot["threads"] += ledger.two_way_threads
    result = [
        DomainSummary(domain, s["contacts"], s["tier"], s["best"][0], max(0, s["best"][1]), s["last"], s["threads"])
        for domain, s in acc.items()
    ]
    result.sort(key=lambda d: (-rank[d.best_tier], -d.strongest_strength, -d.two_way_threads, d.domain))
    return result


# ---------------------------------------------------------------------------------------- who knows whom

# What judging a relationship needs from a ledger's JSON document (see Figures), then its stored tier and
# strength (a version 1 ledger is read as it was stored).
_STANDING = (
    "personal_sent",
    "personal_received",
    "sent",
    "exchanges",
    "two_way_threads",
    "two_way_messages",
    "balance",
    "last_two_way",
    "as_of",
    "version",
    "tier",
    "strength",
)


def _figures_part(dialect: str, names: Sequence[str]) -> Any:
    """One JSON array of the document's ``names``, extracted by the database (None: read the document)."""
    if dialect == "sqlite":
        return func.json_extract(ContactLedger.data, *[f"$.{name}" for name in names])
    if dialect == "postgresql":
        return func.json_build_array(*[ContactLedger.data[name] for name in names])
    return None


def _relationship(
    address: str, name: str | None, scope: str, values: Sequence[Any], policy: LedgerPolicy, when: datetime
) -> Relationship | None:
    """The relationship of one stored ledger judged as of ``when``; None if it counts later mail."""
    sent_p, received_p, sent, exchanges, threads, messages, balance, last, as_of, version, tier, strength = values
    last_two_way = _date_of(last)
    as_of_date = _date_of(as_of)
    if int(version or 1) < 2 or as_of_date is None:
        return Relationship(scope, address, name, tier or "none", int(strength or 0), balance or 0.0, last_two_way)
    if when < aware(as_of_date):
        return None
    balance = decayed_balance(balance or 0.0, as_of_date, policy, when)
    figures = Figures(
        int(sent_p or 0), int(received_p or 0), int(sent or 0), int(exchanges or 0), int(threads or 0),
        int(messages or 0), balance, last_two_way,
    )
    strength, _parts, tier = standing(figures, policy, when)
    return Relationship(scope, address, name, tier, strength, balance, last_two_way)


def relationships(
    session: Session,
    *,
    addresses: Sequence[str] = (),
    domains: Sequence[str] = (),
    everyone: bool = False,
    two_way_only: bool = False,
    policy: LedgerPolicy | None = None,
    when: datetime | None = None,
) -> list[Relationship]:
    """Every teammate's relationship (the ledgers of mailbox scopes, not the team's) with ``addresses``
    and with the people at ``domains`` (with ``everyone``, with anyone), judged as of ``when``; with
    ``two_way_only``, only those where personal mail went both ways. Unordered (see
    :func:`~outreach.ledger.paths.ranked`).

    One query per :data:`_CHUNK` addresses or domains, reading the figures that judging needs. A stored
    two-way tier stays two-way at any later date (its counts do not decay), so ``two_way_only`` filters
    in the query; a ledger that already counts mail after ``when`` is computed from the stored mail."""
    when = _when(when, policy)
    policy = policy or LedgerPolicy()
    dialect = session.get_bind().dialect.name
    part = _figures_part(dialect, _STANDING)
    column = ContactLedger.data if part is None else part
    found: list[Relationship] = []
    late: dict[int, tuple[str, str | None]] = {}
    wheres: list[ColumnElement[bool]] = [true()] if everyone else []
    for key, wanted in ((Contact.address, list(addresses)), (Contact.domain, list(domains))):
        wheres += [key.in_(wanted[start : start + _CHUNK]) for start in range(0, len(wanted), _CHUNK)]
    for where in wheres:
        query = (
            select(Contact.address, Contact.display_name, Contact.id, ContactLedger.scope, column)
            .join(ContactLedger, ContactLedger.contact_id == Contact.id)
            .where(where, ContactLedger.scope != TEAM_SCOPE)
        )
        if two_way_only:
            query = query.where(ContactLedger.tier.in_(TWO_WAY_TIERS))
        for address, name, cid, scope, values in session.connection().execute(query).all():
            if part is None:
                values = [(values or {}).get(n) for n in _STANDING]
            elif isinstance(values, str):
                values = json.loads(values)
            judged_one = _relationship(address, name, scope, values, policy, when)
            if judged_one is None:
                late[cid] = (address, name)
            else:
                found.append(judged_one)
    if late:
        for cid, ledgers in compute_ledgers(session, list(late), replace(policy, as_of=when)).items():
            address, name = late[cid]
            found += [
                Relationship(ledger.scope, address, name, ledger.tier, ledger.strength, ledger.balance,
                             ledger.last_two_way)
                for ledger in ledgers
                if ledger.scope != TEAM_SCOPE and (ledger.tier in TWO_WAY_TIERS or not two_way_only)
            ]
    return found


def relationship_lines(
    session: Session, wanted: Iterable[Relationship]
) -> dict[tuple[str, str], list[EvidenceLine]]:
    """(address, mailbox) -> the messages behind each relationship (its latest two-way exchanges; for a
    one-way or inbound one, the latest mail), newest first, at most :data:`MAX_LINES`."""
    by_scope: dict[str, dict[str, Relationship]] = {}
    for r in wanted:
        by_scope.setdefault(r.mailbox, {})[r.address] = r
    out: dict[tuple[str, str], list[EvidenceLine]] = {}
    for scope, members in by_scope.items():
        for address, evidence in _evidence_rows(session, list(members), scope):
            seen: dict[int, EvidenceLine] = {}
            for figure in evidence_figures(members[address].tier):
                for line in _lines_of(evidence.get(figure)):
                    seen.setdefault(line.message_id, line)
            lines = sorted(seen.values(), key=lambda line: aware(line.date) if line.date else _EPOCH, reverse=True)
            out[(address, scope)] = lines[:MAX_LINES]
    return out


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _two_way_at(session: Session, domains: Sequence[str]) -> list[tuple[str, str]]:
    """(address, mailbox) of the stored two-way relationships with people at ``domains`` (columns only)."""
    found: list[tuple[str, str]] = []
    for start in range(0, len(domains), _CHUNK):
        query = (
            select(Contact.address, ContactLedger.scope)
            .join(ContactLedger, ContactLedger.contact_id == Contact.id)
            .where(
                Contact.domain.in_(domains[start : start + _CHUNK]),
                ContactLedger.scope != TEAM_SCOPE,
                ContactLedger.tier.in_(TWO_WAY_TIERS),
            )
        )
        found += [(address, scope) for address, scope in session.connection().execute(query).all()]
    return found


def paths_for(
    session: Session, addresses: Sequence[str], policy: LedgerPolicy | None = None, when: datetime | None = None
) -> dict[str, BestPath]:
    """The best path to each of ``addresses`` as of ``when``: who on the team knows them, else who knows
    someone at their outlet.

    The recipients' relationships are read and judged once; for the outlets of those nobody knows, the
    two-way relationships there are listed from the stored tiers, and only those with people who are not
    recipients are read and judged besides."""
    judged_rels = relationships(session, addresses=addresses, policy=policy, when=when)
    grouped: dict[str, list[Relationship]] = {}
    for r in judged_rels:
        grouped.setdefault(r.address, []).append(r)
    direct = {address: tuple(ranked(found)) for address, found in grouped.items()}
    outlets = {a: outlet_of(a) for a in addresses}
    known_them = {a for a, mine in direct.items() if mine and mine[0].knows}
    lacking = sorted({d for a, d in outlets.items() if d is not None and a not in known_them})
    colleagues: dict[str, list[Relationship]] = {}
    if lacking:
        recipients = set(addresses)
        pairs = _two_way_at(session, lacking)
        others = sorted({address for address, _ in pairs if address not in recipients})
        known = {r.key: r for r in judged_rels}
        found = [known[pair] for pair in pairs if pair in known]
        found += relationships(session, addresses=others, two_way_only=True, policy=policy, when=when)
        for r in found:
            if r.knows and (outlet := outlet_of(r.address)) is not None:
                colleagues.setdefault(outlet, []).append(r)
    via = {outlet: best_per_teammate(found) for outlet, found in colleagues.items()}
    nobody: tuple[Relationship, ...] = ()
    return {
        a: BestPath(
            a, outlets[a], direct.get(a, nobody), nobody if a in known_them else via.get(outlets[a] or "", nobody)
        )
        for a in addresses
    }


def team_map(
    session: Session, policy: LedgerPolicy | None = None, when: datetime | None = None, mailbox: str | None = None
) -> tuple[list[OutletMap], dict[tuple[str, str], list[EvidenceLine]]]:
    """The team's relationship map as of ``when``: every teammate's relationships (with ``mailbox``, that
    teammate's) by outlet (see :func:`~outreach.ledger.paths.by_outlet`), and the messages behind each."""
    found = relationships(session, everyone=True, policy=policy, when=when)
    outlets = by_outlet(r for r in found if mailbox is None or r.mailbox == mailbox)
    return outlets, relationship_lines(session, [r for outlet in outlets for r in outlet.relationships])


@dataclass(frozen=True, slots=True)
class WhoKnows:
    """``outreach who-knows``: the teammates with a relationship with an address (``direct``) or with
    someone at an outlet (``colleagues``), strongest first, with the messages behind each."""

    target: str
    outlet: str | None
    direct: list[Relationship]
    colleagues: list[Relationship]
    lines: dict[tuple[str, str], list[EvidenceLine]]

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for relation, found in (("direct", self.direct), ("colleague", self.colleagues)):
            for r in found:
                row = {"relation": relation, **r.to_json(self.lines.get(r.key, []))}
                rows.append(row)
        return rows


def who_knows(
    session: Session, target: str, policy: LedgerPolicy | None = None, when: datetime | None = None
) -> WhoKnows:
    """Who on the team has a relationship with ``target`` — an address (then also with anyone at its
    outlet) or a domain (anyone at it) — as of ``when``. A personal-mail domain is no outlet: asking
    about one is a usage error."""
    target = target.strip().lower()
    if "@" in target:
        direct = ranked(relationships(session, addresses=[target], policy=policy, when=when))
        outlet = outlet_of(target)
    else:
        domain = target.removeprefix("@")
        if is_personal_domain(domain):
            raise UsageError(
                f"{domain}: a personal-mail domain, not an outlet; ask about an address "
                f"(outreach who-knows someone@{domain})"
            )
        direct, outlet, target = [], domain, domain
    colleagues: list[Relationship] = []
    if outlet is not None:
        at_outlet = relationships(session, domains=[outlet], policy=policy, when=when)
        colleagues = ranked(r for r in at_outlet if r.address != target)
    return WhoKnows(target, outlet, direct, colleagues, relationship_lines(session, direct + colleagues))


__all__ = [
    "LIGHT_EVIDENCE",
    "DomainSummary",
    "WhoKnows",
    "add_evidence",
    "domain_rollup",
    "judged",
    "ledger_for",
    "load_ledgers",
    "load_ledgers_light",
    "maybe_since",
    "paths_for",
    "relationship_lines",
    "relationships",
    "scope_ledgers",
    "stored_ledger_columns",
    "team_map",
    "who_knows",
]
