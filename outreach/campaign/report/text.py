"""Text, CSV and JSON views of a :class:`CampaignReport` for ``outreach preview``, and the lines of
``outreach lint``.

Plain formatted text rather than a rich table: a 10,000-row preview prints in a blink.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from outreach import csvsafe
from outreach.campaign.model import VERDICTS, CampaignReport, RecipientReport
from outreach.errors import UsageError
from outreach.ledger.paths import BestPath, Lines
from outreach.ledger.text import message_ref
from outreach.lint.findings import Finding
from outreach.texttable import cut

COLUMNS = ("address", "tier", "last_two_way", "balance", "verdict", "codes", "best_path", "reason")
# the table's columns with sender = "best": the mailbox each recipient is judged and sent from, after the verdict
BEST_COLUMNS = ("address", "tier", "last_two_way", "balance", "verdict", "sender", "codes", "best_path", "reason")
# CSV carries every column
CSV_COLUMNS = (
    "address", "tier", "strength", "last_two_way", "balance", "verdict", "sender", "codes", "best_path", "reason"
)
_COLORS = {
    "READY": "green",
    "REVIEW": "yellow",
    "BLOCKED": "red",
    "block": "red",
    "review": "yellow",
    "info": "blue",
}


def _row(r: RecipientReport, mailbox: str) -> dict[str, str]:
    return {
        "address": r.address,
        "tier": r.ledger.tier,
        "strength": str(r.ledger.strength),
        "last_two_way": r.ledger.last_two_way.date().isoformat() if r.ledger.last_two_way else "never",
        "balance": f"{r.ledger.balance:+.1f}",
        "verdict": r.verdict,
        "sender": r.sender or mailbox,
        "codes": " ".join(r.codes),
        "best_path": r.path.summary() if r.path is not None else "",
        "reason": r.reason,
    }


def _finding_lines(findings: Sequence[Finding], indent: str = "  ", evidence: bool = True) -> list[str]:
    lines = []
    for f in findings:
        where = f" ({f.location})" if f.location and f.code.startswith("T") and f.location not in f.message else ""
        lines.append(
            f"{indent}{click.style(f.severity.upper(), fg=_COLORS[f.severity])} {f.code} {f.name}: "
            f"{f.message}{where}"
        )
        if evidence:
            lines += [f"{indent}    - {e.text}" for e in f.evidence]
    return lines


def table_text(report: CampaignReport, color: bool = True, width: int | None = None) -> str:
    """The preview's table: addresses whole, best paths cut at 44 characters; with ``width`` (a
    terminal's), reasons cut with … to fit it (piped, ``width`` is None: every line whole)."""
    mailbox = report.campaign.mailbox
    rows = [_row(r, mailbox) for r in report.recipients]
    columns = BEST_COLUMNS if report.campaign.best_sender else COLUMNS
    headers = {c: c.replace("_", " ") for c in columns}
    widths = {c: max([len(headers[c])] + [len(row[c]) for row in rows]) for c in columns[:-1]}
    widths["best_path"] = min(widths["best_path"], 44)
    if width is not None:
        room = max(width - sum(widths.values()) - 2 * (len(columns) - 1), 20)
        for row in rows:
            row["reason"] = cut(row["reason"], room)
    out = []
    # each cell cut and padded to its column's width ("{tier:<12.12}"); the verdict cell, which may be
    # styled, is made once for each verdict
    template = "  ".join(
        "{verdict}" if c == "verdict" else f"{{{c}:<{widths[c]}.{widths[c]}}}" for c in columns[:-1]
    )
    template += "  {reason}"
    verdict_cells: dict[str, str] = {}

    def line(values: dict[str, str], styled: bool) -> str:
        verdict = values["verdict"]
        cell = verdict_cells.get(verdict) if styled else None
        if cell is None:
            cell = verdict[: widths["verdict"]].ljust(widths["verdict"])
            if styled and color:
                cell = click.style(cell, fg=_COLORS.get(verdict), bold=True)
            if styled:
                verdict_cells[verdict] = cell
        return template.format_map({**values, "verdict": cell}).rstrip()

    out.append(line(headers, False))
    out += [line(row, True) for row in rows]
    out.append("")
    counts = ", ".join(f"{report.counts.get(v, 0)} {v}" for v in VERDICTS)
    sender = "each from the teammate who knows them best, else " if report.campaign.best_sender else ""
    when = f", judged as of {report.as_of.date().isoformat()}" if report.as_of else ""
    out.append(
        f"campaign {report.campaign.name} (mailbox {sender}{mailbox}): "
        f"{len(report.recipients)} recipient(s): {counts}{when}"
    )
    if report.campaign_findings:
        out.append("campaign findings:")
        out += _finding_lines(report.campaign_findings)
    if report.row_errors:
        out.append(f"{len(report.row_errors)} bad row(s) left out:")
        out += [f"  {e}" for e in report.row_errors]
    return "\n".join(out) + "\n"


