"""Faults during a sync, against real servers started on 127.0.0.1 (Dovecot, PostgreSQL; no mocks):

- ``outreach sync`` killed with SIGKILL at a dozen seeded random points, then run to completion;
- the IMAP connection cut (FIN), reset (RST) or stalled mid-FETCH by a TCP proxy;
- a folder whose UIDVALIDITY changes, and folders renamed or deleted on the server between or during syncs;
- two syncs of one mailbox at once (the mailbox lock), and two teammates' mailboxes syncing at once into one
  PostgreSQL store.

The store is always checked against the server: per folder, the stored locations' UID -> Message-ID map
equals the server's (nothing lost, nothing stored twice), and ledgers equal a from-scratch rebuild.
"""

from __future__ import annotations

import email
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_ledgers_equal_a_rebuild
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from outreach.config import MailboxConfig
from outreach.errors import MailboxBusyError, MailServerError
from outreach.mail.parsing import message_ids, parse_message
from outreach.mail.runs import sync_mailbox
from outreach.store import mailbox_sync_lock, open_store, session_factory, sync_lock_path
from outreach.store.models import Contact, Folder, Mailbox, Message, MessageLocation, SyncRun

pytestmark = pytest.mark.integration

OWNER = "owner@example.org"  # the synthetic mailbox's owner (benchmarks/synthetic_mail.py)
TEAMMATE = "sam@example.org"


# ------------------------------------------------------------------------------------------ helpers


def synthetic(n: int, seed: int) -> list[bytes]:
    from conftest import load_synthetic_mail

    return list(load_synthetic_mail().generate_messages(n, seed=seed))


def sender_is(raw: bytes, address: str) -> bool:
    head = raw.split(b"\n\n", 1)[0]
    return any(
        line.lower().startswith(b"from:") and address.encode() in line.lower() for line in head.split(b"\n")
    )


def fill(account: Any, messages: Iterable[bytes], owner: str = OWNER) -> dict[str, int]:
    """Received mail into INBOX, the owner's own into Sent (SPECIAL-USE \\Sent on the test Dovecot)."""
    messages = list(messages)
    sent = [m for m in messages if sender_is(m, owner)]
    inbox = [m for m in messages if not sender_is(m, owner)]
    return {"INBOX": account.write_messages(inbox), "Sent": account.write_messages(sent, "Sent")}


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def server_map(account: Any, folder: str) -> dict[int, str]:
    """UID -> normalised Message-ID of every message in ``folder``, read from the server with imaplib."""
    with account.connect() as conn:
        typ, _ = conn.select(_quote(folder), readonly=True)
        assert typ == "OK", folder
        typ, data = conn.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    assert typ == "OK"
    found: dict[int, str] = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        uid = re.search(rb"UID (\d+)", item[0])
        assert uid is not None, item[0]
        ids = message_ids(email.message_from_bytes(item[1])["Message-ID"])
        found[int(uid.group(1))] = ids[0]
    return found


def store_map(sessions: sessionmaker[Session], mailbox: str, folder: str) -> dict[int, str]:
    """UID -> message key of the stored locations of ``mailbox``'s ``folder``; a UID stored twice fails."""
    with sessions() as session:
        rows = session.execute(
            select(MessageLocation.uid, Message.message_key)
            .join(Message, Message.id == MessageLocation.message_id)
            .join(Folder, Folder.id == MessageLocation.folder_id)
            .join(Mailbox, Mailbox.id == Folder.mailbox_id)
            .where(Mailbox.name == mailbox, Folder.name == folder)
        ).all()
    mapping = {uid: key for uid, key in rows}
    assert len(mapping) == len(rows), f"{mailbox}/{folder}: a UID is stored twice"
    return mapping  # type: ignore[return-value]


def count(sessions: sessionmaker[Session], model: Any) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def assert_store_equals_server(
    sessions: sessionmaker[Session], account: Any, folders: Iterable[str], mailbox: str = "me"
) -> None:
    for folder in folders:
        expected = server_map(account, folder)
        assert expected, folder
        assert store_map(sessions, mailbox, folder) == expected, f"{mailbox}/{folder}"


def sync_cmd(url: str, account: Any, *extra: str, name: str = "me", address: str = OWNER) -> list[str]:
    return [
        sys.executable, "-m", "outreach", "--database-url", url, "sync",
        "--host", account.host, "--port", str(account.port), "--user", account.user, "--security", "plain",
        "--address", address, "--name", name, "--quiet", *extra,
    ]  # fmt: skip


