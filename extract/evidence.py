"""The items behind each missed service level (contract section 12), read in the sums' transaction.

The scoring stage says which vendor x service level x month need evidence (a
credit due, pending earn-back, or a provisional miss); this module asks the
database once per table for the accepted rows behind them, filtered to those
vendors and months inside the database, never one query per item. The rows
arrive with what tells why each one failed (late, open past due, defects, ...)
and the scoring stage names them, bounds them and writes them.

The same tests as the sums (`summaries`) decide what a row is: the same window,
the same row rules (a rejected row is no evidence), the same cutoff, the same
response targets, so the rows of a rate reconcile exactly with its numerator and
denominator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import ColumnElement, Select, Subquery, and_, case, false, or_, select, true

from extract.dialects import at, milliseconds_between
from extract.summaries import (
    MILLISECONDS_PER_HOUR,
    Repeated,
    ReportPeriod,
    Window,
    _example_id,
    _flag,
    _period_of,
    _rule_column,
    _with_duplicates,
    condition_sql,
    response_terms,
    rows_read,
)
from extract.validate import request_sql_rules, work_item_sql_rules
from scorecard.config import DeclaredKpi

# Which table and which time decide the month a KPI's trial falls in (contract section 3).
KPI_TABLE = {
    "on_time_rate": "work_items",
    "accuracy": "work_items",
    "rework_rate": "work_items",
    "mean_turnaround_hours": "work_items",
    "response_within_target_rate": "requests",
    "mean_first_response_hours": "requests",
}


# A declared rate's failed trials arrive in a column of their own: the month the trial
# counts in when it is a trial that did not succeed, else null (contract sections 10, 12).
DECLARED_PREFIX = "declared_"


def declared_column(name: str) -> str:
    return f"{DECLARED_PREFIX}{name}"


def declared_rates(kpis: Mapping[str, DeclaredKpi], table: str) -> dict[str, DeclaredKpi]:
    """The declared rates of a table: the declared KPIs whose misses list failed trials."""
    return {n: k for n, k in kpis.items() if k.kind == "rate" and k.table == table}


def evidence_schema(base: Mapping[str, pl.DataType], names: Sequence[str]) -> dict[str, Any]:
    """A table's evidence columns, then one per declared rate asked for."""
    return {**base, **{declared_column(n): pl.String() for n in names}}


def _declared_failed(
    c: Mapping[str, ColumnElement[Any]], kpi: DeclaredKpi, counted: ColumnElement[Any]
) -> ColumnElement[bool]:
    """A trial that is not a success, counted at `counted` (the sums' own conditions: a
    success whose test is NULL is no success, as the numerator does not count it)."""
    assert kpi.trial is not None and kpi.success is not None
    trial = condition_sql(kpi.trial, c)
    return and_(counted.is_not(None), trial, case((condition_sql(kpi.success, c), 1), else_=0) == 0)


@dataclass(frozen=True)
class EvidenceGroup:
    """One vendor x service level x month that needs its items listed."""

    vendor_id: str
    service_level: str
    process: str
    """A process, or ALL (every process of the vendor)."""
    month: str
    """The month's label: the window's periods are calendar months."""
    kpi: str
    threshold: float


ALL_PROCESSES = "ALL"

# What the evidence queries return, one row per candidate item.
WORK_ITEM_EVIDENCE_SCHEMA = {
    "vendor_id": pl.String(),
    "process": pl.String(),
    "item_id": pl.String(),
    "rule": pl.String(),
    "due_month": pl.String(),
    "completed_month": pl.String(),
    "on_time": pl.Int64(),
    "completed": pl.Int64(),
    "defects": pl.Int64(),
    "reworked": pl.Int64(),
    "turnaround_ms": pl.Int64(),
    "late_ms": pl.Int64(),
}
REQUEST_EVIDENCE_SCHEMA = {
    "vendor_id": pl.String(),
    "process": pl.String(),
    "item_id": pl.String(),
    "rule": pl.String(),
    "opened_month": pl.String(),
    "answered": pl.Int64(),
    "response_ms": pl.Int64(),
    "within_target": pl.Int64(),
    "target_due": pl.Int64(),
}


def _any(tests: Sequence[ColumnElement[bool]]) -> ColumnElement[bool]:
    return or_(*tests) if tests else false()


def _period(window: Window, label: str) -> ReportPeriod:
    return next(p for p in window.periods if p.label == label)


