"""The queries that check and sum the large tables inside the database.

Work items and requests can run to millions of rows a quarter. Instead of
reading them, the job asks the database for one row per vendor, process,
rule and day: counts and sums of every KPI input, for accepted rows and,
separately, for each rule's rejected rows (with their smallest and largest
ID as examples). What crosses the wire grows with vendors x processes x days,
not with the rows.

Every query is SQLAlchemy Core over the source as a subquery, so a mapped
table or a user's own SELECT is summed the same way. It uses only CASE,
COUNT, SUM, MIN, MAX, IN and comparisons with bound parameters; the two things
that differ between databases are constructs in `dialects`.

The window: only rows that can count in the report's periods are read. A row
whose timestamp the window is decided on is NULL is read too, so that it is
rejected and counted, never silently dropped by the WHERE clause.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import polars as pl
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Select,
    String,
    Subquery,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    null,
    or_,
    select,
    true,
)

from extract.dialects import at, day_of, milliseconds_between, raw_text
from extract.validate import (
    MAX_UNITS,
    NULL_ID,
    SqlRule,
    first_broken_sql_rule,
    request_sql_rules,
    work_item_sql_rules,
)
from scorecard.config import Condition, DeclaredKpi
from scorecard.schema import ID_COLUMN

MILLISECONDS_PER_HOUR = 3_600_000


class ReportPeriod(Protocol):
    """A reported period as the extract stage needs it (scoring's Period is one)."""

    @property
    def label(self) -> str: ...

    @property
    def start(self) -> dt.date: ...

    @property
    def end(self) -> dt.date:
        """The last day included."""
        ...

    @property
    def window_start(self) -> dt.datetime: ...

    @property
    def window_end(self) -> dt.datetime:
        """Midnight after the last day: the exclusive end."""
        ...


@dataclass(frozen=True)
class Window:
    """What one run reads: its periods, oldest first, the last ending on the as-of day."""

    periods: tuple[ReportPeriod, ...]
    """Calendar months: what the sums are cut by."""
    reported: tuple[ReportPeriod, ...] = ()
    """The report's own periods (months or quarters), over the same days: what a median is
    taken over, since the middle of a quarter cannot be added up from its months'. Empty:
    the months themselves."""
    median: bool = False
    """Rank the items for the median turnaround (`scoring.median_turnaround`): exact, but a
    sort of every completed item in the database, with memory that grows with the rows."""

    @property
    def report_periods(self) -> tuple[ReportPeriod, ...]:
        return self.reported or self.periods

    @property
    def start(self) -> dt.datetime:
        return self.periods[0].window_start

    @property
    def cutoff(self) -> dt.datetime:
        """Midnight after the as-of day: anything at or after it has not happened yet."""
        return self.periods[-1].window_end

    @property
    def first_day(self) -> dt.date:
        return self.periods[0].start

    @property
    def last_day(self) -> dt.date:
        return self.periods[-1].end


WORK_ITEM_DAY_KEYS = [
    "vendor_id", "process", "rule", "completed_day", "due_period", "median_period", "bad_value",
]  # fmt: skip

# The frames the summaries arrive as. Days are calendar days (UTC); `due_period` is a label.
WORK_ITEM_DAYS_SCHEMA = {
    "vendor_id": pl.String(),
    "process": pl.String(),
    "rule": pl.String(),
    "completed_day": pl.Date(),
    "due_period": pl.String(),
    # The report period an item completed in, as ranked for the median turnaround (a key:
    # it follows from completed_day, so it adds no groups).
    "median_period": pl.String(),
    "items": pl.Int64(),
    "units": pl.Int64(),
    "defects": pl.Int64(),
    "qa_checked_units": pl.Int64(),
    "reworked_items": pl.Int64(),
    "turnaround_ms": pl.Int64(),
    # The turnaround of the lower and of the upper middle item of its (vendor, process,
    # median_period), and of its (vendor, median_period) over every process (see
    # `_ranked`): 0 on every other item, so a period's sum is the middle value itself.
    "median_low_ms": pl.Int64(),
    "median_high_ms": pl.Int64(),
    "vendor_median_low_ms": pl.Int64(),
    "vendor_median_high_ms": pl.Int64(),
    "items_on_time": pl.Int64(),
    "first_id": pl.String(),
    "last_id": pl.String(),
    "bad_value": pl.String(),
}

REQUEST_DAYS_SCHEMA = {
    "vendor_id": pl.String(),
    "process": pl.String(),
    "rule": pl.String(),
    "opened_day": pl.Date(),
    "requests": pl.Int64(),
    "requests_answered": pl.Int64(),
    "response_ms": pl.Int64(),
    "requests_within_target": pl.Int64(),
    "requests_target_due": pl.Int64(),
    "first_id": pl.String(),
    "last_id": pl.String(),
    "bad_value": pl.String(),
}


# Declared KPIs (contract section 10): per KPI a numerator and a denominator summed with the
# built-in sums, and per extra column read from text the rows whose value did not read.
def numerator_column(name: str) -> str:
    return f"kpi_num_{name}"


def denominator_column(name: str) -> str:
    return f"kpi_den_{name}"


def unreadable_column(extra: str) -> str:
    return f"unreadable_{extra}"


def declared_schema(
    kpis: Mapping[str, DeclaredKpi], extras: Sequence[str]
) -> dict[str, pl.DataType]:
    """The summary's columns for the declared KPIs of one table and its parsed extra columns."""
    schema: dict[str, pl.DataType] = {}
    for name, kpi in kpis.items():
        schema[numerator_column(name)] = pl.Float64() if kpi.kind == "mean" else pl.Int64()
        schema[denominator_column(name)] = pl.Int64()
    for extra in extras:
        schema[unreadable_column(extra)] = pl.Int64()
    return schema


def counted_on_received(kpis: Mapping[str, DeclaredKpi]) -> bool:
    return any(kpi.when == "received" for kpi in kpis.values())


def work_item_days_schema(
    kpis: Mapping[str, DeclaredKpi] | None = None, extras: Sequence[str] = ()
) -> dict[str, pl.DataType]:
    """WORK_ITEM_DAYS_SCHEMA, with the period received and the declared sums when asked for."""
    kpis = kpis or {}
    received = {"received_period": pl.String()} if counted_on_received(kpis) else {}
    return {**WORK_ITEM_DAYS_SCHEMA, **received, **declared_schema(kpis, extras)}


def work_item_day_keys(kpis: Mapping[str, DeclaredKpi] | None = None) -> list[str]:
    return WORK_ITEM_DAY_KEYS + (["received_period"] if counted_on_received(kpis or {}) else [])


def request_days_schema(
    kpis: Mapping[str, DeclaredKpi] | None = None, extras: Sequence[str] = ()
) -> dict[str, pl.DataType]:
    return {**REQUEST_DAYS_SCHEMA, **declared_schema(kpis or {}, extras)}


def condition_sql(condition: Condition, c: Mapping[str, Any]) -> ColumnElement[bool]:
    """A declared condition as a SQLAlchemy expression: its values are bound parameters and its
    column one the config validated, so nothing of the config is ever SQL text."""
    if condition.all is not None:
        return and_(*[condition_sql(part, c) for part in condition.all])
    assert condition.column is not None
    value = c[condition.column]
    if condition.at_least is not None:
        return value >= literal(condition.at_least, Float())
    if condition.at_most is not None:
        return value <= literal(condition.at_most, Float())
    if condition.not_null is not None:
        return value.is_not(None)
    if condition.is_true is not None:
        return value == true()
    if condition.in_ is not None:
        return or_(*[_equals(value, v) for v in condition.in_])
    assert condition.equals is not None
    return _equals(value, condition.equals)


def _equals(value: ColumnElement[Any], wanted: str | bool | int | float) -> ColumnElement[bool]:
    if isinstance(wanted, bool):
        return value == (true() if wanted else false())
    if isinstance(wanted, str):
        return value == literal(wanted, String())
    return value == literal(float(wanted), Float())


def declared_flags(
    c: Mapping[str, Any], kpis: Mapping[str, DeclaredKpi], extras: Sequence[str]
) -> list[ColumnElement[Any]]:
    """Per row: each declared KPI's numerator and denominator, and each parsed extra column's
    "did not read" flag, ready to SUM with the built-in sums (no query of their own)."""
    flags: list[ColumnElement[Any]] = []
    for name, kpi in kpis.items():
        if kpi.kind == "rate":
            assert kpi.trial is not None and kpi.success is not None
            trial = condition_sql(kpi.trial, c)
            success = and_(trial, condition_sql(kpi.success, c))
            flags += [
                _flag(success).label(numerator_column(name)),
                _flag(trial).label(denominator_column(name)),
            ]
        else:
            assert kpi.value is not None
            value = c[kpi.value.column]
            flags += [
                value.label(numerator_column(name)),
                _flag(value.is_not(None)).label(denominator_column(name)),
            ]
    flags += [
        _flag(and_(c[f"_raw_{extra}"].is_not(None), c[extra].is_(None))).label(
            unreadable_column(extra)
        )
        for extra in extras
    ]
    return flags


def fenced(statement: Select[Any], fence: bool) -> Select[Any]:
    """With `fence` (SQLite; PostgreSQL over text columns), the statement as a subquery that is
    never flattened into the query around it.

    SQLite and PostgreSQL flatten a subquery by substituting its expressions for its
    columns, so each mention of a column computes its expression again: a time read
    from text is checked and parsed at every one of its dozen mentions, per row.
    OFFSET 0 forbids that (SQLite writes it LIMIT -1 OFFSET 0): the subquery computes
    each column once per row and streams them; nothing is materialized.
    """
    return statement.offset(0) if fence else statement


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """1 where the condition holds, else 0 (also when it is NULL), ready to SUM."""
    return case((condition, 1), else_=0)


# The largest BIGINT: a group's sum beyond it cannot be one of the job's figures.
_BIGINT_MAX = 2**63 - 1


def _within_bigint(total: ColumnElement[Any]) -> ColumnElement[int]:
    """A group's sum as BIGINT (PostgreSQL sums BIGINT into NUMERIC, DuckDB into HUGEINT).

    NULL where the sum is beyond BIGINT: only a group of rejected rows can hold such
    counts (each good row's are at most MAX_UNITS), and their sums are never used. Tested
    once per group, outside the grouping (see `_summary`), so it costs nothing per row.
    """
    fits = and_(
        total >= literal(-_BIGINT_MAX, BigInteger()), total <= literal(_BIGINT_MAX, BigInteger())
    )
    return case((fits, cast(total, BigInteger)), else_=None)


# The most repeated IDs listed in the summing query itself; beyond that, it joins to them.
REPEATED_IDS_LISTED = 10_000

Repeated = Sequence[Any] | None
"""The IDs that occur more than once among the rows read: () when there are none (or a key
forbids them), None when there are more than REPEATED_IDS_LISTED, so the query finds them itself."""


def _repeated(ids: ColumnElement[Any], in_window: ColumnElement[bool]) -> Select[Any]:
    """The IDs that occur more than once among the rows read."""
    return select(ids).where(in_window, ids.is_not(None)).group_by(ids).having(func.count() > 1)


def repeated_ids_query(table: str, source: Subquery, window: Window) -> Select[Any]:
    """The IDs that occur more than once among the rows read, at most REPEATED_IDS_LISTED + 1.

    One pass over the source, asked before the summing query; the IDs it finds are
    then written into the summing query as a list, so that a view or a user's query
    is evaluated twice in all (here and there), never a third time for a join.
    """
    source = _only(source, {ID_COLUMN[table], *WINDOW_TIMES[table]})
    in_window = rows_read(table, source.c, window)
    return _repeated(source.c[ID_COLUMN[table]], in_window).limit(REPEATED_IDS_LISTED + 1)


def _only(source: Subquery, names: set[str]) -> Subquery:
    """The source with only the named columns: SQLite computes every column of a fenced
    subquery for every row, so the duplicate check would parse and check them all."""
    canonical = source.element
    if not isinstance(canonical, Select):
        return source
    kept = [column for column in canonical.selected_columns if column.name in names]
    return canonical.with_only_columns(*kept).subquery(source.name)


def _with_duplicates(
    source: Subquery, id_column: str, window: ColumnElement[bool], repeated: Repeated
) -> tuple[Any, ColumnElement[bool] | None]:
    """The rows to sum (the source, or the source joined to its repeated IDs) and the test.

    With the repeated IDs listed: an IN over that list, or nothing when there are none.
    Too many to list: a join to the grouped IDs, never `id IN (subquery)`: every engine
    hashes a join, while PostgreSQL runs an IN over more IDs than fit in work_mem as a
    plain subplan, once per row.
    """
    ids = source.c[id_column]
    if repeated is not None:
        return source, (ids.in_(list(repeated)) if repeated else None)
    grouped = _repeated(ids, window).subquery("repeated")
    repeated_id = grouped.c[id_column]
    return source.outerjoin(grouped, repeated_id == ids), repeated_id.is_not(None)


def _clamped(value: ColumnElement[Any]) -> ColumnElement[Any]:
    """A count as summed: one beyond any real volume (rejected anyway) cannot overflow the sum.

    Only for counts read from text or from SQLite, whose sum() stops the query on an
    overflow; the other engines sum a typed column into a wider type, and `_within_bigint` leaves
    out a group sum beyond BIGINT.
    """
    return case((and_(value >= -MAX_UNITS, value <= MAX_UNITS), value), else_=None)


def _unreadable(c: Mapping[str, Any], parsed: Sequence[str]) -> list[ColumnElement[Any]]:
    """The text of each parsed column where it does not read (shown in data_quality.csv).

    Only there: a number out of range breaks the same rule, but only SQLite would know
    its text, and every engine must report the same.
    """
    return [
        case((c[name].is_(None), raw_text(c[f"_raw_{name}"])), else_=None).label(f"_raw_{name}")
        for name in parsed
    ]


def _bad_value(rule: ColumnElement[Any], c: Mapping[str, Any], parsed: Sequence[str]) -> Any:
    """The refused value of a rejected row, for the rules about a value (data_quality.csv)."""
    shown: list[tuple[ColumnElement[bool], ColumnElement[Any]]] = [
        (rule == literal(f"bad_{name}", String(), literal_execute=True), c[f"_raw_{name}"])
        for name in parsed
    ]
    if "priority" in c:
        shown.append(
            (rule == literal("bad_priority", String(), literal_execute=True), c["priority"])
        )
    if not shown:
        return None
    # A good row (no rule) is settled by the first test, not by one per rule.
    return case((rule.is_(None), None), *shown, else_=None)


# The times `rows_read` decides the window on (the duplicate check reads only these).
WINDOW_TIMES = {"work_items": ("received_at", "completed_at", "due_at"), "requests": ("opened_at",)}


def rows_read(table: str, c: Any, window: Window) -> ColumnElement[bool]:
    """The rows of a large table that can count in the window, and those with no timestamp.

    A work item counts if it was received before the cutoff and received,
    completed or due in the window; a request if it was opened in the window.

    A work item with no received time is read (to be rejected and counted) only when its
    completion or due time falls in the window, or when it has no time at all: an old
    item whose received time is empty is not rejected again every night forever.
    """
    if table == "work_items":
        received = c.received_at

        def in_window(time: Any) -> ColumnElement[bool]:
            return and_(time >= at(window.start), time < at(window.cutoff))

        return or_(
            and_(
                received.is_(None),
                or_(
                    and_(c.completed_at.is_(None), c.due_at.is_(None)),
                    in_window(c.completed_at),
                    in_window(c.due_at),
                ),
            ),
            and_(
                received < at(window.cutoff),
                or_(
                    received >= at(window.start),
                    c.completed_at >= at(window.start),
                    c.due_at >= at(window.start),
                ),
            ),
        )
    opened = c.opened_at
    return or_(opened.is_(None), and_(opened >= at(window.start), opened < at(window.cutoff)))


def _summary(
    classified: Subquery,
    keys: Sequence[str],
    count_as: str,
    sums: Mapping[str, ColumnElement[Any]],
    parsed: Sequence[str],
    floating: Sequence[str] = (),
) -> Select[Any]:
    """floating: sums of values that are not counts (a declared mean's values), kept as they are."""
    k = classified.c
    # Every group keeps its smallest and largest ID as examples, good groups too: the
    # rule, vendor and process are keys of the group, so which groups are rejected is
    # known only once the vendor and process rules are applied to them, and a test on
    # every row to tell would cost more than MIN and MAX (measured: SQLite 7 % of the
    # query, PostgreSQL a third more against a twelfth).
    example_id = k["_id"]
    bad_value = _bad_value(k["rule"], dict(k.items()), parsed)
    grouped_by = [bad_value] if bad_value is not None else []
    if bad_value is None:
        bad_value = cast(null(), String())
    group_keys = [k[name] for name in keys if name != "bad_value"]
    # Each column summed once, its range tested outside the grouping: MariaDB keeps an
    # aggregate of its own for each mention of SUM(x), three per column in the test, which
    # was 40 % of its query's CPU at 1M work items.
    summed = (
        select(
            *group_keys,
            cast(func.count(), BigInteger).label(count_as),
            *[func.sum(value).label(name) for name, value in sums.items()],
            func.min(example_id).label("first_id"),
            func.max(example_id).label("last_id"),
            bad_value.label("bad_value"),
        )
        .group_by(*group_keys, *grouped_by)
        .subquery("summed")
    )
    g = summed.c
    return select(
        *[g[key.name] for key in group_keys],
        g[count_as],
        *[(g[name] if name in floating else _within_bigint(g[name])).label(name) for name in sums],
        g.first_id,
        g.last_id,
        g.bad_value,
    )


def _rule_column(rules: Sequence[SqlRule]) -> ColumnElement[str]:
    return first_broken_sql_rule(rules).label("rule")


def _example_id(value: ColumnElement[Any]) -> ColumnElement[str]:
    return func.coalesce(value, literal(NULL_ID, String(), literal_execute=True)).label("_id")


def completed_parts(window: Window, parts: int) -> int:
    """How many slices `completed_part` cuts the window in: at most one per report period."""
    return max(1, min(parts, len(window.report_periods)))


def completed_part(window: Window, part: int, parts: int) -> Callable[[Any], ColumnElement[bool]]:
    """Rows of one of `parts` slices of the window by time completed, cut on report periods'
    boundaries only, so that the items a median is taken over (one vendor's, completed in one
    report period) are all in one slice; the slices cover every row.

    `parts` is at most `completed_parts(window, ...)`. The first slice also holds what was
    completed before the window or never (NULL), the last what was completed after it.
    """
    periods = window.report_periods
    assert 1 <= parts <= len(periods)
    bounds = [periods[len(periods) * k // parts].window_start for k in range(1, parts)]

    def predicate(c: Any) -> ColumnElement[bool]:
        completed = c.completed_at
        after = None if part == 0 else completed >= at(bounds[part - 1])
        before = None if part == parts - 1 else completed < at(bounds[part])
        if after is None:
            return or_(completed.is_(None), before) if before is not None else true()
        return and_(after, before) if before is not None else after

    return predicate


def _period_of(
    time: ColumnElement[Any], window: Window, periods: Sequence[ReportPeriod] | None = None
) -> ColumnElement[str]:
    """The label of the period (a month; or one of `periods`, which cover the same days)
    a time falls in; NULL outside the window (or no time).

    The periods are contiguous, so the boundaries are halved: about log2(periods)
    comparisons a row instead of one per period passed (16 for a year of months).
    """
    periods = window.periods if periods is None else periods

    def within(first: int, last: int) -> ColumnElement[str]:  # periods[first:last]
        if last - first == 1:
            return literal(periods[first].label, String(), literal_execute=True)
        middle = (first + last) // 2
        return case(
            (time < at(periods[middle].window_start), within(first, middle)),
            else_=within(middle, last),
        )

    return case(
        (time < at(window.start), None),
        (time < at(window.cutoff), within(0, len(periods))),
        else_=None,
    )


def work_item_days_query(
    source: Subquery,
    window: Window,
    repeated: Repeated,
    part: Callable[[Any], ColumnElement[bool]] | None = None,
    parsed: Sequence[str] = (),
    fence: bool = False,
    kpis: Mapping[str, DeclaredKpi] | None = None,
    extras: Sequence[str] = (),
) -> Select[Any]:
    """One row per vendor, process, rule, day completed and period due.

    The rule is the first row rule broken (vendor and process rules are
    applied to the groups afterwards); NULL for a good row.
    repeated: the IDs found more than once among all the rows read (see `Repeated`);
    () also when the database enforces unique IDs (a primary key).
    part: only the rows of one slice (`completed_part`).
    fence: SQLite, see `fenced`.
    kpis, extras: the declared KPIs of work items and the extra columns read from text
    (contract section 10), summed in the same query.
    """
    kpis = kpis or {}
    c: dict[str, ColumnElement[Any]] = dict(source.c.items())
    received, due, completed = c["received_at"], c["due_at"], c["completed_at"]
    in_window = rows_read("work_items", source.c, window)
    joined, duplicated = _with_duplicates(source, "work_item_id", in_window, repeated)
    rules = work_item_sql_rules(c, duplicated, parsed)
    # Completed after the cutoff counts as still open; before the window, as out of scope.
    completed_in_window = and_(completed >= at(window.start), completed < at(window.cutoff))
    due_period = _period_of(due, window)
    classified = fenced(
        select(
            c["vendor_id"],
            c["process"],
            _rule_column(rules),
            case((completed_in_window, day_of(completed)), else_=None).label("completed_day"),
            due_period.label("due_period"),
            (
                _period_of(completed, window, window.report_periods)
                if window.median
                else null().cast(String())
            ).label("median_period"),
            *(
                [_period_of(received, window).label("received_period")]
                if counted_on_received(kpis)
                else []
            ),
            _example_id(c["work_item_id"]),
            *[
                (_clamped(c[name]) if name in parsed else c[name]).label(name)
                for name in ("units", "defects", "qa_checked_units")
            ],
            *_unreadable(c, parsed),
            _flag(c["reworked"] == true()).label("reworked"),
            # Summed for every row; only the groups with a completed_day are used.
            milliseconds_between(received, completed).label("turnaround_ms"),
            # An item still open at the cutoff is late (contract section 3).
            _flag(and_(completed < at(window.cutoff), completed <= due)).label("on_time"),
            *declared_flags(c, kpis, extras),
        )
        .select_from(joined)
        .where(in_window, *([part(source.c)] if part is not None else [])),
        fence,
    ).subquery("classified")
    # Without the median, nothing is ranked: its sums are 0 and no item counts as ranked, so
    # the median is null (not measured), never 0.
    ranked, middles = _ranked(classified) if window.median else (classified, _unranked())
    k = ranked.c
    return _summary(
        ranked,
        work_item_day_keys(kpis),
        "items",
        {
            "units": k.units,
            "defects": k.defects,
            "qa_checked_units": k.qa_checked_units,
            "reworked_items": k.reworked,
            "turnaround_ms": k.turnaround_ms,
            **middles,
            "items_on_time": k.on_time,
            **{name: k[name] for name in declared_schema(kpis, extras)},
        },
        parsed,
        _floating(kpis),
    )


def _ranked(classified: Subquery) -> tuple[Subquery, dict[str, ColumnElement[Any]]]:
    """The classified rows with their ranks, and the sums of the middle items' turnarounds
    (each row's turnaround where it is a middle item, else 0).

    The median turnaround of a period cannot be added up from days, so the database ranks
    the items a median is taken over: the accepted items of one vendor and process (and,
    for the vendor's ALL row, of one vendor over its processes) completed in one report
    period (`median_period`), by turnaround. Of n items, the lower middle is number
    ceil(n/2), the upper floor(n/2)+1 (the same item when n is odd), found without a
    division (engines divide integers differently): 2 x number is n or n+1, and n+1 or n+2.
    Summed into the day groups, a period's sums are those two turnarounds exactly, and the
    median is their mean. Items tied on turnaround are ordered by the keys of their groups
    (day completed, period due, ...), so every engine and every slicing puts a middle value
    in the same group; ties on those too are in one group anyway.

    Rows a group rule rejects whole later (unknown or rejected vendor: all of its rows) are
    ranked, then dropped with their groups; a row with a blank process is rejected by itself,
    so it is left out of its vendor's ranking here.
    """
    k = classified.c
    counted = and_(k.rule.is_(None), k.median_period.is_not(None), k.turnaround_ms.is_not(None))
    blank = literal("", String(), literal_execute=True)
    over_all = and_(counted, k.process.is_not(None), func.trim(k.process) != blank)
    # NULL sorts first on some engines and last on others: a missing label sorts as ''.
    labels = [
        func.coalesce(k[name], blank) for name in ("due_period", "received_period") if name in k
    ]
    order = [k.turnaround_ms, k.completed_day, *labels]
    # Each window once, as a column: its flags are tested in the sums over these columns.
    partitions = {
        "median": (counted, [k.vendor_id, k.process]),
        "vendor_median": (over_all, [k.vendor_id]),
    }
    ranked = select(
        *classified.c,
        *[
            column
            for name, (condition, by) in partitions.items()
            for column in (
                func.row_number()
                .over(partition_by=[*by, _when(condition, k.median_period)], order_by=order)
                .label(f"_{name}_number"),
                # Over the same window as the number, whole (ROWS UNBOUNDED both ways), so
                # the engine sorts the rows once for both.
                func.count()
                .over(
                    partition_by=[*by, _when(condition, k.median_period)],
                    order_by=order,
                    rows=(None, None),
                )
                .label(f"_{name}_items"),
            )
        ],
    ).subquery("ranked")
    r = ranked.c
    # The same conditions over the ranked rows' columns.
    counted = and_(r.rule.is_(None), r.median_period.is_not(None), r.turnaround_ms.is_not(None))
    conditions = {
        "median": counted,
        "vendor_median": and_(counted, r.process.is_not(None), func.trim(r.process) != blank),
    }
    sums: dict[str, ColumnElement[Any]] = {}
    for name, condition in conditions.items():
        twice, n = 2 * r[f"_{name}_number"], r[f"_{name}_items"]
        low = and_(condition, or_(twice == n, twice == n + 1))
        high = and_(condition, or_(twice == n + 1, twice == n + 2))
        sums[f"{name}_low_ms"] = case((low, r.turnaround_ms), else_=0)
        sums[f"{name}_high_ms"] = case((high, r.turnaround_ms), else_=0)
    return ranked, sums


def _unranked() -> dict[str, ColumnElement[Any]]:
    zero = literal(0, literal_execute=True)
    return {
        f"{name}_{end}_ms": zero for name in ("median", "vendor_median") for end in ("low", "high")
    }


def _when(condition: ColumnElement[bool], value: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((condition, value), else_=None)


def _floating(kpis: Mapping[str, DeclaredKpi]) -> list[str]:
    return [numerator_column(name) for name, kpi in kpis.items() if kpi.kind == "mean"]


def response_terms(
    c: Mapping[str, ColumnElement[Any]], window: Window, target_hours: Mapping[str, float]
) -> tuple[ColumnElement[bool], ColumnElement[Any], ColumnElement[Any], ColumnElement[Any]]:
    """A request's answered flag, response time, and its priority's target (as a duration and
    as the latest opening time whose target has passed by the cutoff), shared by the sums
    and the evidence so the two always agree. A response after the cutoff has not happened
    yet; an unknown priority gets NULL targets (that row is rejected anyway)."""
    opened, responded, priority = c["opened_at"], c["first_response_at"], c["priority"]
    targets = list(target_hours.items())
    answered = responded < at(window.cutoff)
    response_ms = milliseconds_between(opened, responded)
    target_ms = case(
        *[(priority == name, round(hours * MILLISECONDS_PER_HOUR)) for name, hours in targets],
        else_=None,
    )
    latest_opening = case(
        *[
            (priority == name, at(window.cutoff - dt.timedelta(hours=hours)))
            for name, hours in targets
        ],
        else_=None,
    )
    return answered, response_ms, target_ms, latest_opening


def request_days_query(
    source: Subquery,
    window: Window,
    repeated: Repeated,
    target_hours: Mapping[str, float],
    parsed: Sequence[str] = (),
    fence: bool = False,
    kpis: Mapping[str, DeclaredKpi] | None = None,
    extras: Sequence[str] = (),
) -> Select[Any]:
    """One row per vendor, process, rule and day opened (fence: SQLite, see `fenced`)."""
    kpis = kpis or {}
    c: dict[str, ColumnElement[Any]] = dict(source.c.items())
    opened = c["opened_at"]
    in_window = rows_read("requests", source.c, window)
    joined, duplicated = _with_duplicates(source, "request_id", in_window, repeated)
    rules = request_sql_rules(c, duplicated, parsed)
    answered, response_ms, target_ms, latest_opening = response_terms(c, window, target_hours)
    within_target = and_(answered, response_ms <= target_ms)
    # Unanswered and still inside its target at the cutoff: left out of the denominator.
    # A target ending exactly at the cutoff has not passed, as a response at the cutoff has
    # not happened: the end of the as-of day is one boundary with one rule (not yet).
    target_passed = opened < latest_opening
    classified = fenced(
        select(
            c["vendor_id"],
            c["process"],
            _rule_column(rules),
            day_of(opened).label("opened_day"),
            _example_id(c["request_id"]),
            c["priority"],
            *_unreadable(c, parsed),
            _flag(answered).label("answered"),
            case((answered, response_ms), else_=None).label("response_ms"),
            _flag(within_target).label("within_target"),
            _flag(or_(answered, target_passed)).label("target_due"),
            *declared_flags(c, kpis, extras),
        )
        .select_from(joined)
        .where(in_window),
        fence,
    ).subquery("classified")
    k = classified.c
    return _summary(
        classified,
        ["vendor_id", "process", "rule", "opened_day", "bad_value"],
        "requests",
        {
            "requests_answered": k.answered,
            "response_ms": k.response_ms,
            "requests_within_target": k.within_target,
            "requests_target_due": k.target_due,
            **{name: k[name] for name in declared_schema(kpis, extras)},
        },
        parsed,
        _floating(kpis),
    )
