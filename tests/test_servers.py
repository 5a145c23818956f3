"""The test-server harness itself works: real Dovecot, PostgreSQL, SMTP and the flaky proxy."""

from __future__ import annotations

import contextlib
import email
import imaplib
import os
import re
import smtplib
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable
from email import policy
from pathlib import Path
from types import ModuleType

import pytest
from conftest import ImapAccount
from servers import DovecotServer, FlakyProxy, PostgresServer, SmtpServer, in_ci, unavailable

# Tests using server fixtures are marked `integration` by conftest.py.

REPO_ROOT = Path(__file__).resolve().parent.parent


def _msg(i: int, subject: str = "hello", size: int = 0) -> bytes:
    body = f"Message {i}.\n" + ("x" * 75 + "\n") * (size // 76)
    return (
        (
            f"From: Sender {i} <sender{i}@example.com>\r\n"
            f"To: owner@example.org\r\n"
            f"Subject: {subject} {i}\r\n"
            f"Message-ID: <harness-{i}@example.com>\r\n"
            f"Date: Mon, 03 Jun 2024 10:{i % 60:02d}:00 +0000\r\n"
            f"\r\n{body}"
        )
        .encode()
        .replace(b"\n", b"\r\n")
        .replace(b"\r\r\n", b"\r\n")
    )


def _list(conn: imaplib.IMAP4, *extra: str) -> dict[str, set[str]]:
    """Folder name -> its LIST flags."""
    typ, data = conn._simple_command("LIST", '""', '"*"', *extra)
    assert typ == "OK", data
    _typ, lines = conn._untagged_response(typ, data, "LIST")
    result = {}
    for line in lines:
        if not isinstance(line, bytes):
            continue
        m = re.match(rb'\(([^)]*)\) "[^"]*" "?([^"]*)"?', line)
        assert m, line
        result[m.group(2).decode()] = set(m.group(1).decode().split())
    return result


def _select(conn: imaplib.IMAP4, folder: str) -> tuple[int, int]:
    """SELECT a folder; return (EXISTS, UIDVALIDITY)."""
    typ, data = conn.select(f'"{folder}"', readonly=True)
    assert typ == "OK", data
    uidvalidity = int(conn.untagged_responses["UIDVALIDITY"][-1])  # type: ignore[arg-type]
    return int(data[0]), uidvalidity  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------
# Dovecot
# ------------------------------------------------------------------------------------------------


def test_dovecot_login_and_list_with_special_use(imap_account: ImapAccount) -> None:
    assert imap_account.host == "127.0.0.1"
    imap_account.append("Sent", [_msg(1)])
    with imap_account.connect() as conn:
        typ, caps = conn.capability()
        capabilities = caps[0].split()
        for cap in (b"SPECIAL-USE", b"CONDSTORE", b"UIDPLUS", b"MULTIAPPEND"):
            assert cap in capabilities
        folders = _list(conn)
        assert set(folders) == {"INBOX", "Sent"}
        assert "\\Sent" in folders["Sent"]
        assert "\\Sent" not in folders["INBOX"]
        # RFC 6154 discovery: LIST ... RETURN (SPECIAL-USE)
        special = _list(conn, "RETURN", "(SPECIAL-USE)")
        assert [name for name, flags in special.items() if "\\Sent" in flags] == ["Sent"]


def test_dovecot_rejects_wrong_password(dovecot: DovecotServer, imap_account: ImapAccount) -> None:
    conn = imaplib.IMAP4(dovecot.host, dovecot.port, timeout=10)
    try:
        with pytest.raises(imaplib.IMAP4.error):
            conn.login(imap_account.user, "wrong")
    finally:
        conn.shutdown()


def test_dovecot_loads_enron_maildir(imap_account: ImapAccount, enron_dir: Path) -> None:
    person = enron_dir / "beck-s"
    inbox_files = sorted((person / "cur").iterdir())[:25]
    sent_files = sorted((person / ".Sent_reconstructed" / "cur").iterdir())
    assert imap_account.load_maildir(person, limit=25) == 25
    assert imap_account.load_maildir(person / ".Sent_reconstructed", "Sent_reconstructed") == len(sent_files)

    assert imap_account.status("INBOX")["MESSAGES"] == 25
    assert imap_account.status("Sent_reconstructed")["MESSAGES"] == len(sent_files)
    with imap_account.connect() as conn:
        folders = _list(conn)
        assert "\\Sent" in folders["Sent_reconstructed"]
        # The bytes served are the file's bytes (with CRLF line ends).
        _select(conn, "INBOX")
        typ, data = conn.uid("FETCH", "1", "(BODY.PEEK[])")
        assert typ == "OK"
        served = data[0][1]
        original = inbox_files[0].read_bytes()
        assert served.replace(b"\r\n", b"\n") == original.replace(b"\r\n", b"\n")
        assert email.message_from_bytes(served)["Message-ID"]
    if os.geteuid() == 0:
        st = os.stat(imap_account.maildir / "cur" / inbox_files[0].name)
        assert (st.st_uid, st.st_gid) == (imap_account.server.mail_uid, imap_account.server.mail_gid)


def test_dovecot_recreate_folder_changes_uidvalidity(imap_account: ImapAccount) -> None:
    imap_account.write_messages([_msg(i) for i in range(5)], "Sent")
    imap_account.write_messages([_msg(i) for i in range(3)])
    with imap_account.connect() as conn:
        assert _select(conn, "Sent")[0] == 5
        _exists, sent_before = _select(conn, "Sent")
        _exists, inbox_before = _select(conn, "INBOX")

    new = imap_account.recreate_folder("Sent")
    with imap_account.connect() as conn:
        exists, sent_after = _select(conn, "Sent")
        assert exists == 5  # same messages, new UIDVALIDITY
        assert sent_after == new != sent_before
        assert "\\Sent" in _list(conn)["Sent"]

    new_inbox = imap_account.recreate_folder("INBOX")
    with imap_account.connect() as conn:
        exists, inbox_after = _select(conn, "INBOX")
        assert exists == 3
        assert inbox_after == new_inbox != inbox_before


def test_dovecot_accounts_are_isolated(make_imap_account: Callable[[], ImapAccount]) -> None:
    a, b = make_imap_account(), make_imap_account()
    assert a.user != b.user
    a.append("INBOX", [_msg(1), _msg(2)])
    b.write_messages([_msg(3)])
    assert a.status("INBOX")["MESSAGES"] == 2
    assert b.status("INBOX")["MESSAGES"] == 1


def test_dovecot_append_and_flags(imap_account: ImapAccount) -> None:
    assert imap_account.append("Archive", [_msg(i) for i in range(3)], flags="\\Seen") == 3
    imap_account.append("Archive", [_msg(9)])
    status = imap_account.status("Archive")
    assert status["MESSAGES"] == 4
    assert status["UNSEEN"] == 1
    assert status["HIGHESTMODSEQ"] >= 1


# ------------------------------------------------------------------------------------------------
# PostgreSQL
# ------------------------------------------------------------------------------------------------


def test_postgres_select_one_with_sqlalchemy(postgres: PostgresServer) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    url = postgres.create_database("harness_select_one")
    assert url == f"postgresql+psycopg://postgres@127.0.0.1:{postgres.port}/harness_select_one"
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("select 1")).scalar() == 1
            version = conn.execute(sqlalchemy.text("show server_version")).scalar()
            assert int(str(version).split(".")[0]) >= 13
            assert conn.execute(sqlalchemy.text("show fsync")).scalar() == "off"
    finally:
        engine.dispose()
    postgres.drop_database("harness_select_one")


