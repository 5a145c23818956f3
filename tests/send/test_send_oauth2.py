"""Sending with OAuth2: AUTH XOAUTH2 (and OAUTHBEARER) on the test SMTP server, whose tokens are checked
by the tests' OAuth server; the token of the sending mailbox (``auth = "oauth2"``), renewed once when
refused; a revoked one stops the run with one line naming the mailbox and what to run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from outreach.config import MailboxConfig, OAuth2Config, Settings
from outreach.send import SendOptions, SmtpSettings

from .test_send import FROM, Rec, actions, run

pytestmark = pytest.mark.integration

USER = "pr@agency.example"


def oauth_settings(token_file: Path, mechanism: str = "auto") -> Settings:
    mailbox = MailboxConfig(
        name="pr", host="imap.agency.example", username=USER, auth="oauth2", addresses=(FROM,),
        oauth2=OAuth2Config(token_command=f"cat {token_file}", mechanism=mechanism),
    )  # fmt: skip
    return Settings(database_url="sqlite://", config_path=None, mailboxes={"pr": mailbox})


def smtp(server: Any) -> SmtpSettings:
    return SmtpSettings(host=server.host, port=server.port, security="plain", username=USER, from_address=FROM)


@pytest.mark.parametrize("mechanism", ["auto", "OAUTHBEARER"])
def test_smtp_xoauth2_with_the_mailbox_token(
    sessions: Any, make_smtp_server: Any, oauth_server: Any, tmp_path: Path, mechanism: str
) -> None:
    server = make_smtp_server(oauth2=oauth_server.user_of)
    token_file = tmp_path / "token"
    token_file.write_text(oauth_server.issue(USER))
    recipients = [Rec("a@example.org", "READY"), Rec("b@example.org", "READY")]
    result = run(sessions, server, recipients, SendOptions(dry_run=False),
                 settings=oauth_settings(token_file, mechanism), smtp=smtp(server))  # fmt: skip
    assert actions(result) == {"a@example.org": "sent", "b@example.org": "sent"}
    assert server.auth_attempts == [(USER, True)]  # one connection, one login
    assert {m.auth_user for m in server.messages} == {USER}


def test_a_refused_token_is_renewed_once(
    sessions: Any, make_smtp_server: Any, oauth_server: Any, tmp_path: Path
) -> None:
    server = make_smtp_server(oauth2=oauth_server.user_of)
    token_file = tmp_path / "token"
    stale = oauth_server.issue(USER)
    oauth_server.expire(stale)
    token_file.write_text(stale)
    calls = tmp_path / "calls"
    # the helper gives a fresh token on its second call, as a refreshing helper would
    script = tmp_path / "token.sh"
    script.write_text(f'echo x >> {calls}\nif [ $(wc -l < {calls}) -ge 2 ]; then cat {tmp_path / "fresh"}; '
                      f"else cat {token_file}; fi\n")  # fmt: skip
    (tmp_path / "fresh").write_text(oauth_server.issue(USER))
    settings = oauth_settings(token_file)
    mailbox = settings.mailboxes["pr"]
    assert mailbox.oauth2 is not None
    object.__setattr__(mailbox.oauth2, "token_command", f"sh {script}")
    result = run(sessions, server, [Rec("a@example.org", "READY")], SendOptions(dry_run=False),
                 settings=settings, smtp=smtp(server))  # fmt: skip
    assert actions(result) == {"a@example.org": "sent"}
    assert server.auth_attempts == [(USER, False), (USER, True)]


def test_a_revoked_token_stops_the_run_with_one_line(
    sessions: Any, make_smtp_server: Any, oauth_server: Any, tmp_path: Path
) -> None:
    server = make_smtp_server(oauth2=oauth_server.user_of)
    token_file = tmp_path / "token"
    token_file.write_text(oauth_server.issue(USER))
    oauth_server.revoke(USER)
    result = run(sessions, server, [Rec("a@example.org", "READY")], SendOptions(dry_run=False),
                 settings=oauth_settings(token_file), smtp=smtp(server))  # fmt: skip
    assert server.messages == [] and result.exit_code == 1
    assert result.stopped is not None and "\n" not in result.stopped
    assert result.stopped.startswith(f"127.0.0.1: mailbox 'pr': the OAuth2 token for {USER} was refused (XOAUTH2: 535")
    assert "outreach login --mailbox pr" in result.stopped
