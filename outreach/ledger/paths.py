"""Who on the team knows whom: relationships ranked strongest first, and each recipient's best path.

A :class:`Relationship` is one teammate's mailbox and one contact, as that mailbox's ledger judges them
(tier, strength, balance, last two-way exchange). A recipient's :class:`BestPath` is the teammate with the
strongest relationship to them or — when nobody on the team has exchanged personal mail both ways with
them — the teammates who know someone at their outlet (see :mod:`outreach.ledger.outlets`: personal-mail
domains are nobody's outlet). No store access here: :mod:`outreach.ledger.read` reads the relationships
(:func:`~outreach.ledger.read.relationships`, :func:`~outreach.ledger.read.paths_for`,
:func:`~outreach.ledger.read.who_knows`) and the messages behind them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from outreach.ledger.model import TIERS, EvidenceLine
from outreach.ledger.outlets import outlet_of

#: Tiers of a relationship where personal mail went both ways: someone who "knows" the contact.
TWO_WAY_TIERS = ("acquaintance", "warm", "strong")
MAX_VIA = 3  # teammates named on an outlet path
_RANK = {tier: n for n, tier in enumerate(TIERS)}

# The messages behind a relationship: the figures whose evidence lines show it, by tier.
_TWO_WAY_FIGURES = ("last_two_way", "two_way_threads", "exchanges")
_FIGURES = {"one-way": ("sent",), "inbound": ("received",), "none": ()}
MAX_LINES = 5  # messages quoted per relationship

Lines = Callable[["Relationship"], Sequence[EvidenceLine]]


def evidence_figures(tier: str) -> tuple[str, ...]:
    """The ledger figures whose evidence lines are the messages behind a relationship of ``tier``."""
    return _FIGURES.get(tier, _TWO_WAY_FIGURES)


def _with(tier: str, whom: str) -> str:
    """``is warm with them``, ``has exchanged personal mail with them`` (an acquaintance)."""
    return f"has exchanged personal mail with {whom}" if tier == "acquaintance" else f"is {tier} with {whom}"


def day(value: datetime | None) -> str:
    return value.date().isoformat() if value is not None else "never"


@dataclass(frozen=True, slots=True)
class Relationship:
    """One teammate's mailbox (``mailbox``) and one contact (``address``), as that mailbox's ledger judges
    them as of the reader's date."""

    mailbox: str
    address: str
    name: str | None
    tier: str
    strength: int
    balance: float
    last_two_way: datetime | None

    @property
    def knows(self) -> bool:
        """Personal mail went both ways (tier acquaintance, warm or strong)."""
        return self.tier in TWO_WAY_TIERS

    @property
    def key(self) -> tuple[str, str]:
        return self.address, self.mailbox

    def describe(self) -> str:
        """``warm, strength 62, last two-way 2026-10-02``."""
        return f"{self.tier}, strength {self.strength}, last two-way {day(self.last_two_way)}"

    def to_json(self, lines: Sequence[EvidenceLine] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "mailbox": self.mailbox,
            "contact": self.address,
            "name": self.name,
            "tier": self.tier,
            "strength": self.strength,
            "balance": round(self.balance, 2),
            "last_two_way": self.last_two_way.date().isoformat() if self.last_two_way else None,
        }
        if lines is not None:
            data["messages"] = [line.to_json() for line in lines]
        return data


def rank_key(r: Relationship) -> tuple[int, int, float, str, str]:
    """Strongest first: tier, then strength, then the latest two-way exchange; then by name."""
    last = r.last_two_way.timestamp() if r.last_two_way is not None else 0.0
    return -_RANK.get(r.tier, 0), -r.strength, -last, r.mailbox, r.address


def ranked(relationships: Iterable[Relationship]) -> list[Relationship]:
    """The relationships with personal mail either way (tier other than ``none``), strongest first."""
    return sorted((r for r in relationships if r.tier != "none"), key=rank_key)


def best_per_teammate(colleagues: Iterable[Relationship], limit: int = MAX_VIA) -> tuple[Relationship, ...]:
    """Each teammate's strongest two-way relationship among ``colleagues`` (people at one outlet), the
    strongest teammates first, at most ``limit``."""
    best: dict[str, Relationship] = {}
    for r in colleagues:
        if r.knows and (r.mailbox not in best or rank_key(r) < rank_key(best[r.mailbox])):
            best[r.mailbox] = r
    return tuple(sorted(best.values(), key=rank_key)[:limit])


