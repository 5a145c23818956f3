"""Bulk writes: slices for IN lists, and compiled ``executemany`` inserts for the hot paths.

A sync writes hundreds of thousands of rows (messages, participants, signals); SQLAlchemy's per-row
bookkeeping would cost more than the database itself, so these helpers compile one INSERT per table and
column list and hand the DBAPI plain tuples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Boolean, Connection, Table, insert

from outreach.store.models import Base, UTCDateTime

IN_CHUNK = 500  # values per IN (...) list: well under SQLite's and PostgreSQL's parameter limits

T = TypeVar("T")


def chunked(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in slices of ``size``: for IN lists and batched statements."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


_INSERT_CACHE: dict[
    tuple[str, str, tuple[str, ...]], tuple[str, tuple[str, ...], list[Callable[[Any], Any] | None], tuple[Any, ...]]
] = {}


def table_of(model: type[Base]) -> Table:
    """The table of a model class (``__table__`` is typed as a mere ``FromClause``)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def bulk_insert(conn: Connection, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """:func:`bulk_insert_rows` of rows given as dicts (every row with the same keys, in the same order)."""
    if rows:
        bulk_insert_rows(conn, model, tuple(rows[0]), [tuple(row.values()) for row in rows])


def bulk_insert_rows(conn: Connection, model: type[Base], columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """``executemany`` of a compiled INSERT of ``columns`` with the column types' own bind processors.

    Same SQL and values as ``conn.execute(insert(table), rows)`` with the rows as dicts, without
    SQLAlchemy's per-row bookkeeping, which costs more than the database itself on this hot path.
    Columns left out get their default, if they have one.
    """
    if not rows:
        return
    table = table_of(model)
    dialect = conn.dialect
    given = tuple(columns)
    key = (dialect.name, table.name, given)
    cached = _INSERT_CACHE.get(key)
    if cached is None:
        defaults = {}
        for column in table.columns:
            if column.name not in given and column.default is not None and not column.primary_key:
                arg = column.default.arg  # type: ignore[attr-defined]  # ColumnDefault's value; the base class has none
                defaults[column.name] = arg
        names = given + tuple(defaults)
        compiled = insert(table).compile(dialect=dialect, column_keys=list(names))
        processors = [bind_processor(table.c[c].type, dialect) for c in names]
        cached = _INSERT_CACHE[key] = (str(compiled), names, processors, tuple(defaults.values()))
    sql, names, processors, default_args = cached
    # A default is the same value in every row (a callable one is called once per batch): converted once.
    extra = tuple(
        processor(value) if processor is not None else value
        for value, processor in zip(
            [arg(None) if callable(arg) else arg for arg in default_args], processors[len(given) :], strict=True
        )
    )
    # Only the columns whose type converts values (dates, JSON, …) cost anything per row.
    convert = [(i, p) for i, p in enumerate(processors[: len(given)]) if p is not None]
    params: list[Any]
    if convert:
        params = []
        for row in rows:
            values = list(row)
            for i, p in convert:
                values[i] = p(values[i])
            params.append(tuple(values) + extra)
    else:
        params = [row + extra for row in rows] if extra else rows
    if dialect.paramstyle not in ("qmark", "numeric", "format"):
        params = [dict(zip(names, values, strict=True)) for values in params]
    conn.exec_driver_sql(sql, params)


_SQLITE_DATETIME_FORMAT = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"


def bind_processor(type_: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """The type's bind processor; on SQLite, for the hot types, an equivalent in C: :class:`UTCDateTime`
    as naive UTC ``YYYY-MM-DD HH:MM:SS.ffffff`` (SQLAlchemy's storage format), and none for Boolean,
    whose True/False the sqlite3 driver stores as 1/0 by itself."""
    if dialect.name == "sqlite" and isinstance(type_, Boolean):
        return None
    if isinstance(type_, UTCDateTime) and dialect.name == "sqlite":
        impl = type_.dialect_impl(dialect)
        if getattr(getattr(impl, "impl_instance", None), "_storage_format", None) == _SQLITE_DATETIME_FORMAT:
            return sqlite_utc_datetime
    processor: Callable[[Any], Any] | None = type_._cached_bind_processor(dialect)
    return processor


def sqlite_utc_datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is UTC:  # the usual case (parsed dates and stored ones are in UTC): drop the "+00:00"
        return value.isoformat(" ", "microseconds")[:-6]
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