def _source_test(
    c: Mapping[str, ColumnElement[Any]], group: EvidenceGroup, failed: ColumnElement[bool]
) -> ColumnElement[bool]:
    """The group's vendor, process and failing test on the source's own columns."""
    tests = [c["vendor_id"] == group.vendor_id, failed]
    if group.process != ALL_PROCESSES:
        tests.append(c["process"] == group.process)
    return and_(*tests)


def _merged(
    window: Window, groups: Sequence[EvidenceGroup]
) -> list[tuple[EvidenceGroup, list[tuple[dt.datetime, dt.datetime]]]]:
    """The groups of one vendor, process, KPI and threshold together, their months merged
    into spans of consecutive months: a dozen missed months are one range test, not twelve."""
    by_level: dict[tuple[str, str, str, float], list[ReportPeriod]] = {}
    first: dict[tuple[str, str, str, float], EvidenceGroup] = {}
    for group in groups:
        key = (group.vendor_id, group.process, group.kpi, group.threshold)
        by_level.setdefault(key, []).append(_period(window, group.month))
        first.setdefault(key, group)
    merged = []
    for key, months in by_level.items():
        spans: list[tuple[dt.datetime, dt.datetime]] = []
        for month in sorted(months, key=lambda m: m.window_start):
            if spans and spans[-1][1] == month.window_start:
                spans[-1] = (spans[-1][0], month.window_end)
            else:
                spans.append((month.window_start, month.window_end))
        merged.append((first[key], spans))
    return merged


def _within(time: ColumnElement[Any], spans: Sequence[tuple[dt.datetime, dt.datetime]]) -> Any:
    return _any([and_(time >= at(start), time < at(end)) for start, end in spans])


def _narrowed(
    c: Mapping[str, ColumnElement[Any]], groups: Sequence[EvidenceGroup], tests: Any
) -> Any:
    """Only the missed vendors (tested first, on a plain column), then the groups' tests."""
    return and_(c["vendor_id"].in_(sorted({g.vendor_id for g in groups})), _any(tests))


def work_item_evidence_query(
    source: Subquery,
    window: Window,
    repeated: Repeated,
    groups: Sequence[EvidenceGroup],
    parsed: Sequence[str] = (),
    declared: Mapping[str, DeclaredKpi] | None = None,
) -> Select[Any]:
    """The accepted work items behind the groups' misses, one query (see the module's doc).

    declared: the declared rates of work items among the groups' KPIs; each adds the month
    its failed trials count in (`declared_column`)."""
    declared = declared or {}
    c: dict[str, ColumnElement[Any]] = dict(source.c.items())
    received, due, completed = c["received_at"], c["due_at"], c["completed_at"]
    in_window = rows_read("work_items", source.c, window)
    joined, duplicated = _with_duplicates(source, "work_item_id", in_window, repeated)
    rules = work_item_sql_rules(c, duplicated, parsed)
    completed_in_window = and_(completed >= at(window.start), completed < at(window.cutoff))
    # The groups' own tests on the source's columns, inside the scan: only the rows behind
    # a miss reach the rules and the wire (the same tests, on labels, follow below).
    late = or_(completed.is_(None), completed >= at(window.cutoff), completed > due)
    # When a declared KPI's trial counts (contract section 10, counted_when), in the window.
    counted_time = {
        "completed": case((completed_in_window, completed), else_=None),
        "due": due,
        "received": received,
    }
    raw = []
    for group, spans in _merged(window, groups):
        due_in, done_in = _within(due, spans), _within(completed, spans)
        failed_raw = {
            "on_time_rate": and_(due_in, late),
            "accuracy": and_(done_in, c["defects"] > 0),
            "rework_rate": and_(done_in, c["reworked"] == true()),
            "mean_turnaround_hours": and_(
                done_in,
                milliseconds_between(received, completed) > group.threshold * MILLISECONDS_PER_HOUR,
            ),
        }.get(group.kpi)
        if group.kpi in declared:
            time = counted_time[declared[group.kpi].when]
            failed_raw = and_(_within(time, spans), _declared_failed(c, declared[group.kpi], time))
        if failed_raw is not None:
            raw.append(_source_test(c, group, failed_raw))
    # One SELECT, not wrapped: the groups' tests on the source's columns decide which rows
    # are read, and only those are checked (their rule) and classified. A wrapping query
    # that filtered on the rule would let a planner test every row's rule first.
    return (
        select(
            c["vendor_id"],
            c["process"],
            _example_id(c["work_item_id"]).label("item_id"),
            _rule_column(rules),
            _period_of(due, window).label("due_month"),
            case((completed_in_window, _period_of(completed, window)), else_=None).label(
                "completed_month"
            ),
            _flag(and_(completed < at(window.cutoff), completed <= due)).label("on_time"),
            _flag(completed < at(window.cutoff)).label("completed"),
            c["defects"],
            _flag(c["reworked"] == true()).label("reworked"),
            milliseconds_between(received, completed).label("turnaround_ms"),
            milliseconds_between(due, completed).label("late_ms"),
            *[
                case(
                    (
                        _declared_failed(c, kpi, counted_time[kpi.when]),
                        _period_of(counted_time[kpi.when], window),
                    ),
                    else_=None,
                ).label(declared_column(name))
                for name, kpi in declared.items()
            ],
        )
        .select_from(joined)
        .where(in_window, _narrowed(c, groups, raw))
    )


