"""Plain-text tables that fit the terminal and stay whole when piped.

On a terminal, a table is made to fit its width: the columns that may be cut (names, reasons, dates …)
give up room, their cells cut with "…"; addresses and domains are never cut (a cut address is another
address). Piped into a file or another program, no width applies: every cell is whole, one line per row.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

ELLIPSIS = "…"
MIN_WIDTH = 10  # a column that may be cut keeps at least this many characters (a date, "Priya Nai…")
GAP = "  "


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, ending with … when it was cut."""
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + ELLIPSIS if width > 0 else ""


def fit_widths(natural: Mapping[str, int], whole: Collection[str], width: int | None) -> dict[str, int]:
    """Column widths that fit in ``width`` (None: no limit), the columns in their order of importance.

    ``natural`` holds the longest cell (or header) of each column. When they do not fit, the widest
    columns not in ``whole`` shrink, one character at a time, down to :data:`MIN_WIDTH` characters (a
    date keeps its 10); when that is not enough, the last columns are left out (not in the result). The
    whole columns never shrink: a table of them alone may be wider than ``width``."""
    widths = dict(natural)
    if width is None:
        return widths

    def room() -> int:
        return width - len(GAP) * (len(widths) - 1)

    while sum(widths.values()) > room():
        shrinkable = [c for c in widths if c not in whole and widths[c] > MIN_WIDTH]
        if shrinkable:
            widest = max(shrinkable, key=lambda c: widths[c])
            widths[widest] -= 1
            continue
        droppable = [c for c in widths if c not in whole]
        if len(widths) == 1 or not droppable:
            break
        del widths[droppable[-1]]
        widths.update({c: natural[c] for c in widths})  # start again from the natural widths
    return widths


def render_table(
    columns: Sequence[str],
    headers: Mapping[str, str],
    rows: Sequence[Mapping[str, str]],
    whole: Collection[str] = (),
    width: int | None = None,
) -> list[str]:
    """The lines of a table (header, rule, rows) fitted to ``width`` (see :func:`fit_widths`), and a last
    line naming the columns left out, if any."""
    natural = {c: max([len(headers[c])] + [len(r.get(c, "")) for r in rows]) for c in columns}
    widths = fit_widths(natural, whole, width)
    shown = [c for c in columns if c in widths]

    def line(cells: Mapping[str, str]) -> str:
        return GAP.join(cut(cells.get(c, ""), widths[c]).ljust(widths[c]) for c in shown).rstrip()

    lines = [line(headers), GAP.join("-" * widths[c] for c in shown), *(line(r) for r in rows)]
    left_out = [headers[c] for c in columns if c not in widths]
    if left_out:
        note = f"(left out to fit the terminal: {', '.join(left_out)}; --format csv or json has them)"
        lines.append(cut(note, width) if width is not None else note)
    return lines


__all__ = ["cut", "fit_widths", "render_table"]
