"""Sending over real SMTP (aiosmtpd on 127.0.0.1): the send protocol itself.

The campaigns are real ones (``campaign_from_strings``); their lint is replaced (``evaluator=``) by one
that returns a report with the verdicts each test needs — real :class:`CampaignReport` objects — so these
tests pin down verdict gating, the send log, retries, limits and the store copy. The real lint and loader
are exercised end to end in ``test_campaign_send.py`` and ``test_e2e_campaign.py``.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outreach.campaign import campaign_from_strings
from outreach.campaign.model import Campaign, CampaignReport, RecipientReport, Rendered
from outreach.config import Settings
from outreach.errors import ConfigError
from outreach.ledger import Ledger
from outreach.lint import get_rule
from outreach.lint.findings import Finding
from outreach.send import (
    SendLimits,
    SendOptions,
    SmtpSettings,
    build_message,
    resolve_limits,
    resolve_smtp,
    send_campaign,
)
from outreach.store import open_store, session_factory
from outreach.store.models import Contact, Folder, Message, MessageLocation, Participant, SendLog
from outreach.suppression import add_suppression, list_suppressions, remove_suppression, suppression_key

FROM = "pr@agency.example"
START = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
LAUNCH = Rendered("Launch news", "Hello,\nour launch is on.\n")
UNSUBSCRIBE = {"mailto": "unsubscribe@agency.example", "url": "https://agency.example/u?e={email}"}


# ------------------------------------------------------------------------------------------ stand-ins


def make_campaign(**kwargs: Any) -> Campaign:
    """A real campaign (its templates are not what is sent here: the stand-in lint's reports are)."""
    defaults: dict[str, Any] = {"name": "spring-launch", "mailbox": "pr", "text": "Hello\n", "unsubscribe": UNSUBSCRIBE}
    return campaign_from_strings(**{**defaults, **kwargs})


def _finding(text: str) -> Finding:
    code, _, message = text.partition(": ")
    rule = get_rule(code)
    return Finding(code, rule.name, rule.severity, message)


def Rec(  # noqa: N802 - reads like the record it builds
    address: str,
    verdict: str,
    findings: Sequence[str] = (),
    review_allowed: bool = False,
    row: Mapping[str, str] | None = None,
    rendered: Rendered | None = LAUNCH,
) -> RecipientReport:
    """A recipient's report as the lint would give it (``findings`` as ``CODE: message``)."""
    return RecipientReport(
        address=address,
        row=row or {"email": address},
        verdict=verdict,  # type: ignore[arg-type]  # the tests' verdicts are READY, REVIEW or BLOCKED
        findings=[_finding(f) for f in findings],
        rendered=rendered,
        review_allowed=review_allowed,
        ledger=Ledger.unknown(address),
    )


class Evaluator:
    """Returns the given recipients and counts how often the lint ran."""

    def __init__(self, recipients: list[RecipientReport]) -> None:
        self.recipients = recipients
        self.calls = 0

    def __call__(self, session: Session, campaign: Campaign) -> CampaignReport:
        self.calls += 1
        return CampaignReport(campaign, list(self.recipients), [], {}, [])


class Clock:
    """A fake clock whose sleep advances it (and remembers each sleep)."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)

    def tick(self, seconds: float = 0.01) -> None:
        self.now += timedelta(seconds=seconds)


def smtp_for(server: Any) -> SmtpSettings:
    return SmtpSettings(
        host=server.host, port=server.port, security="plain", from_address=FROM, from_name="Agency PR"
    )


FAST = SendLimits(rate_per_minute=600, daily_cap=500, retries=3, retry_base_seconds=1.0)


def run(
    sessions: sessionmaker[Session],
    server: Any,
    recipients: list[RecipientReport],
    options: SendOptions | None = None,
    *,
    clock: Clock | None = None,
    limits: SendLimits = FAST,
    campaign: Campaign | None = None,
    settings: Settings | None = None,
    smtp: SmtpSettings | None = None,
    **kwargs: Any,
) -> Any:
    clock = clock or Clock()
    with sessions() as session:
        return send_campaign(
            session,
            campaign or make_campaign(),
            settings,
            options or SendOptions(dry_run=False),
            smtp=smtp or smtp_for(server),
            limits=limits,
            evaluator=Evaluator(recipients),
            clock=clock,
            sleep=clock.sleep,
            **kwargs,
        )


def log_rows(sessions: sessionmaker[Session]) -> dict[str, SendLog]:
    with sessions() as session:
        return {r.recipient: r for r in session.scalars(select(SendLog))}


def parse(data: bytes) -> Any:
    return email.message_from_bytes(data.replace(b"\r\n", b"\n"), policy=email.policy.default)


def actions(result: Any) -> dict[str, str]:
    return {o.address: o.action for o in result.outcomes}


MIX = [
    Rec("warm@example.org", "READY", row={"name": "Wanda Warm"}),
    Rec("ask@example.org", "REVIEW", ["R003: one-way contact"]),
    Rec("allowed@example.org", "REVIEW", ["R003: one-way contact"], review_allowed=True),
    Rec("never@example.org", "REVIEW", ["R003: ?"], review_allowed=False),
    Rec("optout@example.org", "BLOCKED", ["R002: asked to be removed"]),
]


# ------------------------------------------------------------------------------------------ verdicts


def test_dry_run_sends_nothing_and_shows_each_decision(
    sessions: sessionmaker[Session], smtp_server: Any
) -> None:
    result = run(sessions, smtp_server, MIX, SendOptions(dry_run=True))
    assert actions(result) == {
        "warm@example.org": "would-send",
        "allowed@example.org": "skipped",
        "never@example.org": "skipped",
        "ask@example.org": "skipped",
        "optout@example.org": "skipped",
    }
    reasons = {o.address: o.reason for o in result.outcomes}
    assert "needs review" in reasons["ask@example.org"] and "--accept-review" in reasons["ask@example.org"]
    assert "blocked" in reasons["optout@example.org"] and "R002" in reasons["optout@example.org"]
    assert result.exit_code == 0  # skipped for their verdict: reported, not failures
    assert smtp_server.messages == [] and smtp_server.rcpt_attempts == {}
    assert log_rows(sessions) == {}


def test_send_delivers_ready_only(sessions: sessionmaker[Session], smtp_server: Any) -> None:
    result = run(sessions, smtp_server, MIX)
    assert actions(result)["warm@example.org"] == "sent"
    assert {a for a, act in actions(result).items() if act == "skipped"} == {
        "allowed@example.org",
        "never@example.org",
        "ask@example.org",
        "optout@example.org",
    }
    got = sorted(r for m in smtp_server.messages for r in m.rcpt_tos)
    assert got == ["warm@example.org"]
    assert result.exit_code == 0  # every message it meant to send went; the skipped ones are reported
    logs = log_rows(sessions)
    assert set(logs) == {"warm@example.org"}
    assert all(r.status == "sent" and r.sent_at is not None and r.attempts == 1 for r in logs.values())


def test_blocked_never_sent_whatever_the_flags_review_only_when_accepted(
    sessions: sessionmaker[Session], smtp_server: Any
) -> None:
    everything = SendOptions(dry_run=False, accept_review=True, resend_unconfirmed=True, retry_failed=True)
    result = run(sessions, smtp_server, MIX, everything)
    got = sorted(r for m in smtp_server.messages for r in m.rcpt_tos)
    assert got == ["allowed@example.org", "warm@example.org"]  # REVIEW needs the lint's review_allowed too
    assert actions(result)["optout@example.org"] == "skipped"
    assert actions(result)["never@example.org"] == "skipped"
    assert "optout@example.org" not in smtp_server.rcpt_attempts


def test_the_lint_runs_again_on_every_send(sessions: sessionmaker[Session], smtp_server: Any) -> None:
    evaluator = Evaluator([Rec("a@example.org", "READY")])
    with sessions() as session:
        send_campaign(
            session,
            make_campaign(),
            None,
            SendOptions(dry_run=True),
            smtp=smtp_for(smtp_server),
            limits=FAST,
            evaluator=evaluator,
        )
        # between preview and send the contact opted out: the send must see the new verdict
        evaluator.recipients = [Rec("a@example.org", "BLOCKED", ["R002: opted out"])]
        result = send_campaign(
            session,
            make_campaign(),
            None,
            SendOptions(dry_run=False),
            smtp=smtp_for(smtp_server),
            limits=FAST,
            evaluator=evaluator,
        )
    assert evaluator.calls == 2
    assert actions(result) == {"a@example.org": "skipped"}
    assert smtp_server.messages == []


def test_suppressed_address_or_domain_is_never_sent(
    sessions: sessionmaker[Session], smtp_server: Any
) -> None:
    with sessions() as session:
        add_suppression(session, "gone@example.org", "asked by phone")
        add_suppression(session, "@competitor.example", "legal")
    recipients = [
        Rec("gone@example.org", "READY"),
        Rec("x@competitor.example", "READY"),
        Rec("ok@example.org", "READY"),
    ]
    result = run(sessions, smtp_server, recipients)
    assert actions(result) == {
        "gone@example.org": "skipped",
        "x@competitor.example": "skipped",
        "ok@example.org": "sent",
    }
    reasons = {o.address: o.reason for o in result.outcomes}
    assert (
        "asked by phone" in reasons["gone@example.org"]
        and "competitor.example" in reasons["x@competitor.example"]
    )
    assert [m.rcpt_tos for m in smtp_server.messages] == [("ok@example.org",)]


# ------------------------------------------------------------------------------------------ the message


def test_message_headers_and_store_copy(sessions: sessionmaker[Session], smtp_server: Any) -> None:
    rec = Rec(
        "warm@example.org",
        "READY",
        row={"name": "Wanda Wärm"},
        rendered=Rendered("Grüße — launch", "Hallo Wanda,\nlaunch day.\n", "<p>Hallo <b>Wanda</b></p>"),
    )
    result = run(sessions, smtp_server, [rec])
    assert result.exit_code == 0
    (received,) = smtp_server.messages
    assert received.mail_from == FROM and received.rcpt_tos == ("warm@example.org",)
    msg = parse(received.data)
    log = log_rows(sessions)["warm@example.org"]
    assert msg["Message-ID"] == log.message_id_header and log.message_id_header.endswith("@agency.example>")
    assert msg["From"].addresses[0].display_name == "Agency PR" and msg["From"].addresses[0].addr_spec == FROM
    assert msg["To"].addresses[0].display_name == "Wanda Wärm"
    assert str(msg["Subject"]) == "Grüße — launch"
    assert msg["Date"].datetime == START
    assert msg["List-Unsubscribe"].strip() == (
        "<https://agency.example/u?e=warm%40example.org>, "
        "<mailto:unsubscribe@agency.example?subject=unsubscribe>"
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    assert msg.get_body(("plain",)).get_content() == "Hallo Wanda,\nlaunch day.\n"
    assert "<b>Wanda</b>" in msg.get_body(("html",)).get_content()
    assert received.data.isascii()  # 7-bit clean: no 8BITMIME needed
    # recorded in the store as outbound mail of the sending mailbox, to that contact
    with sessions() as session:
        row = session.execute(
            select(Message.id, Message.subject, MessageLocation.direction, Folder.name, Folder.is_sent)
            .join(MessageLocation, MessageLocation.message_id == Message.id)
            .join(Folder, Folder.id == MessageLocation.folder_id)
        ).one()
        assert row.subject == "Grüße — launch" and row.direction == "out"
        assert row.name == "outreach-sent" and row.is_sent
        roles = set(
            session.execute(
                select(Participant.role, Contact.address)
                .join(Contact)
                .where(Participant.message_id == row.id)
            )
        )
        assert roles == {("from", FROM), ("to", "warm@example.org")}


def test_no_unsubscribe_headers_when_not_configured() -> None:
    msg = build_message(
        from_address=FROM,
        from_name=None,
        to_address="a@example.org",
        to_name=None,
        subject="s",
        text="t",
        html=None,
        message_id="<1@x>",
        date=START,
    )
    assert "List-Unsubscribe" not in msg and msg.get_content_type() == "text/plain"


def test_mailto_only_unsubscribe_has_no_one_click(sessions: sessionmaker[Session], smtp_server: Any) -> None:
    campaign = make_campaign(unsubscribe={"mailto": "unsubscribe@agency.example"})
    run(sessions, smtp_server, [Rec("a@example.org", "READY")], campaign=campaign)
    msg = parse(smtp_server.messages[0].data)
    assert msg["List-Unsubscribe"].strip().startswith("<mailto:unsubscribe@agency.example")
    assert "List-Unsubscribe-Post" not in msg


# ------------------------------------------------------------------------------------------ idempotency


def test_rerun_never_sends_twice(database_url: str, smtp_server: Any) -> None:
    engine = open_store(database_url)
    sessions = session_factory(engine)
    try:
        recipients = [Rec(f"r{i}@example.org", "READY") for i in range(4)]
        first = run(sessions, smtp_server, recipients)
        assert first.count("sent") == 4 and first.exit_code == 0
        second = run(sessions, smtp_server, recipients)
        assert second.count("already-sent") == 4 and second.exit_code == 0
        assert len(smtp_server.messages) == 4
        # a recipient added to the list later is the only one sent by the next run
        third = run(sessions, smtp_server, [*recipients, Rec("late@example.org", "READY")])
        assert actions(third)["late@example.org"] == "sent" and third.count("already-sent") == 4
        assert sorted(r for m in smtp_server.messages for r in m.rcpt_tos) == sorted(
            [f"r{i}@example.org" for i in range(4)] + ["late@example.org"]
        )
    finally:
        engine.dispose()


def test_crash_leftover_sending_row_is_not_resent_without_flag(
    sessions: sessionmaker[Session], smtp_server: Any
) -> None:
    # What a kill -9 between the server's 250 and our commit leaves behind: a `sending` row.
    with sessions() as session:
        session.add(
            SendLog(
                campaign="spring-launch",
                recipient="maybe@example.org",
                mailbox="pr",
                message_id_header="<crash-1@agency.example>",
                status="sending",
                attempts=1,
                created_at=START - timedelta(minutes=5),
            )
        )
        session.commit()
    recipients = [Rec("maybe@example.org", "READY"), Rec("fresh@example.org", "READY")]
    result = run(sessions, smtp_server, recipients)
    assert actions(result) == {"maybe@example.org": "unconfirmed", "fresh@example.org": "sent"}
    assert (
        "possibly sent" in result.outcomes[0].reason and "--resend-unconfirmed" in result.outcomes[0].reason
    )
    assert result.exit_code == 1
    assert [m.rcpt_tos for m in smtp_server.messages] == [("fresh@example.org",)]
    # dry run with the flag shows it would go again
    dry = run(sessions, smtp_server, recipients, SendOptions(dry_run=True, resend_unconfirmed=True))
    assert actions(dry)["maybe@example.org"] == "would-send"
    # explicitly asked: sent again, with the SAME Message-ID
    again = run(sessions, smtp_server, recipients, SendOptions(dry_run=False, resend_unconfirmed=True))
    assert actions(again) == {"maybe@example.org": "sent", "fresh@example.org": "already-sent"}
    msg = parse(smtp_server.messages[-1].data)
    assert msg["Message-ID"] == "<crash-1@agency.example>"
    assert log_rows(sessions)["maybe@example.org"].status == "sent"


def test_concurrent_run_holding_the_row_wins(sessions: sessionmaker[Session], smtp_server: Any) -> None:
    """Another process claims the recipient after our lint read the send log: we skip it, no double send."""
    clock = Clock()
    raced = []

    def racing_clock() -> datetime:
        if not raced:  # first look at the clock is in the send loop, after the send log was read
            raced.append(True)
            with sessions() as other:
                other.add(
                    SendLog(
                        campaign="spring-launch",
                        recipient="race@example.org",
                        mailbox="pr",
                        message_id_header="<other@x>",
                        status="sending",
                        created_at=START,
                    )
                )
                other.commit()
        return clock()

    with sessions() as session:
        result = send_campaign(
            session,
            make_campaign(),
            None,
            SendOptions(dry_run=False),
            smtp=smtp_for(smtp_server),
            limits=FAST,
            clock=racing_clock,
            sleep=clock.sleep,
            evaluator=Evaluator([Rec("race@example.org", "READY")]),
        )
    assert raced
    assert actions(result) == {"race@example.org": "skipped"}
    assert "another run" in result.outcomes[0].reason
    assert smtp_server.messages == []


# ------------------------------------------------------------------------------------------ SMTP errors


def test_4xx_is_retried_with_backoff_then_delivered(
    sessions: sessionmaker[Session], smtp_server: Any
) -> None:
    smtp_server.fail_rcpt("busy@example.org", 451, times=2)
    clock = Clock()
    result = run(sessions, smtp_server, [Rec("busy@example.org", "READY")], clock=clock)
    assert actions(result) == {"busy@example.org": "sent"}
    assert smtp_server.rcpt_attempts["busy@example.org"] == 3
    assert clock.sleeps == [1.0, 2.0]  # exponential backoff
    assert log_rows(sessions)["busy@example.org"].attempts == 3
    assert len(smtp_server.messages) == 1


def test_4xx_that_persists_is_deferred_and_retried_next_run(
    sessions: sessionmaker[Session], smtp_server: Any
) -> None:
    smtp_server.fail_rcpt("full@example.org", 452)
    clock = Clock()
    recipients = [Rec("full@example.org", "READY"), Rec("ok@example.org", "READY")]
    result = run(sessions, smtp_server, recipients, clock=clock)
    assert actions(result) == {"full@example.org": "deferred", "ok@example.org": "sent"}
    assert smtp_server.rcpt_attempts["full@example.org"] == 4  # 1 + 3 retries, bounded
    assert clock.sleeps[:3] == [1.0, 2.0, 4.0]
    row = log_rows(sessions)["full@example.org"]
    assert row.status == "deferred" and "452" in (row.error or "")
    assert result.exit_code == 1
    smtp_server.clear_failures()
    again = run(sessions, smtp_server, recipients)
    assert actions(again) == {"full@example.org": "sent", "ok@example.org": "already-sent"}
    assert again.exit_code == 0


def test_5xx_is_recorded_failed_and_not_retried(sessions: sessionmaker[Session], smtp_server: Any) -> None:
    smtp_server.fail_rcpt("nobody@example.org", 550)
    clock = Clock()
    recipients = [Rec("nobody@example.org", "READY"), Rec("ok@example.org", "READY")]
    result = run(sessions, smtp_server, recipients, clock=clock)
    assert actions(result) == {"nobody@example.org": "failed", "ok@example.org": "sent"}
    assert smtp_server.rcpt_attempts["nobody@example.org"] == 1
    row = log_rows(sessions)["nobody@example.org"]
    assert row.status == "failed" and row.error is not None and row.error.startswith("550")
    assert result.exit_code == 1
    # the next run does not try it again unless asked
    again = run(sessions, smtp_server, recipients)
    assert actions(again)["nobody@example.org"] == "failed" and "550" in again.outcomes[0].reason
    assert smtp_server.rcpt_attempts["nobody@example.org"] == 1
    smtp_server.clear_failures()
    retried = run(sessions, smtp_server, recipients, SendOptions(dry_run=False, retry_failed=True))
    assert actions(retried)["nobody@example.org"] == "sent"


def test_unreachable_server_stops_the_run_and_loses_nothing(sessions: sessionmaker[Session]) -> None:
    from servers import free_port

    smtp = SmtpSettings(host="127.0.0.1", port=free_port(), security="plain", from_address=FROM)
    clock = Clock()
    recipients = [Rec("a@example.org", "READY"), Rec("b@example.org", "READY")]
    result = run(sessions, None, recipients, smtp=smtp, clock=clock)
    assert result.stopped and "connection refused" in result.stopped
    assert actions(result) == {"a@example.org": "deferred", "b@example.org": "not-sent"}
    assert log_rows(sessions)["a@example.org"].status == "deferred"


def test_smtp_auth_password_from_the_environment(
    sessions: sessionmaker[Session], make_smtp_server: Callable[..., Any]
) -> None:
    server = make_smtp_server(auth=("pr-user", "s3cret"))
    settings = Settings(
        database_url="sqlite://", config_path=None, environ={"OUTREACH_SMTP_PASSWORD": "s3cret"}
    )
    smtp = SmtpSettings(
        host=server.host, port=server.port, security="plain", username="pr-user", from_address=FROM
    )
    result = run(sessions, server, [Rec("a@example.org", "READY")], smtp=smtp, settings=settings)
    assert actions(result) == {"a@example.org": "sent"}
    assert server.messages[0].auth_user == "pr-user"
    # a wrong password stops the run at once, nothing is retried or marked sent
    bad = Settings(database_url="sqlite://", config_path=None, environ={"OUTREACH_SMTP_PASSWORD": "nope"})
    result = run(sessions, server, [Rec("b@example.org", "READY")], smtp=smtp, settings=bad)
    assert result.stopped and "login failed" in result.stopped
    assert log_rows(sessions)["b@example.org"].status == "deferred"
    assert len(server.messages) == 1


def test_starttls_is_required_when_asked(sessions: sessionmaker[Session], smtp_server: Any) -> None:
    smtp = SmtpSettings(host=smtp_server.host, port=smtp_server.port, security="starttls", from_address=FROM)
    result = run(sessions, smtp_server, [Rec("a@example.org", "READY")], smtp=smtp)
    assert result.stopped and "STARTTLS" in result.stopped
    assert smtp_server.messages == []


# ------------------------------------------------------------------------------------------ limits


def test_rate_limit_spaces_messages(sessions: sessionmaker[Session], smtp_server: Any) -> None:
    clock = Clock()
    limits = SendLimits(rate_per_minute=30, daily_cap=500)
    recipients = [Rec(f"r{i}@example.org", "READY") for i in range(3)]
    run(sessions, smtp_server, recipients, clock=clock, limits=limits)
    assert clock.sleeps == [2.0, 2.0]
    with sessions() as session:
        times = sorted(session.scalars(select(SendLog.sent_at)))
    assert [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)] == [2.0, 2.0]
    # the spacing holds across runs: the next run waits for the last send of the previous one
    clock.tick(0.5)
    run(sessions, smtp_server, [Rec("next@example.org", "READY")], clock=clock, limits=limits)
    assert clock.sleeps[-1] == pytest.approx(1.5)


def test_daily_cap_counts_the_last_24h_and_stops_clearly(
    sessions: sessionmaker[Session], smtp_server: Any
) -> None:
    with sessions() as session:
        for i in range(3):  # sent by another campaign of the same mailbox in the last 24 h
            session.add(
                SendLog(
                    campaign="older",
                    recipient=f"o{i}@example.org",
                    mailbox="pr",
                    message_id_header=f"<o{i}@x>",
                    status="sent",
                    sent_at=START - timedelta(hours=3),
                )
            )
        session.add(
            SendLog(
                campaign="older",
                recipient="yesterday@example.org",
                mailbox="pr",
                message_id_header="<y@x>",
                status="sent",
                sent_at=START - timedelta(hours=25),
            )
        )
        session.add(
            SendLog(
                campaign="other-mailbox",
                recipient="z@example.org",
                mailbox="someone-else",
                message_id_header="<z@x>",
                status="sent",
                sent_at=START - timedelta(hours=1),
            )
        )
        session.commit()
    limits = SendLimits(rate_per_minute=600, daily_cap=5)
    recipients = [Rec(f"r{i}@example.org", "READY") for i in range(4)]
    result = run(sessions, smtp_server, recipients, limits=limits)
    assert [o.action for o in result.outcomes] == ["sent", "sent", "not-sent", "not-sent"]
    assert result.stopped is not None and "daily cap reached" in result.stopped and "'pr'" in result.stopped
    assert result.exit_code == 1
    # a day later the rest goes, and only the rest
    result = run(sessions, smtp_server, recipients, limits=limits, clock=Clock(START + timedelta(hours=24)))
    assert [o.action for o in result.outcomes] == ["already-sent", "already-sent", "sent", "sent"]
    assert len(smtp_server.messages) == 4


def test_limit_option_sends_only_n(sessions: sessionmaker[Session], smtp_server: Any) -> None:
    recipients = [Rec(f"r{i}@example.org", "READY") for i in range(3)]
    result = run(sessions, smtp_server, recipients, SendOptions(dry_run=False, limit=2))
    assert [o.action for o in result.outcomes] == ["sent", "sent", "not-sent"]


# ------------------------------------------------------------------------------------------ config


def test_smtp_settings_precedence_and_plain_only_on_request() -> None:
    campaign = make_campaign(smtp={"host": "smtp.campaign.example", "port": 587, "from": "a@agency.example"})
    settings = Settings(
        database_url="sqlite://",
        config_path=None,
        sections={
            "send": {
                "host": "smtp.config.example",
                "username": "u",
                "daily_cap": 100,
                "pr": {"rate_per_minute": 5},
            }
        },
    )
    smtp = resolve_smtp(settings, campaign)
    assert (smtp.host, smtp.effective_port, smtp.security, smtp.username, smtp.from_address) == (
        "smtp.campaign.example",
        587,
        "starttls",
        "u",
        "a@agency.example",
    )
    assert (
        resolve_smtp(settings, campaign, {"host": "cli.example", "security": "ssl", "port": None}).host
        == "cli.example"
    )
    assert resolve_smtp(settings, make_campaign()).security == "ssl"
    assert resolve_smtp(settings, make_campaign()).effective_port == 465
    assert resolve_smtp(settings, campaign, {"security": "plain"}).security == "plain"
    limits = resolve_limits(settings, campaign)
    assert (limits.rate_per_minute, limits.daily_cap) == (5, 100)
    assert resolve_limits(None, make_campaign()) == SendLimits(20, 500)
    plain = make_campaign(smtp={"host": "smtp.example", "security": "plain"})
    with pytest.raises(ConfigError, match="command line"):
        resolve_smtp(None, plain)
    typo = Settings(database_url="sqlite://", config_path=None, sections={"send": {"hots": "x"}})
    with pytest.raises(ConfigError, match="hots"):
        resolve_smtp(typo, make_campaign())


# ------------------------------------------------------------------------------------------ suppression


def test_suppression_list(sessions: sessionmaker[Session]) -> None:
    assert suppression_key("Jane@Example.ORG ") == ("address", "jane@example.org")
    assert suppression_key("@example.org") == ("domain", "example.org")
    assert suppression_key("example.org") == ("domain", "example.org")
    with sessions() as session:
        assert add_suppression(session, "Jane@Example.org", "unsubscribed")[0]
        assert not add_suppression(session, "jane@example.org")[0]
        add_suppression(session, "example.net")
        assert [(e.kind, e.value, e.reason) for e in list_suppressions(session)] == [
            ("address", "jane@example.org", "unsubscribed"),
            ("domain", "example.net", ""),
        ]
        assert remove_suppression(session, "JANE@example.org")
        assert not remove_suppression(session, "jane@example.org")
        assert [e.value for e in list_suppressions(session)] == ["example.net"]


def test_suppress_cli(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from outreach.cli import main

    url = ["--database-url", f"sqlite:///{tmp_path / 'cli.db'}"]
    runner = CliRunner()
    added = runner.invoke(
        main, [*url, "suppress", "add", "Jane@Example.org", "@example.net", "--reason", "asked"]
    )
    assert added.exit_code == 0 and "added: address jane@example.org (asked)" in added.output
    assert "added: domain example.net" in added.output
    listed = runner.invoke(main, [*url, "suppress", "list", "--format", "csv"])
    assert listed.output.splitlines()[1:] == [
        line for line in listed.output.splitlines()[1:] if line.startswith(("address,", "domain,"))
    ]
    assert "jane@example.org" in listed.output and "example.net" in listed.output
    bad = runner.invoke(main, [*url, "suppress", "add", "not an address"])
    assert bad.exit_code == 2
    removed = runner.invoke(main, [*url, "suppress", "remove", "jane@example.org"])
    assert removed.exit_code == 0
    missing = runner.invoke(main, [*url, "suppress", "remove", "jane@example.org"])
    assert missing.exit_code == 1


def test_unrenderable_recipient_is_not_sent(sessions: sessionmaker[Session], smtp_server: Any) -> None:
    rec = Rec("a@example.org", "READY", rendered=None)
    result = run(sessions, smtp_server, [rec])
    assert actions(result) == {"a@example.org": "skipped"} and smtp_server.messages == []


def test_append_sent_copies_to_the_imap_sent_folder(
    sessions: sessionmaker[Session], smtp_server: Any, imap_account: Any
) -> None:
    from outreach.config import MailboxConfig

    config = MailboxConfig(
        name="pr",
        host=imap_account.host,
        port=imap_account.port,
        username=imap_account.user,
        security="plain",
        addresses=(FROM,),
    )
    settings = Settings(
        database_url="sqlite://",
        config_path=None,
        mailboxes={"pr": config},
        environ={"OUTREACH_IMAP_PASSWORD": imap_account.password},
    )
    imap_account.append("Sent", [])  # make sure the folder exists (SPECIAL-USE \Sent in the test Dovecot)
    result = run(
        sessions,
        smtp_server,
        [Rec("a@example.org", "READY")],
        SendOptions(dry_run=False, append_sent=True),
        settings=settings,
    )
    assert actions(result) == {"a@example.org": "sent"} and result.warnings == []
    assert imap_account.status("Sent")["MESSAGES"] == 1
