"""Sending a campaign: lint it again, decide who may get it, send (or show, in a dry run) the rest.

What a run does, in order:

1. Lints the whole campaign again (:func:`outreach.campaign.evaluate`) — never a stale preview.
2. For each recipient, decides: BLOCKED is never sent, whatever the flags; REVIEW only with
   ``accept_review`` or an allow entry; suppressed addresses/domains are skipped even if a rule was ignored;
   what the send log already knows is not sent again.
3. Sends the rest one at a time, under a per-minute rate and a per-mailbox daily cap, both counted from the
   send log (so they hold across runs and processes).

Idempotency: the send log has one row per (campaign, recipient), holding the Message-ID made before sending.

* ``sending`` is inserted and COMMITTED before the SMTP transaction starts;
* when the server accepts the message (250 after DATA) the row becomes ``sent`` (with ``sent_at``) in the
  same transaction that records the message in the store as outbound mail, and that is committed;
* a refusal the server makes before accepting is definite: 5xx is ``failed`` (with the reply, never retried
  automatically), 4xx is retried with exponential backoff and, when attempts run out, ``deferred``
  (tried again by the next run), like any other error that happened before DATA was finished.

The crash window: if the process dies (kill -9, power loss) after the server accepted DATA and before the
``sent`` commit, the row stays ``sending`` although the message went out.  SMTP cannot be asked afterwards
whether it delivered a message, so a ``sending`` row is treated as *possibly sent*: the next run lists it as
"unconfirmed" and does NOT send it again unless ``resend_unconfirmed`` is given (the same Message-ID is then
reused, so a receiving system that de-duplicates by Message-ID can drop a copy).  A crash anywhere else
loses nothing and duplicates nothing: rows still ``sending`` from a crash before DATA are reported the same
conservative way.  Two runs of the same campaign at once cannot both send to a recipient: the second one's
``sending`` insert hits the unique (campaign, recipient) key and skips it.
"""


from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.auth import Credentials, Secret
from outreach.campaign.evaluate import evaluate
from outreach.campaign.model import Campaign, CampaignReport, RecipientReport
from outreach.config import MailboxConfig, Settings
from outreach.errors import ConfigError, UsageError
from outreach.mail.imap import append_to_sent
from outreach.send.results import (
    ACT_FAILED,
    ALREADY_SENT,
    FAILED,
    SENDING,
    SENT,
    SKIPPED,
    UNCONFIRMED,
    WOULD_SEND,
    Outcome,
    SendResult,
)
from outreach.send.sender import Candidate, Clock, Sender, finding_texts
from outreach.send.settings import SendLimits, SendOptions, SmtpSettings, resolve_limits, resolve_smtp
from outreach.send.smtp import SmtpTransport, Transport, is_loopback
from outreach.store.models import SendLog, utcnow
from outreach.suppression import SuppressionList, load_suppressions

# What lints the campaign right before sending (by default :func:`outreach.campaign.evaluate` with the
# run's settings, selections and time; a stand-in in tests of the send protocol).
Evaluator = Callable[[Session, Campaign], CampaignReport]


