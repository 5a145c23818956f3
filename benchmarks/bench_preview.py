"""Benchmark: preview of a 10,000-recipient campaign over a store of 50,000 messages.

Builds a throw-away SQLite store: MESSAGES synthetic messages, RECIPIENTS contacts with computed-looking
ledger rows (tiers, balances, asks, opt-outs and evidence lines, bulk-inserted), a few suppressions and
campaign sends; a campaign folder with a text and an HTML template and a RECIPIENTS-row CSV. Then it
times, in the same run:

- baseline: compiling the templates and rendering subject, text and HTML body for every recipient with
  Jinja2's own ``Template.render`` (rendering alone), and, for reference, with outreach's render path;
- preview: what ``outreach preview CAMPAIGN`` does for its default table: ``load_campaign`` (CSV and
  templates), ``evaluate`` (ledger query, every rule, rendering) and the table, styled as the command
  styles it and written out (to /dev/null), with the time of each phase;
- the other outputs, for the record: ``--format json`` and ``--format html`` (which read the evidence
  lines of every finding) and ``--show ADDRESS`` (one recipient's).

One run first, reported apart (imports, the ask detector's model); then each figure is the median of
REPEAT runs, each timed up to its output written, with no earlier report still alive (the command exits
there). Every preview computes each recipient's best path (who on the team knows them). With
``--mailboxes 3`` the store is a team's: the messages spread over three mailboxes, each contact with a
ledger in one to three of them (the relationships the paths read), one address in 50 at gmail.com; with
``--sender best`` each recipient is judged on the ledger of the mailbox that knows them best. Targets:
preview (table) <= 1 s (median), <= 1.5 s over a team store. Usage:
``python benchmarks/bench_preview.py [--recipients N] [--messages N] [--repeat N] [--mailboxes N] [--sender S]``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from outreach.campaign import evaluate, load_campaign  # noqa: E402
from outreach.campaign.render import ContactFacts, compile_templates, context_for, render  # noqa: E402
from outreach.campaign.report import json_text, render_html, show_text, table_text  # noqa: E402
from outreach.ledger import EvidenceLine, LastAsk, Ledger, ledger_row_values  # noqa: E402
from outreach.store import open_store, session_factory  # noqa: E402
from outreach.store.models import (  # noqa: E402
    Contact,
    ContactLedger,
    Folder,
    Mailbox,
    Message,
    MessageLocation,
    SendLog,
    Suppression,
)

TEXT = """Hi {{ first_name }},

{% if contact.tier in ("warm", "strong") %}
Thanks again for your help with the city-hall story.
{% endif %}
{{ note }}

Our spring report on reuse in public buildings is out today, with numbers from 40 town halls
and three case studies{% if outlet %} that might suit {{ outlet }}{% endif %}.

