"""Which ledger judges each recipient of a campaign, and how the team reaches them.

A campaign is judged on the team's ledgers (``[policy] scope = "team"``, the default), on its mailbox's
(``scope = "mailbox"``), or — with ``sender = "best"`` — recipient by recipient on the ledger of the
teammate's mailbox that knows them best among those configured for sending (the campaign's own mailbox
and every mailbox with a ``[send.NAME]`` table in the config): that mailbox's ledger decides the verdict,
and the message goes out from it. Every recipient also gets a best path
(:class:`~outreach.ledger.paths.BestPath`, read by :func:`~outreach.ledger.read.paths_for`): who on the
team knows them, or someone at their outlet. The messages behind each path are read when first shown
(:class:`PathLines`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from outreach.campaign.model import Campaign
from outreach.config import Settings
from outreach.ledger import TEAM_SCOPE, EvidenceLine, Ledger, LedgerPolicy
from outreach.ledger.paths import BestPath, Relationship, choose_sender
from outreach.ledger.read import add_evidence, load_ledgers_light, paths_for, relationship_lines


def sending_mailboxes(settings: Settings | None, campaign: Campaign) -> frozenset[str]:
    """The mailboxes a ``sender = "best"`` campaign may send from: its own, and every mailbox the config
    has a ``[send.NAME]`` table for."""
    names = {campaign.mailbox}
    if settings is not None:
        names.update(name for name, table in settings.section("send").items() if isinstance(table, Mapping))
    return frozenset(names)


@dataclass
class Judging:
    """For each recipient: the ledger its verdict is judged on (light, see
    :func:`~outreach.ledger.read.load_ledgers_light`), the scope of that ledger, and its best path.
    ``senders`` (with ``sender = "best"``): the mailboxes configured for sending."""

    ledgers: dict[str, Ledger]
    scopes: dict[str, str]
    paths: dict[str, BestPath]
    senders: frozenset[str] | None = None

    def sender(self, address: str) -> str | None:
        """The mailbox the recipient is judged and sent from (``sender = "best"`` only)."""
        return None if self.senders is None else self.scopes.get(address)


def read_judging(
    session: Session,
    campaign: Campaign,
    team_scope: bool,
    settings: Settings | None,
    asks_since: datetime,
    judging: LedgerPolicy,
    now: datetime,
) -> Judging:
    """The ledgers that judge the recipients of ``campaign`` (as of ``now``) and their best paths."""
    addresses = [r.address for r in campaign.recipients]
    paths = paths_for(session, addresses, judging, now)
    senders: frozenset[str] | None = None
    if campaign.best_sender:
        senders = sending_mailboxes(settings, campaign)
        scopes = {a: choose_sender(paths.get(a), senders, campaign.mailbox) for a in addresses}
    else:
        scope = TEAM_SCOPE if team_scope else campaign.mailbox
        scopes = dict.fromkeys(addresses, scope)
    ledgers: dict[str, Ledger] = {}
    for scope, members in _by_scope(scopes, addresses).items():
        ledgers.update(load_ledgers_light(session, members, scope, asks_since, judging, now))
    return Judging(ledgers, scopes, paths, senders)


def read_evidence(session: Session, found: Judging, needed: Mapping[str, Iterable[str]]) -> None:
    """Read the evidence lines of ``needed`` (address -> figures) into the recipients' light ledgers, each
    from the scope it was judged in."""
    for scope, members in _by_scope(found.scopes, needed).items():
        add_evidence(session, found.ledgers, {a: needed[a] for a in members}, scope)


def _by_scope(scopes: Mapping[str, str], addresses: Iterable[str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for address in addresses:
        grouped.setdefault(scopes.get(address, TEAM_SCOPE), []).append(address)
    return grouped


class PathLines:
    """The messages behind the relationships of the recipients' paths, read from the store when first
    asked for: the first relationship alone (``preview --show`` shows one recipient), then every other one
    at once (JSON and HTML show them all)."""

    def __init__(self, session: Session, paths: Mapping[str, BestPath]) -> None:
        self.session = session
        self.paths = paths
        self.lines: dict[tuple[str, str], list[EvidenceLine]] = {}
        self.done: set[tuple[str, str]] = set()
        self.everything = False

    def __call__(self, relationship: Relationship) -> Sequence[EvidenceLine]:
        if relationship.key not in self.done and not self.everything:
            wanted: Collection[Relationship] = [relationship]
            if self.done:
                wanted = [r for path in self.paths.values() for r in path.shown if r.key not in self.done]
                self.everything = True
            self._read(wanted)
        return self.lines.get(relationship.key, [])

    def _read(self, wanted: Collection[Relationship]) -> None:
        # later, maybe once the caller closed the session (it can be used again): a read transaction
        # begun here ends here
        idle = not self.session.in_transaction()
        try:
            self.lines.update(relationship_lines(self.session, wanted))
        finally:
            if idle:
                self.session.rollback()
        self.done.update(r.key for r in wanted)


__all__ = ["Judging", "PathLines", "read_evidence", "read_judging", "sending_mailboxes"]
