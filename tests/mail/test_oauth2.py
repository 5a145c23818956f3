"""OAuth2 sign-in to IMAP on a real Dovecot, whose ``oauth2`` passdb checks every XOAUTH2/OAUTHBEARER
login against the token-introspection endpoint of the tests' OAuth server (the one simulated edge: the
providers' endpoints).

What each test proves:

- the token-command path: the token a command prints logs in (XOAUTH2, and OAUTHBEARER when asked), and
  Dovecot really asked the introspection endpoint;
- a token that expires in the middle of a long sync: the connection is cut (as Microsoft 365 does when a
  token's hour is up), the reconnect's login is refused, a new token is taken and the sync completes with
  every message stored once;
- a revoked or wrong token: one line naming the mailbox and what to run;
- the keyring path: `outreach login` (Microsoft's device code with msal, Google's loopback with
  google-auth-oauthlib) leaves the refresh token in a file-backed keyring, `outreach sync` refreshes with
  it; a refresh token revoked at the provider gives one line with `outreach login --mailbox NAME`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keyring
import pytest
from sqlalchemy import func, select

from outreach.auth import Credentials, OAuth2Login
from outreach.config import MailboxConfig, OAuth2Config
from outreach.errors import AuthenticationError
from outreach.mail.runs import sync_mailbox
from outreach.store import open_store, session_factory
from outreach.store.models import Message

pytestmark = pytest.mark.integration

OWNER = "owner@example.org"  # the synthetic mailbox's owner (benchmarks/synthetic_mail.py)


def synthetic(n: int, seed: int) -> list[bytes]:
    from conftest import load_synthetic_mail

    return list(load_synthetic_mail().generate_messages(n, seed=seed))


def token_command_config(account: Any, token_file: Path, port: int | None = None, **oauth: Any) -> MailboxConfig:
    return MailboxConfig(
        name="work", host="127.0.0.1", port=port or account.port, username=account.user, security="plain",
        addresses=(OWNER,), batch_size=100, auth="oauth2",
        oauth2=OAuth2Config(token_command=f"cat {token_file}", **oauth),
    )  # fmt: skip


def stored(sessions: Any) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Message)) or 0)


@pytest.mark.parametrize("mechanism", ["auto", "OAUTHBEARER"])
def test_the_token_a_command_prints_logs_in(
    make_oauth_account: Callable[[], Any], oauth_server: Any, tmp_path: Path, mechanism: str
) -> None:
    account = make_oauth_account()
    account.write_messages(synthetic(30, seed=3))
    token_file = tmp_path / "token"
    token_file.write_text(oauth_server.issue(account.user) + "\n")
    config = token_command_config(account, token_file, mechanism=mechanism)
    login = Credentials({}).imap_login(config)
    assert isinstance(login, OAuth2Login) and "at-" not in repr(login)  # the token is never shown
    asked = oauth_server.introspections
    sessions = session_factory(open_store("sqlite://"))
    summary = sync_mailbox(sessions, config, login, signals=False)
    assert summary.totals.new == 30 and stored(sessions) == 30
    assert oauth_server.introspections > asked  # Dovecot checked the token with the endpoint
    expected = "XOAUTH2" if mechanism == "auto" else "OAUTHBEARER"
    assert re.search(rf"method={expected}", account.server.log_path.read_text()), "Dovecot's log names the method"


def test_a_token_that_expires_mid_sync_is_renewed_and_nothing_is_lost(
    make_oauth_account: Callable[[], Any], make_flaky_proxy: Callable[..., Any], oauth_server: Any, tmp_path: Path
) -> None:
    account = make_oauth_account()
    messages = synthetic(600, seed=5)
    account.write_messages(messages)
    proxy = make_flaky_proxy(account.host, account.port)
    proxy.cut_after(800_000, times=1)  # in the middle of a FETCH answer
    token_file = tmp_path / "token"
    first = oauth_server.issue(account.user)
    token_file.write_text(first)
    renewed: list[str] = []

    def sleep(seconds: float) -> None:  # before the reconnect: the hour of the first token is up
        oauth_server.expire(first)
        renewed.append(oauth_server.issue(account.user))
        token_file.write_text(renewed[-1])

    config = token_command_config(account, token_file, port=proxy.port)
    login = Credentials({}).oauth2_login(config)
    sessions = session_factory(open_store("sqlite://"))
    summary = sync_mailbox(sessions, config, login, signals=False, sleep=sleep)
    assert proxy.cuts == 1 and summary.retries == 1
    assert login.renewals == 1 and login.access_token() == renewed[0]  # refused, then renewed once
    assert summary.totals.new == 600 and stored(sessions) == 600  # every message, once


def test_a_revoked_token_is_one_line_naming_the_mailbox_and_what_to_run(
    make_oauth_account: Callable[[], Any], oauth_server: Any, tmp_path: Path
) -> None:
    account = make_oauth_account()
    token_file = tmp_path / "token"
    token_file.write_text(oauth_server.issue(account.user))
    oauth_server.revoke(account.user)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[mailboxes.work]\nhost = "127.0.0.1"\nport = {account.port}\nsecurity = "plain"\n'
        f'username = "{account.user}"\nauth = "oauth2"\noauth2_token_command = "cat {token_file}"\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "outreach", "--config", str(config), "--database-url",
         f"sqlite:///{tmp_path / 'o.db'}", "sync", "--mailbox", "work"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: 127.0.0.1: mailbox 'work': the OAuth2 token for ")
    assert "was refused (XOAUTH2: " in lines[0] and "outreach login --mailbox work" in lines[0]
    assert "at-" not in done.stderr  # not the token


def test_a_failing_token_command_is_one_line(make_oauth_account: Callable[[], Any], tmp_path: Path) -> None:
    account = make_oauth_account()
    config = token_command_config(account, tmp_path / "no-such-file")
    with pytest.raises(Exception, match=r"\[mailboxes.work\] oauth2_token_command failed \(exit 1\): cat: "):
        sync_mailbox(session_factory(open_store("sqlite://")), config, Credentials({}).imap_login(config))


# ------------------------------------------------------------------------------------------ keyring path


def write_config(tmp_path: Path, account: Any, provider: str, oauth_server: Any) -> Path:
    config = tmp_path / "config.toml"
    endpoints = (
        f'oauth2_authority = "{oauth_server.microsoft_authority}"'
        if provider == "microsoft"
        else f'oauth2_client_secret = "not-secret"\noauth2_token_url = "{oauth_server.google_token_url}"\n'
        f'oauth2_auth_url = "{oauth_server.google_auth_url}"'
    )
    config.write_text(
        f'[mailboxes.work]\nhost = "127.0.0.1"\nport = {account.port}\nsecurity = "plain"\n'
        f'username = "{account.user}"\naddresses = ["{OWNER}"]\nauth = "oauth2"\n'
        f'oauth2_provider = "{provider}"\noauth2_client_id = "test-client"\n{endpoints}\n'
    )
    return config


def cli_env(file_keyring: dict[str, str], oauth_server: Any) -> dict[str, str]:
    return {**os.environ, **file_keyring, "REQUESTS_CA_BUNDLE": str(oauth_server.ca_file)}


def signed_out(
    make_account: Callable[[], Any], oauth_server: Any, file_keyring: dict[str, str], tmp_path: Path, provider: str,
    messages: int,
) -> tuple[Any, Path, dict[str, str]]:  # fmt: skip
    """A new account with ``messages`` messages, its config for ``provider``, and the CLI's environment."""
    account = make_account()
    account.write_messages(synthetic(messages, seed=messages))
    return account, write_config(tmp_path, account, provider, oauth_server), cli_env(file_keyring, oauth_server)


