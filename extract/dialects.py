"""Every SQL difference between databases, in one place, as compiled constructs.

The summary queries are otherwise plain SQLAlchemy Core that any SQL engine
runs: CASE, COUNT, SUM, MIN, MAX, IN, comparisons and bound parameters. Two
things have no portable spelling, so each is a construct that compiles to
the dialect's own: the calendar day of a timestamp, and the whole
milliseconds between two timestamps. Booleans need no construct: comparing
with `true()` compiles to `= true` or `= 1` as the dialect stores them.

A dialect not listed here gets the SQL standard spelling where there is one
and a CompileError naming the dialect where there is not, so that a new
warehouse fails at the first query instead of returning wrong numbers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Date
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class day_of(FunctionElement[Any]):
    """The calendar day (a DATE) of a timestamp, in the session's time zone (set to UTC)."""

    type = Date()
    inherit_cache = True
    name = "day_of"


class milliseconds_between(FunctionElement[Any]):
    """Whole milliseconds from the first timestamp to the second, as a BIGINT.

    Whole milliseconds so that sums are exact integers on every engine and two
    databases holding the same rows give the same totals to the last digit.
    """

    type = BigInteger()
    inherit_cache = True
    name = "milliseconds_between"


def _arguments(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(argument, **kw) for argument in element.clauses]


@compiles(day_of)
def _day_standard(element: day_of, compiler: SQLCompiler, **kw: Any) -> str:
    # PostgreSQL, MariaDB/MySQL, DuckDB, Trino, Snowflake, BigQuery.
    (timestamp,) = _arguments(element, compiler, **kw)
    return f"CAST({timestamp} AS DATE)"


@compiles(day_of, "sqlite")
def _day_sqlite(element: day_of, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite stores timestamps as text; CAST(... AS DATE) would give a number.
    (timestamp,) = _arguments(element, compiler, **kw)
    return f"DATE({timestamp})"


@compiles(milliseconds_between)
def _milliseconds_unknown(element: milliseconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    raise CompileError(
        f"scorecard does not know how to subtract timestamps in the {compiler.dialect.name!r} "
        "SQL dialect; add it to extract/dialects.py"
    )


@compiles(milliseconds_between, "postgresql")
def _milliseconds_postgresql(
    element: milliseconds_between, compiler: SQLCompiler, **kw: Any
) -> str:
    # date_part gives a double; EXTRACT gives a NUMERIC, several times slower to compute.
    # The cast to BIGINT rounds to the nearest millisecond.
    start, end = _arguments(element, compiler, **kw)
    return f"CAST(date_part('epoch', {end} - {start}) * 1000 AS BIGINT)"


@compiles(milliseconds_between, "mysql")
@compiles(milliseconds_between, "mariadb")
def _milliseconds_mysql(element: milliseconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _arguments(element, compiler, **kw)
    return f"CAST(ROUND(TIMESTAMPDIFF(MICROSECOND, {start}, {end}) / 1000) AS SIGNED)"


@compiles(milliseconds_between, "sqlite")
def _milliseconds_sqlite(element: milliseconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    # julianday() is SQLite's own millisecond clock as a fraction of days.
    start, end = _arguments(element, compiler, **kw)
    return f"CAST(ROUND((julianday({end}) - julianday({start})) * 86400000) AS INTEGER)"


@compiles(milliseconds_between, "duckdb")
def _milliseconds_duckdb(element: milliseconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _arguments(element, compiler, **kw)
    return f"CAST(ROUND((epoch_us({end}) - epoch_us({start})) / 1000.0) AS BIGINT)"


@compiles(milliseconds_between, "trino")
def _milliseconds_trino(element: milliseconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _arguments(element, compiler, **kw)
    return f"date_diff('millisecond', {start}, {end})"