def test_postgres_databases_are_isolated(postgres: PostgresServer) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engines = [
        sqlalchemy.create_engine(postgres.create_database(n)) for n in ("harness_iso_a", "harness_iso_b")
    ]
    try:
        with engines[0].begin() as conn:
            conn.execute(sqlalchemy.text("create table t (x int)"))
            conn.execute(sqlalchemy.text("insert into t values (42)"))
        with engines[1].connect() as conn:
            assert conn.execute(sqlalchemy.text("select to_regclass('public.t')")).scalar() is None
        with engines[0].connect() as conn:
            assert conn.execute(sqlalchemy.text("select x from t")).scalar() == 42
    finally:
        for engine in engines:
            engine.dispose()


def test_database_url_is_fresh_and_usable(database_url: str) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(database_url)
    try:
        assert sqlalchemy.inspect(engine).get_table_names() == []
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("create table note (id integer primary key, body text)"))
            conn.execute(sqlalchemy.text("insert into note (id, body) values (1, 'hi')"))
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("select body from note")).scalar() == "hi"
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------------------
# SMTP
# ------------------------------------------------------------------------------------------------


def test_smtp_receives_messages(smtp_server: SmtpServer) -> None:
    raw = _msg(1)
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        client.sendmail("owner@example.org", ["a@example.com", "b@example.net"], raw)
        # many messages in one session (aiosmtpd's per-command limit is off)
        for i in range(30):
            client.sendmail("owner@example.org", [f"r{i}@example.com"], _msg(i))
    received = smtp_server.wait_for(31)
    first = received[0]
    assert first.mail_from == "owner@example.org"
    assert first.rcpt_tos == ("a@example.com", "b@example.net")
    assert first.data.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    assert email.message_from_bytes(first.data)["Subject"] == "hello 1"


