"""The relationship ledger of a contact as data: its figures, evidence lines and the policy that turns
figures into a balance, a strength and a tier.  No store access here (see :mod:`outreach.ledger.store`).

Contract (shared by the ledger code that writes it and the campaign code that reads it): one
:class:`Ledger` per (contact, scope), scope ``"*"`` for the whole team or a mailbox name, stored in the
``contact_ledger`` table with every figure and its evidence in ``data`` (see :meth:`Ledger.to_json`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

from outreach.errors import ConfigError

TEAM_SCOPE = "*"
#: Weakest first.  ``one-way``: we wrote, they never wrote to us personally; ``inbound``: they write to us
#: personally, we never wrote back; from ``acquaintance`` on, personal mail went both ways.
TIERS = ("none", "one-way", "inbound", "acquaintance", "warm", "strong")
#: The JSON layout of a stored ledger.  Version 2 has an as-of date and the figures a reader needs to judge
#: the ledger again as of another date (see :func:`judge`); a version 1 ledger is read as it was stored.
LEDGER_VERSION = 2


@dataclass(frozen=True, slots=True)
class EvidenceLine:
    """A message behind a figure, with the sentence that produced the signal when there is one."""

    message_id: int
    date: datetime | None
    direction: str  # "out" | "in"
    subject: str
    sentence: str | None = None
    # an outbound message of ours we never stored, seen quoted in their reply ``message_id`` (dated as quoted)
    inferred: bool = False

    def to_json(self) -> dict[str, Any]:
        return line_json(
            self.message_id,
            self.date.isoformat() if self.date else None,
            self.direction,
            self.subject,
            self.sentence,
            self.inferred,
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvidenceLine:
        return cls(
            message_id=int(data["message_id"]),
            date=parse_date(data.get("date")),
            direction=str(data.get("direction", "")),
            subject=str(data.get("subject", "")),
            sentence=data.get("sentence"),
            inferred=bool(data.get("inferred", False)),
        )


def line_json(
    message_id: int, date: str | None, direction: str, subject: str, sentence: str | None, inferred: bool = False
) -> dict[str, Any]:
    """The JSON of an evidence line (``date`` in ISO format): :meth:`EvidenceLine.to_json`."""
    data = {"message_id": message_id, "date": date, "direction": direction, "subject": subject, "sentence": sentence}
    if inferred:
        data["inferred"] = True
    return data


@dataclass(frozen=True, slots=True)
class LastAsk:
    """Our most recent ask to this contact and whether they answered it."""

    evidence: EvidenceLine
    answered: bool


DATE_FIELDS = (
    "first_sent",
    "last_sent",
    "first_received",
    "last_received",
    "first_two_way",
    "last_two_way",
    "as_of",
)


@dataclass(slots=True)
class Ledger:
    address: str
    scope: str = TEAM_SCOPE
    name: str | None = None
    domain: str = ""
    first_sent: datetime | None = None
    last_sent: datetime | None = None
    first_received: datetime | None = None
    last_received: datetime | None = None
    first_two_way: datetime | None = None
    last_two_way: datetime | None = None
    sent: int = 0
    personal_sent: int = 0  # ours to them, neither bulk nor to many people (inferred ones included)
    inferred_sent: int = 0  # ours we never stored, seen quoted in their personal replies
    received: int = 0
    personal_received: int = 0  # theirs to us, neither bulk, list, automated nor to many people
    two_way_threads: int = 0
    two_way_messages: int = 0  # the messages of those threads
    exchanges: int = 0  # personal messages answering one from the other side, in any conversation
    unanswered_outbound: int = 0
    reply_rate: float | None = None
    asks_by_us: int = 0
    asks_by_them: int = 0
    offers_by_us: int = 0
    offers_by_them: int = 0
    thanks_received: int = 0
    thanks_given: int = 0
    their_asks_fulfilled: int = 0  # their asks we delivered on
    our_asks_fulfilled: int = 0  # our asks they delivered on
    opt_outs: int = 0
    declines: int = 0  # "not interested", "I'll have to decline": a no to one ask, not to all mail
    balance: float = 0.0  # help given and their asks honoured minus our asks, time-decayed
    strength: int = 0  # 0-100
    strength_parts: dict[str, float] = field(default_factory=dict)  # recency, frequency, two_way, reciprocity
    tier: str = "none"
    last_ask_by_us: LastAsk | None = None
    # figure name (e.g. "asks_by_us", "opt_outs", "two_way_threads") -> the messages behind it
    evidence: dict[str, list[EvidenceLine]] = field(default_factory=dict)
    as_of: datetime | None = None  # the date balance, strength and tier are judged as of (see judge)
    version: int = LEDGER_VERSION

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in DATE_FIELDS:
                data[f.name] = value.isoformat() if value else None
            elif f.name == "evidence":
                data[f.name] = {k: [e.to_json() for e in v] for k, v in value.items()}
            elif f.name == "last_ask_by_us":
                data[f.name] = (
                    None if value is None else {**value.evidence.to_json(), "answered": value.answered}
                )
            else:
                data[f.name] = value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ledger:
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        kwargs["version"] = int(data.get("version", 1))
        for key in DATE_FIELDS:
            kwargs[key] = parse_date(data.get(key))
        kwargs["evidence"] = {
            k: [EvidenceLine.from_json(e) for e in v] for k, v in (data.get("evidence") or {}).items()
        }
        last = data.get("last_ask_by_us")
        kwargs["last_ask_by_us"] = (
            None if not last else LastAsk(EvidenceLine.from_json(last), bool(last.get("answered")))
        )
        kwargs["strength_parts"] = dict(data.get("strength_parts") or {})
        return cls(**kwargs)

    @classmethod
    def unknown(cls, address: str, scope: str = TEAM_SCOPE) -> Ledger:
        """The ledger of an address we never exchanged mail with: tier ``none``."""
        return cls(address=address.lower(), scope=scope, domain=address.rpartition("@")[2].lower())


def parse_date(value: object) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


@dataclass(frozen=True, slots=True)
class LedgerPolicy:
    """How figures become a balance, a strength and a tier: the ``[ledger]`` table of the config file.

    Defaults (documented in the README too):

    * balance: each of our asks -1 (a generic call to action, a mass ask or any ask in a bulk message of
      ours -0.5), each of their asks we fulfilled +1, each unprompted fulfilment of ours (attachment,
      intro, "as promised") +1, each offer of help by us +0.5 — fulfilments and offers in our bulk
      messages count nothing (a broadcast is no favour); every item decays with a half-life of
      ``balance_half_life_days`` = 365.
    * personal mail: neither bulk, list nor automated, and to at most ``personal_max_recipients`` = 10
      people; ours includes the messages of ours we only know from their replies quoting them.
    * strength (0-100) = recency (25: half-life ``recency_half_life_days`` = 180 days since the last
      two-way exchange) + frequency (20: messages in two-way threads, full at 40) + two_way (40:
      two-way threads, full at 10; personal mail both ways without a shared thread counts as one) +
      reciprocity (15: positive balance, full at 3).
    * tier: ``none`` no personal mail either way (nothing, or only bulk/automated mail from them);
      ``one-way`` we wrote, they never wrote to us personally; ``inbound`` they write to us personally,
      we never wrote to them personally; ``acquaintance`` personal mail both ways (at least
      ``acquaintance_min_two_way`` = 1 exchange: a message answering one from the other side, in the
      same thread or not); ``warm`` strength >= 40 and >= 2 two-way threads; ``strong`` strength >= 70
      and >= 5 two-way threads.
    * a ledger is judged as of a date (``as_of``; stored ledgers as of their latest message, read ones
      as of the reader's date, see :func:`judge`): recency and the balance decay to that date.
    * ``last_ask_by_us`` is our latest personal ask in a message that is not bulk.
    * an ask counts as fulfilled by a later message of the other side in the same thread that
      carries a fulfilment signal, or — for asks of a subtype in ``reply_fulfils`` (reply,
      information, review, meet) — by any later personal reply that is not a decline.
    """

    balance_half_life_days: float = 365.0
    recency_half_life_days: float = 180.0
    ask_weight: float = 1.0
    generic_ask_weight: float = 0.5
    help_weight: float = 1.0
    honoured_weight: float = 1.0
    offer_weight: float = 0.5
    recency_points: float = 25.0
    frequency_points: float = 20.0
    two_way_points: float = 40.0
    reciprocity_points: float = 15.0
    frequency_saturation: int = 40
    two_way_saturation: int = 10
    reciprocity_saturation: float = 3.0
    acquaintance_min_two_way: int = 1
    warm_min_strength: int = 40
    warm_min_two_way: int = 2
    strong_min_strength: int = 70
    strong_min_two_way: int = 5
    personal_max_recipients: int = 10
    reply_fulfils: tuple[str, ...] = ("reply", "information", "review", "meet")
    evidence_limit: int = 10
    as_of: datetime | None = None  # the date ledgers are judged as of (later mail left out); None: see judge

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], origin: str = "[ledger]") -> LedgerPolicy:
        """A policy from a config table; unknown keys and wrong types are errors naming the key."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in data.items():
            name = key.replace("-", "_")
            if name not in known:
                raise ConfigError(f"{origin}: unknown key {key!r} (known: {', '.join(sorted(known))})")
            default = getattr(cls(), name)
            try:
                if name == "as_of":
                    values[name] = aware(
                        raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
                    )
                elif name == "reply_fulfils":
                    if isinstance(raw, str) or not isinstance(raw, Sequence):
                        raise TypeError("a list of ask subtypes")
                    values[name] = tuple(str(v) for v in raw)
                elif isinstance(default, bool) or isinstance(raw, bool):
                    raise TypeError("a number")
                elif isinstance(default, int):
                    if isinstance(raw, float) and not raw.is_integer():
                        raise TypeError("a whole number")
                    values[name] = int(raw)
                else:
                    values[name] = float(raw)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{origin}: {key} = {raw!r} is not valid ({exc})") from exc
        policy = cls(**values)
        if policy.balance_half_life_days <= 0 or policy.recency_half_life_days <= 0:
            raise ConfigError(f"{origin}: half-lives must be positive")
        if not 0 <= policy.warm_min_strength <= policy.strong_min_strength <= 100:
            raise ConfigError(f"{origin}: need 0 <= warm_min_strength <= strong_min_strength <= 100")
        return policy

    def now(self) -> datetime:
        return self.as_of or datetime.now(UTC)


def aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# =============================================================================================== judging


def decay(now: datetime, then: datetime | None, half_life_days: float) -> float:
    """The weight at ``now`` of something dated ``then`` (1 when new, 0.5 after one half-life)."""
    if then is None:
        return 0.0
    age = max(0.0, (now - aware(then)).total_seconds() / 86400.0)
    return float(0.5 ** (age / half_life_days))


def saturate(count: int, full_at: int) -> float:
    """0 for none, 1 from ``full_at`` on, logarithmic in between (the first exchanges count most)."""
    if count <= 0:
        return 0.0
    return min(1.0, math.log1p(count) / math.log1p(max(1, full_at)))


class Figures(NamedTuple):
    """What a ledger's strength and tier are computed from (see :func:`standing`)."""

    personal_sent: int
    personal_received: int
    sent: int
    exchanges: int
    two_way_threads: int
    two_way_messages: int
    balance: float  # as of the date the standing is computed for
    last_two_way: datetime | None


class Standing(NamedTuple):
    """A ledger's strength (with its parts) and tier as of a date."""

    strength: int
    parts: dict[str, float]
    tier: str


def figures_of(ledger: Ledger) -> Figures:
    return Figures(
        ledger.personal_sent,
        ledger.personal_received,
        ledger.sent,
        ledger.exchanges,
        ledger.two_way_threads,
        ledger.two_way_messages,
        ledger.balance,
        ledger.last_two_way,
    )


def standing(f: Figures, policy: LedgerPolicy, now: datetime) -> Standing:
    """The strength, its parts and the tier of figures whose balance is already as of ``now``."""
    both_ways = f.personal_sent > 0 and f.personal_received > 0
    recency = 0.0
    if f.last_two_way is not None:
        recency = policy.recency_points * decay(now, f.last_two_way, policy.recency_half_life_days)
    frequency = policy.frequency_points * saturate(f.two_way_messages, policy.frequency_saturation)
    conversations = max(f.two_way_threads, 1 if both_ways else 0)
    two_way = policy.two_way_points * saturate(conversations, policy.two_way_saturation)
    reciprocity = 0.0
    if policy.reciprocity_saturation > 0:
        reciprocity = policy.reciprocity_points * min(1.0, max(0.0, f.balance) / policy.reciprocity_saturation)
    parts = {
        "recency": round(recency, 1),
        "frequency": round(frequency, 1),
        "two_way": round(two_way, 1),
        "reciprocity": round(reciprocity, 1),
    }
    # from the parts as shown, so that they add up to it
    strength = max(0, min(100, round(sum(parts.values()))))
    return Standing(strength, parts, tier_for(f, strength, policy))


def rate(ledger: Ledger, policy: LedgerPolicy, now: datetime) -> None:
    """Set the strength, its parts and the tier of ``ledger`` (whose balance is already as of ``now``)."""
    ledger.strength, ledger.strength_parts, ledger.tier = standing(figures_of(ledger), policy, now)


def tier_for(f: Figures, strength: int, policy: LedgerPolicy) -> str:
    """The tier of figures and their strength (see :class:`LedgerPolicy`)."""
    if f.personal_received == 0:
        return "one-way" if f.sent > 0 else "none"
    if f.personal_sent == 0:
        return "inbound"
    if f.exchanges < max(1, policy.acquaintance_min_two_way):
        return "one-way"
    if strength >= policy.strong_min_strength and f.two_way_threads >= policy.strong_min_two_way:
        return "strong"
    if strength >= policy.warm_min_strength and f.two_way_threads >= policy.warm_min_two_way:
        return "warm"
    return "acquaintance"


def tier_of(ledger: Ledger, policy: LedgerPolicy) -> str:
    """The tier of a ledger's figures and strength (see :class:`LedgerPolicy`)."""
    return tier_for(figures_of(ledger), ledger.strength, policy)


def decayed_balance(balance: float, as_of: datetime, policy: LedgerPolicy, when: datetime) -> float:
    """A balance computed as of ``as_of``, decayed to ``when``."""
    return round(balance * decay(aware(when), as_of, policy.balance_half_life_days), 2)


def judge(ledger: Ledger, policy: LedgerPolicy, when: datetime) -> Ledger:
    """``ledger`` as of ``when``: its balance decayed from its own as-of date, recency from its last two-way
    exchange, strength and tier again; figures and evidence as they are.  A ledger judged as of a later date
    than ``when`` counts mail ``when`` had not seen yet: the caller computes that one from the facts (see
    :func:`needs_facts`).  A ledger without an as-of date (a version 1 ledger, or one made by hand) comes
    back unchanged: its tier is what it says."""
    if ledger.version < 2 or ledger.as_of is None:
        return ledger
    when = aware(when)
    judged = replace(ledger, as_of=when)
    judged.balance = decayed_balance(ledger.balance, ledger.as_of, policy, when)
    rate(judged, policy, when)
    return judged


def needs_facts(ledger: Ledger, when: datetime) -> bool:
    """Whether ``ledger`` cannot be judged as of ``when`` from its figures: it already counts later mail."""
    return ledger.version >= 2 and ledger.as_of is not None and aware(when) < aware(ledger.as_of)