def request_evidence_query(
    source: Subquery,
    window: Window,
    repeated: Repeated,
    groups: Sequence[EvidenceGroup],
    target_hours: Mapping[str, float],
    parsed: Sequence[str] = (),
    declared: Mapping[str, DeclaredKpi] | None = None,
) -> Select[Any]:
    """The accepted requests behind the groups' misses, one query (declared: as for work
    items; a request's trial counts in the month it was opened)."""
    declared = declared or {}
    c: dict[str, ColumnElement[Any]] = dict(source.c.items())
    opened, responded = c["opened_at"], c["first_response_at"]
    in_window = rows_read("requests", source.c, window)
    joined, duplicated = _with_duplicates(source, "request_id", in_window, repeated)
    rules = request_sql_rules(c, duplicated, parsed)
    answered, response_ms, target_ms, latest_opening = response_terms(c, window, target_hours)
    unanswered = or_(responded.is_(None), responded >= at(window.cutoff))
    raw = []
    for group, spans in _merged(window, groups):
        opened_in = _within(opened, spans)
        if group.kpi == "response_within_target_rate":
            failed_raw = or_(
                and_(answered, response_ms > target_ms),
                and_(unanswered, opened <= latest_opening),
            )
        elif group.kpi == "mean_first_response_hours":
            failed_raw = and_(answered, response_ms > group.threshold * MILLISECONDS_PER_HOUR)
        elif group.kpi in declared:
            failed_raw = _declared_failed(c, declared[group.kpi], opened)
        else:
            continue
        raw.append(_source_test(c, group, and_(opened_in, failed_raw)))
    return (
        select(
            c["vendor_id"],
            c["process"],
            _example_id(c["request_id"]).label("item_id"),
            _rule_column(rules),
            _period_of(opened, window).label("opened_month"),
            _flag(answered).label("answered"),
            case((answered, response_ms), else_=None).label("response_ms"),
            _flag(and_(answered, response_ms <= target_ms)).label("within_target"),
            _flag(or_(answered, opened <= latest_opening)).label("target_due"),
            *[
                case(
                    (_declared_failed(c, kpi, opened), _period_of(opened, window)), else_=None
                ).label(declared_column(name))
                for name, kpi in declared.items()
            ],
        )
        .select_from(joined)
        .where(in_window, _narrowed(c, groups, raw))
    )


def accepted(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows no row rule rejected (the group rules are the scoring stage's: see
    `scoring.evidence`), without their rule: a rejected row is never evidence."""
    return frame.filter(pl.col("rule").is_null()).drop("rule")


def groups_of(
    groups: Sequence[EvidenceGroup], table: str, kpis: Mapping[str, DeclaredKpi] | None = None
) -> list[EvidenceGroup]:
    """The groups whose items this table holds: built-in KPIs by KPI_TABLE, declared rates
    by their own table."""
    declared = declared_rates(kpis or {}, table)
    return [g for g in groups if KPI_TABLE.get(g.kpi) == table or g.kpi in declared]


@dataclass(frozen=True)
class EvidenceRows:
    """What the evidence queries read: the groups asked for and the candidate rows per table."""

    groups: tuple[EvidenceGroup, ...]
    work_items: pl.DataFrame
    requests: pl.DataFrame
