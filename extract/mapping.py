"""Whatever a source holds, read as the canonical columns, inside the database (contract section 6).

Each canonical table is one SELECT over its source: a table or view, a
user's query, or the canonical table itself. What the source's columns hold
is asked of the database once, up front (the types of a zero-row SELECT):
a column held as text is parsed in SQL (numbers, booleans, ISO 8601 or a
strftime format), after the `null_values` and the value maps; a typed
column is read as it is. A parsed column also comes out as `_raw_<column>`,
so a value that does not read is rejected under `bad_<column>` and shown in
data_quality.csv, never read as null.

Every problem (missing table or column, a query that does not run, text
times that are not ISO 8601 and have no format) is collected and reported at
once, before any work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Connection,
    Date,
    DateTime,
    Engine,
    Integer,
    Label,
    Numeric,
    Select,
    String,
    and_,
    case,
    cast,
    column,
    false,
    func,
    inspect,
    literal,
    null,
    select,
    table,
    text,
    true,
)
from sqlalchemy.exc import CompileError, SQLAlchemyError

from extract.dialects import at, day_of, matches, parsed_timestamp, raw_text
from extract.readonly import NotReadOnly, ensure_read_only_query
from extract.source import first_line, read_only_connection, split_name
from scorecard.config import ColumnConstant, TableSource
from scorecard.errors import ConfigError, SourceError, nearest
from scorecard.schema import TABLES

Kind = Literal["text", "typed", "any"]

# Type codes of a cursor's description that mean text, per DB-API driver.
_POSTGRESQL_TEXT = {25, 1042, 1043, 19, 705}  # text, bpchar, varchar, name, unknown
_MYSQL_TEXT = {6, 15, 245, 252, 253, 254}  # NULL, varchar, json, blob/text, var_string, string
_SPARK_TEXT = {"STRING_TYPE", "VARCHAR_TYPE", "CHAR_TYPE", "NULL_TYPE", "VOID_TYPE"}
_INTEGER = r"^ *[+-]?[0-9]{1,15} *$"
_DECIMAL = r"^ *[+-]?([0-9]{1,14}(\.[0-9]*)?|\.[0-9]+) *$"
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")
# More than this share of a text time column failing to read means the column, not some
# rows, is wrong: a format is missing or does not fit.
_UNREADABLE_SHARE = 0.5
# The rows the text-time check reads (see _check_text_times).
TEXT_TIME_SAMPLE = 10_000


def column_kind(dialect: str, type_code: Any) -> Kind:
    """text: parse it; typed: the database's own type; any: SQLite, where each value has its own."""
    if dialect == "sqlite":
        return "any"
    if dialect == "postgresql":
        return "text" if type_code in _POSTGRESQL_TEXT else "typed"
    if dialect in ("mysql", "mariadb"):
        return "text" if type_code in _MYSQL_TEXT else "typed"
    if dialect == "duckdb":
        return "text" if str(type_code).strip('"') in ("VARCHAR", "NULL") else "typed"
    if dialect == "hive":  # PyHive names Spark's types: STRING_TYPE, TIMESTAMP_TYPE, ...
        return "text" if type_code in _SPARK_TEXT else "typed"
    return "typed"


@dataclass(frozen=True)
class Source:
    """One canonical table as the run reads it."""

    name: str
    spec: TableSource | None
    select: Select[Any] | None = None
    """The canonical columns (and `_raw_<column>` of parsed ones); None when not read."""
    parsed: tuple[str, ...] = ()
    """Canonical columns read from text: each can break `bad_<column>`."""
    text_times: tuple[tuple[str, str | None], ...] = ()
    """(canonical column, format) of the time columns read from text, checked up front."""
    from_activity: bool = False
    checkable: Select[Any] | None = None
    """The columns that could be made, even when others are missing: the up-front checks run
    on them, so every problem of a table is reported at once (contract section 6)."""
    extras: tuple[str, ...] = ()
    """The [source.<table>.extra] columns in the SELECT, by their own names (section 10)."""
    extras_parsed: tuple[str, ...] = ()
    """The extra columns read from text: a value that does not read is null and counted as
    `unreadable_<column>`, the row stays accepted."""

    @property
    def absent(self) -> bool:
        return self.select is None and not self.from_activity

    @property
    def label(self) -> str:
        if self.spec is None:
            return f"table {self.name!r}"
        if self.spec.query is not None:
            return f"source.{self.name}.query"
        return f"source.{self.name}.table {self.spec.table!r}"