@dataclass
class Endpoint:
    """Where a client connects: the IMAP server itself, or a proxy in front of it."""

    host: str
    port: int
    user: str


def env_for(account: Any) -> dict[str, str]:
    return {**os.environ, "OUTREACH_IMAP_PASSWORD": account.password}


def session_processes(sid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the live processes in session ``sid`` (a CLI started with start_new_session)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) != sid or fields[0] == "Z":
                continue
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        found.append((int(stat.parent.name), cmdline))
    return found


def wait_for_no_processes(sid: int, timeout: float = 15.0) -> list[tuple[int, str]]:
    deadline = time.monotonic() + timeout
    while (left := session_processes(sid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


# ------------------------------------------------------------------------- 1. kill -9 at random points

KILL_SEED = 20261122
KILL_POINTS = 12


@dataclass
class KillPoint:
    threshold: int  # the run is killed `delay` seconds after the store holds this many locations
    delay: float
    stored: int = -1  # locations stored when it was killed (-1: the run finished first)
    worker: bool = False  # its parse worker was running when it was killed


def kill_points(rng: random.Random, total: int) -> list[KillPoint]:
    """Kill points spread over a whole sync: one in start-up (imports, store, login, folder listing), one in
    each of KILL_POINTS - 3 equal strata of the messages, and two after the last message is stored (the
    ledger refresh and exit)."""
    strata = KILL_POINTS - 3
    points = [KillPoint(0, rng.uniform(0.3, 1.2))]
    points += [KillPoint(int(total * (i + rng.random()) / strata), rng.uniform(0.0, 0.25)) for i in range(strata)]
    points += [KillPoint(total, rng.uniform(0.0, 0.1)), KillPoint(total, rng.uniform(0.1, 0.3))]
    return points


def test_sync_killed_at_random_points_resumes_exactly(imap_account: Any, tmp_path: Path) -> None:
    """kill -9 of `outreach sync` at 12 seeded points (start-up, each ninth of the mail, the final ledger
    refresh), each run resuming where the killed one stopped; each killed run leaves no process behind and
    only whole batches of the server's messages; a final run completes with exactly the server's messages,
    every one analysed, and ledgers equal to a rebuild."""
    messages = synthetic(2600, seed=5)  # INBOX > PARALLEL_THRESHOLD: the first runs use the parse worker
    counts = fill(imap_account, messages)
    folders = ("INBOX", "Sent")
    expected = {folder: server_map(imap_account, folder) for folder in folders}
    assert {f: len(m) for f, m in expected.items()} == counts
    total = len(messages)
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    sessions = session_factory(open_store(url))  # the schema exists before the first run is killed
    cmd = sync_cmd(url, imap_account, "--batch-size", "100")
    env = env_for(imap_account)
    points = kill_points(random.Random(KILL_SEED), total)
    log = tmp_path / "sync.log"

    def stored() -> int:
        return count(sessions, MessageLocation)

    previous = 0
    for point in points:
        with open(log, "ab") as err:
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        try:
            deadline = time.monotonic() + 90
            while proc.poll() is None and stored() < point.threshold and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(point.delay)
            children = [line for pid, line in session_processes(proc.pid) if pid != proc.pid]
            if proc.poll() is not None:  # it finished before this point: a complete run
                assert proc.returncode == 0, log.read_text()[-2000:]
                continue
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        point.stored = stored()
        point.worker = any("outreach.mail.worker" in c for c in children)
        # Its parse worker notices the closed pipe and exits: nothing of the killed run is left running.
        assert wait_for_no_processes(proc.pid) == [], f"processes left after killing the sync at {point}"
        # Only whole batches of the server's own messages were committed, and none was lost.
        assert point.stored >= previous, point
        for folder in folders:
            assert store_map(sessions, "me", folder).items() <= expected[folder].items(), (point, folder)
        previous = point.stored

    killed = [p for p in points if p.stored >= 0]
    report = ", ".join(f"{p.threshold}+{p.delay:.2f}s->{p.stored}{'w' if p.worker else ''}" for p in points)
    print(f"kill points (threshold+delay -> stored at the kill, w: parse worker running): {report}")
    assert len(killed) >= 10, f"only {len(killed)} of the runs were killed mid-way: {report}"
    if (os.cpu_count() or 1) >= 2:  # with one core the sync parses in-process
        assert any(p.worker for p in killed), f"no kill caught the parse worker running: {report}"
    assert any(0 < p.stored < total for p in killed), report

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    for folder in folders:
        assert store_map(sessions, "me", folder) == expected[folder], folder
    assert count(sessions, Message) == total
    assert count(sessions, MessageLocation) == total
    with sessions() as session:
        # Signals are committed with their batch: a kill never leaves a stored message unanalysed.
        assert session.scalar(select(func.count()).where(Message.signals_version.is_(None))) == 0
        statuses = set(session.scalars(select(SyncRun.status)))
    assert statuses <= {"done", "interrupted"}, statuses  # every crashed run was noticed (and only once)
    # The killed runs committed batches without refreshing ledgers; a later run refreshed them all.
    assert_ledgers_equal_a_rebuild(sessions)


# ----------------------------------------------------------------- 2. connections cut, reset, stalled


@pytest.fixture
def proxied_mailbox(imap_account: Any, make_flaky_proxy: Callable[..., Any]) -> tuple[Any, Any, dict[str, int]]:
    """1,200 synthetic messages (≈ 6 MB) behind a FlakyProxy."""
    counts = fill(imap_account, synthetic(1200, seed=9))
    proxy = make_flaky_proxy(imap_account.host, imap_account.port)
    return imap_account, proxy, counts


def proxied_config(account: Any, proxy: Any, **extra: Any) -> MailboxConfig:
    return MailboxConfig(
        name="me", host="127.0.0.1", port=proxy.port, username=account.user, security="plain",
        addresses=(OWNER,), batch_size=100, **extra,
    )  # fmt: skip


@pytest.mark.parametrize("how", ["close", "reset"])
def test_connection_cut_or_reset_mid_fetch_is_retried_with_backoff(
    proxied_mailbox: tuple[Any, Any, dict[str, int]], how: str
) -> None:
    """The proxy breaks the connection twice in the middle of a FETCH answer (every 300 kB of server data,
    each FETCH answer being ≈ 500 kB): by an orderly close, or by a TCP reset.  The sync reconnects with
    exponential backoff, refetches the batch in flight and completes with exactly the server's messages."""
    account, proxy, counts = proxied_mailbox
    proxy.cut_after(300_000, times=2, how=how)
    delays: list[float] = []

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        time.sleep(seconds)

    sessions = session_factory(open_store("sqlite://"))
    summary = sync_mailbox(sessions, proxied_config(account, proxy), account.password, signals=False, sleep=sleep)
    assert proxy.cuts == 2 and proxy.resets == (2 if how == "reset" else 0)
    assert summary.retries == 2
    assert delays == [0.5, 1.0]  # exponential backoff
    assert {f.name: f.stats.fetched - f.stats.duplicates for f in summary.folders} == counts
    assert summary.totals.new == sum(counts.values()) and summary.totals.skipped_total == 0
    assert_store_equals_server(sessions, account, counts)
    assert count(sessions, Message) == sum(counts.values())


def test_a_stall_past_the_timeout_is_retried_and_the_sync_completes(
    proxied_mailbox: tuple[Any, Any, dict[str, int]], tmp_path: Path
) -> None:
    """The proxy stops forwarding mid-FETCH without closing anything.  With `--timeout 1` the CLI gives the
    connection up after a second, reconnects (the stall is over for new connections) and completes; a
    subprocess timeout fails the test if it ever hangs."""
    account, proxy, counts = proxied_mailbox
    proxy.cut_after(700_000, how="stall")
    url = f"sqlite:///{tmp_path / 'stall.db'}"
    proxied = Endpoint("127.0.0.1", proxy.port, account.user)
    started = time.monotonic()
    done = subprocess.run(
        sync_cmd(url, proxied, "--timeout", "1", "--batch-size", "100", "--no-signals"),
        env=env_for(account), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert proxy.stalls == 1
    assert "connection lost (no answer within 1 s); retrying in 0.5s" in done.stderr
    assert "reconnected 1 time(s)" in done.stdout
    assert time.monotonic() - started < 90
    sessions = session_factory(open_store(url))
    assert_store_equals_server(sessions, account, counts)


def test_a_server_that_stops_answering_is_reported_not_waited_for(
    proxied_mailbox: tuple[Any, Any, dict[str, int]], tmp_path: Path
) -> None:
    """A server that hangs for good (mid-FETCH, and then on every new connection) is given up after the
    retries, with one clear error naming the host; the committed batches stay, and the next sync, once the
    server answers again, completes exactly.  A hung server at login is a clear error at once (CLI)."""
    account, proxy, counts = proxied_mailbox
    proxy.cut_after(1_600_000, how="stall")  # in the 4th FETCH: the first batches are committed by then
    stop = threading.Event()

    def hang_everything() -> None:  # after the first stall, every connection hangs (a hung server)
        while not stop.is_set():
            if proxy.stalls:
                proxy.stall_all = True
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=hang_everything, daemon=True)
    watcher.start()
    sessions = session_factory(open_store(f"sqlite:///{tmp_path / 'hang.db'}"))
    config = proxied_config(account, proxy, timeout=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(MailServerError) as caught:
            sync_mailbox(sessions, config, account.password, signals=False, sleep=lambda s: None)
    finally:
        stop.set()
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert message.startswith("127.0.0.1: connection lost 6 times during INBOX: "), message
    assert "timed out" in message or "no answer within 0.5 s" in message, message
    assert "\n" not in message
    assert elapsed < 30, elapsed  # 6 attempts of 0.5 s each, plus the work before the stall
    kept = count(sessions, MessageLocation)
    assert 0 < kept < sum(counts.values())
    assert store_map(sessions, "me", "INBOX").items() <= server_map(account, "INBOX").items()

    proxy.resume()
    summary = sync_mailbox(sessions, config, account.password, signals=False)
    assert summary.totals.fetched == sum(counts.values()) - kept
    assert_store_equals_server(sessions, account, counts)
    assert count(sessions, Message) == sum(counts.values())

    # Hung from the greeting on: the CLI fails in about the timeout, with a one-line error naming the host.
    proxy.stall_all = True
    proxied = Endpoint("127.0.0.1", proxy.port, account.user)
    done = subprocess.run(
        sync_cmd("sqlite://", proxied, "--timeout", "1"), env=env_for(account), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert done.stderr.startswith(f"error: 127.0.0.1: port {proxy.port}: connection timed out"), done.stderr


def test_the_imap_timeout_comes_from_the_mailbox_config(tmp_path: Path) -> None:
    from outreach.config import load_settings
    from outreach.errors import ConfigError

    path = tmp_path / "config.toml"
    path.write_text('[mailboxes.alex]\nhost = "imap.example.com"\nusername = "alex"\ntimeout = 2.5\n')
    assert load_settings(path, environ={}).mailbox("alex").timeout == 2.5
    path.write_text('[mailboxes.alex]\nhost = "imap.example.com"\nusername = "alex"\n')
    assert load_settings(path, environ={}).mailbox("alex").timeout == 30.0
    for bad in ("0", "-1", '"soon"', "true"):
        path.write_text(f'[mailboxes.alex]\nhost = "imap.example.com"\ntimeout = {bad}\n')
        with pytest.raises(ConfigError, match=r"\[mailboxes.alex\]: timeout must be a positive number"):
            load_settings(path, environ={})


# ------------------------------------------------------------------------------ 3. folders that change


def test_uidvalidity_reset_of_inbox_resyncs_without_duplicates(imap_account: Any, tmp_path: Path) -> None:
    counts = fill(imap_account, synthetic(300, seed=3))
    sessions = session_factory(open_store(f"sqlite:///{tmp_path / 'v.db'}"))
    config = MailboxConfig(
        name="me", host=imap_account.host, port=imap_account.port, username=imap_account.user,
        security="plain", addresses=(OWNER,), batch_size=100,
    )  # fmt: skip
    sync_mailbox(sessions, config, imap_account.password, signals=False)
    validity = imap_account.recreate_folder("INBOX")
    summary = sync_mailbox(sessions, config, imap_account.password, signals=False)
    inbox = next(f for f in summary.folders if f.name == "INBOX")
    assert inbox.status == "resynced (UIDVALIDITY changed)"
    assert (inbox.stats.fetched, inbox.stats.new, inbox.stats.duplicates) == (counts["INBOX"], 0, counts["INBOX"])
    assert count(sessions, Message) == sum(counts.values())
    assert_store_equals_server(sessions, imap_account, counts)
    with sessions() as session:
        validities = set(
            session.scalars(
                select(MessageLocation.uidvalidity)
                .join(Folder, Folder.id == MessageLocation.folder_id)
                .where(Folder.name == "INBOX")
            )
        )
    assert validities == {validity}


def _imap(account: Any, command: str, *args: str) -> None:
    with account.connect() as conn:
        typ, data = getattr(conn, command)(*[_quote(a) for a in args])
    assert typ == "OK", (command, args, data)


def test_renamed_and_deleted_folders_are_reported_and_their_history_kept(imap_account: Any, tmp_path: Path) -> None:
    """A configured folder renamed on the server: the old name is reported missing (its messages stay
    stored), the new name, once configured, adds locations without duplicating a message.  Deleted, it
    is reported too; the CLI prints it in its summary and exits 0."""
    mail = synthetic(160, seed=4)
    counts = fill(imap_account, mail[:100])
    imap_account.write_messages(mail[100:], "Projects")
    url = f"sqlite:///{tmp_path / 'f.db'}"
    sessions = session_factory(open_store(url))

    def config(*folders: str) -> MailboxConfig:
        return MailboxConfig(
            name="me", host=imap_account.host, port=imap_account.port, username=imap_account.user,
            security="plain", addresses=(OWNER,), folders=folders,
        )  # fmt: skip

    first = sync_mailbox(sessions, config("Projects"), imap_account.password)
    assert {f.name: f.status for f in first.folders} == {"INBOX": "synced", "Sent": "synced", "Projects": "synced"}
    assert count(sessions, Message) == 160

    _imap(imap_account, "rename", "Projects", "Archive")
    second = sync_mailbox(sessions, config("Projects"), imap_account.password)
    statuses = {f.name: f.status for f in second.folders}
    assert statuses == {
        "INBOX": "unchanged",
        "Sent": "unchanged",
        "Projects": "missing on server (60 stored message(s) kept)",
    }
    assert len(store_map(sessions, "me", "Projects")) == 60  # history is never dropped

    third = sync_mailbox(sessions, config("Archive"), imap_account.password)
    archive = next(f for f in third.folders if f.name == "Archive")
    assert (archive.status, archive.stats.fetched, archive.stats.new, archive.stats.duplicates) == (
        "synced", 60, 0, 60
    )  # fmt: skip
    assert {f.name: f.status for f in third.folders}["Projects"].startswith("missing on server")
    assert count(sessions, Message) == 160
    assert_store_equals_server(sessions, imap_account, [*counts, "Archive"])

    _imap(imap_account, "delete", "Archive")
    done = subprocess.run(
        sync_cmd(url, imap_account, "--folder", "Archive"), env=env_for(imap_account), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "  Archive: missing on server (60 stored message(s) kept)" in done.stdout
    assert "  Projects: missing on server (60 stored message(s) kept)" in done.stdout
    assert count(sessions, Message) == 160
    assert len(store_map(sessions, "me", "Archive")) == 60


def test_a_folder_deleted_during_the_sync_is_reported(imap_account: Any) -> None:
    """Listed at the start, deleted on the server while INBOX is being synced: reported, no crash."""
    mail = synthetic(150, seed=6)
    fill(imap_account, mail[:120])
    imap_account.write_messages(mail[120:], "Projects")
    deleted: list[bool] = []

    def delete_projects(session: Session, new_ids: list[int]) -> None:
        if not deleted:
            _imap(imap_account, "delete", "Projects")
            deleted.append(True)

    config = MailboxConfig(
        name="me", host=imap_account.host, port=imap_account.port, username=imap_account.user,
        security="plain", addresses=(OWNER,), folders=("Projects",), batch_size=50,
    )  # fmt: skip
    sessions = session_factory(open_store("sqlite://"))
    summary = sync_mailbox(sessions, config, imap_account.password, signals=False, after_batch=delete_projects)
    assert deleted
    statuses = {f.name: f.status for f in summary.folders}
    assert statuses["Projects"] == "missing on server, deleted during the sync (0 stored message(s) kept)"
    assert statuses["INBOX"] == statuses["Sent"] == "synced"
    assert_store_equals_server(sessions, imap_account, ["INBOX", "Sent"])


# ---------------------------------------------------------------------- 4. two syncs of one mailbox


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_second_sync_of_the_same_mailbox_exits_or_waits(
    imap_account: Any, make_flaky_proxy: Callable[..., Any], database_url: str, tmp_path: Path
) -> None:
    """While one `outreach sync` holds mailbox "me" (held mid-FETCH by a stalled proxy, so it surely runs),
    a second sync exits 1 with a one-line message, an import into the same mailbox too, and `sync --wait`
    waits; once the first completes, the waiting one runs and finds nothing new."""
    counts = fill(imap_account, synthetic(400, seed=8))
    total = sum(counts.values())
    proxy = make_flaky_proxy(imap_account.host, imap_account.port)
    proxy.cut_after(300_000, how="stall")
    sessions = session_factory(open_store(database_url))
    env = env_for(imap_account)
    cmd = sync_cmd(database_url, imap_account, "--batch-size", "50")
    mbox = tmp_path / "one.mbox"
    mbox.write_bytes(b"From x@example.com Mon Jan  5 10:00:00 2015\n" + synthetic(1, seed=99)[0] + b"\n")
    import_cmd = [
        sys.executable, "-m", "outreach", "--database-url", database_url, "import", str(mbox), "--mailbox", "me"
    ]  # fmt: skip
    pipes: dict[str, Any] = {"env": env, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    first = subprocess.Popen(
        sync_cmd(database_url, Endpoint("127.0.0.1", proxy.port, imap_account.user), "--timeout", "120"), **pipes
    )
    waiting_log = tmp_path / "waiting.log"
    procs = [first]
    try:
        wait_for(lambda: proxy.stalls > 0 or first.poll() is not None, 60, "the first sync to reach the stall")
        assert first.poll() is None, first.communicate()
        second, importer = (subprocess.Popen(c, **pipes) for c in (cmd, import_cmd))
        with open(waiting_log, "w") as log:
            waiting = subprocess.Popen([*cmd, "--wait"], env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        procs += [second, importer, waiting]
        second_out, second_err = second.communicate(timeout=60)
        _, import_err = importer.communicate(timeout=60)
        wait_for(lambda: "waiting for it to finish" in waiting_log.read_text(), 60, "the --wait sync to wait")
        assert first.poll() is None and waiting.poll() is None
        proxy.resume()  # the first sync carries on and completes; then the waiting one runs
        out, err = first.communicate(timeout=120)
        waited_out, _ = waiting.communicate(timeout=120)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    busy = "error: another sync of mailbox 'me' is running"
    assert second.returncode == 1 and second_err.startswith(busy), second_err
    assert second_err.strip().count("\n") == 0 and second_out == ""
    assert "wait for it to finish, or pass --wait" in second_err
    assert importer.returncode == 1 and import_err.startswith(busy), import_err
    assert first.returncode == 0, err
    assert f"fetched {total}, new {total}" in out
    assert waiting.returncode == 0, waiting_log.read_text()
    assert "another sync of mailbox 'me' is running; waiting for it to finish" in waiting_log.read_text()
    assert "fetched 0, new 0" in waited_out
    assert_store_equals_server(sessions, imap_account, counts)
    assert count(sessions, Message) == total
    with sessions() as session:
        assert sorted(session.scalars(select(SyncRun.status))) == ["done", "done"]
    if database_url.startswith("sqlite"):
        assert sync_lock_path(database_url.removeprefix("sqlite:///"), "me").exists()


def test_the_mailbox_lock_is_per_mailbox_and_goes_with_the_process(tmp_path: Path) -> None:
    """SQLite lock files: another mailbox is not blocked; a killed holder's lock is free at once."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    engine = open_store(url)
    with (
        mailbox_sync_lock(engine, "alex"),
        mailbox_sync_lock(engine, "sam"),
        pytest.raises(MailboxBusyError, match="another sync of mailbox 'alex' is running"),
        mailbox_sync_lock(engine, "alex"),
    ):
        pass
    holder = subprocess.Popen(
        [
            sys.executable, "-c",
            "import sys, time\n"
            "from outreach.store import make_engine, mailbox_sync_lock\n"
            f"with mailbox_sync_lock(make_engine({url!r}), 'a/b c'):\n"
            "    print('locked', flush=True); time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(MailboxBusyError, match=rf"\(pid {holder.pid}\)"), mailbox_sync_lock(engine, "a/b c"):
            pass
    finally:
        holder.kill()
        holder.wait()
    with mailbox_sync_lock(engine, "a/b c"):
        pass


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_postgresql_lock_goes_with_the_process(database_url: str) -> None:
    engine = open_store(database_url)
    holder = subprocess.Popen(
        [
            sys.executable, "-c",
            "import time\n"
            "from outreach.store import make_engine, mailbox_sync_lock\n"
            f"with mailbox_sync_lock(make_engine({database_url!r}), 'me'):\n"
            "    print('locked', flush=True); time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(MailboxBusyError), mailbox_sync_lock(engine, "me"):
            pass
        with mailbox_sync_lock(engine, "someone-else"):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The server ends the dead client's session, and its advisory lock with it.
    deadline = time.monotonic() + 10
    while True:
        try:
            with mailbox_sync_lock(engine, "me"):
                break
        except MailboxBusyError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    engine.dispose()


# --------------------------------------------------- 5. two teammates' mailboxes into one PostgreSQL store


def teammates_mail() -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(shared, alex's own, sam's own): one synthetic world, so the two mailboxes share most contacts.
    The 400 shared messages are byte-identical in both mailboxes; sam's own mail is sam's, not the owner's."""
    mail = synthetic(1400, seed=11)
    sam = [m.replace(OWNER.encode(), TEAMMATE.encode()) for m in mail[900:]]
    return mail[:400], mail[400:900], sam


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_teammates_syncing_at_once_into_one_postgresql_store(
    make_imap_account: Callable[[], Any], database_url: str
) -> None:
    """Alex's and Sam's mailboxes sync at the same moment (two CLI processes, small batches, the shared
    messages first in both) into one PostgreSQL store: both complete; one message per Message-ID, the
    shared ones with a location in each mailbox (out for Alex who sent them, in for Sam); one contact per
    address; ledgers equal a rebuild."""
    shared, alex_own, sam_own = teammates_mail()
    alex, sam = make_imap_account(), make_imap_account()
    alex_counts = fill(alex, shared + alex_own, OWNER)
    sam_counts = fill(sam, shared + sam_own, TEAMMATE)
    sessions = session_factory(open_store(database_url))  # `outreach db upgrade` first, as a team would
    procs = {
        name: subprocess.Popen(
            sync_cmd(database_url, account, "--batch-size", "50", name=name, address=address),
            env=env_for(account), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for name, account, address in (("alex", alex, OWNER), ("sam", sam, TEAMMATE))
    }
    results = {}
    try:
        for name, proc in procs.items():
            results[name] = proc.communicate(timeout=240)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for name, proc in procs.items():
        assert proc.returncode == 0, (name, results[name][1])

    everything = shared + alex_own + sam_own
    parsed = [parse_message(raw) for raw in everything]
    assert count(sessions, Message) == len({p.message_key for p in parsed}) == len(everything)
    assert_store_equals_server(sessions, alex, alex_counts, mailbox="alex")
    assert_store_equals_server(sessions, sam, sam_counts, mailbox="sam")
    shared_keys = [p.message_key for p in parsed[: len(shared)]]
    with sessions() as session:
        places = session.execute(
            select(Message.message_key, Mailbox.name, MessageLocation.direction)
            .join(MessageLocation, MessageLocation.message_id == Message.id)
            .join(Folder, Folder.id == MessageLocation.folder_id)
            .join(Mailbox, Mailbox.id == Folder.mailbox_id)
            .where(Message.message_key.in_(shared_keys))
        ).all()
        contacts = list(session.scalars(select(Contact.address)))
    by_key: dict[str, list[tuple[str, str]]] = {}
    for key, mailbox, direction in places:
        by_key.setdefault(key, []).append((mailbox, direction))
    assert len(by_key) == len(shared)
    for key in shared_keys:
        mailboxes = sorted(m for m, _ in by_key[key])
        assert mailboxes == ["alex", "sam"], key
        raw = shared[shared_keys.index(key)]
        assert dict(by_key[key]) == {"alex": "out" if sender_is(raw, OWNER) else "in", "sam": "in"}, key
    addresses = {addr.address for p in parsed for _, addr in p.participants()}
    assert len(contacts) == len(set(contacts))
    assert set(contacts) == addresses
    with sessions() as session:
        assert sorted(session.scalars(select(SyncRun.status))) == ["done", "done"]
    assert_ledgers_equal_a_rebuild(sessions)