@dataclass(frozen=True, slots=True)
class BestPath:
    """How the team reaches one recipient.

    ``direct``: every teammate's mailbox with personal mail with them, strongest first. ``via``: when
    nobody on the team knows them (no two-way relationship), each teammate's strongest relationship with
    someone at their outlet, strongest first (empty for a personal-mail address).
    """

    address: str
    outlet: str | None
    direct: tuple[Relationship, ...] = ()
    via: tuple[Relationship, ...] = ()

    @property
    def knows(self) -> bool:
        """Someone on the team exchanged personal mail both ways with them."""
        return bool(self.direct) and self.direct[0].knows

    @property
    def kind(self) -> str:
        """``direct`` (a teammate knows them), ``outlet`` (a teammate knows someone at their outlet),
        ``weak`` (only one-way or inbound mail), or ``none``."""
        if self.knows:
            return "direct"
        if self.via:
            return "outlet"
        return "weak" if self.direct else "none"

    @property
    def best(self) -> Relationship | None:
        if self.knows or (self.direct and not self.via):
            return self.direct[0]
        return self.via[0] if self.via else None

    @property
    def shown(self) -> tuple[Relationship, ...]:
        """The relationships a report shows (and quotes the messages of)."""
        return self.direct + self.via

    def summary(self) -> str:
        """One short line: ``jordan: warm 62, 2026-10-02``, ``via jordan: sam@outlet.example (warm,
        2026-09-01)``, or ``nobody on the team``."""
        best = self.best
        if best is None:
            return "nobody on the team"
        if self.kind == "outlet":
            return f"via {best.mailbox}: {best.address} ({best.tier}, {day(best.last_two_way)})"
        return f"{best.mailbox}: {best.tier} {best.strength}, {day(best.last_two_way)}"

    def advice(self, judged_from: str, senders: Collection[str] | None = None) -> str | None:
        """What to do instead of a cold ask judged from mailbox ``judged_from`` (``*``: the whole team):
        send from the teammate who knows them, or ask a teammate who knows someone at their outlet for an
        introduction; None when nobody can help. ``senders``: the mailboxes configured for sending, when
        the campaign sends from the best one (a teammate not among them is asked to send it)."""
        best = self.best
        if best is None or not (best.knows and best.mailbox != judged_from):
            return None
        when = f"(last two-way {day(best.last_two_way)})"
        who = best.mailbox
        if self.kind == "outlet":
            return (
                f"nobody on the team knows them; {who} {_with(best.tier, best.address)} at {self.outlet} "
                f"{when}: ask {who} for an introduction"
            )
        if senders is not None and who not in senders:
            return (
                f"{who} {_with(best.tier, 'them')} {when}, but mailbox {who} is not configured for sending "
                f"([send.{who}]): ask {who} to send it or to introduce you"
            )
        return f"{who} {_with(best.tier, 'them')} {when}: send from {who} or ask for an introduction"

    def to_json(self, lines: Lines | None = None) -> dict[str, Any]:
        """``kind``, ``summary``, ``outlet``, the best relationship and every one shown, each with the
        messages behind it when ``lines`` gives them."""

        def one(r: Relationship) -> dict[str, Any]:
            return r.to_json(None if lines is None else lines(r))

        best = self.best
        return {
            "kind": self.kind,
            "summary": self.summary(),
            "outlet": self.outlet,
            "best": None if best is None else one(best),
            "direct": [one(r) for r in self.direct],
            "via": [one(r) for r in self.via],
        }


@dataclass(frozen=True, slots=True)
class OutletMap:
    """One outlet of the team's relationship map: every teammate's relationship with someone there,
    strongest first. ``outlet`` None: the people with personal-mail addresses (nobody's outlet)."""

    outlet: str | None
    relationships: tuple[Relationship, ...]

    @property
    def best(self) -> Relationship:
        return self.relationships[0]

    @property
    def people(self) -> int:
        return len({r.address for r in self.relationships})

    @property
    def teammates(self) -> list[str]:
        """The teammates holding a relationship there, the one with the strongest first."""
        return list(dict.fromkeys(r.mailbox for r in self.relationships))

    @property
    def last_two_way(self) -> datetime | None:
        return max((r.last_two_way for r in self.relationships if r.last_two_way is not None), default=None)


def by_outlet(relationships: Iterable[Relationship]) -> list[OutletMap]:
    """The relationships (tier other than ``none``) grouped by the outlet of the person, the outlets with
    the strongest relationship first; personal-mail addresses last, as one group."""
    groups: dict[str | None, list[Relationship]] = {}
    for r in ranked(relationships):
        groups.setdefault(outlet_of(r.address), []).append(r)
    maps = [OutletMap(outlet, tuple(found)) for outlet, found in groups.items()]
    return sorted(maps, key=lambda o: (o.outlet is None, rank_key(o.best)))


def choose_sender(path: BestPath | None, senders: Collection[str], default: str) -> str:
    """The mailbox to judge and send from: the one among ``senders`` with the strongest relationship with
    the recipient, else ``default``."""
    if path is not None:
        for r in path.direct:
            if r.mailbox in senders:
                return r.mailbox
    return default


__all__ = [
    "BestPath",
    "Lines",
    "MAX_LINES",
    "MAX_VIA",
    "OutletMap",
    "Relationship",
    "TWO_WAY_TIERS",
    "best_per_teammate",
    "by_outlet",
    "choose_sender",
    "day",
    "evidence_figures",
    "rank_key",
    "ranked",
]
