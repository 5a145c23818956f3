"""The send loop of one run: recipient after recipient, under the rate and the daily cap, each claimed in
the send log before any SMTP traffic and recorded as sent with the store's copy of the message.

See :mod:`outreach.send.run` for the idempotency and the one crash window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from email.utils import make_msgid

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outreach.campaign.model import Campaign, RecipientReport
from outreach.mail.ingest import Ingestor, RawMessage, ensure_folder
from outreach.mail.owners import ensure_mailbox
from outreach.send.message import build_message, message_id_domain, recipient_name
from outreach.send.results import (
    ACT_DEFERRED,
    ACT_FAILED,
    ACT_SENT,
    DEFERRED,
    FAILED,
    NOT_REACHED,
    SENDING,
    SENT,
    SKIPPED,
    UNCONFIRMED,
    Outcome,
    SendResult,
)
from outreach.send.settings import SendLimits, SendOptions, SmtpSettings
from outreach.send.smtp import NotDelivered, PermanentFailure, SenderRefused, TemporaryFailure, Transport, Unconfirmed
from outreach.store.models import SendLog

SENT_FOLDER = "outreach-sent"  # the store folder of the sending mailbox that holds what outreach sent
FOLDER_SOURCE = "outreach"
RACED = "being sent by another run at the same time"

Clock = Callable[[], datetime]
Candidate = tuple[RecipientReport, SendLog | None]


def finding_texts(rec: RecipientReport) -> list[str]:
    """``CODE: message`` for each finding of a recipient (what an outcome shows)."""
    return [f"{f.code}: {f.message}" for f in rec.findings]


class _StopRun(Exception):
    def __init__(self, message: str, outcome: Outcome) -> None:
        super().__init__(message)
        self.outcome = outcome


class Sender:
    """The send loop of one run."""

    def __init__(
        self,
        session: Session,
        campaign: Campaign,
        smtp: SmtpSettings,
        limits: SendLimits,
        options: SendOptions,
        transport: Transport,
        emit: Callable[[Outcome], None],
        result: SendResult,
        after_ingest: Callable[[Session, list[int]], None] | None,
        append_sent: Callable[[bytes], None] | None,
        clock: Clock,
        sleep: Callable[[float], None],
        mailbox: str | None = None,
    ) -> None:
        self.session, self.campaign, self.smtp, self.limits = session, campaign, smtp, limits
        self.options, self.transport, self.emit, self.result = options, transport, emit, result
        self.after_ingest, self.append_sent, self.clock, self.sleep = after_ingest, append_sent, clock, sleep
        self.name = campaign.name
        self.mailbox = mailbox or campaign.mailbox  # the sending mailbox: its daily cap, rate and Sent copy
        self.last_send: datetime | None = None

    def run(self, candidates: list[Candidate]) -> None:
        sent_now = 0
        for index, (rec, log) in enumerate(candidates):
            rest = candidates[index:]
            if self.options.limit is not None and sent_now >= self.options.limit:
                self._not_reached(rest, f"--limit {self.options.limit} reached in this run")
                return
            stop = self._wait_for_slot()
            if stop is not None:
                self.result.stopped = stop
                self._not_reached(rest, stop)
                return
            try:
                outcome = self._send_one(rec, log)
            except SenderRefused as exc:
                self.result.stopped = str(exc)
                self._not_reached(rest, "not sent: the server refused the sender")
                return
            except _StopRun as exc:
                self.result.stopped = str(exc)
                self.emit(exc.outcome)
                self._not_reached(rest[1:], "not sent: run stopped")
                return
            self.emit(outcome)
            if outcome.action == ACT_SENT:
                sent_now += 1

    def _not_reached(self, rest: list[Candidate], reason: str) -> None:
        for rec, log in rest:
            message_id = log.message_id_header if log else None
            self.emit(Outcome(rec.address, rec.verdict, NOT_REACHED, reason=reason, message_id=message_id,
                              mailbox=rec.sender))

    # -- limits

    def _wait_for_slot(self) -> str | None:
        """Sleep until the per-minute rate allows the next message; a reason to stop at the daily cap."""
        now = self.clock()
        day_ago = now - timedelta(hours=24)
        used = (
            self.session.scalar(
                select(func.count())
                .select_from(SendLog)
                .where(
                    SendLog.mailbox == self.mailbox,
                    or_(
                        (SendLog.status == SENT) & (SendLog.sent_at >= day_ago),
                        # possibly sent: counts against the cap too
                        (SendLog.status == SENDING) & (SendLog.created_at >= day_ago),
                    ),
                )
            )
            or 0
        )
        if used >= self.limits.daily_cap:
            oldest = self.session.scalar(
                select(func.min(SendLog.sent_at)).where(
                    SendLog.mailbox == self.mailbox, SendLog.status == SENT, SendLog.sent_at >= day_ago
                )
            )
            after = (
                f"; the next slot opens at {(oldest + timedelta(hours=24)).isoformat(timespec='minutes')}"
                if oldest
                else ""
            )
            return (
                f"daily cap reached: {used} message(s) sent from mailbox {self.mailbox!r} in the last 24 h "
                f"(cap {self.limits.daily_cap}){after}; run the command again later to send the rest"
            )
        last = self.session.scalar(
            select(func.max(SendLog.sent_at)).where(SendLog.mailbox == self.mailbox, SendLog.status == SENT)
        )
        self.session.commit()  # no transaction stays open while we wait
        if self.last_send is not None and (last is None or self.last_send > last):
            last = self.last_send
        if last is not None:
            interval = 60.0 / self.limits.rate_per_minute
            wait = interval - (now - last).total_seconds()
            if wait > 0:
                self.sleep(min(wait, interval))
        return None

    # -- one recipient

    def _send_one(self, rec: RecipientReport, log: SendLog | None) -> Outcome:
        address = rec.address
        findings = finding_texts(rec)
        log = self._claim(address, log)
        if log is None:
            return Outcome(address, rec.verdict, SKIPPED, reason=RACED, findings=findings)
        rendered = rec.rendered
        assert rendered is not None  # the run only sends what rendered
        data = build_message(
            from_address=self.smtp.from_address,
            from_name=self.smtp.from_name,
            to_address=address,
            to_name=recipient_name(rec.row),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=log.message_id_header,
            date=self.clock(),
            extra_headers=self.campaign.unsubscribe.headers(address),
        ).as_bytes()
        base = Outcome(address, rec.verdict, ACT_SENT, message_id=log.message_id_header, findings=findings,
                       mailbox=self.mailbox)
        delivered = self._deliver(log, address, data, base)
        if isinstance(delivered, Outcome):
            return delivered
        now = self.clock()
        self.last_send = now
        self._record_sent(log, data, now)
        if self.append_sent is not None:
            try:
                self.append_sent(data)
            except Exception as exc:  # noqa: BLE001 - the mail went out; a copy in Sent is a nicety
                self.result.warnings.append(f"{address}: sent, but not copied to the IMAP Sent folder: {exc}")
        return replace(base, attempts=log.attempts, reason=f"accepted: {delivered}")

    def _deliver(self, log: SendLog, address: str, data: bytes, base: Outcome) -> str | Outcome:
        """Hand the message over, retrying 4xx answers and lost connections with backoff: the server's
        reply, or the outcome of a message that was not accepted (raises to stop the run)."""
        attempt = 0
        while True:
            attempt += 1
            log.attempts += 1
            try:
                return self.transport.deliver(self.smtp.from_address, address, data)
            except TemporaryFailure as exc:
                if attempt > self.limits.retries:
                    self._finish(log, DEFERRED, f"{exc} (after {attempt} attempts)")
                    return replace(
                        base,
                        action=ACT_DEFERRED,
                        attempts=log.attempts,
                        reason=f"temporary failure after {attempt} attempt(s): {exc}; the next run tries again",
                    )
                if not self._wait_to_retry(log, str(exc), attempt):
                    return replace(base, action=SKIPPED, reason=RACED)
            except NotDelivered as exc:
                if attempt > self.limits.retries:
                    self._finish(log, DEFERRED, str(exc))
                    raise _StopRun(
                        f"{self.smtp.host}: giving up after {attempt} attempt(s): {exc}",
                        replace(base, action=ACT_DEFERRED, attempts=log.attempts, reason=f"not sent: {exc}"),
                    ) from exc
                if not self._wait_to_retry(log, str(exc), attempt):
                    return replace(base, action=SKIPPED, reason=RACED)
            except PermanentFailure as exc:
                self._finish(log, FAILED, str(exc))
                return replace(base, action=ACT_FAILED, attempts=log.attempts, reason=f"refused: {exc}")
            except SenderRefused as exc:
                self._finish(log, DEFERRED, str(exc))
                raise
            except Unconfirmed as exc:
                log.error = str(exc)
                self.session.commit()  # stays `sending`: possibly sent
                raise _StopRun(
                    f"{self.smtp.host}: {exc}; stopped",
                    replace(
                        base,
                        action=UNCONFIRMED,
                        attempts=log.attempts,
                        reason=f"possibly sent ({exc}); not resent without --resend-unconfirmed",
                    ),
                ) from exc

    def _claim(self, address: str, log: SendLog | None) -> SendLog | None:
        """Insert (or take over) the recipient's row as ``sending`` and commit it before any SMTP traffic."""
        if log is not None:
            row = self.session.get(SendLog, log.id)
            if row is None or row.status == SENT:
                return None
            if row.status == SENDING and not self.options.resend_unconfirmed:
                return None
            return row if self._take(row, row.status) else None
        row = SendLog(
            campaign=self.name,
            recipient=address,
            mailbox=self.mailbox,
            message_id_header=make_msgid(domain=message_id_domain(self.smtp.from_address)),
            status=SENDING,
            attempts=0,
            created_at=self.clock(),
        )
        self.session.add(row)
        try:
            self.session.commit()
        except IntegrityError:
            self.session.rollback()
            return None
        return row

    def _take(self, log: SendLog, expected: str) -> bool:
        """Mark ``log`` ``sending`` if it is still ``expected`` with the attempt count we know, in one
        conditional UPDATE: of two runs taking over the same row, exactly one gets it."""
        attempts = log.attempts
        taken = self.session.execute(
            update(SendLog)
            .where(SendLog.id == log.id, SendLog.status == expected, SendLog.attempts == attempts)
            .values(status=SENDING, error=None, mailbox=self.mailbox, created_at=self.clock())
            .execution_options(synchronize_session=False)
        )
        self.session.commit()
        self.session.refresh(log)  # the UPDATE bypassed the ORM (and sessions may keep objects on commit)
        return bool(getattr(taken, "rowcount", 0) == 1)

    def _wait_to_retry(self, log: SendLog, error: str, attempt: int) -> bool:
        """Back off before the next attempt; False if another run took the recipient meanwhile.

        Nothing was handed over (a 4xx, or a connection lost before DATA), so while waiting the row says
        ``deferred``, not ``sending``: a run killed here leaves a recipient the next run simply sends to,
        not one shown as UNCONFIRMED (possibly sent) forever.
        """
        log.status, log.error = DEFERRED, error[:2000]
        self.session.commit()  # with the attempt count
        self.sleep(self.limits.retry_base_seconds * 2 ** (attempt - 1))
        return self._take(log, DEFERRED)

    def _finish(self, log: SendLog, status: str, error: str) -> None:
        log.status, log.error = status, error[:2000]
        self.session.commit()

    def _record_sent(self, log: SendLog, data: bytes, now: datetime) -> None:
        """Mark ``sent`` and store the message as outbound mail (with the ledger hook), in ONE commit.

        If the hook fails, the message is stored without it; if storing fails, ``sent`` is committed alone:
        the send log must record the send whatever else goes wrong.
        """
        hooks = [self.after_ingest, None] if self.after_ingest is not None else [None]
        problems: list[str] = []
        for hook in hooks:
            row = self.session.get(SendLog, log.id) or log
            row.status, row.sent_at, row.error = SENT, now, None
            try:
                mailbox = ensure_mailbox(self.session, self.mailbox, [self.smtp.from_address])
                folder = ensure_folder(self.session, mailbox, SENT_FOLDER, FOLDER_SOURCE, is_sent=True)
                origin = f"sent {log.message_id_header}"
                raw = RawMessage(raw=data, internal_date=now, flags="\\Seen", origin=origin)
                Ingestor(self.session, mailbox, after_batch=hook).ingest(folder, [raw])  # commits
                break
            except Exception as exc:  # noqa: BLE001 - see the docstring
                self.session.rollback()
                problems.append(f"{type(exc).__name__}: {exc}")
        else:
            row = self.session.get(SendLog, log.id) or log
            row.status, row.sent_at, row.error = SENT, now, None
            self.session.commit()
        if problems:
            what = "not recorded in the store's mail" if len(problems) == len(hooks) else "ledger not updated"
            self.result.warnings.append(f"{log.recipient}: sent, but {what}: {problems[0]}")


__all__ = ["Candidate", "Clock", "FOLDER_SOURCE", "SENT_FOLDER", "Sender", "finding_texts"]