@dataclass
class Problems:
    found: list[str] = field(default_factory=list)
    missing_tables: list[str] = field(default_factory=list)
    """Canonical tables (no [source.*]) missing: said once, together."""

    def add(self, text: str) -> None:
        self.found.append(text)

    def all(self) -> list[str]:
        if len(self.missing_tables) > 1:
            names = ", ".join(self.missing_tables)
            missing = [f"tables {names} are missing from the database (run scorecard init-db?)"]
        else:
            missing = [
                f"table {name!r} is missing from the database (run scorecard init-db?)"
                for name in self.missing_tables
            ]
        return missing + self.found


def _raw(name: str, spec: TableSource | None, columns: list[str]) -> Any:
    """The source as a FROM item with the given columns."""
    if spec is not None and spec.query is not None:
        return text(spec.query).columns(*[column(c) for c in columns]).subquery(f"source_{name}")
    schema, table_name = split_name(spec.table if spec is not None and spec.table else name)
    return table(table_name, *[column(c) for c in columns], schema=schema)


def _table_exists(connection: Connection, table_name: str, schema: str | None) -> bool:
    """A table or view of that name; on Spark SQL through SHOW TABLES (which lists views too):
    PyHive's catalog calls read Hive's answers, and take Spark's "not found" for a failure."""
    if connection.dialect.name == "hive":
        preparer = connection.dialect.identifier_preparer
        where = f" IN {preparer.quote_identifier(schema)}" if schema else ""
        names = connection.exec_driver_sql(f"SHOW TABLES{where}").fetchall()
        return table_name.lower() in {str(row[1]).lower() for row in names}
    inspector = inspect(connection)
    return table_name in inspector.get_view_names(schema=schema) or inspector.has_table(
        table_name, schema=schema
    )


def _table_names(connection: Connection, schema: str | None) -> list[str]:
    """The tables and views a schema has, for a "did you mean" (empty where they cannot be listed)."""
    try:
        if connection.dialect.name == "hive":
            return [str(row[1]) for row in connection.exec_driver_sql("SHOW TABLES").fetchall()]
        inspector = inspect(connection)
        return [*inspector.get_table_names(schema=schema), *inspector.get_view_names(schema=schema)]
    except SQLAlchemyError:
        return []


def _probe(
    connection: Connection, name: str, spec: TableSource | None, problems: Problems, label: str
) -> dict[str, Kind] | None:
    """The source's columns (name -> kind), or None after recording why not."""
    dialect = connection.dialect.name
    if spec is not None and spec.query is not None:
        # Parsed again in the database's own dialect before anything runs (extract/readonly.py).
        try:
            ensure_read_only_query(spec.query, dialect)
        except NotReadOnly as exc:
            raise ConfigError(f"source.{name}.query: {exc}") from None
        probe = select(text("*")).select_from(text(spec.query).columns().subquery("probe"))
        failure = f"{label} does not run"
    else:
        schema, table_name = split_name(spec.table if spec is not None and spec.table else name)
        if not _table_exists(connection, table_name, schema):
            if spec is None:
                problems.missing_tables.append(name)
            else:
                close = nearest(table_name, _table_names(connection, schema))
                hint = f" (did you mean {close!r}?)" if close else ""
                problems.add(f"{label} is missing from the database{hint}")
            return None
        probe = select(text("*")).select_from(table(table_name, schema=schema))
        failure = f"cannot read {label}"
    try:
        result = connection.execute(probe.limit(0))
        description = result.cursor.description if hasattr(result, "cursor") else None
        names = list(result.keys())
    except SQLAlchemyError as exc:
        problems.add(f"{failure}: {first_line(exc)}")
        return None
    codes = [d[1] for d in description] if description else [None] * len(names)
    return {n: column_kind(dialect, code) for n, code in zip(names, codes, strict=True)}


def _text_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _constant(value: ColumnConstant, kind: Any) -> ColumnElement[Any]:
    if value.null:
        return cast(null(), kind)
    constant = value.value
    if isinstance(kind, Boolean):
        return true() if constant in (True, "true") else false()
    return cast(literal(constant, literal_execute=True), kind)


