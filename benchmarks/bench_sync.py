"""Sync benchmark: our full sync against a plain imapclient FETCH of the same Dovecot mailbox.

Builds an N-message mailbox (default 50,000) in a real Dovecot on 127.0.0.1, then in one run measures:
  * baseline: imapclient batch ``FETCH BODY.PEEK[]`` of every message (nothing else done with them);
  * ours: ``outreach sync`` of the same mailbox into a fresh SQLite store, in a child process so that its
    peak RSS is its own (signals on, as a user runs it);
  * the no-change resync time (median of 5);
and prints the ratio ours/baseline.  Targets: ratio >= 0.5, resync <= 0.3 s, peak memory (PSS of the sync and its worker) <= 150 MB.

    .venv/bin/python benchmarks/bench_sync.py [--messages 50000] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from imapclient import IMAPClient  # noqa: E402
from servers import DovecotServer  # noqa: E402
from synthetic_mail import generate_messages  # noqa: E402

from outreach.api import sync_mailbox  # noqa: E402
from outreach.config import MailboxConfig  # noqa: E402
from outreach.store import open_store, session_factory  # noqa: E402

USER, PASSWORD = "bench", "bench-pw"


def plain_fetch(port: int, batch: int = 500) -> tuple[int, float]:
    client = IMAPClient("127.0.0.1", port=port, ssl=False)
    client.login(USER, PASSWORD)
    client.select_folder("INBOX", readonly=True)
    uids = client.search(["ALL"])
    started = time.perf_counter()
    count = 0
    for i in range(0, len(uids), batch):
        for data in client.fetch(uids[i : i + batch], [b"BODY.PEEK[]"]).values():
            count += bool(data.get(b"BODY[]"))
    elapsed = time.perf_counter() - started
    client.logout()
    return count, elapsed


def _tree_memory_mb(root: int) -> tuple[float, float]:
    """(PSS of the process tree, RSS of its largest process) in MB, read from /proc.

    PSS shares pages between the sync and its forked parse worker fairly; RSS would count them twice.
    """
    pids = [root]
    try:
        children = Path(f"/proc/{root}/task/{root}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    pss = rss = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1]) / 1024
                elif line.startswith("Rss:"):
                    rss = max(rss, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return pss, rss


def our_sync(port: int, db: Path) -> tuple[int, float, float, str]:
    """Run `outreach sync` in a child; return (fetched, seconds, peak PSS MB of the tree, summary line)."""
    env = {**os.environ, "OUTREACH_IMAP_PASSWORD": PASSWORD}
    cmd = [sys.executable, "-m", "outreach", "--database-url", f"sqlite:///{db}", "sync", "--host", "127.0.0.1",
           "--port", str(port), "--user", USER, "--security", "plain", "--address", "owner@example.org",
           "--name", "bench", "--quiet"]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _tree_memory_mb(proc.pid)[0])
        time.sleep(0.05)
    status = proc.returncode
    elapsed = time.perf_counter() - started
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    if status != 0:
        raise SystemExit(f"outreach sync failed: {err or out}")
    line = out.splitlines()[0]
    fetched = int(line.split("fetched ")[1].split(",")[0])
    sync_seconds = float(line.split(" in ")[1].split("s")[0])
    return fetched, sync_seconds, peak, line if elapsed else line


def resync_seconds(port: int, db: Path, runs: int = 5) -> float:
    sessions = session_factory(open_store(f"sqlite:///{db}"))
    config = MailboxConfig(name="bench", host="127.0.0.1", port=port, username=USER, security="plain",
                           addresses=("owner@example.org",))
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        summary = sync_mailbox(sessions, config, PASSWORD)
        times.append(time.perf_counter() - started)
        assert summary.totals.fetched == 0, "resync fetched messages"
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    with DovecotServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.add_user(USER, PASSWORD)
        t0 = time.perf_counter()
        server.write_messages(USER, generate_messages(args.messages, seed=1))
        plain_fetch(server.port)  # warm-up: Dovecot builds its index and the page cache fills before timing
        print(f"mailbox of {args.messages} messages built in {time.perf_counter() - t0:.1f}s", flush=True)
        base_count, base_seconds = plain_fetch(server.port)
        db = Path(tmp) / "bench.db"
        fetched, ours_seconds, rss_mb, line = our_sync(server.port, db)
        resync = resync_seconds(server.port, db)
    base_rate = base_count / base_seconds
    our_rate = fetched / ours_seconds
    figures = {
        "messages": args.messages,
        "baseline_fetch_msgs_per_s": round(base_rate),
        "outreach_sync_msgs_per_s": round(our_rate),
        "ratio": round(our_rate / base_rate, 3),
        "no_change_resync_s": round(resync, 3),
        "peak_memory_mb (PSS, sync + parse worker)": round(rss_mb, 1),
    }
    print(line)
    for key, value in figures.items():
        print(f"{key:>44}: {value}")
    verdicts = [figures["ratio"] >= 0.5, resync <= 0.3, rss_mb <= 150]
    print("targets (ratio >= 0.5, resync <= 0.3 s, RSS <= 150 MB):", "met" if all(verdicts) else "NOT met")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
