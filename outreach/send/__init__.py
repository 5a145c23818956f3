"""Sending a campaign over SMTP, linted again right before, idempotent across runs.

- :mod:`outreach.send.settings` — SMTP settings, limits and options, merged from the command line, the
  campaign's ``[smtp]`` and the config's ``[send]`` (:func:`resolve_smtp`, :func:`resolve_limits`);
- :mod:`outreach.send.message` — the message for one recipient;
- :mod:`outreach.send.smtp` — the transport, the only code that talks SMTP;
- :mod:`outreach.send.run` — :func:`send_campaign`: the lint, who may get it, the dry run;
- :mod:`outreach.send.sender` — the send loop (rate, daily cap, send log, retries, the store's copy);
- :mod:`outreach.send.results` — what a run did.
"""

from __future__ import annotations

from outreach.send.message import build_message
from outreach.send.results import Outcome, SendResult
from outreach.send.run import Evaluator, send_campaign
from outreach.send.settings import SendLimits, SendOptions, SmtpSettings, resolve_limits, resolve_smtp
from outreach.send.smtp import (
    NotDelivered,
    PermanentFailure,
    SenderRefused,
    SmtpTransport,
    TemporaryFailure,
    Transport,
    Unconfirmed,
)

__all__ = [
    "Evaluator",
    "NotDelivered",
    "Outcome",
    "PermanentFailure",
    "SendLimits",
    "SendOptions",
    "SendResult",
    "SenderRefused",
    "SmtpSettings",
    "SmtpTransport",
    "TemporaryFailure",
    "Transport",
    "Unconfirmed",
    "build_message",
    "resolve_limits",
    "resolve_smtp",
    "send_campaign",
]
