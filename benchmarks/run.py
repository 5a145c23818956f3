"""`make bench`: the whole performance picture in one command, one table and one JSON file.

For each mailbox size (default 10,000 and 50,000 messages) it writes a synthetic mailbox (realistic sizes,
threads, replies, newsletters, attachments: ``synthetic_mail.py``) into a real Dovecot on 127.0.0.1 (the
owner's own mail in ``Sent``, the rest in INBOX), then RUNS times (default 3), interleaved so that every
ratio compares two measurements of the same run:

  1. plain imapclient batch ``FETCH BODY.PEEK[]`` of both folders (the baseline), then
     ``outreach sync --no-signals`` into a fresh SQLite store;
  2. the baseline again, then ``outreach sync --no-refine`` (fast signals and ledgers) into a fresh store,
     then ``outreach signals refine`` on it (the sentence classifier on the pending sentences, then the
     ledgers: what the end of a default sync does), timed apart; then the baseline again and the same sync
     with the analysis replaced by a no-op that gives every message as many signals as the real one found
     on average (``noop_analysis/``): the ceiling of the signals sync's rate, whatever the analysis costs;
  3. on that store: the no-change resync (in-process, median of RESYNC_RUNS), the same as a whole command,
     and, after APPENDing 100 new messages, the resync that fetches them (whole command, refinement included:
     what a user waits for; they are expunged again afterwards so that every run sees the same mailbox);
  4. the baseline again, then the same sync into a fresh PostgreSQL database (a server of tests/servers.py).

Before the sizes: the four shared Enron mailboxes imported with fast signals, then refined (the refinement's
rate on real mail: messages/s and sentences/s).  Then, once per size: the signals analysis (zoning +
signals) over the stored bodies of the last store, in-process (words/s and messages/s), and ``outreach
preview`` of a 10,000-recipient campaign (a) over that synced store, (b) over bench_preview.py's store (as
many messages, 10,000 contacts with ledgers) and (c) over bench_preview.py's team store (as many messages
in 3 mailboxes, each contact with ledgers in one to three of them): every preview computes each
recipient's best path, (c) is where the paths have the most to read.

Every measured command runs in its own child process, sampled every 50 ms for its memory: peak RSS and
peak PSS summed over its process tree (the sync and its parse worker).  The table shows medians (of the
per-run ratios for the ratios); the JSON has every raw figure.  See benchmarks/README.md.

    .venv/bin/python benchmarks/run.py [--sizes 10000,50000] [--runs 3] [--json FILE] [--quick] [--no-postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    PASSWORD,
    REPO,
    USER,
    Measured,
    append_messages,
    build_mailbox,
    expunge_uids,
    our_sync,
    plain_fetch,
    resync_times,
    run_measured,
)
from synthetic_mail import generate_messages  # noqa: E402

NEW_MESSAGES = 100
TEAM_MAILBOXES = 3  # the team store of the preview with paths
DEFAULT_JSON = REPO / "benchmarks" / "results" / "latest.json"


#: Data deleted only at the very end: on a busy disk (or ext4 mounted with `discard`) deleting hundreds of
#: MB, or thousands of mail files, can take long and slow down whatever is measured meanwhile.
LEFTOVERS: list[Path] = []


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# ----------------------------------------------------------------------------------- child tasks
# Each measure that is not a whole `outreach` command runs as `run.py --child JSON` so that its memory is
# its own; the child prints its result as JSON on its last line of output.


def task_resync(url: str, port: int, runs: int) -> dict[str, Any]:
    return {"times": resync_times(port, url, runs, signals=True)}


def task_signals(url: str, chunk: int = 500) -> dict[str, Any]:
    """Zoning and signals over every stored body, as the sync analyses them, timed apart."""
    from sqlalchemy import select

    from outreach.signals.analyse import own_text
    from outreach.signals.pipeline import find_signals, get_nlp
    from outreach.store import open_store
    from outreach.store.models import Message

    started = time.perf_counter()
    get_nlp()
    find_signals(["Could you send me the figures by Friday? Thanks a lot for your help."])
    load_s = time.perf_counter() - started
    engine = open_store(url)
    figures = {"messages": 0, "with_own_text": 0, "words_body": 0, "words_own": 0, "chars_own": 0}
    zoning_s = signals_s = 0.0
    with engine.connect() as conn:
        ids = list(conn.scalars(select(Message.id).order_by(Message.id)))
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            bodies = [b or "" for b in conn.scalars(select(Message.body_text).where(Message.id.in_(part)))]
            t0 = time.perf_counter()
            owns = [own_text(b) for b in bodies]
            t1 = time.perf_counter()
            find_signals(owns)
            t2 = time.perf_counter()
            zoning_s += t1 - t0
            signals_s += t2 - t1
            figures["messages"] += len(bodies)
            figures["with_own_text"] += sum(1 for o in owns if o.strip())
            figures["words_body"] += sum(len(b.split()) for b in bodies)
            figures["words_own"] += sum(len(o.split()) for o in owns)
            figures["chars_own"] += sum(len(o) for o in owns)
    engine.dispose()
    return {**figures, "load_s": load_s, "zoning_s": zoning_s, "signals_s": signals_s}


def task_preview_store(
    url: str, folder: str, recipients: int, messages: int, now: str, mailboxes: int = 0
) -> dict[str, Any]:
    """bench_preview.py's store (``messages`` messages, ``recipients`` contacts with ledgers; with
    ``mailboxes``, a team store: ledgers per mailbox, the relationships the paths read) and campaign."""
    from bench_preview import build_store, write_campaign

    addresses = build_store(url, recipients, messages, dt.datetime.fromisoformat(now), mailboxes)
    write_campaign(Path(folder), addresses)
    return {"recipients": len(addresses)}


def task_preview(url: str, folder: str, repeat: int, now: str) -> dict[str, Any]:
    from bench_preview import measure_preview

    found = measure_preview(url, Path(folder), repeat, dt.datetime.fromisoformat(now), extras=False)
    return {k: found[k] for k in ("first", "preview", "phases", "recipients", "counts")}


TASKS: dict[str, Callable[..., dict[str, Any]]] = {
    "resync": task_resync,
    "signals": task_signals,
    "preview_store": task_preview_store,
    "preview": task_preview,
}


def child(task: str, **kwargs: Any) -> tuple[dict[str, Any], Measured]:
    """Run a task in a child process; (its JSON answer, its wall time and memory)."""
    run = run_measured([sys.executable, __file__, "--child", json.dumps({"task": task, **kwargs})])
    if run.returncode != 0:
        raise RuntimeError(f"child task {task} failed ({run.returncode}):\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1]), run


def campaign_from_store(url: str, folder: Path, recipients: int) -> dict[str, int]:
    """A campaign of ``recipients`` addresses over a synced store: every contact it has (known people,
    with ledgers), topped up with addresses it has never seen."""
    from bench_preview import write_campaign
    from sqlalchemy import select

    from outreach.store import open_store
    from outreach.store.models import Contact

    engine = open_store(url)
    with engine.connect() as conn:
        known = list(conn.scalars(select(Contact.address).order_by(Contact.id).limit(recipients)))
    engine.dispose()
    fresh = [f"new{i}@fresh{i % 89}.example" for i in range(recipients - len(known))]
    write_campaign(folder, known + fresh, mailbox="bench")
    return {"known": len(known), "unknown": len(fresh)}


# ----------------------------------------------------------------------------------- the driver


class Phases:
    """Wall time spent per phase, for the record."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        log(f"{name} ...")
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            self.seconds[name] = self.seconds.get(name, 0.0) + spent
            log(f"{name}: {spent:.1f}s")