def outreach(env: dict[str, str], config: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "outreach", "--config", str(config), "--database-url",
         f"sqlite:///{tmp_path / 'o.db'}", *args],
        capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip


def test_microsoft_device_code_login_then_sync_with_the_refresh_token(
    make_oauth_account: Callable[[], Any], oauth_server: Any, file_keyring: dict[str, str], tmp_path: Path
) -> None:
    account, config, env = signed_out(make_oauth_account, oauth_server, file_keyring, tmp_path, "microsoft", 20)
    oauth_server.device_user = account.user
    login = outreach(env, config, tmp_path, "login", "--mailbox", "work")
    assert login.returncode == 0, login.stderr
    assert "enter the code TEST-CODE" in login.stdout and f"signed in {account.user} (mailbox work)" in login.stdout
    refresh_token = keyring.get_password("outreach", f"oauth2:{account.user}")  # the same file-backed keyring
    assert refresh_token is not None and refresh_token.startswith(f"rt-{account.user}-")
    assert refresh_token not in login.stdout + login.stderr  # never printed
    grants = len(oauth_server.grants)
    synced = outreach(env, config, tmp_path, "sync", "--mailbox", "work", "--no-signals", "-q")
    assert synced.returncode == 0, synced.stderr
    assert "new 20" in synced.stdout
    assert oauth_server.grants[grants:] == ["refresh_token"]  # msal refreshed with the keyring's token
    # the sign-in revoked at the provider: one line, and what to run
    oauth_server.revoke(account.user)
    again = outreach(env, config, tmp_path, "sync", "--mailbox", "work", "--no-signals", "-q")
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        f"error: 127.0.0.1: mailbox 'work': the sign-in of {account.user} was revoked or has expired "
        "(invalid_grant: Token has been expired or revoked.); run `outreach login --mailbox work`"
    ]


