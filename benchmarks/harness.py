"""What the benchmarks share: building a synthetic mailbox in Dovecot, the plain-fetch baseline, running
``outreach sync`` in a child process, and measuring a child's peak memory.

Imported by ``bench_sync.py`` and ``run.py`` (``make bench``); nothing here prints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import imaplib
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for _path in (REPO, REPO / "tests", REPO / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from imapclient import IMAPClient  # noqa: E402
from synthetic_mail import OWNER, generate_messages, is_outbound  # noqa: E402

USER, PASSWORD = "bench", "bench-pw"
MAILBOX_NAME = "bench"


# ------------------------------------------------------------------------------------------ memory


def tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants (read from /proc)."""
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        with contextlib.suppress(OSError, ValueError):
            todo += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return pids


def tree_memory_mb(root: int) -> tuple[float, float, float, float]:
    """(PSS, RSS, USS summed over the process tree, RSS of its largest process), in MB.

    RSS counts every page a process maps, also those it shares with other processes (the interpreter,
    shared libraries, mapped model files), so a sum of RSS counts a shared page once per process.  PSS
    divides each shared page between all the processes that map it (here or elsewhere on the machine);
    USS counts only the pages no other process maps.  USS <= PSS <= RSS.
    """
    pss = rss = uss = largest = 0.0
    for pid in tree_pids(root):
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                pss += int(line.split()[1]) / 1024
            elif line.startswith("Rss:"):
                value = int(line.split()[1]) / 1024
                rss += value
                largest = max(largest, value)
            elif line.startswith(("Private_Clean:", "Private_Dirty:")):
                uss += int(line.split()[1]) / 1024
    return pss, rss, uss, largest


@dataclasses.dataclass
class Measured:
    """A finished child process: its output, wall time and peak memory (MB)."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float  # sampled: highest sum of RSS over the process tree
    peak_pss_mb: float  # sampled: highest sum of PSS over the process tree
    peak_uss_mb: float  # sampled: highest sum of USS (private pages) over the process tree
    # ru_maxrss from wait4: NOT used for the peak. Popen starts the child with vfork, so the child's high-water
    # mark starts at this (the benchmark's) own RSS: at 50k it read 159 MB for a resync whose PSS was 56 MB.
    maxrss_mb: float

    def figures(self) -> dict[str, float]:
        return {
            "seconds": round(self.seconds, 4),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "peak_pss_mb": round(self.peak_pss_mb, 1),
            "peak_uss_mb": round(self.peak_uss_mb, 1),
            "maxrss_mb": round(self.maxrss_mb, 1),
        }


def run_measured(cmd: Sequence[str], env: dict[str, str] | None = None, interval: float = 0.05) -> Measured:
    """Run ``cmd``, sampling the memory of its process tree every ``interval`` seconds.

    Output goes to temporary files (a full pipe never stalls the child); the wall time runs from the
    start to the exit of the child, interpreter start-up included.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(cmd), env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        peak_pss = peak_rss = peak_uss = 0.0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            pss, rss, uss, _ = tree_memory_mb(proc.pid)
            peak_pss, peak_rss, peak_uss = max(peak_pss, pss), max(peak_rss, rss), max(peak_uss, uss)
            time.sleep(interval)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        # ru_maxrss (kB on Linux): kept as a figure only, see Measured.maxrss_mb
        maxrss = usage.ru_maxrss / 1024 if sys.platform.startswith("linux") else usage.ru_maxrss / 2**20
        return Measured(
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            seconds,
            peak_rss,
            peak_pss,
            peak_uss,
            maxrss,
        )


def self_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------------------- mailbox


def build_mailbox(server: Any, user: str, messages: int, seed: int = 1, split_sent: bool = True) -> dict[str, int]:
    """Write ``messages`` synthetic messages straight into ``user``'s Maildir on ``server`` (a
    :class:`servers.DovecotServer`): the owner's own mail to ``Sent`` (``split_sent``) and the rest to
    INBOX, as a real mailbox has it; or everything to INBOX.  Returns the count per folder."""
    counts = {"INBOX": 0, "Sent": 0}
    inbox: list[bytes] = []
    sent: list[bytes] = []

    def flush() -> None:
        counts["INBOX"] += server.write_messages(user, inbox)
        if sent:
            counts["Sent"] += server.write_messages(user, sent, "Sent")
        inbox.clear()
        sent.clear()

    for raw in generate_messages(messages, seed=seed):
        (sent if split_sent and is_outbound(raw) else inbox).append(raw)
        if len(inbox) + len(sent) >= 1000:
            flush()
    flush()
    return {k: v for k, v in counts.items() if v}


def append_messages(port: int, messages: Sequence[bytes], folder: str = "INBOX") -> list[int]:
    """APPEND ``messages`` to ``folder`` over IMAP (as new mail arrives); returns their UIDs."""
    conn = imaplib.IMAP4("127.0.0.1", port, timeout=60)
    try:
        conn.login(USER, PASSWORD)
        conn.select(folder)
        before = int(_status(conn, folder)["UIDNEXT"])
        for raw in messages:
            typ, data = conn.append(folder, None, None, raw)  # imaplib sends it with CRLF line ends
            if typ != "OK":
                raise RuntimeError(f"APPEND failed: {data!r}")
        after = int(_status(conn, folder)["UIDNEXT"])
    finally:
        with contextlib.suppress(Exception):
            conn.logout()
    return list(range(before, after))