def _parsed(
    value: ColumnElement[Any], kind: Any, fmt: str | None, stored_as: Kind
) -> ColumnElement[Any]:
    """Text read as the canonical type, NULL where it does not read.

    stored_as "any" (SQLite): a value already stored as a number is taken as it is,
    without a trip through the REGEXP function, which SQLite calls in Python.
    """
    trimmed = func.trim(value)
    stored = func.typeof(value)
    if isinstance(kind, Boolean):
        word = func.lower(trimmed)
        return case(
            *([(stored == "integer", case((value == 1, true()), (value == 0, false())))]
              if stored_as == "any" else []),
            (word.in_(TRUE_WORDS), true()),
            (word.in_(FALSE_WORDS), false()),
            else_=null(),
        )  # fmt: skip
    if isinstance(kind, Integer):
        return case(
            *([(stored == "integer", value)] if stored_as == "any" else []),
            (matches(value, _INTEGER), cast(trimmed, BigInteger)),
            else_=null(),
        )
    if isinstance(kind, Numeric):
        return case(
            *([(stored.in_(("integer", "real")), value)] if stored_as == "any" else []),
            (matches(value, _DECIMAL), cast(trimmed, Numeric(18, 4, asdecimal=False))),
            else_=null(),
        )
    if isinstance(kind, DateTime):
        return parsed_timestamp(value, fmt)
    if isinstance(kind, Date):
        return day_of(parsed_timestamp(value, fmt))
    return value


# The SQL type an extra column of each declared type is read as.
EXTRA_TYPES: dict[str, Any] = {
    "integer": BigInteger(),
    "number": Numeric(18, 4, asdecimal=False),
    "boolean": Boolean(),
    "text": String(),
    "timestamp": DateTime(),
}


def _canonical_column(
    name: str,
    wanted: Any,
    source: Any,
    kinds: Mapping[str, Kind],
    spec: TableSource | None,
    problems: Problems,
    label: str,
    extra_column: str | None = None,
) -> tuple[list[ColumnElement[Any]], bool, bool]:
    """The column's expressions ([canonical] or [canonical, _raw_]), parsed?, a text time?

    extra_column: the source column of an extra column (`wanted` is then its name and type).
    """
    if extra_column is not None:
        mapped: str | ColumnConstant = extra_column
    else:
        mapped = spec.columns.get(wanted.name, wanted.name) if spec is not None else wanted.name
    kind = wanted.type
    if isinstance(mapped, ColumnConstant):
        return [_constant(mapped, kind).label(wanted.name)], False, False
    # Names as the database spells them; matched without regard to case.
    actual = {n.lower(): n for n in kinds}.get(mapped.lower())
    if actual is None:
        if extra_column is not None:
            close = nearest(mapped, kinds)
            hint = f"; did you mean {close!r}?" if close else ""
            problems.add(
                f"{label} has no column {mapped!r} (for source.{name}.extra.{wanted.name}{hint}): "
                f"name the right one in [source.{name}.extra]"
            )
        elif spec is None:
            problems.add(f"column {name}.{wanted.name} is missing from the database")
        else:
            close = nearest(mapped, kinds)
            hint = f"; did you mean {close!r}?" if close else ""
            # { null = true } only where a null is allowed: elsewhere it rejects every row.
            instead = (
                f" or give {wanted.name} = {{ null = true }}"
                if wanted.name in NULLABLE.get(name, ())
                else f" or give a constant, {wanted.name} = {{ value = ... }}"
            )
            problems.add(
                f"{label} has no column {mapped!r} (for {name}.{wanted.name}{hint}): "
                f"name the right one under [source.{name}.columns]{instead}; "
                f"it has {_listed(kinds)}"
            )
        return [], False, False
    column_kind_ = kinds[actual]
    value: ColumnElement[Any] = source.c[actual]
    if spec is not None and spec.null_values and column_kind_ != "typed":
        value = case((value.in_(spec.null_values), null()), else_=value)
    value_map = spec.values.get(wanted.name, {}) if spec is not None else {}
    if value_map:
        if column_kind_ == "typed":
            value = cast(value, String())
            column_kind_ = "text"
        value = case(
            *[
                (value == literal(key, String(), literal_execute=True), _text_value(canon))
                for key, canon in value_map.items()
            ],
            else_=value,
        )
    default = spec.if_null.get(wanted.name) if spec is not None else None
    if column_kind_ == "typed" or isinstance(kind, String):
        if default is not None:
            value = func.coalesce(value, _constant(ColumnConstant(value=default), kind))
        return [value.label(wanted.name)], False, False
    fmt = spec.formats.get(wanted.name) if spec is not None else None
    parsed = _parsed(value, kind, fmt, column_kind_)
    if default is not None:
        # Only a null takes the default: a value that is there but does not read stays a bad row.
        parsed = case(
            (value.is_(None), _constant(ColumnConstant(value=default), kind)), else_=parsed
        )
    is_time = isinstance(kind, Date | DateTime)
    # The value as it is, not yet as text: SQLite would make that copy for every row of a
    # large table, where only the few that do not read are ever shown (see `raw_text`).
    return [parsed.label(wanted.name), value.label(f"_raw_{wanted.name}")], True, is_time


