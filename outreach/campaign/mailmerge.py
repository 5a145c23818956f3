"""A mailmerge campaign read as it is: ``mailmerge_template.txt`` and ``mailmerge_database.csv``.

mailmerge (the command-line tool) keeps a campaign as a Jinja2 template whose first lines are the
message's headers, then a blank line and the body::

    TO: {{email}}
    SUBJECT: Our spring report, {{name}}
    FROM: Alex Rivera <alex@brightlane.example>

    Dear {{name}}, ...

and a CSV with an ``email`` column. outreach previews and lints such a folder without rewriting it: the
SUBJECT is the subject template, the rest the text body, the CSV the recipients; the sending mailbox is
the one whose address is the FROM address (matched when the campaign is previewed, see
``outreach preview``), else the FROM address itself. A body that is HTML (``Content-Type: text/html``) is
read as the HTML body. Attachments (``ATTACHMENT:``) are not checked: a warning says so.
"""

from __future__ import annotations

import re
from email.utils import parseaddr
from pathlib import Path

from outreach.campaign.model import Campaign
from outreach.campaign.recipients import display_path, read_recipients_file
from outreach.campaign.render import compiled
from outreach.errors import CampaignError
from outreach.lint.suppressions import inline_suppressions
from outreach.lint.template import TemplateSource

TEMPLATE = "mailmerge_template.txt"
DATABASE = "mailmerge_database.csv"
_HEADER = re.compile(r"^([A-Za-z][A-Za-z-]*):[ \t]*(.*)$")


def is_mailmerge(path: Path) -> bool:
    """Whether ``path`` is a mailmerge template, or a folder with one and no campaign.toml."""
    if path.is_dir():
        return not (path / "campaign.toml").exists() and (path / TEMPLATE).is_file()
    return path.name == TEMPLATE


def _headers(text: str, display: str) -> tuple[dict[str, tuple[str, int]], int]:
    """The template's headers (upper-case name -> (value, line)) and the line its body starts on."""
    headers: dict[str, tuple[str, int]] = {}
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            return headers, number + 1
        found = _HEADER.match(line)
        if found is None:
            if line[:1] in (" ", "\t") and headers:  # a folded header goes on
                continue
            raise CampaignError(f"{display}:{number}: expected a header (TO:, SUBJECT:, FROM: …) or a blank line")
        headers[found.group(1).upper()] = (found.group(2).strip(), number)
    raise CampaignError(f"{display}: no blank line between the headers and the body")


def load_mailmerge(path: Path) -> Campaign:
    """A mailmerge folder (or its template) as a :class:`Campaign`; errors name the file and line."""
    template_path = path / TEMPLATE if path.is_dir() else path
    base = template_path.parent
    display = display_path(template_path)
    try:
        text = template_path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    except FileNotFoundError:
        raise CampaignError(f"{display}: not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignError(f"{display}: cannot read ({exc})") from None
    headers, body_line = _headers(text, display)
    for required in ("TO", "SUBJECT", "FROM"):
        if required not in headers:
            raise CampaignError(f"{display}:1: no {required}: header (mailmerge needs TO, SUBJECT and FROM)")
    subject, subject_line = headers["SUBJECT"]
    sender = parseaddr(headers["FROM"][0])[1].strip().lower()
    if "{{" in headers["FROM"][0] or not sender:
        raise CampaignError(f"{display}:{headers['FROM'][1]}: FROM must be one plain address, the sender's")
    body = text.split("\n", body_line - 1)[-1] if body_line <= text.count("\n") + 1 else ""
    is_html = "text/html" in headers.get("CONTENT-TYPE", ("", 0))[0].lower()
    source = TemplateSource("html" if is_html else "text", display, body, template_path, body_line)
    warnings = [
        f"{display}:{line}: {name}: is not checked by outreach"
        for name, (_value, line) in headers.items()
        if name == "ATTACHMENT"
    ]
    recipients = read_recipients_file(base / DATABASE)
    campaign = Campaign(
        name=base.resolve().name,
        mailbox=sender,
        path=base,
        recipients=recipients.recipients,
        subject=TemplateSource("subject", display, subject, template_path, subject_line),
        text=TemplateSource("text", display, "", template_path, body_line) if is_html else source,
        html=source if is_html else None,
        row_errors=recipients.errors,
        recipients_path=base / DATABASE,
        warnings=warnings,
        columns=recipients.columns,
        delimiter=recipients.delimiter,
    )
    for tpl in campaign.templates:
        campaign.inline_suppressions += inline_suppressions(tpl, campaign.warnings)
    compiled(campaign)
    return campaign


__all__ = ["DATABASE", "TEMPLATE", "is_mailmerge", "load_mailmerge"]