def fetch_figures(port: int, folders: list[str]) -> dict[str, float]:
    count, seconds = plain_fetch(port, folders=folders)
    return {"messages": count, "seconds": round(seconds, 4), "rate": count / seconds}


def signals_per_message(url: str) -> float:
    """Signals per stored message in the (SQLite) store at ``url``."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db:
        signals = db.execute("SELECT count(*) FROM signal").fetchone()[0]
        messages = db.execute("SELECT count(*) FROM message").fetchone()[0]
    return float(signals / messages) if messages else 0.0


_REFINED = re.compile(r"signals refined: (\d+) message\(s\) in ([\d.]+)s \((\d+) sentence")


def refine_figures(url: str) -> dict[str, Any]:
    """``outreach signals refine`` on the store at ``url``, in a child process: messages and sentences per
    second of its own reported time, and its memory."""
    run = run_measured([sys.executable, "-m", "outreach", "--database-url", url, "signals", "refine", "--quiet"])
    if run.returncode != 0:
        raise RuntimeError(f"outreach signals refine failed ({run.returncode}): {run.stderr[-3000:]}")
    found = _REFINED.search(run.stdout)
    if found is None:
        raise RuntimeError(f"outreach signals refine: unexpected output {run.stdout!r}")
    messages, seconds, sentences = int(found[1]), float(found[2]), int(found[3])
    seconds = max(seconds, 0.05)  # the summary's 0.1 s resolution
    return {"messages": messages, "sentences": sentences, "reported_seconds": seconds,
            "rate": messages / seconds, "sentence_rate": sentences / seconds, **run.figures()}


ENRON_MAILBOXES = ("beck-s", "germany-c", "kaminski-v", "mann-k")


def enron_refinement(tmp: Path) -> dict[str, Any] | None:
    """The shared Enron mailboxes imported with fast signals (``--no-refine``), then refined."""
    root = Path(os.environ.get("OUTREACH_ENRON_DIR") or REPO.parent / "shared" / "data" / "enron-maildir")
    if not all((root / name).is_dir() for name in ENRON_MAILBOXES):
        log(f"no Enron mailboxes at {root}: the refinement on real mail is skipped")
        return None
    url = f"sqlite:///{tmp / 'enron.db'}"
    imported, import_s = 0, 0.0
    for name in ENRON_MAILBOXES:
        run = run_measured([sys.executable, "-m", "outreach", "--database-url", url, "import", str(root / name),
                            "--mailbox", name, "--no-refine", "--quiet"])
        if run.returncode != 0:
            raise RuntimeError(f"import of {name} failed ({run.returncode}): {run.stderr[-3000:]}")
        imported += int(run.stdout.split("new ")[1].split(",")[0])
        import_s += run.seconds
    return {"messages": imported, "import_seconds": round(import_s, 2), "refine": refine_figures(url)}


def sync_figures(result: Any) -> dict[str, Any]:
    return {
        "fetched": result.fetched,
        "rate": result.rate,
        "command_rate": result.command_rate,
        "reported_seconds": result.reported_seconds,
        **result.run.figures(),
    }


def measure_size(
    size: int, args: argparse.Namespace, pg: Any, tmp: Path, phases: Phases, label: str
) -> dict[str, Any]:
    from servers import DovecotServer

    out: dict[str, Any] = {"messages": size, "runs": []}
    server = DovecotServer().start()
    try:
        server.add_user(USER, PASSWORD)
        with phases(f"{label}: build mailbox"):
            counts = build_mailbox(server, USER, size, seed=args.seed)
            folders = list(counts)
            plain_fetch(server.port, folders=folders)  # warm-up: Dovecot's index, the page cache
        out["folders"] = counts
        port = server.port
        store_url = ""
        for r in range(args.runs):
            run: dict[str, Any] = {"load_average": [round(x, 2) for x in os.getloadavg()]}
            with phases(f"{label}: run {r + 1} sync SQLite"):
                run["fetch_before_no_signals"] = fetch_figures(port, folders)
                url = f"sqlite:///{tmp / f'nosig-{size}-{r}.db'}"
                run["sync_no_signals"] = sync_figures(our_sync(port, url, signals=False))
                run["fetch_before_signals"] = fetch_figures(port, folders)
                store_url = f"sqlite:///{tmp / f'store-{size}-{r}.db'}"  # the last one is read below
                run["sync"] = sync_figures(our_sync(port, store_url, signals=True))
            with phases(f"{label}: run {r + 1} refinement"):
                run["refine"] = refine_figures(store_url)
            with phases(f"{label}: run {r + 1} sync, analysis a no-op"):
                # the same sync with the analysis made free (as many signals per message as it found):
                # the ceiling of the signals sync's rate, whatever the analysis costs
                run["signals_per_message"] = signals_per_message(store_url)
                run["fetch_before_noop_analysis"] = fetch_figures(port, folders)
                url = f"sqlite:///{tmp / f'noop-{size}-{r}.db'}"
                noop = our_sync(port, url, signals=True, noop_signals=run["signals_per_message"])
                run["sync_noop_analysis"] = sync_figures(noop)
            with phases(f"{label}: run {r + 1} resyncs"):
                answer, measured = child("resync", url=store_url, port=port, runs=args.resync_runs)
                run["resync_no_change"] = {"times": answer["times"], **measured.figures()}
                cli = our_sync(port, store_url, signals=True)
                if cli.fetched:
                    raise RuntimeError(f"no-change resync fetched {cli.fetched}")
                run["resync_no_change_command"] = sync_figures(cli)
                new = list(generate_messages(NEW_MESSAGES, seed=10_000 + 100 * size + r))
                uids = append_messages(port, new)
                after = our_sync(port, store_url, signals=True, refine=True)  # as a user gets it
                expunge_uids(port, uids)
                if after.fetched != NEW_MESSAGES:
                    raise RuntimeError(f"resync after {NEW_MESSAGES} new messages fetched {after.fetched}")
                run["resync_new"] = sync_figures(after)
            if pg is not None:
                with phases(f"{label}: run {r + 1} sync PostgreSQL"):
                    name = f"bench_{size}_{r}"
                    run["fetch_before_postgres"] = fetch_figures(port, folders)
                    run["sync_postgres"] = sync_figures(our_sync(port, pg.create_database(name), signals=True))
            out["runs"].append(run)
            log(f"{label}: run {r + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in _run_ratios(run).items()))
    finally:
        LEFTOVERS.append(server.root)
        server.root = None  # its mail is deleted at the end with the rest
        server.stop()

    now = dt.datetime.now(dt.UTC).isoformat()
    with phases(f"{label}: signals"):
        out["signals"], measured = child("signals", url=store_url)
        out["signals"]["memory"] = measured.figures()
    with phases(f"{label}: preview over the synced store"):
        folder = tmp / f"campaign-synced-{size}"
        out["preview_synced"] = {"campaign": campaign_from_store(store_url, folder, args.recipients)}
        answer, measured = child("preview", url=store_url, folder=str(folder), repeat=args.preview_repeat, now=now)
        out["preview_synced"].update(answer, memory=measured.figures())
    with phases(f"{label}: preview over bench_preview's store"):
        url = f"sqlite:///{tmp / f'preview-{size}.db'}"
        folder = tmp / f"campaign-ledgers-{size}"
        child("preview_store", url=url, folder=str(folder), recipients=args.recipients, messages=size, now=now)
        answer, measured = child("preview", url=url, folder=str(folder), repeat=args.preview_repeat, now=now)
        out["preview_ledgers"] = {**answer, "memory": measured.figures()}
    with phases(f"{label}: preview with paths over a team store"):
        url = f"sqlite:///{tmp / f'preview-team-{size}.db'}"
        folder = tmp / f"campaign-team-{size}"
        child("preview_store", url=url, folder=str(folder), recipients=args.recipients, messages=size, now=now,
              mailboxes=TEAM_MAILBOXES)
        answer, measured = child("preview", url=url, folder=str(folder), repeat=args.preview_repeat, now=now)
        out["preview_team"] = {**answer, "memory": measured.figures()}
    out["summary"] = summarise(out)
    return out


def _run_ratios(run: dict[str, Any]) -> dict[str, float]:
    """Each sync's rate over the plain fetch measured just before it: of the sync's own time ("ratio…")
    and of the whole command's wall time ("command_ratio…")."""
    ratios = {}
    for name, sync, fetch in (
        ("_no_signals", "sync_no_signals", "fetch_before_no_signals"),
        ("", "sync", "fetch_before_signals"),
        ("_noop_analysis", "sync_noop_analysis", "fetch_before_noop_analysis"),
        ("_postgres", "sync_postgres", "fetch_before_postgres"),
    ):
        if sync in run:
            baseline = run[fetch]["rate"]
            ratios[f"ratio{name}"] = run[sync]["rate"] / baseline
            ratios[f"command_ratio{name}"] = run[sync].get("command_rate", 0.0) / baseline
    return ratios