def resolve(
    connection: Connection, name: str, spec: TableSource | None, problems: Problems
) -> Source:
    """The canonical SELECT of one table, after checking its source; problems are added, not raised."""
    if spec is not None and spec.absent:
        return Source(name, spec)
    if spec is not None and spec.from_activity:
        return Source(name, spec, from_activity=True)
    kinds = _probe(connection, name, spec, problems, Source(name, spec).label)
    if kinds is None:
        return Source(name, spec)
    return canonical_source(name, spec, kinds, problems)


def canonical_source(
    name: str, spec: TableSource | None, kinds: Mapping[str, Kind], problems: Problems
) -> Source:
    """The canonical SELECT over a source whose columns are `kinds` (name -> kind)."""
    label = Source(name, spec).label
    source = _raw(name, spec, list(kinds))
    expressions: list[ColumnElement[Any]] = []
    parsed: list[str] = []
    text_times: list[tuple[str, str | None]] = []
    complete = True
    for wanted in TABLES[name].columns:
        made, is_parsed, is_time = _canonical_column(
            name, wanted, source, kinds, spec, problems, label
        )
        complete = complete and bool(made)
        expressions.extend(made)
        if is_parsed:
            parsed.append(wanted.name)
        if is_time:
            text_times.append((wanted.name, spec.formats.get(wanted.name) if spec else None))
    extras: list[str] = []
    extras_parsed: list[str] = []
    for extra_name, extra in (spec.extra if spec is not None else {}).items():
        wanted_extra = _Extra(extra_name, EXTRA_TYPES[extra.type])
        made, is_parsed, _ = _canonical_column(
            name, wanted_extra, source, kinds, spec, problems, label, extra.column
        )
        complete = complete and bool(made)
        expressions.extend(made)
        extras.append(extra_name)
        if is_parsed:
            extras_parsed.append(extra_name)
    checkable = select(*expressions) if expressions else None
    if checkable is not None and spec is not None and spec.where is not None:
        checkable = checkable.where(*_row_filters(name, spec, expressions, source, kinds))
    if not complete:
        return Source(name, spec, text_times=tuple(text_times), checkable=checkable)
    return Source(
        name, spec, checkable, tuple(parsed), tuple(text_times), checkable=checkable,
        extras=tuple(extras), extras_parsed=tuple(extras_parsed),
    )  # fmt: skip


@dataclass(frozen=True)
class _Extra:
    """An extra column as `_canonical_column` reads a wanted column: a name and a SQL type."""

    name: str
    type: Any


# The canonical columns a null is allowed in (contract section 1); elsewhere it is a bad row.
NULLABLE = {
    "vendors": ("country", "currency", "manager_email", "contract_start", "contract_end"),
    "work_items": ("due_at", "completed_at"),
    "requests": ("first_response_at", "resolved_at"),
    "charges": (),
}


def _listed(kinds: Mapping[str, Kind], most: int = 20) -> str:
    """The columns a source has, for a message: at most `most` of them, then how many more."""
    names = [repr(n) for n in kinds]
    more = len(names) - most
    shown = ", ".join(names[:most])
    return f"columns {shown}" + (f" and {more} more" if more > 0 else "")


def _filter_value(value: Any, kind: Any) -> ColumnElement[Any]:
    """A row filter's value as a bound value of the canonical column's type (None: a source
    column, compared as the value is given)."""
    if kind is None:
        return literal(value)
    if isinstance(kind, DateTime):
        return at(dt.datetime.fromisoformat(str(value)))
    if isinstance(kind, Date):
        return at(dt.date.fromisoformat(str(value)))
    return literal(value, kind)


