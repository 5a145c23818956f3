"""Loading a campaign: ``campaign.toml``, its templates, the recipients CSV and the allow file.

campaign.toml::

    name = "spring-report"
    mailbox = "alex"                 # the sending mailbox (its name in the store)
    sender = "best"                  # optional: each recipient judged and sent from the teammate's mailbox
                                     # that knows them best (among those with a [send.NAME] table)
    recipients = "recipients.csv"    # default; an `email` column plus any fields (mailmerge's CSV works)
    allow = "allow.toml"             # optional: per-recipient suppressions (TOML or CSV)

    [template]                       # files next to campaign.toml, or under a `templates/` folder
    subject = "Our spring report, {{ first_name }}"
    text = "body.txt.j2"
    html = "body.html.j2"            # optional

    [policy]                         # optional: select/ignore and rule windows (see Policy)
    ignore = ["R003"]
    stale_days = 540

    [unsubscribe]                    # RFC 8058 List-Unsubscribe(-Post) for bulk campaigns
    mailto = "unsubscribe@example.org"
    url = "https://example.org/unsubscribe?u={email}"

    [smtp]                           # optional: how `outreach send` sends it (see SmtpTable); options and
    host = "smtp.example.org"        # the config's [send.MAILBOX] and [send] fill in the rest
    from = "alex@example.org"
    rate_per_minute = 10

Bad recipient rows are reported one by one (file and line) and left out; the good rows are kept.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal

from outreach.campaign.mailmerge import is_mailmerge, load_mailmerge
from outreach.campaign.model import SENDERS, Campaign, SmtpTable, Unsubscribe
from outreach.campaign.recipients import (
    display_path,
    parse_rows,
    read_recipients,
    read_recipients_file,
    sniff_delimiter,
    valid_address,
)
from outreach.campaign.render import compiled
from outreach.csvsafe import formula_like
from outreach.errors import CampaignError, ConfigError
from outreach.lint.policy import Policy
from outreach.lint.suppressions import AllowEntry, inline_suppressions, overridable, rule_codes
from outreach.lint.template import TemplateSource

REPO_TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates"

_TOP_KEYS = {
    "name",
    "mailbox",
    "sender",
    "recipients",
    "allow",
    "template",
    "policy",
    "unsubscribe",
    "smtp",
    "subject",
    "text",
    "html",
}

# ------------------------------------------------------------------------------------------ allow file


def _allow_entry(data: Mapping[str, Any], where: str, today: date, warnings: list[str]) -> AllowEntry | None:
    unknown = set(data) - {"address", "codes", "reason", "author", "expires"}
    if unknown:
        raise CampaignError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    address = str(data.get("address") or "").strip().lower()
    if not address or not (valid_address(address) or valid_address("x" + address)):
        raise CampaignError(f"{where}: 'address' must be an email address or @domain")
    codes = rule_codes(data.get("codes"), where)
    reason = str(data.get("reason") or "").strip()
    if not reason:
        raise CampaignError(
            f"{where}: suppression of {', '.join(codes)} for {address} has no reason "
            '(say why, e.g. reason = "introduced by X at event Y")'
        )
    expires_raw = data.get("expires")
    expires: date | None = None
    if isinstance(expires_raw, date):
        expires = expires_raw
    elif expires_raw not in (None, ""):
        try:
            expires = date.fromisoformat(str(expires_raw).strip())
        except ValueError:
            raise CampaignError(f"{where}: expires must be a date (YYYY-MM-DD)") from None
    if expires is not None and expires < today:
        warnings.append(f"{where}: allow entry for {address} expired on {expires.isoformat()}; ignored")
        return None
    codes = overridable(codes, where, warnings)
    if not codes:
        return None
    author = str(data.get("author") or "").strip() or None
    return AllowEntry(address, codes, reason, where, author, expires)


def read_allow(path: Path, today: date | None = None) -> tuple[list[AllowEntry], list[str]]:
    """The entries of an allow file: TOML ``[[allow]]`` tables, or CSV address,codes,reason,author,expires."""
    today = today or date.today()
    display = display_path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CampaignError(f"{display}: allow file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignError(f"{display}: cannot read ({exc})") from None
    warnings: list[str] = []
    entries: list[AllowEntry] = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if not reader.fieldnames or "address" not in [f.strip().lower() for f in reader.fieldnames]:
            raise CampaignError(f"{display}:1: needs columns address,codes,reason[,author,expires]")
        last = reader.line_num
        for row in reader:
            line = last + 1
            last = reader.line_num
            clean = {str(k).strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
            if not any(clean.values()):
                continue
            entry = _allow_entry(clean, f"{display}:{line}", today, warnings)
            if entry:
                entries.append(entry)
        return entries, warnings
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CampaignError(f"{display}: {exc}") from None
    tables = data.get("allow", [])
    if set(data) - {"allow"} or not isinstance(tables, list):
        raise CampaignError(f"{display}: expected only [[allow]] tables")
    lines = [i + 1 for i, ln in enumerate(text.splitlines()) if re.match(r"^\s*\[\[\s*allow\s*\]\]", ln)]
    for index, table in enumerate(tables):
        where = f"{display}:{lines[index]}" if len(lines) == len(tables) else f"{display}: allow #{index + 1}"
        if not isinstance(table, dict):
            raise CampaignError(f"{where}: each [[allow]] entry must be a table")
        entry = _allow_entry(table, where, today, warnings)
        if entry:
            entries.append(entry)
    return entries, warnings


# ------------------------------------------------------------------------------------------ templates


def _find_template(base: Path, name: str, where: str) -> Path:
    candidate = Path(name)
    if candidate.is_absolute():
        if candidate.is_file():
            return candidate
        raise CampaignError(f"{where}: template {name} not found")
    tried = [base / candidate]
    tried += [parent / "templates" / candidate for parent in (base, *base.parents)]
    tried.append(REPO_TEMPLATES / candidate)
    for path in tried:
        if path.is_file():
            return path
    raise CampaignError(
        f"{where}: template {name!r} not found next to the campaign or under a templates/ folder"
    )


def _read_template(kind: Literal["text", "html"], path: Path) -> TemplateSource:
    display = display_path(path)
    try:
        return TemplateSource(kind, display, path.read_text(encoding="utf-8"), path)
    except UnicodeDecodeError:
        raise CampaignError(f"{display}: not UTF-8 text") from None
    except OSError as exc:
        raise CampaignError(f"{display}: cannot read ({exc.strerror})") from None


def _key_line(text: str, key: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if re.match(rf"^\s*{key}\s*=", line):
            return i
    return 1


def _unsubscribe(data: Any, where: str) -> Unsubscribe:
    if data is None:
        return Unsubscribe()
    if not isinstance(data, dict) or set(data) - {"mailto", "url"}:
        raise CampaignError(f"{where}: [unsubscribe] takes mailto and url")
    mailto = str(data.get("mailto") or "").strip().removeprefix("mailto:") or None
    url = str(data.get("url") or "").strip() or None
    if mailto and not valid_address(mailto.split("?")[0]):
        raise CampaignError(f"{where}: [unsubscribe] mailto {mailto!r} is not an email address")
    if url and not re.match(r"^https://[^\s<>\"]+$", url):
        raise CampaignError(f"{where}: [unsubscribe] url must be an https:// URL (RFC 8058 one-click)")
    return Unsubscribe(mailto, url)


def _smtp(data: Any, where: str) -> SmtpTable:
    if data is None:
        return SmtpTable()
    if not isinstance(data, dict):
        raise CampaignError(f"{where}: [smtp] must be a table")
    try:
        return SmtpTable.from_mapping(data, f"{where}: [smtp]")
    except ConfigError as exc:
        raise CampaignError(str(exc)) from None


def _sender(value: Any, smtp: SmtpTable, where: str) -> str:
    """The ``sender`` key: ``mailbox`` (the default) or ``best``. With ``best`` the From address and the
    SMTP login follow each recipient's sending mailbox, so the campaign cannot fix them in [smtp]."""
    sender = "mailbox" if value is None else value
    if sender not in SENDERS:
        raise CampaignError(f'{where}: sender must be "mailbox" or "best", not {value!r}')
    fixed = [key for key, set_ in (("from", smtp.from_address), ("from_name", smtp.from_name),
                                   ("username", smtp.username)) if set_]
    if sender == "best" and fixed:
        raise CampaignError(
            f'{where}: with sender = "best" the From and the SMTP login follow each teammate\'s mailbox; '
            f"set {', '.join(fixed)} in the config's [send.NAME] tables, not in [smtp]"
        )
    return str(sender)


