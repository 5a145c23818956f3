"""Benchmark: preview (load + evaluate) of a 10,000-recipient campaign over a store of 50,000 messages.

Builds a throw-away SQLite store: MESSAGES synthetic messages, RECIPIENTS contacts with computed-looking
ledger rows (tiers, balances, asks, opt-outs and evidence lines, bulk-inserted), a few suppressions and
campaign sends; a campaign folder with a text and an HTML template and a RECIPIENTS-row CSV. Then it
times, in the same run:

- baseline: compiling the templates and rendering them for every recipient (rendering alone);
- preview: ``load_campaign`` + ``evaluate`` (CSV parsing, ledger query, every rule, rendering);
- table: formatting the preview table as ``outreach preview`` prints it.

Target: preview <= 1 s. Usage: ``python benchmarks/bench_preview.py [--recipients N] [--messages N]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from outreach.campaign import evaluate, load_campaign  # noqa: E402
from outreach.campaign.present import table_text  # noqa: E402
from outreach.campaign.render import ContactFacts, compile_templates, context_for  # noqa: E402
from outreach.ledger import EvidenceLine, LastAsk, Ledger, ledger_row_values  # noqa: E402
from outreach.models import Contact, ContactLedger, Message, SendLog, Suppression  # noqa: E402
from outreach.store import open_store, session_factory  # noqa: E402

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


def build_store(url: str, recipients: int, messages: int, now: datetime) -> list[str]:
    rng = random.Random(7)
    engine = open_store(url)
    addresses = [f"person{i}@example{i % 97}.org" for i in range(recipients)]
    with engine.begin() as conn:
        batch = []
        for i in range(messages):
            batch.append(
                {
                    "message_key": f"<m{i}@bench.example>",
                    "subject": f"Subject {i}",
                    "date": now - timedelta(hours=i),
                    "from_address": addresses[i % recipients],
                    "body_text": "Hello, a short body.\n" * 3,
                    "size": 400,
                    "recipient_count": 1,
                }
            )
            if len(batch) == 5000:
                conn.execute(insert(Message), batch)
                batch = []
        if batch:
            conn.execute(insert(Message), batch)
        conn.execute(
            insert(Contact),
            [
                {"address": a, "domain": a.rpartition("@")[2], "display_name": None, "display_names": []}
                for a in addresses
            ],
        )
        rows = []
        for i, address in enumerate(addresses, start=1):
            tier = TIERS[rng.randrange(5)] if i % 10 else "warm"
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
            rows.append({"contact_id": i, **ledger_row_values(ledger)})
        conn.execute(insert(ContactLedger), rows)
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


def write_campaign(folder: Path, addresses: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "campaign.toml").write_text(
        'name = "bench"\nmailbox = "alex"\n[template]\nsubject = "Our spring report, {{ first_name }}"\n'
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


def best(times: list[float]) -> float:
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root / 'bench.db'}"
        started = time.perf_counter()
        addresses = build_store(url, args.recipients, args.messages, now)
        write_campaign(root / "campaign", addresses)
        print(
            f"store: {args.messages:,} messages, {args.recipients:,} contacts with ledgers "
            f"(built in {time.perf_counter() - started:.1f}s)"
        )

        campaign = load_campaign(root / "campaign")
        rows = [r.row for r in campaign.recipients]
        facts = ContactFacts("warm", None, 0.0, 50, "Person")
        baseline_times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            compiled = compile_templates(campaign.subject, campaign.text, campaign.html)
            assert compiled.html is not None
            for row in rows:
                ctx = context_for(row, facts)
                compiled.subject.render(ctx)
                compiled.text.render(ctx)
                compiled.html.render(ctx)
            baseline_times.append(time.perf_counter() - t0)

        engine = open_store(url)
        sessions = session_factory(engine)
        preview_times, table_times = [], []
        report = None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            campaign = load_campaign(root / "campaign")
            with sessions() as session:
                report = evaluate(session, campaign, now=now)
            t1 = time.perf_counter()
            table_text(report, color=False)
            t2 = time.perf_counter()
            preview_times.append(t1 - t0)
            table_times.append(t2 - t1)
        engine.dispose()
        assert report is not None
        baseline, preview, table = best(baseline_times), best(preview_times), best(table_times)
        print(f"recipients: {len(report.recipients):,}  verdicts: {report.counts}")
        print(f"baseline (compile + render subject/text/html for every recipient): {baseline * 1000:7.0f} ms")
        print(
            f"preview  (load_campaign + evaluate, all rules, one query batch):   {preview * 1000:7.0f} ms "
            f"(median {statistics.median(preview_times) * 1000:.0f} ms)"
        )
        print(f"table    (formatting the preview table):                          {table * 1000:7.0f} ms")
        print(f"ratio preview / rendering alone: {preview / baseline:.2f}x")
        verdict = "OK" if preview <= 1.0 else "SLOW"
        print(f"target preview <= 1000 ms: {verdict}")
        return 0 if preview <= 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