def summarise(out: dict[str, Any]) -> dict[str, float | None]:
    """The medians the table shows."""
    runs = out["runs"]

    def each(*path: str) -> list[float]:
        values = []
        for run in runs:
            node: Any = run
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            if node is not None:
                values.append(node)
        return values

    ratios = [_run_ratios(run) for run in runs]
    fetches = each("fetch_before_no_signals", "rate") + each("fetch_before_signals", "rate")
    fetches += each("fetch_before_postgres", "rate") + each("fetch_before_noop_analysis", "rate")
    sig = out["signals"]
    analysis_s = sig["zoning_s"] + sig["signals_s"]
    s: dict[str, float | None] = {
        "fetch_rate": median(fetches),
        "sync_rate": median(each("sync", "rate")),
        "sync_ratio": median([r["ratio"] for r in ratios]),
        "sync_command_ratio": median([r["command_ratio"] for r in ratios]),
        "noop_rate": median(each("sync_noop_analysis", "rate")),
        "noop_ratio": median([r["ratio_noop_analysis"] for r in ratios if "ratio_noop_analysis" in r]),
        "signals_per_message": median(each("signals_per_message")),
        "nosig_rate": median(each("sync_no_signals", "rate")),
        "nosig_ratio": median([r["ratio_no_signals"] for r in ratios]),
        "nosig_command_ratio": median([r["command_ratio_no_signals"] for r in ratios]),
        "resync_s": median([statistics.median(t) for t in each("resync_no_change", "times")]),
        "resync_command_s": median(each("resync_no_change_command", "seconds")),
        "resync_new_s": median(each("resync_new", "seconds")),
        "zoning_rate": sig["messages"] / sig["zoning_s"] if sig["zoning_s"] else None,
        "signals_words_rate": sig["words_own"] / sig["signals_s"] if sig["signals_s"] else None,
        "signals_rate": sig["messages"] / sig["signals_s"] if sig["signals_s"] else None,
        "analysis_words_rate": sig["words_own"] / analysis_s if analysis_s else None,
        "analysis_rate": sig["messages"] / analysis_s if analysis_s else None,
        "preview_synced_s": median(out["preview_synced"]["preview"]),
        "preview_ledgers_s": median(out["preview_ledgers"]["preview"]),
        "preview_team_s": median(out["preview_team"]["preview"]),
        "pg_rate": median(each("sync_postgres", "rate")),
        "pg_ratio": median([r["ratio_postgres"] for r in ratios if "ratio_postgres" in r]),
        "pg_command_ratio": median([r["command_ratio_postgres"] for r in ratios if "ratio_postgres" in r]),
        "refine_rate": median(each("refine", "rate")),
        "refine_sentence_rate": median(each("refine", "sentence_rate")),
        "refine_share": median([run["refine"]["messages"] / out["messages"] for run in runs if "refine" in run]),
        "sync_refined_ratio": median([
            out["messages"] / (run["sync"]["reported_seconds"] + run["refine"]["reported_seconds"])
            / run["fetch_before_signals"]["rate"]
            for run in runs if "refine" in run
        ]),
        "mem_refine_rss": median(each("refine", "peak_rss_mb")),
        "mem_sync_rss": median(each("sync", "peak_rss_mb")),
        "mem_sync_pss": median(each("sync", "peak_pss_mb")),
        "mem_nosig_rss": median(each("sync_no_signals", "peak_rss_mb")),
        "mem_nosig_pss": median(each("sync_no_signals", "peak_pss_mb")),
        "mem_pg_rss": median(each("sync_postgres", "peak_rss_mb")),
        "mem_resync_rss": median(each("resync_no_change", "peak_rss_mb")),
        "mem_resync_new_rss": median(each("resync_new", "peak_rss_mb")),
        "mem_signals_rss": sig["memory"]["peak_rss_mb"],
        "mem_preview_rss": max(out["preview_synced"]["memory"]["peak_rss_mb"],
                               out["preview_ledgers"]["memory"]["peak_rss_mb"],
                               out["preview_team"]["memory"]["peak_rss_mb"]),
    }
    return s


