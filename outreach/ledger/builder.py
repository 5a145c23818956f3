"""Computing one contact's ledgers (team-wide and per mailbox) from its facts: two-way threads, replies,
asks and their fulfilment, the balance with decay, the strength and the tier.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from outreach.ledger.facts import CONTACT_CHUNK, ContactMail, Facts, FactsLoader, MessageFacts
from outreach.ledger.model import (
    TEAM_SCOPE,
    EvidenceLine,
    LastAsk,
    Ledger,
    LedgerPolicy,
    aware,
    decay,
    line_json,
    rate,
)
from outreach.mail.parsing import is_machine_sender


class Event:
    """A message of one contact in one scope: "out" we wrote to them, "in" they wrote to us."""

    __slots__ = ("msg", "direction", "at", "prev_in", "later_in")

    def __init__(self, msg: MessageFacts, direction: str):
        self.msg = msg
        self.direction = direction
        # In the personal exchange of its thread (see LedgerBuilder.build): its position (-1: not part of
        # one), and whether the message before it and any message after it are theirs.
        self.at = -1
        self.prev_in = False
        self.later_in = False


def _event_key(event: Event) -> tuple[float, int]:
    return event.msg.key


def _line_key(line: tuple[Event, str | None]) -> tuple[float, int]:
    return line[0].msg.key


# Figures whose lines are not added in time order (every other figure's are): sorted before the cap.
# They come in pairs (ask + delivery) or mix several kinds, so they keep twice as many lines.
_PAIRED_FIGURES = frozenset(("balance", "their_asks_fulfilled", "our_asks_fulfilled"))


class LedgerBuilder:
    """Computes one ledger from one contact's messages in one scope, as of ``now``: with a date, mail dated
    after it is left out; without one, the ledger is judged as of its latest message (so that a stored
    ledger does not depend on when it was computed: readers judge it as of their own date)."""

    def __init__(
        self, contact: ContactMail, scope: str, events: list[Event], policy: LedgerPolicy, now: datetime | None
    ):
        self.policy = policy
        self.limit = max(1, policy.evidence_limit)
        events.sort(key=_event_key)
        if now is not None:
            events = [e for e in events if e.msg.date is None or e.msg.date <= now]
        else:
            now = max((e.msg.date for e in events if e.msg.date is not None), default=None)
        self.now = now
        self.events = events
        self.ledger = Ledger(
            address=contact.address, scope=scope, name=contact.name, domain=contact.domain, as_of=now
        )
        # figure -> (event, sentence) of its lines, in the order figures first got one
        self.evidence: dict[str, list[tuple[Event, str | None]]] = {}
        # thread id -> the personal exchange with this contact in it, message by message in time order
        self.by_thread: dict[int, list[Event]] = {}

    def add(self, figure: str, event: Event, sentence: str | None = None) -> None:
        lines = self.evidence.get(figure)
        if lines is None:
            self.evidence[figure] = [(event, sentence)]
        else:
            lines.append((event, sentence))

    def decay(self, when: datetime | None, half_life: float) -> float:
        if self.now is None:
            return 0.0
        return decay(self.now, when, half_life)

    def personal(self, event: Event) -> bool:
        """Mail written to them or to us as a person: neither bulk, list nor automated, to few people."""
        msg = event.msg
        return not msg.noisy and msg.recipients <= self.policy.personal_max_recipients

    def build(self) -> Ledger:
        """The figures, balance, strength and tier; the evidence is :meth:`lines` or :meth:`json_lines`."""
        led, limit = self.ledger, self.limit
        sent, received, personal, timeline = self._sort_events()
        led.sent, led.received, led.personal_received = len(sent), len(received), len(personal)
        led.personal_sent = len(timeline) - len(personal)
        led.inferred_sent = sum(1 for e in sent if e.msg.inferred)
        self._dates("sent", sent)
        self._dates("received", received)
        if sent:
            self.evidence["sent"] = [(e, None) for e in sent[-limit:]]
        if received:
            self.evidence["received"] = [(e, None) for e in received[-limit:]]
        replies = self._two_way_threads()
        switches = self._exchanges(timeline)
        dated = sorted(
            {id(e): e for e in (*replies, *switches) if e.msg.date is not None}.values(), key=_event_key
        )
        if dated:
            led.first_two_way, led.last_two_way = dated[0].msg.date, dated[-1].msg.date
            self.add("first_two_way", dated[0])
            self.add("last_two_way", dated[-1])
        self._answers(sent)
        self._signals(sent, personal, received)
        rate(led, self.policy, self.now or datetime.now(UTC))
        return led

    def _sort_events(self) -> tuple[list[Event], list[Event], list[Event], list[Event]]:
        """Our messages, theirs, their personal ones, and personal mail both ways in time order; each
        event of a personal exchange placed in its thread (see :attr:`by_thread`)."""
        by_thread = self.by_thread
        sent: list[Event] = []
        received: list[Event] = []
        personal: list[Event] = []
        timeline: list[Event] = []
        for e in self.events:
            if e.direction == "out":
                sent.append(e)
                if self.personal(e):
                    timeline.append(e)
            elif e.direction == "in":
                received.append(e)
                if not self.personal(e):
                    continue
                personal.append(e)
                timeline.append(e)
            else:
                continue
            tid = e.msg.thread_id
            if tid is not None:
                thread = by_thread.get(tid)
                if thread is None:
                    by_thread[tid] = [e]
                    e.at = 0
                else:
                    e.at = len(thread)
                    e.prev_in = thread[-1].direction == "in"
                    thread.append(e)
        return sent, received, personal, timeline

    def _two_way_threads(self) -> list[Event]:
        """Count the threads where both sides wrote (and their messages); the replies in them, in time order."""
        replies: list[Event] = []
        two_way = exchanged = 0
        for items in self.by_thread.values():
            later_in = False
            for e in reversed(items):
                e.later_in = later_in
                if e.direction == "in":
                    later_in = True
            before = len(replies)
            direction = items[0].direction
            for e in items:
                if e.direction != direction:  # a reply: the other side wrote after this side
                    replies.append(e)
                    direction = e.direction
            if len(replies) > before:  # both sides wrote
                two_way += 1
                exchanged += len(items)
        replies.sort(key=_event_key)
        self.ledger.two_way_threads, self.ledger.two_way_messages = two_way, exchanged
        if replies:
            self.evidence["two_way_threads"] = [(e, None) for e in replies[-self.limit :]]
        return replies

    def _exchanges(self, timeline: list[Event]) -> list[Event]:
        """Count the exchanges: personal mail answering the other side's, in the same thread or not (a reply
        that starts a new conversation still answers); replies within threads are exchanges too."""
        switches: list[Event] = []
        previous = ""
        for e in timeline:
            if previous and e.direction != previous:
                switches.append(e)
            previous = e.direction
        self.ledger.exchanges = len(switches)
        if switches:
            self.evidence["exchanges"] = [(e, None) for e in switches[-self.limit :]]
        return switches

    def _answers(self, sent: list[Event]) -> None:
        """Our messages that wanted an answer (not themselves replies to them) and whether they got one."""
        answered = unanswered = 0
        for e in sent:
            if e.at < 0:
                unanswered += 1
                self.add("unanswered_outbound", e)
            elif e.prev_in:
                continue  # a reply of ours: it answered them, it waits for nothing
            elif e.later_in:
                answered += 1
            else:
                unanswered += 1
                self.add("unanswered_outbound", e)
        self.ledger.unanswered_outbound = unanswered
        self.ledger.reply_rate = round(answered / (answered + unanswered), 3) if answered + unanswered else None

    def _dates(self, what: str, events: list[Event]) -> None:
        dated = [e for e in events if e.msg.date is not None]
        if not dated:
            return
        setattr(self.ledger, f"first_{what}", dated[0].msg.date)
        setattr(self.ledger, f"last_{what}", dated[-1].msg.date)
        self.add(f"first_{what}", dated[0])
        self.add(f"last_{what}", dated[-1])

    def _capped(self) -> Iterator[tuple[str, list[tuple[Event, str | None]]]]:
        """Per figure its most recent lines, oldest first (equal times: in the order they were added)."""
        limit = self.limit
        for figure, lines in self.evidence.items():
            if figure in _PAIRED_FIGURES:
                yield figure, sorted(lines, key=_line_key)[-2 * limit :]
            else:
                yield figure, lines[-limit:]

    def lines(self) -> dict[str, list[EvidenceLine]]:
        return {
            figure: [
                EvidenceLine(e.msg.id, e.msg.date, e.direction, e.msg.subject, s, e.msg.inferred) for e, s in lines
            ]
            for figure, lines in self._capped()
        }

    def json_lines(self) -> dict[str, list[dict[str, Any]]]:
        """:meth:`lines` as :meth:`Ledger.to_json` writes them."""
        return {
            figure: [
                line_json(e.msg.id, e.msg.date_json(), e.direction, e.msg.subject, s, e.msg.inferred)
                for e, s in lines
            ]
            for figure, lines in self._capped()
        }

    def _signals(self, sent: list[Event], personal: list[Event], received: list[Event]) -> None:
        """The figures the signals give (refusals, offers, thanks, asks each way and their fulfilment) and
        the balance they add up to."""
        balance = self._refusals_offers_thanks(sent, personal, received)
        balance += self._their_asks(sent, personal)
        balance += self._our_asks(sent)
        self.ledger.balance = round(balance, 2)

    def _refusals_offers_thanks(self, sent: list[Event], personal: list[Event], received: list[Event]) -> float:
        """Opt-outs and declines, offers and thanks each way; the balance our offers add."""
        led, policy = self.ledger, self.policy
        balance = 0.0
        for e in received:
            msg = e.msg
            if msg.automated or msg.refusal is None:
                continue
            if msg.opt_out is not None:
                led.opt_outs += 1
                self.add("opt_outs", e, msg.opt_out)
            else:
                led.declines += 1
                self.add("declines", e, msg.refusal)
        for e in personal:
            if e.msg.offer is not None:
                led.offers_by_them += 1
                self.add("offers_by_them", e, e.msg.offer)
        for e in personal:
            if e.msg.thanks is not None:
                led.thanks_received += 1
                self.add("thanks_received", e, e.msg.thanks)
        for e in sent:
            msg = e.msg
            if msg.offer is not None:
                led.offers_by_us += 1
                self.add("offers_by_us", e, msg.offer)
                if not msg.noisy:  # a broadcast offer is no favour
                    balance += policy.offer_weight * self.decay(msg.date, policy.balance_half_life_days)
                    self.add("balance", e, msg.offer)
        for e in sent:
            if e.msg.thanks is not None:
                led.thanks_given += 1
                self.add("thanks_given", e, e.msg.thanks)
        return balance

    def _their_asks(self, sent: list[Event], personal: list[Event]) -> float:
        """Their asks and whether a later message of ours in the thread delivered; our unprompted help.
        The balance both add."""
        led, policy = self.ledger, self.policy
        half = policy.balance_half_life_days
        balance = 0.0
        used_as_fulfilment: set[int] = set()
        for e in personal:
            ask = e.msg.ask
            if ask is None:
                continue
            led.asks_by_them += 1
            self.add("asks_by_them", e, ask)
            done = self._fulfilled_by(e, "out")
            if done is not None:
                led.their_asks_fulfilled += 1
                used_as_fulfilment.add(done[0].msg.id)
                self.add("their_asks_fulfilled", e, ask)
                self.add("their_asks_fulfilled", done[0], done[1])
                balance += policy.honoured_weight * self.decay(done[0].msg.date, half)
                self.add("balance", done[0], done[1])
        for e in sent:
            msg = e.msg
            help_given = msg.fulfilment
            if help_given is not None and msg.id not in used_as_fulfilment and not msg.noisy:
                balance += policy.help_weight * self.decay(msg.date, half)
                self.add("balance", e, help_given)
        return balance

    def _our_asks(self, sent: list[Event]) -> float:
        """Our asks: each one costs (the balance it takes), and did they deliver?"""
        led, policy = self.ledger, self.policy
        balance = 0.0
        last_ask: tuple[Event, str] | None = None
        for e in sent:
            msg = e.msg
            first_ask = msg.our_ask
            if first_ask is None:
                continue
            # the clearest ask of the message is its evidence ("Please set up …" over "Let me know if …")
            personal_ask = msg.personal_ask
            shown = personal_ask if personal_ask is not None else first_ask
            led.asks_by_us += 1
            self.add("asks_by_us", e, shown)
            # a generic call to action, or any ask in a broadcast (bulk) message of ours, costs less
            personal_weight = personal_ask is not None and not msg.noisy
            weight = policy.ask_weight if personal_weight else policy.generic_ask_weight
            balance -= weight * self.decay(msg.date, policy.balance_half_life_days)
            self.add("balance", e, shown)
            done = self._fulfilled_by(e, "in")
            if done is not None:
                led.our_asks_fulfilled += 1
                self.add("our_asks_fulfilled", e, shown)
                self.add("our_asks_fulfilled", done[0], done[1])
            if personal_weight:
                # "did they answer our last ask" is asked of personal asks: nobody answers a memo to all staff
                last_ask = (e, shown)
        if last_ask is not None:
            e, shown = last_ask
            led.last_ask_by_us = LastAsk(
                EvidenceLine(e.msg.id, e.msg.date, e.direction, e.msg.subject, shown), e.later_in
            )
        return balance

    def _fulfilled_by(self, ask: Event, side: str) -> tuple[Event, str | None] | None:
        """The first later message of ``side`` in the ask's thread that delivered, with its sentence."""
        if ask.at < 0 or ask.msg.thread_id is None:
            return None
        thread = self.by_thread[ask.msg.thread_id]
        reply_is_enough = ask.msg.reply_enough
        for at in range(ask.at + 1, len(thread)):
            later = thread[at]
            if later.direction != side:
                continue
            found = later.msg.fulfilment
            if found is not None:
                return later, found
            if reply_is_enough and later.msg.refusal is None:
                return later, None
        return None


