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

import datetime as dt
from contextvars import ContextVar
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    String,
    Table,
    cast,
    literal,
)
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.expression import TableClause
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


# ---- reading text as times, and comparing times --------------------------------------
#
# A source may hold timestamps as text (a CSV loaded as text columns). They are
# parsed inside the database into the dialect's own timestamp, in UTC, so that
# every comparison below is a comparison of times. SQLite has no timestamp type:
# there a time is its julianday() number, and every value a time is compared
# with goes through `moment`, so no comparison of a time is ever one of text.

# ISO 8601 as the contract accepts it: date, optional time with optional fraction,
# optional Z or offset. Ranges are checked so that a CAST of a match cannot fail.
ISO_8601 = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([ T]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?)?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$"
)
_OFFSET = r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"
_TIME_THEN_OFFSET = r"[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"

_MONTH_NAMES = "JANFEBMARAPRMAYJUNJULAUGSEPOCTNOVDEC"
_MONTH_NAME = (
    "("
    + "|".join(
        "".join(f"[{c}{c.lower()}]" for c in _MONTH_NAMES[i : i + 3]) for i in range(0, 36, 3)
    )
    + ")"
)

# strftime code -> (regular expression of what it reads, PostgreSQL to_timestamp code,
# MySQL/MariaDB STR_TO_DATE code). Day, month and hour may be one digit. The expressions
# check each field's range, because PostgreSQL's to_timestamp stops the query on a value
# out of range (13 as a month) where a bad row is meant; the day's fit to its month is
# checked apart (`_day_fits`).
STRFTIME = {
    "Y": ("[0-9]{4}", "YYYY", "%Y"),
    "y": ("[0-9]{2}", "YY", "%y"),
    "m": ("(0?[1-9]|1[0-2])", "FMMM", "%c"),
    "d": ("(0?[1-9]|[12][0-9]|3[01])", "FMDD", "%e"),
    "H": ("([01]?[0-9]|2[0-3])", "FMHH24", "%k"),
    "I": ("(0?[1-9]|1[0-2])", "FMHH12", "%l"),
    "M": ("[0-5][0-9]", "MI", "%i"),
    "S": ("[0-5][0-9]", "SS", "%s"),
    "f": ("[0-9]{1,6}", "US", "%f"),
    "p": ("([AaPp][Mm])", "AM", "%p"),
    "b": (_MONTH_NAME, "Mon", "%b"),
    "z": ("(Z|[+-][0-9]{2}:?[0-9]{2})", "TZH:TZM", None),
    "%": ("%", "%", "%%"),
}


def _format_parts(fmt: str) -> list[tuple[str, str]]:
    """('code', letter) and ('literal', character) in order."""
    parts: list[tuple[str, str]] = []
    index = 0
    while index < len(fmt):
        if fmt[index] == "%" and index + 1 < len(fmt):
            parts.append(("code", fmt[index + 1]))
            index += 2
        else:
            parts.append(("literal", fmt[index]))
            index += 1
    return parts


def _literal_pattern(character: str) -> str:
    # Escaped only where special: every engine's regular expressions read this alike.
    return "\\" + character if character in ".^$*+?()[]{}|\\" else character


def format_pattern(fmt: str, capture: str | None = None, day: str | None = None) -> str:
    """The regular expression a value must match to be read with the strftime format.

    capture: the one code whose text is the expression's only group (the others'
    groups made non-capturing), for reading that field alone. day: another
    expression for the day (%d).
    """
    pieces = []
    for kind, value in _format_parts(fmt):
        if kind != "code":
            pieces.append(_literal_pattern(value))
            continue
        piece = day if value == "d" and day is not None else STRFTIME[value][0]
        if capture is not None:
            piece = piece.replace("(", "(?:")
            piece = f"({piece})" if value == capture else piece
        pieces.append(piece)
    return "^" + "".join(pieces) + "$"


# A day that may not exist in its month (29 to 31): only such values are checked further.
_LATE_DAY = "(29|3[01])"
_ISO_LATE_DAY = "^[0-9]{4}-[0-9]{2}-(29|3[01])"