Best,
Alex
"""
HTML = """<p>Hi {{ first_name }},</p>
{% if contact.tier in ("warm", "strong") %}
<p>Thanks again for your help with the city-hall story.</p>
{% endif %}
<p>{{ note }}</p>
<p>Our spring report on reuse in public buildings is out today
{%- if outlet %}, maybe for <em>{{ outlet }}</em>{% endif %}.</p>
<p>Best,<br>Alex</p>
"""
TIERS = ["none", "one-way", "acquaintance", "warm", "strong"]


TEAM = ("alex", "jordan", "sam")


def build_store(url: str, recipients: int, messages: int, now: datetime, mailboxes: int = 0) -> list[str]:
    """The store; with ``mailboxes`` (at most 3), a team store: the messages spread over that many mailboxes
    (a folder each), each contact with a ledger in one to all of them besides the team's, and one address
    in 50 at gmail.com (no outlet)."""
    rng = random.Random(7)
    engine = open_store(url)
    addresses = [
        f"person{i}@gmail.com" if mailboxes and i % 50 == 7 else f"person{i}@example{i % 97}.org"
        for i in range(recipients)
    ]
    team = TEAM[:mailboxes]
    with engine.begin() as conn:
        _messages(conn, addresses, messages, now, team)
        conn.execute(
            insert(Contact),
            [
                {"address": a, "domain": a.rpartition("@")[2], "display_name": None, "display_names": []}
                for a in addresses
            ],
        )
        rows = []
        for i, address in enumerate(addresses, start=1):
            scopes = {"*": TIERS[rng.randrange(5)] if i % 10 else "warm"}
            if team:
                held = rng.sample(team, rng.choice((1, 1, 1, 2, 2, 3)[: 2 * len(team)]))
                for name in held:
                    scopes[name] = TIERS[rng.randrange(5)]
                scopes["*"] = max(scopes.values(), key=TIERS.index)
            for scope, tier in scopes.items():
                rows.append({"contact_id": i, **ledger_row_values(_ledger(rng, address, i, scope, tier, now))})
        for start in range(0, len(rows), 5000):
            conn.execute(insert(ContactLedger), rows[start : start + 5000])
        conn.execute(
            insert(Suppression),
            [
                {"kind": "domain", "value": "example13.org", "reason": "bench"},
                {"kind": "address", "value": addresses[5], "reason": "bench"},
            ],
        )
        conn.execute(
            insert(SendLog),
            [
                {
                    "campaign": "earlier",
                    "recipient": addresses[j],
                    "mailbox": "alex",
                    "message_id_header": f"<s{j}@bench>",
                    "status": "sent",
                    "sent_at": now - timedelta(days=3),
                }
                for j in range(0, recipients, 50)
            ],
        )
    engine.dispose()
    return addresses


def _messages(conn: Any, addresses: list[str], messages: int, now: datetime, team: tuple[str, ...]) -> None:
    """``messages`` messages from the contacts; in a team store, each in one teammate's mailbox's INBOX."""
    folders = []
    for n, name in enumerate(team, start=1):
        conn.execute(insert(Mailbox), [{"id": n, "name": name}])
        conn.execute(insert(Folder), [{"id": n, "mailbox_id": n, "name": "INBOX", "source": "imap"}])
        folders.append(n)
    batch: list[dict[str, Any]] = []
    locations: list[dict[str, Any]] = []
    for i in range(messages):
        batch.append(
            {
                "id": i + 1,
                "message_key": f"<m{i}@bench.example>",
                "subject": f"Subject {i}",
                "date": now - timedelta(hours=i),
                "from_address": addresses[i % len(addresses)],
                "body_text": "Hello, a short body.\n" * 3,
                "size": 400,
                "recipient_count": 1,
            }
        )
        if folders:
            locations.append({"message_id": i + 1, "folder_id": folders[i % len(folders)], "uid": i + 1,
                              "direction": "in"})
        if len(batch) == 5000:
            conn.execute(insert(Message), batch)
            if locations:
                conn.execute(insert(MessageLocation), locations)
            batch, locations = [], []
    if batch:
        conn.execute(insert(Message), batch)
    if locations:
        conn.execute(insert(MessageLocation), locations)


def _ledger(rng: random.Random, address: str, i: int, scope: str, tier: str, now: datetime) -> Ledger:
    """A computed-looking ledger with evidence lines. The team's (``*``) as it always was (judged as
    stored); a mailbox's with figures that fit ``tier``, judged as of the reader's date like a synced one."""
    two_way = now - timedelta(days=rng.randrange(1, 900)) if tier not in ("none", "one-way") else None
    lines = [
        EvidenceLine(
            i * 10 + k,
            now - timedelta(days=rng.randrange(1, 400)),
            "out",
            f"Subject {k}",
            "Could you have a look at this?",
        )
        for k in range(3)
    ]
    ledger = Ledger(
        address=address,
        scope=scope,
        name=f"Person {i}",
        domain=address.rpartition("@")[2],
        tier=tier,
        last_two_way=two_way,
        sent=rng.randrange(20),
        received=rng.randrange(20),
        asks_by_us=rng.randrange(5),
        offers_by_us=rng.randrange(3),
        balance=rng.uniform(-4, 3),
        strength=rng.randrange(100),
        opt_outs=1 if i % 500 == 0 else 0,
        last_ask_by_us=LastAsk(lines[0], answered=bool(i % 3)),
        evidence={"asks_by_us": lines, "sent": lines[:2], "two_way_threads": lines[1:]},
    )
    if scope != "*":
        threads = {"acquaintance": 1, "warm": 3, "strong": 6}.get(tier, 0)
        both = tier not in ("none", "one-way")
        ledger.sent = ledger.sent + 1 if tier != "none" else 0
        ledger.personal_sent = ledger.sent
        ledger.personal_received = max(1, ledger.received) if both else 0
        ledger.received = ledger.personal_received
        ledger.exchanges, ledger.two_way_threads, ledger.two_way_messages = threads * 2, threads, threads * 3
        ledger.evidence["last_two_way"] = lines[2:]
        ledger.as_of = now - timedelta(days=1)
    return ledger


def write_campaign(folder: Path, addresses: list[str], mailbox: str = "alex", sender: str = "mailbox") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "campaign.toml").write_text(
        f'name = "bench"\nmailbox = "{mailbox}"\nsender = "{sender}"\n'
        '[template]\nsubject = "Our spring report, {{ first_name }}"\n'
        'text = "body.txt.j2"\nhtml = "body.html.j2"\n[unsubscribe]\nurl = "https://example.org/u?e={email}"\n',
        encoding="utf-8",
    )
    (folder / "body.txt.j2").write_text(TEXT, encoding="utf-8")
    (folder / "body.html.j2").write_text(HTML, encoding="utf-8")
    lines = ["email,first_name,outlet,note"]
    for i, address in enumerate(addresses):
        lines.append(
            f"{address},Person{i},Outlet {i % 40},I read your piece number {i} on repair cafés "
            "and community workshops with great interest."
        )
    (folder / "recipients.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def timed(repeat: int, run: Callable[[], Any]) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return times


def runs(repeat: int, run: Callable[[], float]) -> list[float]:
    """The times ``run`` measured itself: up to the output written, as the command would then exit (its
    report is freed after that, as at the command's exit, and no earlier report is alive meanwhile)."""
    return [run() for _ in range(repeat)]


def ms(times: list[float]) -> str:
    median, low, high = statistics.median(times) * 1000, min(times) * 1000, max(times) * 1000
    return f"{median:6.0f} ms (min {low:.0f}, max {high:.0f})"


def rendering_times(folder: Path, repeat: int) -> tuple[list[float], list[float]]:
    """The baselines: (Jinja2's own render of every recipient's subject/text/HTML, outreach's render path)."""
    campaign = load_campaign(folder)
    rows = [r.row for r in campaign.recipients]
    facts = ContactFacts("warm", None, 0.0, 50, "Person")

    def jinja_render() -> None:
        compiled = compile_templates(campaign.subject, campaign.text, campaign.html)
        assert compiled.html is not None
        for row in rows:
            ctx = context_for(row, facts)
            compiled.subject.render(ctx)
            compiled.text.render(ctx)
            compiled.html.render(ctx)

    def outreach_render() -> None:
        compiled = compile_templates(campaign.subject, campaign.text, campaign.html)
        assert compiled.html is not None and campaign.html is not None
        for row in rows:
            ctx = context_for(row, facts)
            render(compiled.subject, campaign.subject, ctx)
            render(compiled.text, campaign.text, ctx)
            render(compiled.html, campaign.html, ctx)

    return timed(repeat, jinja_render), timed(repeat, outreach_render)


def measure_preview(
    url: str, folder: Path, repeat: int, now: datetime, show_address: str | None = None, extras: bool = True
) -> dict[str, Any]:
    """Time ``outreach preview`` of the campaign in ``folder`` over the store at ``url``, in this process.

    Returns lists of seconds: ``first`` (the first run, imports and the ask detector included), ``preview``
    (``repeat`` runs: load + evaluate + table), ``phases`` (load/evaluate/table of those runs), and with
    ``extras`` ``json``, ``html`` and ``show`` (``--show show_address``); plus ``recipients`` and ``counts``.
    """
    engine = open_store(url)
    sessions = session_factory(engine)
    phases: dict[str, list[float]] = {"load": [], "evaluate": [], "table": []}
    state: dict[str, Any] = {}
    with open(os.devnull, "w", encoding="utf-8") as devnull:

        def preview() -> float:
            t0 = time.perf_counter()
            loaded = load_campaign(folder)
            t1 = time.perf_counter()
            with sessions() as session:  # as the command does: the session is closed before printing
                report = evaluate(session, loaded, now=now)
            t2 = time.perf_counter()
            click.echo(table_text(report), file=devnull, nl=False)  # styled; echo strips it for a file
            t3 = time.perf_counter()
            for name, spent in zip(phases, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                phases[name].append(spent)
            state["recipients"], state["counts"] = len(report.recipients), report.counts
            return t3 - t0

        first = runs(1, preview)
        for times in phases.values():
            times.clear()
        result: dict[str, Any] = {"first": first, "preview": runs(repeat, preview), "phases": phases}

        def preview_as(output: Callable[[Any], str]) -> Callable[[], float]:
            def run() -> float:
                started = time.perf_counter()
                loaded = load_campaign(folder)
                with sessions() as session:
                    found = evaluate(session, loaded, now=now)
                click.echo(output(found), file=devnull, nl=False)
                return time.perf_counter() - started

            return run

        if extras:
            result["json"] = runs(repeat, preview_as(json_text))
            result["html"] = runs(repeat, preview_as(lambda r: render_html(r, now)))
            if show_address is not None:
                result["show"] = runs(repeat, preview_as(lambda r: show_text(r, show_address)[0]))
    engine.dispose()
    result["recipients"], result["counts"] = state["recipients"], state["counts"]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mailboxes", type=int, default=0, choices=range(4),
                        help="a team store of this many mailboxes (ledgers per mailbox: the paths)")
    parser.add_argument("--sender", choices=("mailbox", "best"), default="mailbox",
                        help='the campaign\'s sender ("best": judged per recipient from the best mailbox)')
    args = parser.parse_args()
    now = datetime.now(UTC)
    target = 1.5 if args.mailboxes else 1.0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root / 'bench.db'}"
        started = time.perf_counter()
        addresses = build_store(url, args.recipients, args.messages, now, args.mailboxes)
        folder = root / "campaign"
        write_campaign(folder, addresses, sender=args.sender)
        team = f", a team of {args.mailboxes} mailboxes" if args.mailboxes else ""
        print(
            f"store: {args.messages:,} messages, {args.recipients:,} contacts with ledgers{team} "
            f"(built in {time.perf_counter() - started:.1f}s)"
        )
        baseline_times, render_times = rendering_times(folder, args.repeat)
        found = measure_preview(url, folder, args.repeat, now, show_address=addresses[21])
        phases, preview_times = found["phases"], found["preview"]

        baseline = statistics.median(baseline_times)
        median = statistics.median(preview_times)
        print(f"recipients: {found['recipients']:,}  verdicts: {found['counts']}")
        print(f"medians of {args.repeat} runs (min, max):")
        print(f"baseline: compile + render subject/text/html, Jinja2's render   {ms(baseline_times)}")
        print(f"          the same with outreach's render path (for reference) {ms(render_times)}")
        print(f"preview:  load + evaluate + table, as `outreach preview`      {ms(preview_times)}")
        print(f"            load_campaign (CSV, templates)                     {ms(phases['load'])}")
        print(f"            evaluate (ledger query, every rule, rendering)    {ms(phases['evaluate'])}")
        print(f"            table (formatting, styling, writing)               {ms(phases['table'])}")
        print(f"          first run in the process (imports, ask detector)    {found['first'][0] * 1000:6.0f} ms")
        print(f"preview --format json (evidence of every finding read)        {ms(found['json'])}")
        print(f"preview --format html (evidence of every finding read)        {ms(found['html'])}")
        print(f"preview --show ADDRESS (one recipient's evidence read)        {ms(found['show'])}")
        print(f"ratio preview / rendering alone: {median / baseline:.2f}x")
        verdict = "OK" if median <= target else "SLOW"
        print(f"target preview <= {target * 1000:.0f} ms (median): {verdict}")
        return 0 if median <= target else 1


if __name__ == "__main__":
    raise SystemExit(main())