def test_google_loopback_login_then_sync_with_the_refresh_token(
    make_oauth_account: Callable[[], Any], oauth_server: Any, file_keyring: dict[str, str], tmp_path: Path
) -> None:
    account, config, env = signed_out(make_oauth_account, oauth_server, file_keyring, tmp_path, "google", 10)
    proc = subprocess.Popen(
        [sys.executable, "-m", "outreach", "--config", str(config), "login", "--mailbox", "work", "--no-browser"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = ""
        deadline = time.monotonic() + 60
        while not url.startswith("https://") and time.monotonic() < deadline:
            url = proc.stdout.readline().strip()
        assert url.startswith(oauth_server.google_auth_url), url
        redirect = re.search(r"redirect_uri=([^&]+)", url)
        state = re.search(r"state=([^&]+)", url)
        assert redirect and state and "scope=https%3A%2F%2Fmail.google.com%2F" in url
        back = urllib.parse.unquote(redirect.group(1))
        assert back.startswith("http://localhost:")  # the loopback redirect
        code = oauth_server.code_for(account.user)
        with urllib.request.urlopen(f"{back}?state={state.group(1)}&code={code}", timeout=30) as answer:
            assert b"signed in" in answer.read()  # what the browser shows
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert f"signed in {account.user} (mailbox work)" in out
    assert (keyring.get_password("outreach", f"oauth2:{account.user}") or "").startswith(f"rt-{account.user}-")
    synced = outreach(env, config, tmp_path, "sync", "--mailbox", "work", "--no-signals", "-q")
    assert synced.returncode == 0 and "new 10" in synced.stdout, synced.stderr


def test_not_signed_in_says_what_to_run(
    make_oauth_account: Callable[[], Any], oauth_server: Any, file_keyring: dict[str, str], tmp_path: Path
) -> None:
    account = make_oauth_account()
    config = write_config(tmp_path, account, "google", oauth_server)
    done = outreach(cli_env(file_keyring, oauth_server), config, tmp_path, "sync", "--mailbox", "work")
    assert done.returncode == 2
    assert done.stderr == (
        f"error: mailbox 'work': not signed in (no refresh token in the keyring under outreach oauth2:{account.user}); "
        "run `outreach login --mailbox work`\n"
    )


def test_the_keyring_refresh_renews_an_expired_token_on_reconnect(
    make_oauth_account: Callable[[], Any], make_flaky_proxy: Callable[..., Any], oauth_server: Any,
    file_keyring: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from outreach.auth import KEYRING_SERVICE

    account = make_oauth_account()
    account.write_messages(synthetic(400, seed=6))
    proxy = make_flaky_proxy(account.host, account.port)
    proxy.cut_after(600_000, times=1)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(oauth_server.ca_file))
    keyring.set_password(KEYRING_SERVICE, f"oauth2:{account.user}", oauth_server.issue_refresh(account.user))
    config = MailboxConfig(
        name="work", host="127.0.0.1", port=proxy.port, username=account.user, security="plain",
        addresses=(OWNER,), batch_size=100, auth="oauth2",
        oauth2=OAuth2Config(provider="microsoft", client_id="test-client", authority=oauth_server.microsoft_authority),
    )  # fmt: skip
    login = Credentials({}).oauth2_login(config)

    def sleep(seconds: float) -> None:
        for token in oauth_server.active_tokens(account.user):
            oauth_server.expire(token)

    sessions = session_factory(open_store("sqlite://"))
    summary = sync_mailbox(sessions, config, login, signals=False, sleep=sleep)
    assert summary.retries == 1 and login.renewals == 1
    assert summary.totals.new == 400 and stored(sessions) == 400
    oauth_server.revoke(account.user)
    with pytest.raises(AuthenticationError, match=r"mailbox 'work'.*run `outreach login --mailbox work`"):
        Credentials({}).oauth2_login(config).access_token()