def _remainder(compiler: SQLCompiler, value: str, by: int) -> str:
    # SQLite has MOD() only when built with its math functions; % would need doubling
    # for the drivers whose placeholders are %s.
    if compiler.dialect.name == "sqlite":
        return f"({value} - ({value} / {by}) * {by})"
    return f"MOD({value}, {by})"


def _days_in_month(compiler: SQLCompiler, year: str, month: str) -> str:
    def rest(by: int) -> str:
        return _remainder(compiler, year, by)

    leap = f"({rest(4)} = 0 AND ({rest(100)} <> 0 OR {rest(400)} = 0))"
    return (
        f"CASE WHEN {month} = 2 THEN CASE WHEN {leap} THEN 29 ELSE 28 END "
        f"WHEN {month} IN (4, 6, 9, 11) THEN 30 ELSE 31 END"
    )


def _day_fits(compiler: SQLCompiler, value: str, fmt: str | None) -> tuple[str, str] | None:
    """(a test that the day may not exist, a test that it does) in SQL, for the engines
    whose parsers do not refuse 30 February themselves: PostgreSQL stops the query on it,
    MariaDB/MySQL keeps it as a date that is none, SQLite's julianday() reads it as
    2 March. None when the format has no day and month."""
    mysql = compiler.dialect.name in ("mysql", "mariadb")
    integer = "SIGNED" if mysql else "INTEGER"
    if fmt is None:
        year, month, day = (
            f"CAST(SUBSTR({value}, {start}, {length}) AS {integer})"
            for start, length in ((1, 4), (6, 2), (9, 2))
        )
        # SQLite: the value is known to start YYYY-MM-DD; one text comparison is a third
        # of the cost of two GLOBs, on every row.
        late = (
            f"SUBSTR({value}, 9, 2) > '28'"
            if compiler.dialect.name == "sqlite"
            else _regex_test(compiler, value, _ISO_LATE_DAY)
        )
        return late, f"{day} <= {_days_in_month(compiler, year, month)}"
    codes = {code for kind, code in _format_parts(fmt) if kind == "code"}
    if "d" not in codes or not codes & {"m", "b"}:
        return None
    backreference = "\\\\1" if mysql else "\\1"

    def field(code: str) -> str:
        pattern = _quoted(compiler, format_pattern(fmt, capture=code))
        return f"REGEXP_REPLACE({value}, {pattern}, '{backreference}')"

    day = f"CAST({field('d')} AS {integer})"
    if "m" in codes:
        month = f"CAST({field('m')} AS {integer})"
    elif mysql:
        month = f"((LOCATE(UPPER({field('b')}), '{_MONTH_NAMES}') + 2) DIV 3)"
    else:
        month = f"((strpos('{_MONTH_NAMES}', upper({field('b')})) + 2) / 3)"
    # Two-digit years are this century; a format without a year reads a common year.
    year = (
        f"CAST({field('Y')} AS {integer})" if "Y" in codes
        else f"(2000 + CAST({field('y')} AS {integer}))" if "y" in codes
        else "2001"
    )  # fmt: skip
    late = _regex_test(compiler, value, format_pattern(fmt, day=_LATE_DAY))
    return late, f"{day} <= {_days_in_month(compiler, year, month)}"


def _regex_test(compiler: SQLCompiler, value: str, pattern: str) -> str:
    operator = "REGEXP" if compiler.dialect.name in ("mysql", "mariadb") else "~"
    return f"{value} {operator} {_quoted(compiler, pattern)}"


def _if_day_fits(compiler: SQLCompiler, value: str, fmt: str | None, parsed: str) -> str:
    """The parsed value, or NULL where its day is past the end of its month."""
    checks = _day_fits(compiler, value, fmt)
    if checks is None:
        return parsed
    late, fits = checks
    # Nested CASE: the field reads run only on matching values, in this order on every engine.
    return f"CASE WHEN {late} THEN CASE WHEN {fits} THEN {parsed} END ELSE {parsed} END"