def test_smtp_auth(make_smtp_server: Callable[..., SmtpServer]) -> None:
    server = make_smtp_server(auth=("pr-team", "s3cret"))
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("auth")
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("owner@example.org", ["a@example.com"], _msg(1))
        assert refused.value.smtp_code == 530
    with (
        smtplib.SMTP(server.host, server.port, timeout=10) as client,
        pytest.raises(smtplib.SMTPAuthenticationError),
    ):
        client.login("pr-team", "wrong")
    for mechanism in ("PLAIN", "LOGIN"):
        with smtplib.SMTP(server.host, server.port, timeout=10) as client:
            client.ehlo()
            client.user, client.password = "pr-team", "s3cret"
            auth_object = client.auth_plain if mechanism == "PLAIN" else client.auth_login
            client.auth(mechanism, auth_object)
            client.sendmail("owner@example.org", ["a@example.com"], _msg(2))
    received = server.wait_for(2)
    assert [m.auth_user for m in received] == ["pr-team", "pr-team"]


def test_smtp_temporary_then_permanent_failures(smtp_server: SmtpServer) -> None:
    smtp_server.fail_rcpt("Later@Example.com", 451, times=2)
    smtp_server.fail_rcpt("gone@example.com", 550)
    codes = []
    for _attempt in range(3):
        with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
            try:
                client.sendmail("owner@example.org", ["later@example.com"], _msg(1))
                codes.append(250)
            except smtplib.SMTPRecipientsRefused as exc:
                codes.append(exc.recipients["later@example.com"][0])
    assert codes == [451, 451, 250]
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        refused = client.sendmail("owner@example.org", ["gone@example.com", "ok@example.com"], _msg(2))
        assert refused["gone@example.com"][0] == 550
    received = smtp_server.wait_for(2)
    assert [m.rcpt_tos for m in received] == [("later@example.com",), ("ok@example.com",)]
    assert smtp_server.rcpt_attempts["later@example.com"] == 3


# ------------------------------------------------------------------------------------------------
# FlakyProxy
# ------------------------------------------------------------------------------------------------


