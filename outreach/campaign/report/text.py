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
from outreach.lint.findings import Finding
from outreach.texttable import cut

COLUMNS = ("address", "tier", "last_two_way", "balance", "verdict", "codes", "reason")
_COLORS = {
    "READY": "green",
    "REVIEW": "yellow",
    "BLOCKED": "red",
    "block": "red",
    "review": "yellow",
    "info": "blue",
}


def _row(r: RecipientReport) -> dict[str, str]:
    return {
        "address": r.address,
        "tier": r.ledger.tier,
        "last_two_way": r.ledger.last_two_way.date().isoformat() if r.ledger.last_two_way else "never",
        "balance": f"{r.ledger.balance:+.1f}",
        "verdict": r.verdict,
        "codes": " ".join(r.codes),
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
    """The preview's table: addresses whole; with ``width`` (a terminal's), reasons cut with … to fit it
    (piped, ``width`` is None: every line whole)."""
    rows = [_row(r) for r in report.recipients]
    headers = {c: c.replace("_", " ") for c in COLUMNS}
    widths = {c: max([len(headers[c])] + [len(row[c]) for row in rows]) for c in COLUMNS[:-1]}
    if width is not None:
        room = max(width - sum(widths.values()) - 2 * (len(COLUMNS) - 1), 20)
        for row in rows:
            row["reason"] = cut(row["reason"], room)
    out = []
    # each cell cut and padded to its column's width ("{tier:<12.12}"); the verdict cell, which may be
    # styled, is made once for each verdict
    template = "  ".join(
        "{verdict}" if c == "verdict" else f"{{{c}:<{widths[c]}.{widths[c]}}}" for c in COLUMNS[:-1]
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
    out.append(
        f"campaign {report.campaign.name} (mailbox {report.campaign.mailbox}): "
        f"{len(report.recipients)} recipient(s): {counts}"
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
    return csvsafe.csv_text((_row(r) for r in report.recipients), COLUMNS)


def json_text(report: CampaignReport) -> str:
    return json.dumps(report.to_json(), indent=2, default=str, ensure_ascii=False) + "\n"


def show_text(report: CampaignReport, address: str) -> tuple[str, RecipientReport]:
    """One recipient's rendered message with its findings and evidence (``preview --show``)."""
    r = report.recipient(address)
    if r is None:
        raise UsageError(f"{address}: not a recipient of campaign {report.campaign.name}")
    out = [
        f"{r.address} (line {r.line}): {click.style(r.verdict, fg=_COLORS[r.verdict], bold=True)}",
        f"  tier {r.ledger.tier}, last two-way "
        f"{r.ledger.last_two_way.date().isoformat() if r.ledger.last_two_way else 'never'}, "
        f"balance {r.ledger.balance:+.1f}, strength {r.ledger.strength}",
    ]
    out += _finding_lines(r.findings) if r.findings else ["  no findings"]
    for s in r.suppressed:
        out.append(f"  suppressed {s.finding.code} {s.finding.name} by {s.source}: {s.reason}")
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


def lint_lines(findings: Sequence[Finding]) -> list[str]:
    """``file:line: CODE message`` lines, as editors and pre-commit expect."""
    return [f"{f.location or '-'}: {f.code} [{f.severity}] {f.message}" for f in findings]


__all__ = ["csv_text", "json_text", "lint_lines", "show_text", "table_text"]
