"""The CPU-heavy half of ingesting a batch: parse it and, optionally, find its signals.

Pure and picklable, and kept apart from the store code so that a sync's worker process imports only this
(and spaCy only when it analyses): a spawned worker then costs a few MB instead of a copy of the parent.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from outreach.parsing import ParsedMessage, parse_message

if TYPE_CHECKING:
    from outreach.signals.analyse import MessageSignals

#: A parsed message and, when they were computed alongside (in a worker), its signals.
Prepared = tuple["ParsedMessage | None", "MessageSignals | None"]


def prepare_batch(items: list[tuple[bytes | None, datetime | None]], analyse: bool) -> list[Prepared]:
    """Parse a batch and, with ``analyse``, find its signals; same order, one result per item."""
    parsed = [parse_message(raw, date) if raw else None for raw, date in items]
    if not analyse:
        return [(p, None) for p in parsed]
    from outreach.signals.analyse import analyse_texts

    texts = [p.body_text if p is not None and not p.parse_error else None for p in parsed]
    return list(zip(parsed, analyse_texts(texts), strict=True))