def contact_ledgers(
    contact: ContactMail, facts: Facts, policy: LedgerPolicy, now: datetime | None, as_json: bool
) -> list[tuple[Ledger, dict[str, Any] | None]]:
    """The team-wide ledger and one per mailbox the contact appears in; with ``as_json`` each with its
    :meth:`Ledger.to_json` (and ledgers without evidence lines: only the JSON has them)."""
    team, per_mailbox = _contact_messages(contact, facts, policy)
    if not team and not per_mailbox:
        return []

    def build(scope: str, found: dict[int, tuple[MessageFacts, str]]) -> tuple[Ledger, dict[str, Any] | None]:
        builder = LedgerBuilder(contact, scope, [Event(m, d) for m, d in found.values()], policy, now)
        ledger = builder.build()
        if not as_json:
            ledger.evidence = builder.lines()
            return ledger, None
        data = ledger.to_json()
        data["evidence"] = builder.json_lines()
        return ledger, data

    team_ledger, team_data = build(TEAM_SCOPE, team)
    ledgers = [(team_ledger, team_data)]
    for mailbox_id, found in sorted(per_mailbox.items()):
        name = facts.mailbox_names.get(mailbox_id)
        if name is None:
            continue
        if found != team:
            ledgers.append(build(name, found))
            continue
        # The same messages in the same directions as team-wide: the same ledger but for the scope.
        copy = replace(team_ledger, scope=name)
        if team_data is None:
            copy.strength_parts = dict(team_ledger.strength_parts)
            copy.evidence = {k: list(v) for k, v in team_ledger.evidence.items()}
            ledgers.append((copy, None))
        else:
            data = dict(team_data)
            data["scope"] = name
            ledgers.append((copy, data))
    return ledgers


