"""Sync benchmark: our full sync against a plain imapclient FETCH of the same Dovecot mailbox.

Builds an N-message mailbox (default 50,000) in a real Dovecot on 127.0.0.1, then in one run measures:
  * baseline: imapclient batch ``FETCH BODY.PEEK[]`` of every message (nothing else done with them);
  * ours: ``outreach sync`` of the same mailbox into a fresh SQLite store, in a child process so that its
    memory is its own: once with ``--no-signals`` (the sync itself) and once as a user runs it (signals and
    ledgers on);
  * the no-change resync time (median of 5);
and prints the ratios ours/baseline.  Targets: ratio >= 0.5 (with and without signals), resync <= 0.3 s, peak
memory (PSS of the sync and its worker) <= 150 MB.

One quick run for while you work; ``make bench`` (benchmarks/run.py) is the full benchmark: medians of
several runs at 10k and 50k, resync after new mail, signals, preview, PostgreSQL, one table.

    .venv/bin/python benchmarks/bench_sync.py [--messages 50000] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    PASSWORD,
    USER,
    SyncResult,
    build_mailbox,
    our_sync,
    plain_fetch,
    resync_times,
    tree_memory_mb,
)
from servers import DovecotServer  # noqa: E402


def _tree_memory_mb(root: int) -> tuple[float, float]:
    """(PSS of the process tree, RSS of its largest process) in MB (kept for older callers)."""
    pss, _, _, largest = tree_memory_mb(root)
    return pss, largest


def resync_seconds(port: int, db: Path, runs: int = 5) -> float:
    return statistics.median(resync_times(port, f"sqlite:///{db}", runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    with DovecotServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.add_user(USER, PASSWORD)
        t0 = time.perf_counter()
        build_mailbox(server, USER, args.messages, seed=1, split_sent=False)
        plain_fetch(server.port)  # warm-up: Dovecot builds its index and the page cache fills before timing
        print(f"mailbox of {args.messages} messages built in {time.perf_counter() - t0:.1f}s", flush=True)
        base_count, base_seconds = plain_fetch(server.port)
        plain = our_sync(server.port, f"sqlite:///{Path(tmp) / 'plain.db'}", signals=False)
        full = our_sync(server.port, f"sqlite:///{Path(tmp) / 'full.db'}", signals=True)
        resync = resync_seconds(server.port, Path(tmp) / "full.db")
    base_rate = base_count / base_seconds
    figures: dict[str, float] = {"messages": args.messages, "baseline_fetch_msgs_per_s": round(base_rate)}
    result: SyncResult
    for label, result in (("sync", plain), ("sync_with_signals", full)):
        print(result.line)
        # Wall time of the whole command (start-up and the ledger refresh included), against the baseline's
        # fetch loop alone: the honest, slightly unfavourable comparison.
        figures[f"{label}_msgs_per_s"] = round(result.rate)
        figures[f"{label}_ratio"] = round(result.rate / base_rate, 3)
        figures[f"{label}_peak_memory_mb"] = round(result.run.peak_pss_mb, 1)
        figures[f"{label}_peak_rss_mb"] = round(result.run.peak_rss_mb, 1)
    figures["no_change_resync_s"] = round(resync, 3)
    for key, value in figures.items():
        print(f"{key:>36}: {value}")
    met = figures["sync_ratio"] >= 0.5 and resync <= 0.3 and figures["sync_peak_memory_mb"] <= 150
    print("issue-2 targets (ratio >= 0.5, resync <= 0.3 s, memory <= 150 MB):", "met" if met else "NOT met")
    met = figures["sync_with_signals_ratio"] >= 0.5 and figures["sync_with_signals_peak_memory_mb"] <= 150
    print("with signals (ratio >= 0.5, memory <= 150 MB):", "met" if met else "NOT met")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