def _templates(
    data: Mapping[str, Any], text: str, toml_path: Path, display: str
) -> tuple[TemplateSource, TemplateSource, TemplateSource | None]:
    """The subject (inside campaign.toml), the text body and the optional HTML body."""
    base = toml_path.parent
    template = data.get("template", {})
    if not isinstance(template, dict) or set(template) - {"subject", "text", "html"}:
        raise CampaignError(f"{display}: [template] takes subject, text and html")
    template = {**{k: data[k] for k in ("subject", "text", "html") if k in data}, **template}
    subject = template.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        raise CampaignError(f'{display}: a subject is required ([template] subject = "…")')
    if "\n" in subject.strip():
        raise CampaignError(f"{display}:{_key_line(text, 'subject')}: the subject must be one line")
    if not isinstance(template.get("text"), str):
        raise CampaignError(f'{display}: a text body file is required ([template] text = "body.txt.j2")')
    subject_src = TemplateSource("subject", display, subject.strip(), toml_path, _key_line(text, "subject"))
    text_src = _read_template("text", _find_template(base, template["text"], display))
    html_src = None
    if template.get("html"):
        html_src = _read_template("html", _find_template(base, str(template["html"]), display))
    return subject_src, text_src, html_src


def load_campaign(path: str | Path) -> Campaign:
    """Load a campaign folder (or its campaign.toml), or a mailmerge folder (or its
    ``mailmerge_template.txt``, see :mod:`outreach.campaign.mailmerge`); raises :class:`CampaignError`
    naming file and line."""
    given = Path(path)
    if is_mailmerge(given):
        return load_mailmerge(given)
    toml_path = given / "campaign.toml" if given.is_dir() else given
    display = display_path(toml_path)
    try:
        text = toml_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CampaignError(
            f"{display}: campaign not found (a folder with campaign.toml, or its path)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignError(f"{display}: cannot read ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CampaignError(f"{display}: {exc}") from None
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise CampaignError(f"{display}: unknown key(s) {', '.join(sorted(unknown))}")
    base = toml_path.parent
    name = data.get("name") or base.resolve().name
    mailbox = data.get("mailbox")
    if not isinstance(name, str) or not name.strip():
        raise CampaignError(f"{display}: name must be a non-empty string")
    if not isinstance(mailbox, str) or not mailbox.strip():
        raise CampaignError(f"{display}: mailbox (the sending mailbox's name in the store) is required")
    subject_src, text_src, html_src = _templates(data, text, toml_path, display)
    policy_table = data.get("policy", {})
    if not isinstance(policy_table, dict):
        raise CampaignError(f"{display}: [policy] must be a table")
    policy = Policy().merged(policy_table, f"{display}: [policy]")
    unsubscribe = _unsubscribe(data.get("unsubscribe"), display)
    smtp = _smtp(data.get("smtp"), display)
    sender = _sender(data.get("sender"), smtp, display)
    recipients_path = base / str(data.get("recipients") or "recipients.csv")
    recipients_file = read_recipients_file(recipients_path)
    warnings: list[str] = []
    allow: list[AllowEntry] = []
    allow_path = None
    if data.get("allow"):
        allow_path = base / str(data["allow"])
        allow, allow_warnings = read_allow(allow_path)
        warnings += allow_warnings
    campaign = Campaign(
        name=name.strip(),
        mailbox=mailbox.strip(),
        path=toml_path.parent,
        recipients=recipients_file.recipients,
        subject=subject_src,
        text=text_src,
        html=html_src,
        row_errors=recipients_file.errors,
        policy=policy,
        policy_table=dict(policy_table),
        unsubscribe=unsubscribe,
        smtp=smtp,
        allow=allow,
        recipients_path=recipients_path,
        allow_path=allow_path,
        warnings=warnings,
        sender=sender,
        columns=recipients_file.columns,
        delimiter=recipients_file.delimiter,
    )
    for tpl in campaign.templates:
        campaign.inline_suppressions += inline_suppressions(tpl, campaign.warnings)
    compiled(campaign)  # syntax errors and unsafe templates fail the load
    return campaign


def campaign_from_strings(
    *,
    name: str = "test",
    mailbox: str = "test",
    subject: str = "Hello",
    text: str,
    html: str | None = None,
    rows: Sequence[Mapping[str, str]] = (),
    policy: Mapping[str, Any] | None = None,
    unsubscribe: Mapping[str, str] | None = None,
    smtp: Mapping[str, Any] | None = None,
    allow: Sequence[Mapping[str, Any]] = (),
    today: date | None = None,
    sender: str | None = None,
) -> Campaign:
    """A campaign built in memory (tests, rule cases, other tools); rows are validated like a CSV."""
    header = list(dict.fromkeys(k for row in rows for k in row)) or ["email"]
    records = [(i + 2, [str(row.get(k, "")) for k in header]) for i, row in enumerate(rows)]
    recipients, row_errors = parse_rows(header, records, "<rows>")
    warnings: list[str] = []
    entries = []
    for i, item in enumerate(allow):
        entry = _allow_entry(item, f"<allow>:{i + 1}", today or date.today(), warnings)
        if entry:
            entries.append(entry)
    campaign = Campaign(
        name=name,
        mailbox=mailbox,
        path=Path("."),
        recipients=recipients,
        subject=TemplateSource("subject", "<subject>", subject),
        text=TemplateSource("text", "<text>", text),
        html=None if html is None else TemplateSource("html", "<html>", html),
        row_errors=row_errors,
        policy=Policy().merged(policy or {}, "<policy>"),
        policy_table=dict(policy or {}),
        unsubscribe=_unsubscribe(dict(unsubscribe) if unsubscribe else None, "<unsubscribe>"),
        smtp=_smtp(dict(smtp) if smtp else None, "<smtp>"),
        allow=entries,
        warnings=warnings,
        columns=tuple(header),
    )
    campaign.sender = _sender(sender, campaign.smtp, "<campaign>")
    for tpl in campaign.templates:
        campaign.inline_suppressions += inline_suppressions(tpl, campaign.warnings)
    compiled(campaign)
    return campaign


__all__ = [
    "campaign_from_strings",
    "formula_like",
    "load_campaign",
    "parse_rows",
    "read_allow",
    "read_recipients",
    "read_recipients_file",
    "sniff_delimiter",
    "valid_address",
]