def _contact_messages(
    contact: ContactMail, facts: Facts, policy: LedgerPolicy
) -> tuple[dict[int, tuple[MessageFacts, str]], dict[int, dict[int, tuple[MessageFacts, str]]]]:
    """A contact's messages team-wide and per mailbox, keyed by message id (a message of ours seen only
    through their reply: by minus the reply's id).  A message counts when they wrote it to us, or we
    wrote it to them (they are a recipient); a personal reply of theirs quoting the owner also counts as
    the owner's message to them, on the quoted date."""
    machine = is_machine_sender(contact.address)
    messages = facts.messages
    team: dict[int, tuple[MessageFacts, str]] = {}
    per_mailbox: dict[int, dict[int, tuple[MessageFacts, str]]] = {}

    def place(key: int, msg: MessageFacts, counts: str, mailboxes: Iterable[int], team_wide: bool) -> None:
        if team_wide and key not in team:
            team[key] = (msg, counts)
        for mailbox_id in mailboxes:
            found = per_mailbox.get(mailbox_id)
            if found is None:
                per_mailbox[mailbox_id] = found = {}
            if key not in found:
                found[key] = (msg, counts)

    replies: list[tuple[MessageFacts, list[int]]] = []  # their personal replies quoting an owner
    for counts, mids in (("in", contact.wrote), ("out", contact.got)):
        for mid in mids:
            msg = messages.get(mid)
            if msg is None:
                continue
            if counts == "in" and machine:
                msg = msg.as_machine()
            mailboxes = [m for m, direction in msg.locations if direction == counts]
            place(mid, msg, counts, mailboxes, msg.direction == counts)
            if counts == "in" and msg.quotes_owner and not msg.noisy:
                quoting = [m for m in mailboxes if m in msg.quotes_owner]
                if quoting and msg.recipients <= policy.personal_max_recipients:
                    replies.append((msg, quoting))
    for reply, quoting in replies:
        original = reply.quoted_original()
        # only when our copy is not stored: no message of ours to them around the quoted date
        stored = [m for m in quoting if not _ours_near(per_mailbox.get(m, {}), original, reply)]
        place(-reply.id, original, "out", stored, reply.direction == "in" and not _ours_near(team, original, reply))
    return team, per_mailbox