def _postgresql_format(fmt: str) -> str:
    pieces = []
    for kind, value in _format_parts(fmt):
        if kind == "code":
            pieces.append(STRFTIME[value][1])
        else:
            # Text in double quotes is copied; a double quote itself is written \".
            pieces.append(f'"{value}"' if value.isalpha() else '\\"' if value == '"' else value)
    return "".join(pieces)


def _mysql_format(fmt: str) -> str:
    pieces = []
    for kind, value in _format_parts(fmt):
        if kind == "code":
            code = STRFTIME[value][2]
            if code is None:
                raise CompileError(
                    f"%{value} is supported on MariaDB/MySQL only at the end of a format"
                )
            pieces.append(code)
        else:
            pieces.append(value)
    return "".join(pieces)


def _quoted(compiler: SQLCompiler, text: str) -> str:
    """A string literal as the dialect reads it: quotes doubled, backslashes doubled where the
    server reads them as escapes (MariaDB/MySQL unless NO_BACKSLASH_ESCAPES; PostgreSQL with
    standard_conforming_strings off), % doubled for drivers whose placeholders are %s."""
    if compiler.dialect.name == "hive":
        return _spark_quoted(compiler, text)
    return compiler.render_literal_value(text, String())


class matches(FunctionElement[Any]):
    """The text matches a regular expression (POSIX classes only: [0-9], no \\d)."""

    type = Boolean()
    inherit_cache = False
    name = "matches"

    def __init__(self, value: Any, pattern: str) -> None:
        self.pattern = pattern
        super().__init__(value)


@compiles(matches)
def _matches_standard(element: matches, compiler: SQLCompiler, **kw: Any) -> str:
    # MariaDB/MySQL.
    (value,) = _arguments(element, compiler, **kw)
    return f"({value} REGEXP {_quoted(compiler, element.pattern)})"


