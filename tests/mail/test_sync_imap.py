"""IMAP sync against a real Dovecot loaded with the real Enron mailboxes."""

from __future__ import annotations

import email
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from email.utils import getaddresses
from pathlib import Path

import pytest
from conftest import assert_ledgers_equal_a_rebuild
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from outreach.config import MailboxConfig
from outreach.ledger.history import histories
from outreach.mail.runs import sync_mailbox
from outreach.mail.threads import subject_key
from outreach.store import open_store, session_factory
from outreach.store.models import Folder, Message, MessageLocation

pytestmark = pytest.mark.integration

ENRON_USERS = ("beck-s", "germany-c", "kaminski-v", "mann-k")
REPO = Path(__file__).resolve().parents[2]


def config_for(account: object, name: str = "me", **extra: object) -> MailboxConfig:
    return MailboxConfig(
        name=name,
        host=account.host,
        port=account.port,
        username=account.user,  # type: ignore[attr-defined]
        security="plain",
        **extra,  # type: ignore[arg-type]
    )


def load_enron(account: object, enron_dir: Path, user: str) -> dict[str, int]:
    inbox = account.load_maildir(enron_dir / user / "cur")  # type: ignore[attr-defined]
    sent = account.load_maildir(enron_dir / user / ".Sent_reconstructed" / "cur", "Sent_reconstructed")  # type: ignore[attr-defined]
    return {"INBOX": inbox, "Sent_reconstructed": sent}


def location_counts(sessions: sessionmaker[Session], mailbox: str) -> dict[str, int]:
    from outreach.store.models import Mailbox

    with sessions() as session:
        rows = session.execute(
            select(Folder.name, func.count(MessageLocation.id))
            .join(MessageLocation, MessageLocation.folder_id == Folder.id)
            .join(Mailbox, Mailbox.id == Folder.mailbox_id)
            .where(Mailbox.name == mailbox)
            .group_by(Folder.name)
        ).all()
    return dict(rows)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def enron_synced(dovecot: object, enron_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """All four Enron mailboxes in Dovecot, each synced once into one SQLite store."""
    url = f"sqlite:///{tmp_path_factory.mktemp('enron') / 'store.db'}"
    sessions = session_factory(open_store(url))
    out: dict[str, object] = {"sessions": sessions, "accounts": {}, "files": {}, "summaries": {}}
    for user in ENRON_USERS:
        password = f"pw-{user}"
        dovecot.add_user(f"enron-{user}", password)  # type: ignore[attr-defined]

        class Account:
            host, port = dovecot.host, dovecot.port  # type: ignore[attr-defined]

        account = Account()
        account.user = f"enron-{user}"  # type: ignore[attr-defined]
        account.load_maildir = lambda src, folder=None, u=f"enron-{user}": dovecot.load_maildir(u, src, folder)  # type: ignore[attr-defined]
        out["files"][user] = load_enron(account, enron_dir, user)  # type: ignore[index]
        out["accounts"][user] = account  # type: ignore[index]
        out["summaries"][user] = sync_mailbox(sessions, config_for(account, user), password)  # type: ignore[index]
    return out


def test_enron_sync_gives_exact_counts_per_folder(enron_synced: dict[str, object]) -> None:
    sessions = enron_synced["sessions"]
    for user in ENRON_USERS:
        files = enron_synced["files"][user]  # type: ignore[index]
        summary = enron_synced["summaries"][user]  # type: ignore[index]
        fetched = {f.name: f.stats.fetched for f in summary.folders}
        assert fetched == files, user
        assert location_counts(sessions, user) == files, user  # type: ignore[arg-type]
        assert summary.totals.skipped_total == 0


def test_enron_owner_and_direction_come_from_the_sent_folder(enron_synced: dict[str, object]) -> None:
    sessions: sessionmaker[Session] = enron_synced["sessions"]  # type: ignore[assignment]
    with sessions() as session:
        out_in_sent = session.execute(
            select(Folder.name, MessageLocation.direction, func.count())
            .join(MessageLocation, MessageLocation.folder_id == Folder.id)
            .group_by(Folder.name, MessageLocation.direction)
        ).all()
    by = {(name, direction): n for name, direction, n in out_in_sent}
    total_sent = sum(enron_synced["files"][u]["Sent_reconstructed"] for u in ENRON_USERS)  # type: ignore[index]
    assert by[("Sent_reconstructed", "out")] == total_sent
    assert ("Sent_reconstructed", "in") not in by


def test_no_message_is_stored_twice(enron_synced: dict[str, object]) -> None:
    sessions: sessionmaker[Session] = enron_synced["sessions"]  # type: ignore[assignment]
    with sessions() as session:
        messages = session.scalar(select(func.count()).select_from(Message))
        keys = session.scalar(select(func.count(func.distinct(Message.message_key))))
        locations = session.scalar(select(func.count()).select_from(MessageLocation))
    files = sum(sum(f.values()) for f in enron_synced["files"].values())  # type: ignore[attr-defined]
    assert messages == keys
    assert locations == files
    assert messages is not None and messages < files  # some mail sits in two mailboxes: one message, two places


def _two_way_from_files(enron_dir: Path, user: str) -> set[str]:
    """Independent reading of the files: contacts we wrote to and who wrote back under the same subject."""

    def read(folder: Path) -> list[email.message.Message]:
        return [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.iterdir())]

    sent = read(enron_dir / user / ".Sent_reconstructed" / "cur")
    from collections import Counter

    senders = Counter(email.utils.parseaddr(m["From"])[1].lower() for m in sent)
    own = {a for a, n in senders.items() if n >= 2}
    wrote_to: set[tuple[str, str]] = set()
    for m in sent:
        rcpts = getaddresses(m.get_all("To", []) + m.get_all("Cc", []) + m.get_all("Bcc", []))
        if len(rcpts) > 15:
            continue
        for _, addr in rcpts:
            wrote_to.add((addr.lower(), subject_key(m["Subject"])))
    answered: set[str] = set()
    for m in read(enron_dir / user / "cur"):
        sender = email.utils.parseaddr(m["From"])[1].lower()
        rcpts = getaddresses(m.get_all("To", []) + m.get_all("Cc", []))
        if sender in own or len(rcpts) > 15 or not subject_key(m["Subject"]):
            continue
        if (sender, subject_key(m["Subject"])) in wrote_to:
            answered.add(sender)
    return answered