def csv_text(report: CampaignReport) -> str:
    """The table as CSV; cells that a spreadsheet would run as formulas get a quote in front (csvsafe)."""
    mailbox = report.campaign.mailbox
    return csvsafe.csv_text((_row(r, mailbox) for r in report.recipients), CSV_COLUMNS)


def json_text(report: CampaignReport) -> str:
    return json.dumps(report.to_json(), indent=2, default=str, ensure_ascii=False) + "\n"


def show_text(report: CampaignReport, address: str) -> tuple[str, RecipientReport]:
    """One recipient's rendered message with its findings and evidence (``preview --show``)."""
    r = report.recipient(address)
    if r is None:
        raise UsageError(f"{address}: not a recipient of campaign {report.campaign.name}")
    judged = f" (judged from mailbox {r.sender}, who sends it)" if r.sender else ""
    out = [
        f"{r.address} (line {r.line}): {click.style(r.verdict, fg=_COLORS[r.verdict], bold=True)}{judged}",
        f"  tier {r.ledger.tier}, last two-way "
        f"{r.ledger.last_two_way.date().isoformat() if r.ledger.last_two_way else 'never'}, "
        f"balance {r.ledger.balance:+.1f}, strength {r.ledger.strength}",
    ]
    out += _finding_lines(r.findings) if r.findings else ["  no findings"]
    if r.advice:
        out.append(f"  advice: {r.advice}")
    if r.positive:
        out.append("  why we may ask:")
        out += [f"    - {e.text}" for e in r.positive]
    for s in r.suppressed:
        by = "".join(
            [f" (by {s.author}" if s.author else "", f", expires {s.expires.isoformat()}" if s.expires else "",
             ")" if s.author else ""]
        )
        out.append(f"  allowed {s.finding.code} {s.finding.name} ({s.source}{by}): {s.reason}")
    if r.path is not None:
        out += path_lines(r.path, report.path_lines)
    out.append("")
    if r.rendered is None:
        out.append("(the message could not be rendered for this recipient)")
    else:
        out += [f"Subject: {r.rendered.subject}", f"To: {r.address}"]
        headers = report.campaign.unsubscribe.headers(r.address)
        out += [f"{k}: {v}" for k, v in headers.items()]
        out += ["", r.rendered.text.rstrip("\n")]
        if r.rendered.html is not None:
            out += ["", "--- HTML body ---", r.rendered.html.rstrip("\n")]
    return "\n".join(out) + "\n", r


def path_lines(path: BestPath, lines: Lines | None) -> list[str]:
    """The best path of one recipient, with the messages behind each relationship (``#id date`` as
    ``outreach contact`` shows them)."""
    out = [f"  best path: {path.summary()}"]
    for relationship in path.shown:
        how = "knows them" if relationship in path.direct else f"knows {relationship.address}"
        out.append(f"    {relationship.mailbox} {how}: {relationship.describe()}")
        out += [f"      {message_ref(line)}" for line in (lines(relationship) if lines is not None else ())]
    return out


def lint_lines(findings: Sequence[Finding]) -> list[str]:
    """``file:line: CODE message`` lines, as editors and pre-commit expect."""
    return [f"{f.location or '-'}: {f.code} [{f.severity}] {f.message}" for f in findings]


__all__ = ["csv_text", "json_text", "lint_lines", "path_lines", "show_text", "table_text"]