# ------------------------------------------------------------------------------------------ table

Check = Callable[[float], bool] | None
MB = 150.0
#: (label, summary key, format, target text, check) — the rows of the table, in order.
ROWS: list[tuple[str, str, str, str, Check]] = [
    ("plain imapclient FETCH BODY.PEEK[] (msg/s)", "fetch_rate", "{:,.0f}", "baseline", None),
    ("full sync, fast signals (msg/s)", "sync_rate", "{:,.0f}", "", None),
    ("  ratio to plain fetch", "sync_ratio", "{:.2f}x", ">= 0.5x", lambda v: v >= 0.5),
    ("  ratio, whole command", "sync_command_ratio", "{:.2f}x", "", None),
    ("  signals per message", "signals_per_message", "{:.1f}", "", None),
    ("same sync, analysis a no-op (msg/s)", "noop_rate", "{:,.0f}", "", None),
    ("  ratio to plain fetch (ceiling)", "noop_ratio", "{:.2f}x", "", None),
    ("sync --no-signals (msg/s)", "nosig_rate", "{:,.0f}", "", None),
    ("  ratio to plain fetch", "nosig_ratio", "{:.2f}x", ">= 0.5x", lambda v: v >= 0.5),
    ("  ratio, whole command", "nosig_command_ratio", "{:.2f}x", "", None),
    ("sync into PostgreSQL, signals on (msg/s)", "pg_rate", "{:,.0f}", "", None),
    ("  ratio to plain fetch", "pg_ratio", "{:.2f}x", ">= 0.5x", lambda v: v >= 0.5),
    ("  ratio, whole command", "pg_command_ratio", "{:.2f}x", "", None),
    ("refinement: sentence classifier (msg/s)", "refine_rate", "{:,.1f}", "", None),
    ("  distinct sentences through the classifier (/s)", "refine_sentence_rate", "{:,.1f}", "", None),
    ("  messages refined (share of the mailbox)", "refine_share", "{:.0%}", "", None),
    ("sync + refinement: ratio to plain fetch", "sync_refined_ratio", "{:.3f}x", "", None),
    ("no-change resync (s, in-process)", "resync_s", "{:.3f}", "<= 0.3 s", lambda v: v <= 0.3),
    ("no-change resync, whole command (s)", "resync_command_s", "{:.2f}", "", None),
    (f"resync after {NEW_MESSAGES} new, whole command (s)", "resync_new_s", "{:.2f}", "", None),
    ("zoning (msg/s)", "zoning_rate", "{:,.0f}", "", None),
    ("signals on the zoned text (words/s)", "signals_words_rate", "{:,.0f}", "", None),
    ("signals on the zoned text (msg/s)", "signals_rate", "{:,.0f}", "", None),
    ("zoning + signals (words/s)", "analysis_words_rate", "{:,.0f}", "", None),
    ("zoning + signals (msg/s)", "analysis_rate", "{:,.0f}", "", None),
    ("preview, 10k recipients, synced store (s)", "preview_synced_s", "{:.2f}", "<= 1 s", lambda v: v <= 1.0),
    ("preview, 10k recipients, ledger store (s)", "preview_ledgers_s", "{:.2f}", "<= 1 s", lambda v: v <= 1.0),
    ("preview with paths, 10k, team of 3 mailboxes (s)", "preview_team_s", "{:.2f}", "<= 1.5 s",
     lambda v: v <= 1.5),
    ("peak RSS: sync, signals on (MB)", "mem_sync_rss", "{:.0f}", "<= 150 MB", lambda v: v <= MB),
    ("peak PSS: sync, signals on (MB)", "mem_sync_pss", "{:.0f}", "(<= 150 MB)", None),
    ("peak RSS: sync --no-signals (MB)", "mem_nosig_rss", "{:.0f}", "<= 150 MB", lambda v: v <= MB),
    ("peak PSS: sync --no-signals (MB)", "mem_nosig_pss", "{:.0f}", "(<= 150 MB)", None),
    ("peak RSS: sync into PostgreSQL (MB)", "mem_pg_rss", "{:.0f}", "<= 150 MB", lambda v: v <= MB),
    ("peak RSS: no-change resync (MB)", "mem_resync_rss", "{:.0f}", "<= 150 MB", lambda v: v <= MB),
    (f"peak RSS: resync after {NEW_MESSAGES} new (MB)", "mem_resync_new_rss", "{:.0f}", "<= 150 MB",
     lambda v: v <= MB),
    ("peak RSS: refinement (MB)", "mem_refine_rss", "{:.0f}", "<= 300 MB", lambda v: v <= 300.0),
    ("peak RSS: zoning + signals (MB)", "mem_signals_rss", "{:.0f}", "<= 150 MB", lambda v: v <= MB),
    ("peak RSS: preview (MB)", "mem_preview_rss", "{:.0f}", "<= 150 MB", lambda v: v <= MB),
]
FLAT_LIMIT = 1.15  # "flat as the mailbox grows": peak RSS at the largest size <= 1.15x the smallest's