def test_two_way_contacts_match_the_mail(enron_synced: dict[str, object], enron_dir: Path) -> None:
    from outreach.ledger.history import mailbox_id_for

    sessions: sessionmaker[Session] = enron_synced["sessions"]  # type: ignore[assignment]
    for user in ENRON_USERS:
        expected = _two_way_from_files(enron_dir, user)
        with sessions() as session:
            found = {
                h.address for h in histories(session, mailbox_id=mailbox_id_for(session, user)) if h.two_way_threads
            }
        # Every pair the files show is found; threading by time window may find a few more or split none.
        assert expected <= found, (user, expected - found)
        assert expected, user


def test_resync_with_no_change_fetches_nothing(enron_synced: dict[str, object]) -> None:
    sessions = enron_synced["sessions"]
    for user in ENRON_USERS:
        account = enron_synced["accounts"][user]  # type: ignore[index]
        summary = sync_mailbox(sessions, config_for(account, user), f"pw-{user}")  # type: ignore[arg-type]
        assert summary.totals.fetched == 0
        assert {f.status for f in summary.folders} == {"unchanged"}
        assert summary.seconds < 2.0  # generous: a status check per folder (the benchmark measures it)


def test_incremental_sync_fetches_only_new_mail(imap_account: object, enron_dir: Path, tmp_path: Path) -> None:
    load_enron(imap_account, enron_dir, "germany-c")
    sessions = session_factory(open_store(f"sqlite:///{tmp_path / 's.db'}"))
    config = config_for(imap_account)
    first = sync_mailbox(sessions, config, imap_account.password)  # type: ignore[attr-defined]
    new = [
        f"Message-ID: <new{i}@example.org>\r\nFrom: pat@example.org\r\nTo: chris.germany@enron.com\r\n"
        f"Subject: new {i}\r\nDate: Mon, 5 Jan 2015 10:00:00 +0000\r\n\r\nHello {i}\r\n".encode()
        for i in range(3)
    ]
    imap_account.append("INBOX", new)  # type: ignore[attr-defined]
    second = sync_mailbox(sessions, config, imap_account.password)  # type: ignore[attr-defined]
    assert second.totals.fetched == 3 and second.totals.new == 3
    assert {f.name: f.stats.fetched for f in second.folders} == {"INBOX": 3, "Sent_reconstructed": 0}
    assert first.totals.fetched + 3 == sum(location_counts(sessions, "me").values())