def test_flaky_proxy_cuts_imap_connection_after_n_bytes(
    imap_account: ImapAccount, make_flaky_proxy: Callable[..., FlakyProxy]
) -> None:
    imap_account.write_messages([_msg(i, size=20_000) for i in range(5)])
    proxy = make_flaky_proxy(imap_account.host, imap_account.port)
    conn = imaplib.IMAP4(proxy.host, proxy.port, timeout=10)
    conn.login(imap_account.user, imap_account.password)
    conn.select("INBOX", readonly=True)
    proxy.cut_after(30_000)  # in the middle of the second message
    with pytest.raises((imaplib.IMAP4.abort, OSError)):
        conn.uid("FETCH", "1:5", "(BODY.PEEK[])")
    conn.shutdown()
    assert proxy.cuts == 1
    assert proxy.open_connections == 0

    # One-shot: a retry goes through.
    with imaplib.IMAP4(proxy.host, proxy.port, timeout=10) as conn2:
        conn2.login(imap_account.user, imap_account.password)
        conn2.select("INBOX", readonly=True)
        typ, data = conn2.uid("FETCH", "1:5", "(BODY.PEEK[])")
        assert typ == "OK"
        assert len([d for d in data if isinstance(d, tuple)]) == 5
    assert proxy.connections == 2


def test_flaky_proxy_drop_all(imap_account: ImapAccount, make_flaky_proxy: Callable[..., FlakyProxy]) -> None:
    proxy = make_flaky_proxy(imap_account.host, imap_account.port)
    conn = imaplib.IMAP4(proxy.host, proxy.port, timeout=10)
    conn.login(imap_account.user, imap_account.password)
    assert conn.noop()[0] == "OK"
    proxy.drop_all()
    with pytest.raises((imaplib.IMAP4.abort, OSError)):
        conn.noop()
    conn.shutdown()
    proxy.refuse = True
    with pytest.raises((imaplib.IMAP4.abort, OSError, EOFError)):
        imaplib.IMAP4(proxy.host, proxy.port, timeout=5)