def size_label(size: int) -> str:
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


def table(results: dict[str, Any]) -> str:
    sizes = [int(s) for s in results["sizes"]]
    summaries = [results["sizes"][str(s)]["summary"] for s in sizes]
    header = ["measure", *(size_label(s) for s in sizes), "target", "met?"]
    rows: list[list[str]] = []
    for label, key, fmt, target, check in ROWS:
        values = [s.get(key) for s in summaries]
        if all(v is None for v in values):
            continue
        cells = ["n/a" if v is None else fmt.format(v) for v in values]
        known = [v for v in values if v is not None]
        met = "" if check is None else ("yes" if all(check(v) for v in known) else "NO")
        rows.append([label, *cells, target, met])
    if len(sizes) > 1:
        for label, key in (("sync, signals on", "mem_sync_rss"), ("sync --no-signals", "mem_nosig_rss")):
            values = [s.get(key) for s in summaries]
            if None in values or not values[0]:
                continue
            growth = [v / values[0] for v in values]
            ok = growth[-1] <= FLAT_LIMIT
            rows.append([f"peak RSS growth: {label}", *(f"{g:.2f}x" for g in growth),
                         f"flat (<= {FLAT_LIMIT}x)", "yes" if ok else "NO"])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs)

    rule = "-+-".join("-" * w for w in widths)
    spread = ["", "per-run ratios to the plain fetch (the spread behind the medians):"]
    for size in sizes:
        ratios = [_run_ratios(run) for run in results["sizes"][str(size)]["runs"]]
        parts = [
            f"{name} " + " ".join(f"{r[key]:.2f}" for r in ratios)
            for name, key in (("signals on", "ratio"), ("analysis a no-op", "ratio_noop_analysis"),
                              ("--no-signals", "ratio_no_signals"),
                              ("PostgreSQL", "ratio_postgres"), ("--no-signals whole command",
                                                                 "command_ratio_no_signals"))
            if all(key in r for r in ratios)
        ]
        spread.append(f"  {size_label(size)}: " + "; ".join(parts))
    return "\n".join([line(header), rule, *(line(r) for r in rows), *spread])


