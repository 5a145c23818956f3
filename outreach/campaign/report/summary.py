"""What the top of the HTML reports shows: counts by verdict and tier, and the strength chart as shapes
(the page draws them as inline SVG: no script, no font, nothing from outside)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from outreach.campaign.model import VERDICTS, CampaignReport
from outreach.ledger import TIERS

BIN = 10  # strength points per bar: 0-9, 10-19, … 90-100
CHART_WIDTH, CHART_HEIGHT = 440, 170
_PLOT_TOP, _PLOT_BOTTOM, _PLOT_LEFT = 18, 140, 30  # the plot area inside the SVG's viewBox


@dataclass(frozen=True, slots=True)
class Bar:
    """One rectangle of the chart: a verdict's share of one strength band."""

    x: float
    y: float
    width: float
    height: float
    kind: str  # a verdict (its colour)
    title: str


@dataclass(frozen=True, slots=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True, slots=True)
class Chart:
    """The strength chart: stacked bars per band of strength, labelled axes, a one-line description."""

    bars: tuple[Bar, ...]
    labels: tuple[Label, ...]
    description: str
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    baseline: float = _PLOT_BOTTOM
    left: float = _PLOT_LEFT


@dataclass(frozen=True, slots=True)
class Share:
    name: str
    count: int
    percent: float


def shares(counts: Mapping[str, int], order: Iterable[str]) -> list[Share]:
    """``counts`` in ``order`` with each one's share of the total (in %)."""
    total = sum(counts.values()) or 1
    return [Share(name, counts.get(name, 0), round(100 * counts.get(name, 0) / total, 1)) for name in order]


def strength_chart(points: Sequence[tuple[int, str]], kinds: Sequence[str] = VERDICTS) -> Chart:
    """Bars of how many (strength, kind) points fall in each band of :data:`BIN` points, stacked by kind."""
    bands = [dict.fromkeys(kinds, 0) for _ in range(100 // BIN)]
    for strength, kind in points:
        band = bands[min(len(bands) - 1, max(0, strength) // BIN)]
        band[kind] = band.get(kind, 0) + 1
    tallest = max((sum(b.values()) for b in bands), default=0) or 1
    step = (CHART_WIDTH - _PLOT_LEFT - 6) / len(bands)
    scale = (_PLOT_BOTTOM - _PLOT_TOP) / tallest
    bars: list[Bar] = []
    labels = [Label(_PLOT_LEFT - 6, _PLOT_TOP + 4, str(tallest), "end")]
    labels.append(Label(_PLOT_LEFT - 6, _PLOT_BOTTOM, "0", "end"))
    for n, band in enumerate(bands):
        x = _PLOT_LEFT + n * step + 3
        low, high = n * BIN, 100 if n == len(bands) - 1 else n * BIN + BIN - 1
        total = sum(band.values())
        top = float(_PLOT_BOTTOM)
        detail = ", ".join(f"{band[k]} {k}" for k in kinds if band.get(k))
        for kind in kinds:
            height = band.get(kind, 0) * scale
            if height <= 0:
                continue
            top -= height
            title = f"strength {low}-{high}: {total} recipient(s) ({detail})"
            bars.append(Bar(round(x, 1), round(top, 1), round(step - 6, 1), round(height, 1), kind, title))
        if total:
            labels.append(Label(round(x + (step - 6) / 2, 1), round(top - 4, 1), str(total)))
        labels.append(Label(round(x + (step - 6) / 2, 1), _PLOT_BOTTOM + 14, f"{low}"))
    labels.append(Label(CHART_WIDTH / 2, CHART_HEIGHT - 2, "relationship strength (0-100)"))
    described = "; ".join(
        f"{n * BIN}-{100 if n == len(bands) - 1 else n * BIN + BIN - 1}: {sum(b.values())}"
        for n, b in enumerate(bands)
        if sum(b.values())
    )
    return Chart(tuple(bars), tuple(labels), f"Recipients by relationship strength: {described or 'none'}")


@dataclass(frozen=True, slots=True)
class Summary:
    """The top of the campaign report."""

    verdicts: list[Share]
    tiers: list[Share]
    chart: Chart
    paths: dict[str, int]  # among BLOCKED recipients: with a teammate who knows them, via their outlet, none
    senders: list[Share]  # sender = "best": recipients per sending mailbox


def summarise(report: CampaignReport) -> Summary:
    blocked = [r for r in report.recipients if r.verdict == "BLOCKED"]
    # a path helps only where the report advises it: blocked for want of a relationship (not an opt-out or a
    # suppression), and known by another mailbox than the one judged
    kinds = [r.path.kind for r in blocked if r.advice is not None and r.path is not None]
    paths = {"teammate": kinds.count("direct"), "outlet": kinds.count("outlet")}
    paths["none"] = len(blocked) - paths["teammate"] - paths["outlet"]
    senders: dict[str, int] = {}
    for r in report.recipients:
        if r.sender is not None:
            senders[r.sender] = senders.get(r.sender, 0) + 1
    return Summary(
        verdicts=shares(report.counts, VERDICTS),
        tiers=shares(report.tier_counts(), TIERS),
        chart=strength_chart([(r.ledger.strength, r.verdict) for r in report.recipients]),
        paths=paths,
        senders=shares(senders, sorted(senders, key=lambda m: (-senders[m], m))),
    )


__all__ = ["BIN", "Bar", "Chart", "Label", "Share", "Summary", "shares", "strength_chart", "summarise"]
