"""The one ``--format`` option and the writers behind it: JSON, CSV (spreadsheet-safe) and tables."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import click

from outreach.cli.app import AppContext
from outreach.csvsafe import csv_text
from outreach.texttable import render_table

F = TypeVar("F", bound=Callable[..., Any])
ROWS = ("table", "json", "csv")  # the formats of a list of rows


def format_option(*choices: str) -> Callable[[F], F]:
    """``--format`` with ``choices``, the first one the default."""
    return click.option("--format", "fmt", type=click.Choice(list(choices)), default=choices[0], show_default=True)


def emit_json(data: object) -> None:
    """JSON on stdout: indented, values as they are (dates as text)."""
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def emit_rows(
    app: AppContext, rows: Sequence[Mapping[str, Any]], fmt: str, columns: Sequence[str], title: str = ""
) -> None:
    """Rows as JSON, CSV (every column, no cell a spreadsheet would run as a formula) or a table."""
    if fmt == "json":
        emit_json(list(rows))
    elif fmt == "csv":
        click.echo(csv_text(rows, columns), nl=False)
    else:
        cells = [{c: _cell(row.get(c)) for c in columns} for row in rows]
        if title:
            click.echo(title)
        width = app.console.width if app.console.is_terminal else None  # piped: every cell whole
        for line in render_table(columns, {c: _header(c) for c in columns}, cells, WHOLE_COLUMNS, width):
            click.echo(line)
        click.echo(f"{len(rows)} row(s)")


# Columns whose cells are never cut in a table: addresses and domains (a cut address is another address).
WHOLE_COLUMNS = frozenset({"address", "domain", "strongest_contact", "addresses", "value", "email"})
_HEADERS = {"two_way_threads": "2-way threads", "last_two_way": "last 2-way", "strongest_strength": "strength",
            "strongest_contact": "strongest contact"}


def _header(column: str) -> str:
    return _HEADERS.get(column, column.replace("_", " "))


def _cell(value: object) -> str:
    if value is None:
        return "-"
    text = str(value)
    return text[:10] if len(text) >= 19 and text[4] == "-" and "T" in text else text


__all__ = ["ROWS", "emit_json", "emit_rows", "format_option"]