@compiles(matches, "sqlite")
def _matches_sqlite(element: matches, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLAlchemy registers REGEXP on every SQLite connection; it takes text only.
    (value,) = _arguments(element, compiler, **kw)
    return f"(CAST({value} AS TEXT) REGEXP {_quoted(compiler, element.pattern)})"


@compiles(matches, "postgresql")
def _matches_postgresql(element: matches, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _arguments(element, compiler, **kw)
    return f"({value} ~ {_quoted(compiler, element.pattern)})"


@compiles(matches, "duckdb")
def _matches_duckdb(element: matches, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _arguments(element, compiler, **kw)
    return f"regexp_matches({value}, {_quoted(compiler, element.pattern)})"


@compiles(matches, "trino")
def _matches_trino(element: matches, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _arguments(element, compiler, **kw)
    return f"regexp_like({value}, {_quoted(compiler, element.pattern)})"


class parsed_timestamp(FunctionElement[Any]):
    """Text read as a UTC timestamp: ISO 8601 (fmt None) or a strftime format; NULL if it does not read.

    On SQLite the result is a julianday() number (see `moment`).
    """

    type = DateTime()
    inherit_cache = False
    name = "parsed_timestamp"

    def __init__(self, value: Any, fmt: str | None) -> None:
        self.fmt = fmt
        super().__init__(value)


@compiles(parsed_timestamp)
def _parsed_unknown(element: parsed_timestamp, compiler: SQLCompiler, **kw: Any) -> str:
    raise CompileError(
        f"scorecard does not know how to read text as a timestamp in the "
        f"{compiler.dialect.name!r} SQL dialect; add it to extract/dialects.py"
    )


@compiles(parsed_timestamp, "postgresql")
def _parsed_postgresql(element: parsed_timestamp, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _arguments(element, compiler, **kw)
    if element.fmt is None:
        parsed = f"CAST({value} AS TIMESTAMPTZ) AT TIME ZONE 'UTC'"
        return (
            f"CASE WHEN {value} ~ {_quoted(compiler, ISO_8601)} "
            f"THEN {_if_day_fits(compiler, value, None, parsed)} END"
        )
    fmt = _quoted(compiler, _postgresql_format(element.fmt))
    # TZH:TZM reads +hh:mm only: Z is +00:00, and +hhmm gets its colon.
    read = (
        f"regexp_replace(regexp_replace({value}, 'Z$', '+00:00'), "
        f"'([+-][0-9]{{2}})([0-9]{{2}})$', '\\1:\\2')"
        if element.fmt.endswith("%z")
        else value
    )
    parsed = f"to_timestamp({read}, {fmt}) AT TIME ZONE 'UTC'"
    return (
        f"CASE WHEN {value} ~ {_quoted(compiler, format_pattern(element.fmt))} "
        f"THEN {_if_day_fits(compiler, value, element.fmt, parsed)} END"
    )


@compiles(parsed_timestamp, "duckdb")
def _parsed_duckdb(element: parsed_timestamp, compiler: SQLCompiler, **kw: Any) -> str:
    # The session's TimeZone is UTC (see source.py), so TIMESTAMPTZ -> TIMESTAMP is UTC.
    (value,) = _arguments(element, compiler, **kw)
    if element.fmt is None:
        return (
            f"CASE WHEN regexp_matches({value}, {_quoted(compiler, ISO_8601)}) "
            f"THEN CAST(TRY_CAST({value} AS TIMESTAMPTZ) AS TIMESTAMP) END"
        )
    # strptime's %z reads +hh:mm and +hhmm, not Z.
    read = f"regexp_replace({value}, 'Z$', '+00:00')" if element.fmt.endswith("%z") else value
    return (
        f"CASE WHEN regexp_matches({value}, {_quoted(compiler, format_pattern(element.fmt))}) "
        f"THEN CAST(try_strptime({read}, {_quoted(compiler, element.fmt)}) AS TIMESTAMP) END"
    )


@compiles(parsed_timestamp, "mysql")
@compiles(parsed_timestamp, "mariadb")
def _parsed_mysql(element: parsed_timestamp, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _arguments(element, compiler, **kw)
    if element.fmt is not None:
        return (
            f"CASE WHEN {value} REGEXP {_quoted(compiler, format_pattern(element.fmt))} "
            f"THEN {_if_day_fits(compiler, value, element.fmt, _str_to_date(compiler, value, element.fmt))} END"
        )
    # No type holds an offset: read the local part, then move it by the offset to UTC.
    # An offset only counts after a time: the end of a bare date (-07-01) is no offset.
    has_offset = f"{value} REGEXP {_quoted(compiler, _TIME_THEN_OFFSET)}"
    offset = f"REPLACE(REGEXP_SUBSTR({value}, '[+-][0-9]{{2}}(:?[0-9]{{2}})?$'), ':', '')"
    zone = (
        f"CASE WHEN NOT ({has_offset}) OR {offset} = '' OR {offset} IS NULL THEN '+00:00' "
        f"ELSE {_mysql_zone(offset)} END"
    )
    local = (
        f"REPLACE(CASE WHEN {has_offset} THEN REGEXP_REPLACE({value}, {_quoted(compiler, _OFFSET)}, '') "
        f"ELSE {value} END, 'T', ' ')"
    )
    parsed = f"CONVERT_TZ(CAST({local} AS DATETIME(6)), {zone}, '+00:00')"
    return (
        f"CASE WHEN {value} REGEXP {_quoted(compiler, ISO_8601)} "
        f"THEN {_if_day_fits(compiler, value, None, parsed)} END"
    )


_FORMAT_OFFSET = STRFTIME["z"][0] + "$"


def _mysql_zone(offset: str) -> str:
    """An offset without its colon (+hh or +hhmm) as CONVERT_TZ's +hh:mm."""
    return f"CONCAT(LEFT({offset}, 3), ':', IF(LENGTH({offset}) = 5, RIGHT({offset}, 2), '00'))"


def _str_to_date(compiler: SQLCompiler, value: str, fmt: str) -> str:
    """STR_TO_DATE, which has no code for an offset: a format ending in %z reads the
    local part, then moves it by the offset to UTC (as for ISO 8601 below)."""
    if not fmt.endswith("%z"):
        return f"STR_TO_DATE({value}, {_quoted(compiler, _mysql_format(fmt))})"
    local = f"REGEXP_REPLACE({value}, {_quoted(compiler, _FORMAT_OFFSET)}, '')"
    offset = f"REPLACE(REGEXP_SUBSTR({value}, {_quoted(compiler, _FORMAT_OFFSET)}), ':', '')"
    zone = f"CASE WHEN {offset} = 'Z' THEN '+00:00' ELSE {_mysql_zone(offset)} END"
    read = f"STR_TO_DATE({local}, {_quoted(compiler, _mysql_format(fmt[:-2]))})"
    return f"CONVERT_TZ({read}, {zone}, '+00:00')"


@compiles(parsed_timestamp, "sqlite")
def _parsed_sqlite(element: parsed_timestamp, compiler: SQLCompiler, **kw: Any) -> str:
    # julianday() reads ISO 8601 with T, Z and offsets (converted to UTC); the REGEXP
    # keeps out what it would also read but is no date ('now', a bare day number).
    (value,) = _arguments(element, compiler, **kw)
    if element.fmt is None:
        # GLOB, not the REGEXP function: native. Four digits and a dash are enough to keep
        # out a number ('123e-5' is a Julian day to julianday()); julianday() itself refuses
        # anything else that is not YYYY-MM-DD. Shorter is cheaper, on every row.
        return (
            f"CASE WHEN {value} GLOB '[0-9][0-9][0-9][0-9]-*' "
            f"THEN {_if_day_fits(compiler, value, None, f'julianday({value})')} END"
        )
    # SQLite has no strptime: the function registered on each connection (source.py).
    return f"julianday(scorecard_strptime({value}, {_quoted(compiler, element.fmt)}))"


@compiles(parsed_timestamp, "trino")
def _parsed_trino(element: parsed_timestamp, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _arguments(element, compiler, **kw)
    if element.fmt is None:
        return (
            f"CASE WHEN regexp_like({value}, {_quoted(compiler, ISO_8601)}) THEN CAST(from_iso8601_timestamp("
            f"replace({value}, ' ', 'T')) AT TIME ZONE 'UTC' AS TIMESTAMP) END"
        )
    return f"date_parse({value}, {_quoted(compiler, _mysql_format(element.fmt))})"


class moment(FunctionElement[Any]):
    """A time as the database compares it: the value itself, on SQLite its julianday() number."""

    type = DateTime()
    inherit_cache = True
    name = "moment"


@compiles(moment)
def _moment_standard(element: moment, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _arguments(element, compiler, **kw)
    return value


@compiles(moment, "sqlite")
def _moment_sqlite(element: moment, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _arguments(element, compiler, **kw)
    return f"julianday({value})"


def at(value: dt.datetime | dt.date) -> moment:
    """A Python time as a bound value the database compares as a time."""
    kind = DateTime() if isinstance(value, dt.datetime) else Date()
    return moment(literal(value, kind))


def strptime_utc(value: object, fmt: str) -> str | None:
    """SQLite's scorecard_strptime(): the text read with the format, as UTC ISO text, or NULL."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.strptime(value.strip(), fmt)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed.isoformat(sep=" ")


# ---- Apache Spark SQL (PyHive's hive:// dialect, a Thrift server) ------------------------
#
# Spark's string literals read backslash escapes, so a literal with a regular
# expression doubles its backslashes; a quote is escaped with a backslash too.
# Times are TIMESTAMPs in the session's time zone, set to UTC (source.py).

# strftime code -> Spark datetime pattern (java.time letters; one letter reads 1 or 2 digits).
SPARK_PATTERN = {
    "Y": "yyyy", "y": "yy", "m": "M", "d": "d", "H": "H", "I": "h", "M": "mm", "S": "ss",
    "f": "SSSSSS", "p": "a", "b": "MMM", "z": "XXX", "%": "%",
}  # fmt: skip
# An offset without a colon (+0530) is given one, so that one pattern (XXX) reads both.
_OFFSET_WITHOUT_COLON = r"([+-][0-9]{2})([0-9]{2})$"


def _spark_quoted(compiler: SQLCompiler, text: str) -> str:
    quoted = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return quoted.replace("%", "%%") if compiler.preparer._double_percents else quoted


def _spark_format(fmt: str) -> str:
    pieces = []
    for kind, value in _format_parts(fmt):
        if kind == "code":
            pieces.append(SPARK_PATTERN[value])
        elif value.isalpha() or value == "'":
            pieces.append("''" if value == "'" else f"'{value}'")
        else:
            pieces.append(value)
    return "".join(pieces)


@compiles(milliseconds_between, "hive")
def _milliseconds_spark(element: milliseconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _arguments(element, compiler, **kw)
    return f"CAST(ROUND((unix_micros({end}) - unix_micros({start})) / 1000.0) AS BIGINT)"


@compiles(matches, "hive")
def _matches_spark(element: matches, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _arguments(element, compiler, **kw)
    return f"({value} RLIKE {_spark_quoted(compiler, element.pattern)})"


@compiles(parsed_timestamp, "hive")
def _parsed_spark(element: parsed_timestamp, compiler: SQLCompiler, **kw: Any) -> str:
    # try_: under ANSI mode (Spark 4's default) a failed cast or parse is an error, not NULL.
    (value,) = _arguments(element, compiler, **kw)
    pattern = ISO_8601 if element.fmt is None else format_pattern(element.fmt)
    guard = f"{value} RLIKE {_spark_quoted(compiler, pattern)}"
    if element.fmt is None:
        # The cast reads T, Z, +hh:mm, +hhmm and +hh (to UTC, the session's zone).
        return f"CASE WHEN {guard} THEN try_cast({value} AS TIMESTAMP) END"
    read = value
    if "%z" in element.fmt:
        read = (
            f"regexp_replace({value}, {_spark_quoted(compiler, _OFFSET_WITHOUT_COLON)}, "
            f"{_spark_quoted(compiler, '$1:$2')})"
        )
    return (
        f"CASE WHEN {guard} "
        f"THEN try_to_timestamp({read}, {_spark_quoted(compiler, _spark_format(element.fmt))}) END"
    )


def raw_text(raw: ColumnElement[Any]) -> ColumnElement[str]:
    """A `_raw_<column>` as the text shown for it: SQLite may hold a number there."""
    return cast(raw, String())


# ---- Warehouses: Snowflake, Databricks SQL, BigQuery, Redshift, Athena (issue 25) ------
#
# Kept apart from the engines above: each warehouse's spelling of the four constructs.
# Executed in the tests: Snowflake (on its emulation, fakesnow) and Databricks SQL (its
# compiled SQL run on a real Spark engine). Only compiled, against the real dialects, with
# the golden SQL kept in tests/golden_sql: BigQuery, Redshift, Athena (docs/engines.md).


def _backslash_quoted(compiler: SQLCompiler, text: str) -> str:
    """A string literal for engines whose literals read backslash escapes (Snowflake,
    BigQuery, Databricks SQL): backslashes doubled, a quote escaped with one."""
    quoted = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return quoted.replace("%", "%%") if compiler.preparer._double_percents else quoted


# -- Snowflake (snowflake-sqlalchemy's snowflake://). Its session is set to UTC and its
# TIMESTAMP_NTZ columns hold UTC (source.py); TRY_ functions give NULL where a value does
# not read, and refuse a day past the end of its month themselves.

# strftime code -> Snowflake format element (one-digit days and hours read too).
SNOWFLAKE_FORMAT = {
    "Y": "YYYY", "y": "YY", "m": "MM", "d": "DD", "H": "HH24", "I": "HH12", "M": "MI",
    "S": "SS", "f": "FF6", "p": "AM", "b": "MON", "z": "TZH:TZM", "%": "%",
}  # fmt: skip


def _snowflake_format(fmt: str) -> str:
    pieces = []
    for kind, value in _format_parts(fmt):
        if kind == "code":
            pieces.append(SNOWFLAKE_FORMAT[value])
        else:
            pieces.append(f'"{value}"' if value.isalpha() else value)
    return "".join(pieces)


@compiles(milliseconds_between, "snowflake")
def _milliseconds_snowflake(element: milliseconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    # DATEDIFF counts unit boundaries crossed: in microseconds that is exact, then rounded
    # to the nearest millisecond as on the other engines.
    start, end = _arguments(element, compiler, **kw)
    return f"CAST(ROUND(DATEDIFF('microsecond', {start}, {end}) / 1000) AS BIGINT)"


@compiles(matches, "snowflake")
def _matches_snowflake(element: matches, compiler: SQLCompiler, **kw: Any) -> str:
    # REGEXP_LIKE matches the whole text; the job's patterns are anchored (^...$) anyway.
    (value,) = _arguments(element, compiler, **kw)
    return f"REGEXP_LIKE({value}, {_backslash_quoted(compiler, element.pattern)})"


@compiles(parsed_timestamp, "snowflake")
def _parsed_snowflake(element: parsed_timestamp, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _arguments(element, compiler, **kw)
    pattern = ISO_8601 if element.fmt is None else format_pattern(element.fmt)
    guard = f"REGEXP_LIKE({value}, {_backslash_quoted(compiler, pattern)})"
    if element.fmt is None:
        read = f"TRY_TO_TIMESTAMP_TZ(REPLACE({value}, 'T', ' '))"
    elif element.fmt.endswith("%z"):
        # TZH:TZM reads +hh:mm only: Z is +00:00, and +hhmm gets its colon.
        text = (
            f"REGEXP_REPLACE(REGEXP_REPLACE({value}, 'Z$', '+00:00'), "
            f"{_backslash_quoted(compiler, _OFFSET_WITHOUT_COLON)}, "
            f"{_backslash_quoted(compiler, chr(92) + '1:' + chr(92) + '2')})"
        )
        read = f"TRY_TO_TIMESTAMP_TZ({text}, {_backslash_quoted(compiler, _snowflake_format(element.fmt))})"
    else:
        fmt = _backslash_quoted(compiler, _snowflake_format(element.fmt))
        return f"CASE WHEN {guard} THEN TRY_TO_TIMESTAMP_NTZ({value}, {fmt}) END"
    # An offset read is moved to UTC, then kept as the session's plain timestamp.
    return f"CASE WHEN {guard} THEN CAST(CONVERT_TIMEZONE('UTC', {read}) AS TIMESTAMP_NTZ) END"


# -- Databricks SQL (databricks-sqlalchemy's databricks://): Spark SQL, so Spark's
# spellings above; its session is set to UTC as Spark's is (source.py).

_milliseconds_databricks = compiles(milliseconds_between, "databricks")(_milliseconds_spark)
_matches_databricks = compiles(matches, "databricks")(_matches_spark)
_parsed_databricks = compiles(parsed_timestamp, "databricks")(_parsed_spark)


# -- Athena (PyAthena's awsathena://): its engine 3 is Trino, so Trino's spellings above.

_milliseconds_athena = compiles(milliseconds_between, "awsathena")(_milliseconds_trino)
_matches_athena = compiles(matches, "awsathena")(_matches_trino)
_parsed_athena = compiles(parsed_timestamp, "awsathena")(_parsed_trino)


# -- BigQuery (sqlalchemy-bigquery's bigquery://). A TIMESTAMP is a UTC instant and a
# DATETIME has no zone; both are compared as TIMESTAMP here, a DATETIME read as UTC.

# strftime codes BigQuery's PARSE_TIMESTAMP reads differently: fractions of a second.
_BIGQUERY_CODES = {"f": "%E6S"}


@compiles(day_of, "bigquery")
def _day_bigquery(element: day_of, compiler: SQLCompiler, **kw: Any) -> str:
    (timestamp,) = _arguments(element, compiler, **kw)
    return f"DATE(CAST({timestamp} AS TIMESTAMP), 'UTC')"


@compiles(milliseconds_between, "bigquery")
def _milliseconds_bigquery(element: milliseconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _arguments(element, compiler, **kw)
    return (
        f"CAST(ROUND(TIMESTAMP_DIFF(CAST({end} AS TIMESTAMP), CAST({start} AS TIMESTAMP), "
        f"MICROSECOND) / 1000) AS INT64)"
    )


@compiles(matches, "bigquery")
def _matches_bigquery(element: matches, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _arguments(element, compiler, **kw)
    return f"REGEXP_CONTAINS({value}, {_backslash_quoted(compiler, element.pattern)})"


def _bigquery_format(fmt: str) -> str:
    # "%S.%f" is seconds with their fraction, one element in BigQuery.
    pieces = []
    for kind, value in _format_parts(fmt.replace("%S.%f", "%f")):
        pieces.append(_BIGQUERY_CODES.get(value, f"%{value}") if kind == "code" else value)
    return "".join(pieces)


@compiles(parsed_timestamp, "bigquery")
def _parsed_bigquery(element: parsed_timestamp, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _arguments(element, compiler, **kw)
    pattern = ISO_8601 if element.fmt is None else format_pattern(element.fmt)
    guard = f"REGEXP_CONTAINS({value}, {_backslash_quoted(compiler, pattern)})"
    if element.fmt is None:
        read = f"SAFE_CAST({value} AS TIMESTAMP)"
    else:
        fmt = _backslash_quoted(compiler, _bigquery_format(element.fmt))
        read = f"SAFE.PARSE_TIMESTAMP({fmt}, {value}, 'UTC')"
    return f"CASE WHEN {guard} THEN {read} END"


# -- Redshift (sqlalchemy-redshift's redshift+psycopg2://): PostgreSQL's regular
# expressions and text formats, its own DATEDIFF.

_matches_redshift = compiles(matches, "redshift")(_matches_postgresql)
_parsed_redshift = compiles(parsed_timestamp, "redshift")(_parsed_postgresql)


@compiles(milliseconds_between, "redshift")
def _milliseconds_redshift(element: milliseconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _arguments(element, compiler, **kw)
    return f"CAST(ROUND(DATEDIFF(microsecond, {start}, {end}) / 1000.0) AS BIGINT)"


@compiles(moment, "snowflake")
def _moment_snowflake(element: moment, compiler: SQLCompiler, **kw: Any) -> str:
    # The connector sends a bound time as text ('2026-09-30 00:00:00'); typed here, so that a
    # CASE choosing between bound times is a time, not text compared with a time.
    (value,) = _arguments(element, compiler, **kw)
    (argument,) = element.clauses
    if isinstance(argument, BindParameter):
        kind = "DATE" if isinstance(argument.type, Date) else "TIMESTAMP_NTZ"
        return f"CAST({value} AS {kind})"
    return value


# -- One state of the data: time travel pinned to the run's start (source.py sets the
# moment, read from the warehouse's own clock, for the job's read-only connection, and
# turns SQLAlchemy's statement cache off there, since the moment is written into the SQL).
# Every table the job reads, in every statement, is read as of that moment. A source
# `query` is the user's own SQL, and is not rewritten.

PINNED_AT: ContextVar[dt.datetime | None] = ContextVar("scorecard_pinned_at", default=None)
TIME_TRAVEL_DIALECTS = ("snowflake", "bigquery", "databricks")


def _as_of_clause(dialect: str, moment_: dt.datetime) -> str:
    text = moment_.strftime("%Y-%m-%d %H:%M:%S.%f")
    if dialect == "snowflake":
        return f"AT(TIMESTAMP => CAST('{text}' AS TIMESTAMP_LTZ))"
    if dialect == "bigquery":
        return f"FOR SYSTEM_TIME AS OF TIMESTAMP '{text}+00'"
    return f"TIMESTAMP AS OF '{text}'"  # Databricks: Delta tables


@compiles(Table, "snowflake")
@compiles(Table, "bigquery")
@compiles(Table, "databricks")
@compiles(TableClause, "snowflake")
@compiles(TableClause, "bigquery")
@compiles(TableClause, "databricks")
def _table_as_of(element: TableClause, compiler: SQLCompiler, **kw: Any) -> str:
    sql = compiler.visit_table(element, **kw)
    pinned = PINNED_AT.get()
    if pinned is None or not kw.get("asfrom"):
        return sql
    return f"{sql} {_as_of_clause(compiler.dialect.name, pinned)}"