def _row_filters(
    name: str,
    spec: TableSource,
    expressions: list[ColumnElement[Any]],
    source: Any,
    source_kinds: Mapping[str, Kind],
) -> list[ColumnElement[bool]]:
    """[source.<table>] where: conditions as data (never SQL text) on a canonical column, read
    as its type, or else on a column of the source, compared as it is stored."""
    canonical = {e.name: e for e in expressions if isinstance(e, Label)}
    kinds = {c.name: c.type for c in TABLES[name].columns}
    own = {n.lower(): n for n in source_kinds}
    filters = spec.where if isinstance(spec.where, tuple) else (spec.where,)
    conditions: list[ColumnElement[bool]] = []
    for f in filters:
        if f is None:
            continue
        if f.column in kinds:
            if f.column not in canonical:
                continue  # its own problem (a missing source column) is reported already
            value = canonical[f.column].element
            kind = kinds[f.column]
        elif f.column.lower() in own:
            value = source.c[own[f.column.lower()]]
            kind = None
        else:
            close = nearest(f.column, [*kinds, *source_kinds])
            hint = f" (did you mean {close!r}?)" if close else ""
            raise ConfigError(
                f"source.{name}.where: {f.column!r} is neither a canonical column of {name} "
                f"nor a column of its source{hint}"
            )
        try:
            if f.not_null:
                conditions.append(value.is_not(None))
            elif f.in_ is not None:
                conditions.append(value.in_([_filter_value(v, kind) for v in f.in_]))
            elif f.equals is not None:
                conditions.append(value == _filter_value(f.equals, kind))
            elif f.at_least is not None:
                conditions.append(value >= _filter_value(f.at_least, kind))
            elif f.at_most is not None:
                conditions.append(value <= _filter_value(f.at_most, kind))
        except ValueError:
            raise ConfigError(
                f"source.{name}.where: the value for {f.column!r} is not a {kind} "
                "(times as ISO 8601, e.g. 2025-01-01 or 2025-01-01T00:00:00)"
            ) from None
    return conditions


def _check_text_times(connection: Connection, resolved: Source, problems: Problems) -> None:
    """Text times that mostly do not read: the format is missing or wrong.

    Judged on the first TEXT_TIME_SAMPLE rows the source gives (a LIMIT), so that
    the check costs the same at any size and a view or query is not evaluated
    whole once more for it. A wrong format shows in any such sample; a value that
    does not read further on is rejected as a bad row and counted with its text.
    """
    if resolved.checkable is None or not resolved.text_times:
        return
    source = resolved.checkable.limit(TEXT_TIME_SAMPLE).subquery("checked")
    measures: list[ColumnElement[Any]] = [func.count()]
    for name, _ in resolved.text_times:
        raw, parsed = source.c[f"_raw_{name}"], source.c[name]
        unread = and_(raw.is_not(None), parsed.is_(None))
        measures += [
            func.count(raw),
            func.sum(case((unread, 1), else_=0)),
            func.min(case((unread, raw_text(raw)), else_=None)),
        ]
    try:
        row = connection.execute(select(*measures)).one()
    except SQLAlchemyError as exc:
        problems.add(f"cannot read {resolved.label}: {first_line(exc)}")
        return
    except CompileError as exc:
        problems.add(f"{resolved.label}: {exc}")
        return
    sampled = f" in the first {TEXT_TIME_SAMPLE:,} rows" if row[0] >= TEXT_TIME_SAMPLE else ""
    for index, (name, fmt) in enumerate(resolved.text_times):
        present, unread_count, sample = row[1 + 3 * index : 4 + 3 * index]
        if not present or not unread_count or unread_count <= present * _UNREADABLE_SHARE:
            continue
        where = (
            f"source.{resolved.name}" if resolved.spec is not None else f"table {resolved.name!r}"
        )
        if fmt is None:
            fix = f'give its format under [source.{resolved.name}.formats], e.g. {name} = "%d/%m/%Y %H:%M"'
            problems.add(
                f"{where}: {name} is held as text that is not ISO 8601 "
                f"({unread_count:,} of {present:,} values{sampled}, e.g. {sample!r}): {fix}"
            )
        else:
            problems.add(
                f"{where}: {name}: {unread_count:,} of {present:,} values{sampled} do not match the format "
                f"{fmt!r} (e.g. {sample!r}): correct source.{resolved.name}.formats.{name}"
            )


TABLE_ORDER = ("vendors", "work_items", "requests", "charges")


def resolve_all(engine: Engine, sources: Mapping[str, TableSource]) -> dict[str, Source]:
    """Every canonical table's source, checked; SourceError lists every problem at once.

    Each table is checked on a connection of its own: a statement that fails
    aborts the transaction it runs in on some engines, and every table must
    still be checked.
    """
    problems = Problems()
    resolved: dict[str, Source] = {}
    for name in TABLE_ORDER:
        with read_only_connection(engine) as connection:
            found = resolve(connection, name, sources.get(name), problems)
            _check_text_times(connection, found, problems)
            resolved[name] = found
    every = problems.all()
    if every:
        raise SourceError(
            every[0]
            if len(every) == 1
            else f"{len(every)} problems with the sources: " + "; ".join(every)
        )
    return resolved