def send_campaign(
    session: Session,
    campaign: Campaign,
    settings: Settings | None = None,
    options: SendOptions | None = None,
    *,
    smtp: SmtpSettings | None = None,
    limits: SendLimits | None = None,
    smtp_overrides: Mapping[str, Any] | None = None,
    limit_overrides: Mapping[str, Any] | None = None,
    password: str | None = None,
    credentials: Credentials | None = None,
    transport: Transport | None = None,
    evaluator: Evaluator | None = None,
    now: datetime | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    after_ingest: Callable[[Session, list[int]], None] | None = None,
    append_sent: Callable[[bytes], None] | None = None,
    clock: Clock = utcnow,
    sleep: Callable[[float], None] = time.sleep,
) -> SendResult:
    """Lint ``campaign`` again and send (or, with ``options.dry_run``, show) what may go.

    ``smtp``/``limits`` are those of the campaign's mailbox, by default :func:`resolve_smtp` /
    :func:`resolve_limits` with ``smtp_overrides``/``limit_overrides`` (the command-line options). With
    ``sender = "best"`` each recipient is sent from the mailbox the lint judged them on, with that mailbox's
    settings, limits and send log rows (a ``transport`` given is used for every mailbox). ``now`` is the
    lint's "today" (a dry run only). The SMTP password comes from ``password``, else ``credentials`` (by
    default the environment of ``settings`` and the keyring), and is only asked for when something is
    actually going to be sent.
    """
    options = options or SendOptions()
    smtp = smtp or resolve_smtp(settings, campaign, smtp_overrides, session=session)
    limits = limits or resolve_limits(settings, campaign, limit_overrides)
    if credentials is None:
        credentials = Credentials(settings.environ if settings is not None else {})
    result = SendResult(campaign.name, campaign.mailbox, options.dry_run, smtp, limits)

    def emit(outcome: Outcome) -> None:
        result.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    if evaluator is None:
        evaluator = _lint(settings, options, now)
    # Always the whole lint, right now: nothing below relies on an earlier preview.
    report = evaluator(session, campaign)
    session.commit()  # end the read transaction before the long-running loop
    logs = _send_log(session, campaign.name, [r.address for r in report.recipients])
    suppressions = load_suppressions(session)  # read again: the last check before sending
    candidates = _plan(report.recipients, logs, suppressions, options, emit)
    if options.dry_run:
        for rec, log in candidates:
            note = " (resend of an unconfirmed message)" if log is not None and log.status == SENDING else ""
            message_id = log.message_id_header if log else None
            reason = f"would send{note}" + (f" from mailbox {rec.sender}" if rec.sender else "")
            emit(Outcome(rec.address, rec.verdict, WOULD_SEND, reason, message_id, findings=finding_texts(rec),
                         mailbox=rec.sender))
        return result
    for mailbox, group in _by_sender(candidates, campaign.mailbox).items():
        own = mailbox == campaign.mailbox
        route = _Route(
            mailbox,
            smtp if own else resolve_smtp(settings, campaign, smtp_overrides, session=session, mailbox_name=mailbox),
            limits if own else resolve_limits(settings, campaign, limit_overrides, mailbox),
        )
        _send_from(session, campaign, settings, options, route, group, transport, password, credentials,
                   emit, result, after_ingest, append_sent, clock, sleep)
    return result


class _Route(NamedTuple):
    """A sending mailbox with its SMTP settings and limits."""

    mailbox: str
    smtp: SmtpSettings
    limits: SendLimits


def _by_sender(candidates: list[Candidate], default: str) -> dict[str, list[Candidate]]:
    """The candidates by the mailbox they are sent from, in the order of their first recipient."""
    groups: dict[str, list[Candidate]] = {}
    for rec, log in candidates:
        groups.setdefault(rec.sender or default, []).append((rec, log))
    return groups


def _send_from(
    session: Session,
    campaign: Campaign,
    settings: Settings | None,
    options: SendOptions,
    route: _Route,
    candidates: list[Candidate],
    transport: Transport | None,
    password: str | None,
    credentials: Credentials,
    emit: Callable[[Outcome], None],
    result: SendResult,
    after_ingest: Callable[[Session, list[int]], None] | None,
    append_sent: Callable[[bytes], None] | None,
    clock: Clock,
    sleep: Callable[[float], None],
) -> None:
    """Send ``candidates`` from one mailbox; a run stopped there (daily cap, refused sender …) is noted
    and the other mailboxes still send."""
    smtp = route.smtp
    if not smtp.from_address:
        where = f"[send.{route.mailbox}] from" if campaign.best_sender else "[smtp] from in the campaign, [send] from"
        raise UsageError(f"mailbox {route.mailbox}: no From address: set {where}, or --from")
    if smtp.security == "plain" and not is_loopback(smtp.host):
        result.warnings.append(f"{smtp.host}: sending WITHOUT encryption (--smtp-security plain)")
    config = settings.mailboxes.get(route.mailbox) if settings is not None else None
    own_transport = transport or _transport(smtp, password, credentials, route.mailbox, config)
    if options.append_sent and append_sent is None:
        append_sent = _imap_appender(settings, route.mailbox, credentials)
    sender = Sender(
        session, campaign, smtp, route.limits, options, own_transport, emit, result, after_ingest, append_sent,
        clock, sleep, mailbox=route.mailbox,
    )
    stopped_before = result.stopped
    try:
        sender.run(candidates)
    finally:
        if transport is None:
            own_transport.close()
    if stopped_before and result.stopped != stopped_before:
        result.stopped = f"{stopped_before}; {result.stopped}"


def _lint(settings: Settings | None, options: SendOptions, now: datetime | None) -> Evaluator:
    def lint(session: Session, campaign: Campaign) -> CampaignReport:
        return evaluate(session, campaign, settings, options.select, options.ignore, now=now)

    return lint