def test_sync_never_changes_the_server_mailbox(imap_account: object) -> None:
    raw = [
        f"Message-ID: <u{i}@example.org>\r\nFrom: a@example.org\r\nSubject: s{i}\r\n\r\nbody\r\n".encode()
        for i in range(5)
    ]
    imap_account.write_messages(raw, flags="")  # type: ignore[attr-defined]
    before = imap_account.status("INBOX")  # type: ignore[attr-defined]
    sessions = session_factory(open_store("sqlite://"))
    sync_mailbox(sessions, config_for(imap_account), imap_account.password)  # type: ignore[attr-defined]
    after = imap_account.status("INBOX")  # type: ignore[attr-defined]
    assert after["UNSEEN"] == before["UNSEEN"] == 5
    assert after["MESSAGES"] == 5


def test_uidvalidity_change_resyncs_without_duplicates(imap_account: object, enron_dir: Path, tmp_path: Path) -> None:
    files = load_enron(imap_account, enron_dir, "mann-k")
    sessions = session_factory(open_store(f"sqlite:///{tmp_path / 's.db'}"))
    config = config_for(imap_account)
    sync_mailbox(sessions, config, imap_account.password)  # type: ignore[attr-defined]
    with sessions() as session:
        before = session.scalar(select(func.count()).select_from(Message))
    old = imap_account.status("Sent_reconstructed")["UIDVALIDITY"]  # type: ignore[attr-defined]
    assert imap_account.recreate_folder("Sent_reconstructed") != old  # type: ignore[attr-defined]
    summary = sync_mailbox(sessions, config, imap_account.password)  # type: ignore[attr-defined]
    sent = next(f for f in summary.folders if f.name == "Sent_reconstructed")
    assert sent.status == "resynced (UIDVALIDITY changed)"
    assert (sent.stats.fetched, sent.stats.new, sent.stats.duplicates) == (
        files["Sent_reconstructed"],
        0,
        files["Sent_reconstructed"],
    )
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == before
    assert location_counts(sessions, "me") == files


def test_dropped_connection_is_retried_and_the_sync_completes(
    imap_account: object, enron_dir: Path, make_flaky_proxy: Callable[..., object]
) -> None:
    files = load_enron(imap_account, enron_dir, "kaminski-v")
    proxy = make_flaky_proxy(imap_account.host, imap_account.port, cut_after_bytes=400_000)  # type: ignore[attr-defined]
    config = MailboxConfig(
        name="me",
        host="127.0.0.1",
        port=proxy.port,
        username=imap_account.user,  # type: ignore[attr-defined]
        security="plain",
        batch_size=50,
    )
    sessions = session_factory(open_store("sqlite://"))
    from outreach.mail import imap as imap_sync
    summary = imap_sync.ImapSync(sessions, config, imap_account.password, sleep=lambda s: None).run()  # type: ignore[attr-defined]
    assert summary.retries >= 1
    assert location_counts(sessions, "me") == files


def _generated(n: int) -> list[bytes]:
    from conftest import load_synthetic_mail

    return list(load_synthetic_mail().generate_messages(n, seed=7))


