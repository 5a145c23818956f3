"""The one ``--format`` option and the writers behind it: JSON, CSV (spreadsheet-safe) and tables."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import click
from rich.table import Table

from outreach.cli.app import AppContext
from outreach.csvsafe import csv_text

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
        table = Table(title=title or None)
        for column in columns:
            table.add_column(column.replace("_", " "), overflow="fold")
        for row in rows:
            table.add_row(*(_cell(row.get(c)) for c in columns))
        app.console.print(table)
        click.echo(f"{len(rows)} row(s)")


def _cell(value: object) -> str:
    if value is None:
        return "-"
    text = str(value)
    return text[:10] if len(text) >= 19 and text[4] == "-" and "T" in text else text


__all__ = ["ROWS", "emit_json", "emit_rows", "format_option"]