def _plan(
    recipients: Iterable[RecipientReport],
    logs: dict[str, SendLog],
    suppressions: SuppressionList,
    options: SendOptions,
    emit: Callable[[Outcome], None],
) -> list[Candidate]:
    """Who may be sent to: BLOCKED never, whatever the flags; REVIEW only with ``accept_review`` and the
    lint's approval; never twice (the send log); never a suppressed address or domain, even if a rule was
    ignored. The others get their outcome (``emit``) here."""
    candidates: list[Candidate] = []
    for rec in recipients:
        log = logs.get(rec.address)
        base = Outcome(
            rec.address,
            rec.verdict,
            SKIPPED,
            findings=finding_texts(rec),
            message_id=log.message_id_header if log else None,
            attempts=log.attempts if log else 0,
        )
        decided = _from_log(base, log, options) or _from_verdict(base, rec, options)
        if decided is None and (hit := suppressions.match(rec.address)) is not None:
            decided = replace(base, verdict="BLOCKED", reason=f"suppressed ({hit.describe()})")
        if decided is not None:
            emit(decided)
        else:
            candidates.append((rec, log))
    return candidates


def _from_log(base: Outcome, log: SendLog | None, options: SendOptions) -> Outcome | None:
    """The outcome the send log decides: already sent, possibly sent, or refused in an earlier run."""
    if log is None:
        return None
    if log.status == SENT:
        when = log.sent_at.isoformat(timespec="seconds") if log.sent_at else "?"
        return replace(base, action=ALREADY_SENT, reason=f"already sent at {when}")
    if log.status == SENDING and not options.resend_unconfirmed:
        return replace(
            base,
            action=UNCONFIRMED,
            reason=(
                f"possibly sent: a run started sending it at {log.created_at.isoformat(timespec='seconds')}"
                " and did not record the result; check the recipient's mail or the server's log, then"
                " send again with --resend-unconfirmed (same Message-ID) if it did not arrive"
            ),
        )
    if log.status == FAILED and not options.retry_failed:
        reason = f"failed in an earlier run: {log.error or '?'} (--retry-failed to try again)"
        return replace(base, action=ACT_FAILED, reason=reason)
    return None


def _from_verdict(base: Outcome, rec: RecipientReport, options: SendOptions) -> Outcome | None:
    """The outcome the lint decides: blocked, to review, or not rendered."""
    findings = "; ".join(base.findings)
    if rec.verdict == "BLOCKED":
        advice = f"; {rec.advice}" if rec.advice else ""
        return replace(base, reason="blocked: " + (findings or "by the campaign lint") + advice)
    if rec.verdict == "REVIEW" and not options.accept_review:
        return replace(
            base,
            reason="needs review: "
            + (findings or "see the lint")
            + " (after reviewing, send with --accept-review, or record an allow entry)",
        )
    if rec.verdict == "REVIEW" and not rec.review_allowed:
        return replace(base, reason="needs review, and the lint does not allow approving it")
    if rec.rendered is None:
        return replace(base, reason="the template could not be rendered for this recipient")
    return None


def _transport(
    smtp: SmtpSettings, password: str | None, credentials: Credentials, mailbox: str, config: MailboxConfig | None
) -> Transport:
    """The SMTP transport of the sending ``mailbox`` (``config``: its settings, if any). The login:
    ``password`` if given; OAuth2 when the mailbox has ``auth = "oauth2"`` and SMTP logs in as its user
    (Gmail, Microsoft 365: one token for both); else the SMTP password from the environment (the mailbox's
    own variable first), the keyring or a prompt."""
    if not smtp.host:
        raise UsageError("no SMTP host: set [smtp] host in the campaign, [send] host in the config, or --smtp-host")
    secret: Secret | None = password
    if smtp.username and secret is None:
        if config is not None and config.auth == "oauth2" and config.username == smtp.username:
            secret = credentials.oauth2_login(config)
        else:
            secret = credentials.smtp_password(smtp.username, smtp.host, mailbox)
    return SmtpTransport(smtp, secret)


def _send_log(session: Session, campaign: str, addresses: Iterable[str]) -> dict[str, SendLog]:
    wanted = list(dict.fromkeys(addresses))
    found: dict[str, SendLog] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for row in session.scalars(select(SendLog).where(SendLog.campaign == campaign, SendLog.recipient.in_(chunk))):
            found[row.recipient] = row
    return found


def _imap_appender(settings: Settings | None, mailbox_name: str, credentials: Credentials) -> Callable[[bytes], None]:
    """APPEND to the sending mailbox's IMAP Sent folder (its config and password are checked up front)."""
    if settings is None:
        raise UsageError("--append-sent needs the mailbox's IMAP settings from the config file")
    config = settings.mailbox(mailbox_name)
    if not config.host:
        raise ConfigError(f"[mailboxes.{mailbox_name}]: no IMAP host, cannot --append-sent")
    password = credentials.imap_login(config)

    def append(raw: bytes) -> None:
        append_to_sent(config, password, raw)

    return append


__all__ = ["Evaluator", "send_campaign"]
