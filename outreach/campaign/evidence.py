"""The evidence of recipient findings, built when it is first shown.

A preview printed as a table shows verdicts and messages only; the evidence of thousands of findings,
and the evidence lines that light ledgers lack (see :func:`outreach.ledger.store.load_ledgers_light`),
are work for the outputs that show them (JSON, HTML, ``--show``). :class:`EvidenceReader` hands each
recipient finding a :class:`~outreach.lint.findings.DeferredEvidence` and builds it on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from outreach.gcpause import collector_paused
from outreach.ledger.read import LIGHT_EVIDENCE
from outreach.lint.facts import POSITIVE_FIGURES
from outreach.lint.findings import DeferredEvidence, Evidence
from outreach.lint.registry import all_rules

#: The key of a READY recipient's positive evidence among its deferred evidence (not a rule code).
POSITIVE = "positive"


def deferred_figures() -> dict[str, tuple[str, ...]]:
    """Rule code -> the ledger figures its evidence quotes, for the rules whose evidence quotes lines that
    light ledgers do not carry (read from the store when the evidence is first shown)."""
    return {
        rule.code: rule.evidence_figures
        for rule in all_rules()
        if rule.evidence_figures and not set(rule.evidence_figures) <= set(LIGHT_EVIDENCE)
    }


class EvidenceReader:
    """Builds the evidence of recipient findings (and of READY recipients, :data:`POSITIVE`) when it is
    first shown, reading from the store the evidence lines that light ledgers lack.

    The first recipient asked for is done alone (``preview --show`` shows one); the next one does every
    recipient still pending, with one batch of queries (JSON and HTML outputs show them all).
    ``evidence_of(address)`` then builds the recipient's evidence again, on the completed ledger (code ->
    evidence: its findings computed again, and its positive evidence), and each deferred evidence takes
    that of its twin.
    """

    def __init__(
        self,
        load: Callable[[Mapping[str, Iterable[str]]], None],
        evidence_of: Callable[[str], Mapping[str, Sequence[Evidence]]],
    ) -> None:
        self.load = load
        self.evidence_of = evidence_of
        self.pending: dict[str, list[str]] = {}  # address -> the codes of its deferred findings
        self.read: dict[str, Mapping[str, Sequence[Evidence]]] = {}
        self.figures = {**deferred_figures(), POSITIVE: POSITIVE_FIGURES}

    def defer(self, address: str, code: str) -> DeferredEvidence:
        """The evidence of the finding ``code`` of ``address``, built when first used."""
        self.pending.setdefault(address, []).append(code)
        return _Deferred(self, address, code)

    def evidence(self, address: str, code: str) -> Sequence[Evidence]:
        if address not in self.read:
            if self.read:
                batch, self.pending = self.pending, {}
            else:
                batch = {address: self.pending.pop(address, [])}
            figures = self.figures
            needed: dict[str, set[str]] = {}
            for each, codes in batch.items():
                for deferred in codes:
                    if deferred in figures:
                        needed.setdefault(each, set()).update(figures[deferred])
            with collector_paused():  # thousands of evidence lines that live as long as the report
                if needed:
                    self.load(needed)
                for each in batch:
                    self.read[each] = self.evidence_of(each)
        # (empty if the store changed in between and the rule no longer fires)
        return self.read[address].get(code, ())


class _Deferred(DeferredEvidence):
    """The evidence of one finding, from an :class:`EvidenceReader` (a few slots: no closure)."""

    __slots__ = ("reader", "address", "code")

    def __init__(self, reader: EvidenceReader, address: str, code: str) -> None:
        super().__init__()
        self.reader, self.address, self.code = reader, address, code

    def _compute(self) -> Sequence[Evidence]:
        return self.reader.evidence(self.address, self.code)


__all__ = ["EvidenceReader", "POSITIVE", "deferred_figures"]