def test_killed_sync_resumes_with_exact_count(imap_account: object, tmp_path: Path) -> None:
    messages = _generated(3000)
    imap_account.write_messages(messages)  # type: ignore[attr-defined]
    db = tmp_path / "kill.db"
    env = {**os.environ, "OUTREACH_IMAP_PASSWORD": imap_account.password}  # type: ignore[attr-defined]
    cmd = [
        sys.executable,
        "-m",
        "outreach",
        "--database-url",
        f"sqlite:///{db}",
        "sync",
        "--host",
        imap_account.host,
        "--port",
        str(imap_account.port),
        "--user",
        imap_account.user,  # type: ignore[attr-defined]
        "--security",
        "plain",
        "--address",
        "owner@example.org",
        "--batch-size",
        "100",
        "--quiet",
        "--name",
        "me",
    ]
    # A session of its own, so that only this run's parse worker is looked for (not another test's).
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    sessions = session_factory(open_store(f"sqlite:///{db}"))
    deadline = time.monotonic() + 60
    stored = 0
    while time.monotonic() < deadline and proc.poll() is None:
        with sessions() as session:
            stored = session.scalar(select(func.count()).select_from(MessageLocation)) or 0
        if stored >= 300:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < stored < len(messages), "the sync was not caught mid-way"
    # Its parse worker sees its stdin close and exits: nothing is left running.
    deadline = time.monotonic() + 10
    while _prepare_workers(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _prepare_workers(proc.pid)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == len(messages)
        assert session.scalar(select(func.count()).select_from(MessageLocation)) == len(messages)
        from outreach.store.models import SyncRun

        statuses = sorted(session.scalars(select(SyncRun.status)))
        assert statuses == ["done", "interrupted"]  # the crash is handled once, not at every later sync
    # The killed run committed batches without refreshing their contacts' ledgers; the rerun noticed
    # the crashed run and refreshed everything, so the stored ledgers equal a full rebuild.
    assert_ledgers_equal_a_rebuild(sessions)


def _prepare_workers(sid: int) -> list[str]:
    """Live parse workers in session ``sid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            words = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z" and b"outreach.mail.worker" in words:
            found.append(stat.parent.name)
    return found


def test_the_api_works_from_a_script_without_a_main_guard(imap_account: object, tmp_path: Path) -> None:
    """The parse worker is a plain child process: it never re-imports the caller's __main__."""
    from outreach.mail import imap as imap_sync
    imap_account.write_messages(_generated(imap_sync.PARALLEL_THRESHOLD + 100))  # type: ignore[attr-defined]
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from outreach.mail.runs import sync_mailbox\n"
        "from outreach.config import MailboxConfig\n"
        "from outreach.store import open_store, session_factory\n"
        f"sessions = session_factory(open_store('sqlite:///{tmp_path / 'u.db'}'))\n"
        f"config = MailboxConfig(name='me', host='127.0.0.1', port={imap_account.port}, "  # type: ignore[attr-defined]
        f"username='{imap_account.user}', security='plain', addresses=('owner@example.org',))\n"  # type: ignore[attr-defined]
        f"print(sync_mailbox(sessions, config, '{imap_account.password}', signals=False).totals.new)\n"  # type: ignore[attr-defined]
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(imap_sync.PARALLEL_THRESHOLD + 100)


def test_signals_from_the_worker_equal_those_computed_in_process(imap_account: object, tmp_path: Path) -> None:
    from outreach.mail import imap as imap_sync
    from outreach.signals.storage import rebuild
    from outreach.store.models import Signal

    messages = _generated(imap_sync.PARALLEL_THRESHOLD + 200)
    imap_account.write_messages(messages)  # type: ignore[attr-defined]
    sessions = session_factory(open_store(f"sqlite:///{tmp_path / 'w.db'}"))
    sync_mailbox(sessions, config_for(imap_account, addresses=("owner@example.org",)), imap_account.password)  # type: ignore[attr-defined]

    def signals() -> list[tuple[int, str, str]]:
        with sessions() as session:
            return sorted(session.execute(select(Signal.message_id, Signal.kind, Signal.sentence)).tuples())

    from_worker = signals()
    assert len(from_worker) > 100
    with sessions() as session:
        rebuild(session)
        session.commit()
    assert signals() == from_worker


def _run_cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "outreach", "--database-url", "sqlite://", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_wrong_password_is_a_one_line_error_naming_the_host(imap_account: object) -> None:
    done = _run_cli(
        "sync",
        "--host",
        "127.0.0.1",
        "--port",
        str(imap_account.port),
        "--user",
        imap_account.user,  # type: ignore[attr-defined]
        "--security",
        "plain",
        env_extra={"OUTREACH_IMAP_PASSWORD": "wrong"},
    )
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert done.stderr.startswith("error: 127.0.0.1: login failed")


def test_unknown_host_and_tls_errors_name_the_host(imap_account: object) -> None:
    done = _run_cli("sync", "--host", "no-such-host.invalid", "--user", "x", env_extra={"OUTREACH_IMAP_PASSWORD": "x"})
    assert done.returncode == 1
    assert (
        done.stderr.strip() == "error: no-such-host.invalid: unknown host (Name or service not known)"
        or done.stderr.startswith("error: no-such-host.invalid: unknown host")
    )
    # IMAPS against a plaintext port: the TLS handshake fails, and the error says where.
    done = _run_cli(
        "sync",
        "--host",
        "127.0.0.1",
        "--port",
        str(imap_account.port),
        "--user",
        "x",  # type: ignore[attr-defined]
        "--security",
        "ssl",
        env_extra={"OUTREACH_IMAP_PASSWORD": "x"},
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: 127.0.0.1: TLS error"), done.stderr