_SAME_MESSAGE = 36 * 3600.0  # a quoted date is a clock time in an unknown zone, or missing: a day and a half


def _ours_near(found: dict[int, tuple[MessageFacts, str]], original: MessageFacts, reply: MessageFacts) -> bool:
    """Whether ``found`` holds a stored message of ours to the contact that may be ``original``: earlier
    than the reply and dated within a day and a half of the quote, or, when the quote gave no date,
    earlier in the reply's thread."""
    when, thread, answered = original.key[0], original.thread_id, reply.key
    for msg, direction in found.values():
        if direction != "out" or msg.inferred or msg.key >= answered:
            continue
        if original.quoted_date is not None:
            if abs(msg.key[0] - when) <= _SAME_MESSAGE:
                return True
        elif thread is not None and msg.thread_id == thread and msg.key < original.key:
            return True
    return False


def computed(
    loader: FactsLoader, ids: Sequence[int], policy: LedgerPolicy, as_json: bool
) -> Iterator[tuple[Sequence[int], dict[int, list[tuple[Ledger, dict[str, Any] | None]]]]]:
    """Per CONTACT_CHUNK of ``ids``, in order: the chunk and the ledgers of its contacts that have any."""
    now = aware(policy.as_of) if policy.as_of is not None else None
    groups = [ids[i : i + CONTACT_CHUNK] for i in range(0, len(ids), CONTACT_CHUNK)]
    for facts, covered in loader.loads(groups):
        for group in covered:
            out: dict[int, list[tuple[Ledger, dict[str, Any] | None]]] = {}
            for cid in group:
                contact = facts.contacts.get(cid)
                if contact is not None:
                    ledgers = contact_ledgers(contact, facts, policy, now, as_json)
                    if ledgers:
                        out[cid] = ledgers
            yield group, out