# ------------------------------------------------------------------------------------------- main


def cleanup(phases: Phases, pg: Any) -> None:
    with phases("cleanup (deleting the data)"):
        if pg is not None:
            pg.stop()
        while LEFTOVERS:
            shutil.rmtree(LEFTOVERS.pop(), ignore_errors=True)


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    with contextlib.suppress(OSError):
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu_model"] = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), None
        )
    with contextlib.suppress(OSError, StopIteration):
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        info["memory_mb"] = int(next(x for x in meminfo if x.startswith("MemTotal")).split()[1]) // 1024
    for name, cmd in (("dovecot", ["dovecot", "--version"]), ("sqlite", [sys.executable, "-c",
                      "import sqlite3; print(sqlite3.sqlite_version)"])):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            info[name] = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    with contextlib.suppress(ImportError):
        import spacy

        import outreach

        info["outreach"], info["spacy"] = outreach.__version__, spacy.__version__
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,50000", help="mailbox sizes, comma-separated (default 10000,50000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per size (default 3)")
    parser.add_argument("--resync-runs", type=int, default=5, help="no-change resyncs per run (default 5)")
    parser.add_argument("--preview-repeat", type=int, default=5, help="previews per store (default 5)")
    parser.add_argument("--recipients", type=int, default=10_000, help="campaign size for the preview")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic mailbox")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"results file (default {DEFAULT_JSON})")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL sync")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run while developing: 3,000 messages, 1 run, fewer repeats")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(TASKS[spec.pop("task")](**spec)))
        return 0
    if args.quick:
        args.sizes, args.runs, args.resync_runs, args.preview_repeat = "3000", 1, 3, 3
    sizes = sorted(int(s) for s in args.sizes.split(","))

    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": machine_info(),
        "options": {k: v for k, v in vars(args).items() if k not in ("child", "json")},
        "sizes": {},
    }
    phases = Phases()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="outreach-bench-"))
        LEFTOVERS.append(tmp)
        pg = None
        if not args.no_postgres:
            from servers import PostgresServer, ServerUnavailable

            try:
                pg = PostgresServer().start()
                with contextlib.suppress(OSError, subprocess.SubprocessError):
                    results["machine"]["postgres"] = subprocess.run(
                        [os.path.join(pg.bindir, "postgres"), "--version"], capture_output=True, text=True
                    ).stdout.strip()
            except ServerUnavailable as exc:
                log(f"no PostgreSQL here, its rows are skipped: {exc}")
                results["postgres_skipped"] = str(exc)
        stack.callback(cleanup, phases, pg)
        with phases("Enron mailboxes: import with fast signals, then refine"):
            results["enron"] = enron_refinement(tmp)
        for size in sizes:
            results["sizes"][str(size)] = measure_size(size, args, pg, tmp, phases, size_label(size))
            results["phases_s"] = {k: round(v, 1) for k, v in phases.seconds.items()}
            args.json.write_text(json.dumps(results, indent=2))  # a later failure keeps what was measured
    results["phases_s"] = {k: round(v, 1) for k, v in phases.seconds.items()}
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["total_s"] = round(time.perf_counter() - started, 1)
    results["table"] = table(results)
    args.json.write_text(json.dumps(results, indent=2))

    m = results["machine"]
    print()
    print(f"outreach benchmark: {m.get('cpu_count')} CPUs ({m.get('cpu_model')}), Python {m['python']}, "
          f"load average {m['load_average_at_start'][0]} at start, {m['load_average_at_end'][0]} at end; "
          f"medians of {args.runs} run(s)")
    print(results["table"])
    enron = results.get("enron")
    if enron:
        ref = enron["refine"]
        print(f"\nEnron mailboxes ({len(ENRON_MAILBOXES)}, {enron['messages']:,} messages): import with fast signals "
              f"{enron['messages'] / enron['import_seconds']:,.0f} msg/s (whole commands); refinement: "
              f"{ref['messages']:,} messages ({ref['messages'] / enron['messages']:.0%}), {ref['sentences']:,} "
              f"sentences through the classifier in {ref['reported_seconds']:.1f}s: {ref['rate']:,.1f} msg/s, "
              f"{ref['sentence_rate']:,.1f} sentences/s; peak RSS {ref['peak_rss_mb']:.0f} MB")
    busiest = max(m["load_average_at_start"][0], m["load_average_at_end"][0])
    if busiest > 0.5 * (m.get("cpu_count") or 1):
        print(f"\nnote: load average up to {busiest} on {m.get('cpu_count')} CPUs: the machine was busy. Ratios hold "
              "up fairly well; absolute figures (msg/s, and the targets in seconds) do not: judge those on a quiet "
              "machine.")
    print(f"\nraw figures: {args.json}   total {results['total_s'] / 60:.1f} min   "
          "how to read this: benchmarks/README.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
