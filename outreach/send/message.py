"""The message sent to one recipient: standards-conforming (policy SMTP: CRLF, encoded headers), a text
body with an optional HTML alternative, and the campaign's RFC 8058 unsubscribe headers."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from datetime import datetime
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from outreach.errors import UsageError


def build_message(
    *,
    from_address: str,
    from_name: str | None,
    to_address: str,
    to_name: str | None,
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    date: datetime,
    extra_headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """A standards-conforming message (policy SMTP: CRLF, encoded headers), text with optional HTML."""
    msg = EmailMessage(policy=email_policy.SMTP)
    msg["From"] = _address(from_address, from_name)
    msg["To"] = _address(to_address, to_name)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    for key, value in (extra_headers or {}).items():
        msg[key] = value
    msg.set_content(text, cte=_cte(text))
    if html:
        msg.add_alternative(html, subtype="html", cte=_cte(html))
    return msg


def _address(address: str, name: str | None) -> Address:
    local, _, domain = address.strip().rpartition("@")
    if not local or not domain:
        raise UsageError(f"{address!r} is not an email address")
    return Address(display_name=name or "", username=local, domain=domain)


def _cte(text: str) -> str | None:
    # 7bit-clean bodies: no need for the server to support 8BITMIME.
    return None if text.isascii() else "quoted-printable"


def message_id_domain(from_address: str) -> str:
    return from_address.rpartition("@")[2] or socket.getfqdn()


def recipient_name(row: Mapping[str, str]) -> str | None:
    """The display name for the To header, from the recipient's CSV row (name, or first and last name)."""
    for key in ("name", "full_name", "display_name"):
        value = row.get(key)
        if value:
            return str(value)
    first, last = row.get("first_name"), row.get("last_name")
    if first or last:
        return " ".join(str(p) for p in (first, last) if p)
    return None


__all__ = ["build_message", "message_id_domain", "recipient_name"]