def expunge_uids(port: int, uids: Sequence[int], folder: str = "INBOX") -> None:
    """Remove the messages ``uids`` from ``folder`` again (STORE \\Deleted + EXPUNGE)."""
    if not uids:
        return
    conn = imaplib.IMAP4("127.0.0.1", port, timeout=60)
    try:
        conn.login(USER, PASSWORD)
        conn.select(folder)
        conn.uid("STORE", f"{min(uids)}:{max(uids)}", "+FLAGS.SILENT", r"(\Deleted)")
        conn.expunge()
    finally:
        with contextlib.suppress(Exception):
            conn.logout()


def _status(conn: imaplib.IMAP4, folder: str) -> dict[str, str]:
    typ, data = conn.status(folder, "(MESSAGES UIDNEXT)")
    line = data[0].decode() if isinstance(data[0], bytes) else str(data[0])
    items = line.rsplit("(", 1)[1].rstrip(")").split()
    return dict(zip(items[::2], items[1::2], strict=True))


# -------------------------------------------------------------------------------------- baseline


def plain_fetch(port: int, batch: int = 500, folders: Sequence[str] = ("INBOX",)) -> tuple[int, float]:
    """The baseline: imapclient batch ``FETCH BODY.PEEK[]`` of every message in ``folders``, nothing else
    done with them.  Returns (messages fetched, seconds from the first SELECT to the last answer)."""
    client = IMAPClient("127.0.0.1", port=port, ssl=False)
    client.login(USER, PASSWORD)
    count = 0
    started = time.perf_counter()
    for folder in folders:
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        for i in range(0, len(uids), batch):
            for data in client.fetch(uids[i : i + batch], [b"BODY.PEEK[]"]).values():
                count += bool(data.get(b"BODY[]"))
    elapsed = time.perf_counter() - started
    client.logout()
    return count, elapsed


# ------------------------------------------------------------------------------------------- ours


def sync_command(port: int, database_url: str, signals: bool, refine: bool = False) -> list[str]:
    """``outreach sync`` of the bench mailbox (``--no-signals`` unless ``signals``; with signals, the fast
    signals only — ``--no-refine`` — unless ``refine``: the refinement is measured on its own)."""
    return [
        sys.executable,
        "-m",
        "outreach",
        "--database-url",
        database_url,
        "sync",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--user",
        USER,
        "--security",
        "plain",
        "--address",
        OWNER,
        "--name",
        MAILBOX_NAME,
        "--quiet",
    ] + ((["--no-refine"] if not refine else []) if signals else ["--no-signals"])


def sync_env() -> dict[str, str]:
    return {**os.environ, "OUTREACH_IMAP_PASSWORD": PASSWORD}


@dataclasses.dataclass
class SyncResult:
    fetched: int
    #: The sync's own figure from its summary line (0.01 s): from the store's opening (a new store's
    #: creation included) to the end of the ledger refresh; the whole command minus the interpreter's
    #: start-up and imports, as the baseline (measured in a warm process) has none either.
    reported_seconds: float
    line: str
    run: Measured

    @property
    def rate(self) -> float:
        """Messages per second of the sync's own time (:attr:`reported_seconds`)."""
        return self.fetched / self.reported_seconds if self.reported_seconds > 0 else 0.0

    @property
    def command_rate(self) -> float:
        """Messages per second of wall time of the whole command (start-up and imports included)."""
        return self.fetched / self.run.seconds if self.run.seconds > 0 else 0.0


NOOP_ANALYSIS = Path(__file__).resolve().parent / "noop_analysis"


def our_sync(
    port: int, database_url: str, signals: bool, noop_signals: float | None = None, refine: bool = False
) -> SyncResult:
    """Run ``outreach sync`` in a child process (so that its memory is its own) and measure it.

    ``noop_signals``: replace the signals analysis by a no-op that gives every message this many signals
    on average (``noop_analysis/sitecustomize.py``): what the sync costs beyond the analysis."""
    env = sync_env()
    if noop_signals is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(NOOP_ANALYSIS), env.get("PYTHONPATH")]))
        env["OUTREACH_BENCH_NOOP_SIGNALS"] = repr(noop_signals)
    run = run_measured(sync_command(port, database_url, signals, refine), env=env)
    if run.returncode != 0:
        raise RuntimeError(f"outreach sync failed ({run.returncode}): {run.stderr or run.stdout}")
    line = run.stdout.splitlines()[0]
    fetched = int(line.split("fetched ")[1].split(",")[0])
    reported = float(line.rsplit(" in ", 1)[1].split("s", 1)[0])
    return SyncResult(fetched, reported, line, run)


def resync_times(port: int, database_url: str, runs: int = 5, signals: bool = True) -> list[float]:
    """In-process ``sync_mailbox`` of an already synced store, ``runs`` times; the seconds of each."""
    from outreach.config import MailboxConfig
    from outreach.mail.runs import sync_mailbox
    from outreach.store import open_store, session_factory

    engine = open_store(database_url)
    sessions = session_factory(engine)
    config = MailboxConfig(
        name=MAILBOX_NAME, host="127.0.0.1", port=port, username=USER, security="plain", addresses=(OWNER,)
    )
    times = []
    try:
        for _ in range(runs):
            started = time.perf_counter()
            summary = sync_mailbox(sessions, config, PASSWORD, signals=signals)
            times.append(time.perf_counter() - started)
            if summary.totals.fetched != 0:
                raise RuntimeError(f"no-change resync fetched {summary.totals.fetched} messages")
    finally:
        engine.dispose()
    return times
