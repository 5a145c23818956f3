"""The HTML reports: one self-contained page a PR person opens in a browser.

- :func:`render_html`: a campaign preview — a summary first (counts by verdict and tier, a chart of the
  recipients' relationship strength), then every recipient with its verdict, best path, reason, allow-list
  exceptions and, on demand, the evidence (the messages behind each figure and path) and the message;
- :func:`render_map`: the team's relationship map (``outreach contacts --format html``) — by outlet, who on
  the team holds each relationship, its tier and strength, with the messages behind it.

Both share one stylesheet and one script (sorting, filters, search). Inline CSS and JS only, no external
URL, no font (a Content-Security-Policy forbids loading anything, and only the page's own script, by hash,
may run); the chart is inline SVG. Everything that came from mail, a CSV or the store is escaped by
Jinja2's autoescape; each HTML body is shown in a sandboxed ``<iframe srcdoc>`` that runs no script.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, FunctionLoader, Template
from markupsafe import Markup

from outreach.campaign.model import VERDICTS, CampaignReport
from outreach.campaign.report.summary import shares, strength_chart, summarise
from outreach.ledger import TIERS
from outreach.ledger.paths import Lines, OutletMap


def _asset(name: str) -> str:
    return (resources.files("outreach.campaign.report") / name).read_text(encoding="utf-8")


@cache
def _template(name: str) -> Template:
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True, loader=FunctionLoader(_asset))
    return env.get_template(name)


def _page(name: str, generated: datetime | None, **context: Any) -> str:
    script = _asset("report.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return _template(name).render(
        generated=(generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        css=Markup(_asset("report.css")),  # noqa: S704 - our own file
        script=Markup(script),  # noqa: S704 - our own file
        script_hash=f"sha256-{digest}",
        verdicts=VERDICTS,
        tiers=TIERS,
        **context,
    )


def render_html(report: CampaignReport, generated: datetime | None = None) -> str:
    """The campaign preview as one HTML document."""
    return _page("report.html.j2", generated, report=report, summary=summarise(report))


def render_map(
    outlets: Sequence[OutletMap], lines: Lines, as_of: datetime, generated: datetime | None = None
) -> str:
    """The team's relationship map as one HTML document: ``outlets`` (see
    :func:`~outreach.ledger.paths.by_outlet`), ``lines`` the messages behind each relationship."""
    relationships = [r for outlet in outlets for r in outlet.relationships]
    tiers: dict[str, int] = {}
    holders: dict[str, int] = {}
    for r in relationships:
        tiers[r.tier] = tiers.get(r.tier, 0) + 1
        holders[r.mailbox] = holders.get(r.mailbox, 0) + 1
    return _page(
        "team_map.html.j2",
        generated,
        outlets=outlets,
        lines=lines,
        as_of=as_of,
        people=len({r.address for r in relationships}),
        relationships=relationships,
        tier_shares=shares(tiers, [t for t in TIERS if t != "none"]),
        holder_shares=shares(holders, sorted(holders, key=lambda m: (-holders[m], m))),
        chart=strength_chart([(r.strength, "member") for r in relationships], ("member",)),
    )


__all__ = ["render_html", "render_map"]