def test_flaky_proxy_raw_bytes(make_flaky_proxy: Callable[..., FlakyProxy]) -> None:
    """Exactly N bytes get through before the cut, counted across connections."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        proxy = make_flaky_proxy("127.0.0.1", port, cut_after_bytes=1000)
        with socket.create_connection((proxy.host, proxy.port), timeout=5) as client:
            server_side, _ = listener.accept()
            with server_side:
                server_side.sendall(b"a" * 600)
                received = b""
                while len(received) < 600:
                    received += client.recv(4096)
                with contextlib.suppress(OSError):
                    server_side.sendall(b"b" * 5000)
                while chunk := client.recv(4096):
                    received += chunk
    assert received == b"a" * 600 + b"b" * 400
    assert proxy.cuts == 1 and proxy.bytes_from_server == 1000


# ------------------------------------------------------------------------------------------------
# Synthetic mailbox generator (benchmarks/)
# ------------------------------------------------------------------------------------------------


def test_synthetic_mail_is_deterministic_and_realistic(synthetic_mail: ModuleType) -> None:
    messages = list(synthetic_mail.generate_messages(800, seed=3))
    assert messages == list(synthetic_mail.generate_messages(800, seed=3))
    assert messages != list(synthetic_mail.generate_messages(800, seed=4))
    parsed = [email.message_from_bytes(m, policy=policy.default) for m in messages]
    ids = [m["Message-ID"] for m in parsed]
    assert len(set(ids)) == len(ids)
    outbound = sum(synthetic_mail.is_outbound(m) for m in messages) / len(messages)
    assert 0.14 < outbound < 0.28
    assert all(
        (m["From"].addresses[0].addr_spec == "owner@example.org") == synthetic_mail.is_outbound(raw)
        for m, raw in zip(parsed, messages, strict=True)
    )
    types = [m.get_content_type() for m in parsed]
    assert types.count("text/plain") > len(types) / 2
    assert types.count("multipart/alternative") > 0.1 * len(types)
    assert "text/html" in types and "multipart/mixed" in types
    assert sum(1 for m in parsed if m["List-Unsubscribe"]) > 0.03 * len(parsed)
    replies = [m for m in parsed if m["In-Reply-To"]]
    assert len(replies) > 0.15 * len(parsed)
    assert set(r["In-Reply-To"] for r in replies) <= set(ids)
    bodies = [part.get_content() for m in replies if (part := m.get_body(("plain", "html"))) is not None]
    assert any("\n> " in b for b in bodies) and any("-----Original Message-----" in b for b in bodies)
    sizes = sorted(len(m) for m in messages)
    assert 2000 <= sizes[len(sizes) // 2] <= 8000
    attachments = [m for m in parsed if m.get_content_type() == "multipart/mixed"]
    for m in attachments:
        (att,) = list(m.iter_attachments())
        assert 50_000 <= len(att.get_content()) <= 200_000
    dates = [m["Date"].datetime for m in parsed]
    assert dates == sorted(dates)
    assert (dates[-1] - dates[0]).days > 2 * 365
    correspondents = {
        a.addr_spec for m in parsed for h in ("From", "To", "Cc") if m[h] for a in m[h].addresses
    }
    assert len(correspondents) > 250
    assert len({a.split("@")[1] for a in correspondents}) > 100
    assert not any(m.defects for m in parsed)


def test_synthetic_maildir_in_dovecot(synthetic_mail: ModuleType, imap_account: ImapAccount) -> None:
    server = imap_account.server
    counts = synthetic_mail.write_mailbox(
        imap_account.maildir,
        2000,
        seed=5,
        uid=server.mail_uid if os.geteuid() == 0 else None,
        gid=server.mail_gid if os.geteuid() == 0 else None,
    )
    assert counts["INBOX"] + counts["Sent"] == 2000
    assert imap_account.status("INBOX")["MESSAGES"] == counts["INBOX"]
    assert imap_account.status("Sent")["MESSAGES"] == counts["Sent"]
    extra = synthetic_mail.write_maildir(
        imap_account.maildir, synthetic_mail.generate_messages(10, seed=9), "Archive"
    )
    imap_account.server.fix_ownership(imap_account.user)
    assert extra == 10 and imap_account.status("Archive")["MESSAGES"] == 10


# ------------------------------------------------------------------------------------------------
# Skip policy
# ------------------------------------------------------------------------------------------------


def test_unavailable_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "false")
    assert not in_ci()
    with pytest.raises(pytest.skip.Exception):
        unavailable("thing missing")
    monkeypatch.setenv("CI", "true")
    assert in_ci()
    with pytest.raises(pytest.fail.Exception):
        unavailable("thing missing")


@pytest.mark.parametrize("ci", ["false", "true"])
def test_missing_dovecot_skips_or_fails(ci: str, tmp_path: Path) -> None:
    """End to end: with the dovecot binary hidden, a Dovecot test skips — or fails when CI=true."""
    test_file = tmp_path / "test_needs_dovecot.py"
    test_file.write_text(
        textwrap.dedent(
            """
            def test_needs_dovecot(dovecot):
                pass
            """
        )
    )
    shutil_conftest = (REPO_ROOT / "tests" / "conftest.py").read_text()
    (tmp_path / "conftest.py").write_text(shutil_conftest)
    for helper in ("servers.py", "team.py", "oauth_server.py"):  # the modules conftest.py imports
        (tmp_path / helper).write_text((REPO_ROOT / "tests" / helper).read_text())
    env = {**os.environ, "CI": ci, "OUTREACH_DOVECOT": str(tmp_path / "no-such-dovecot")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(test_file)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    if ci == "true":
        assert result.returncode == 1, output
        assert "1 error" in output and "must not skip" in output, output
    else:
        assert result.returncode == 0, output
        assert "1 skipped" in output and "Dovecot unavailable" in output, output
