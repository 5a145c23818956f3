"""A ledger as text for ``outreach contact``: the verdict, the dates, every figure with its evidence."""

from __future__ import annotations

from outreach.ledger.model import DATE_FIELDS, TEAM_SCOPE, EvidenceLine, Ledger

_FIGURES = (
    ("sent", "sent"),
    ("personal_sent", None),
    ("inferred_sent", None),
    ("received", "received"),
    ("personal_received", None),
    ("exchanges", "exchanges"),
    ("two_way_threads", "two_way_threads"),
    ("unanswered_outbound", "unanswered_outbound"),
    ("reply_rate", None),
    ("asks_by_us", "asks_by_us"),
    ("asks_by_them", "asks_by_them"),
    ("offers_by_us", "offers_by_us"),
    ("offers_by_them", "offers_by_them"),
    ("thanks_received", "thanks_received"),
    ("thanks_given", "thanks_given"),
    ("their_asks_fulfilled", "their_asks_fulfilled"),
    ("our_asks_fulfilled", "our_asks_fulfilled"),
    ("opt_outs", "opt_outs"),
    ("declines", "declines"),
    ("balance", "balance"),
)


def format_ledger(ledger: Ledger) -> list[str]:
    """A ledger as text: the verdict, the dates, then every figure with its dated evidence lines."""
    name = f" ({ledger.name})" if ledger.name else ""
    scope = "whole team" if ledger.scope == TEAM_SCOPE else f"mailbox {ledger.scope}"
    parts = ", ".join(f"{k} {v:g}" for k, v in ledger.strength_parts.items())
    when = f", as of {ledger.as_of.date().isoformat()}" if ledger.as_of else ""
    lines = [
        f"{ledger.address}{name} — {scope}{when}",
        f"  tier {ledger.tier}, strength {ledger.strength}/100" + (f" ({parts})" if parts else ""),
        f"  balance {ledger.balance:+.2f}",
    ]
    for key in DATE_FIELDS:
        if key == "as_of":
            continue
        value = getattr(ledger, key)
        lines.append(f"  {key.replace('_', ' '):<22} {value.date().isoformat() if value else '-'}")
    if ledger.last_ask_by_us is not None:
        last = ledger.last_ask_by_us
        lines.append(f"  last ask by us          {'answered' if last.answered else 'not answered'}")
        lines.append("    " + _evidence_text(last.evidence))
    for figure, evidence_key in _FIGURES:
        value = getattr(ledger, figure)
        shown = "-" if value is None else (f"{value:+.2f}" if figure == "balance" else f"{value:g}")
        lines.append(f"  {figure.replace('_', ' '):<22} {shown}")
        for line in ledger.evidence.get(evidence_key or "", []) if evidence_key else []:
            lines.append("    " + _evidence_text(line))
    return lines


def _evidence_text(line: EvidenceLine) -> str:
    arrow = "->" if line.direction == "out" else "<-"
    when = line.date.date().isoformat() if line.date else "????-??-??"
    text = f"{when} {arrow} {line.subject or '(no subject)'}  #{line.message_id}"
    if line.inferred:
        subject = line.subject or "(no subject)"
        text = f"{when} -> (our message, seen quoted in their reply #{line.message_id}: {subject})"
    if line.sentence:
        sentence = line.sentence if len(line.sentence) <= 160 else line.sentence[:157] + "..."
        text += f'  "{sentence}"'
    return text




def message_ref(line: EvidenceLine) -> str:
    """``#12 2026-10-02 <- Re: the panel``: a message behind a figure or a path, by its id in the store."""
    arrow = "->" if line.direction == "out" else "<-"
    when = line.date.date().isoformat() if line.date else "????-??-??"
    return f"#{line.message_id} {when} {arrow} {line.subject or '(no subject)'}"
