"""Benchmark only: makes the signals analysis a no-op, to measure what a sync with signals costs beyond it.

``benchmarks/run.py`` puts this directory on ``PYTHONPATH`` of one sync (and so of its worker process,
which inherits the environment) with ``OUTREACH_BENCH_NOOP_SIGNALS`` set to the mean number of signals
per message that the real analysis found in the same mailbox.  Each message then gets that many signals
(the fraction spread over the messages), each on the first 80 characters of its body, found in no time:
the sync still parses, stores the messages and their signals, and refreshes the ledgers, so its rate is
the ceiling that the cheapest possible analysis could reach.
"""

import os

_MEAN = os.environ.get("OUTREACH_BENCH_NOOP_SIGNALS")
if _MEAN is not None:
    from collections.abc import Sequence

    import outreach.signals.analyse as _analyse
    from outreach.signals.hits import SignalHit

    _KINDS = ("ask", "thanks", "ask", "fulfilment", "ask", "commitment", "ask", "offer", "ask")
    _owed = [0.0]

    def _noop(
        texts: Sequence[str | None], batch_size: int = 256, *, refine: bool = True
    ) -> list[_analyse.MessageSignals]:
        found = []
        for text in texts:
            body = (text or "")[:80]
            if not body.strip():
                found.append(_analyse.MessageSignals("unknown"))
                continue
            _owed[0] += float(_MEAN)
            count = int(_owed[0])
            _owed[0] -= count
            hits = tuple(
                SignalHit(kind, "other" if kind == "ask" else None, True, body, 0, len(body), 0.9)
                for kind in (_KINDS[i % len(_KINDS)] for i in range(count))
            )
            found.append(_analyse.MessageSignals("en", hits, len(text or "")))
        return found

    _analyse.analyse_texts = _noop  # the worker imports it from there when its first batch comes
