"""The HTML report of a campaign preview: one self-contained file a PR person opens in a browser.

Inline CSS and JS only, no external URL (a Content-Security-Policy forbids loading anything, and only
the report's own script, by hash, may run). Everything that came from mail or a CSV is escaped by
Jinja2's autoescape; each HTML body is shown in a sandboxed ``<iframe srcdoc>`` that runs no script.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from functools import cache
from importlib import resources

from jinja2 import Environment, Template
from markupsafe import Markup

from outreach.campaign.model import VERDICTS, CampaignReport


def _asset(name: str) -> str:
    return (resources.files("outreach.campaign.report") / name).read_text(encoding="utf-8")


@cache
def _template() -> Template:
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(_asset("report.html.j2"))


def render_html(report: CampaignReport, generated: datetime | None = None) -> str:
    """The report as one HTML document."""
    script = _asset("report.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    when = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    return _template().render(
        report=report,
        verdicts=VERDICTS,
        generated=when,
        css=Markup(_asset("report.css")),  # noqa: S704 - our own file
        script=Markup(script),  # noqa: S704 - our own file
        script_hash=f"sha256-{digest}",
    )


__all__ = ["render_html"]
