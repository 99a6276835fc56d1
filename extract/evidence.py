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
    Window,
    _example_id,
    _flag,
    _period_of,
    _rule_column,
    _with_duplicates,
    fenced,
    rows_read,
)
from extract.validate import request_sql_rules, work_item_sql_rules

# Which table and which time decide the month a KPI's trial falls in (contract section 3).
KPI_TABLE = {
    "on_time_rate": "work_items",
    "accuracy": "work_items",
    "rework_rate": "work_items",
    "mean_turnaround_hours": "work_items",
    "response_within_target_rate": "requests",
    "mean_first_response_hours": "requests",
}


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
    "opened_month": pl.String(),
    "answered": pl.Int64(),
    "response_ms": pl.Int64(),
    "within_target": pl.Int64(),
    "target_due": pl.Int64(),
}


def _group_test(
    k: Any, group: EvidenceGroup, month_column: str, failed: ColumnElement[bool]
) -> ColumnElement[bool]:
    tests = [k.vendor_id == group.vendor_id, k[month_column] == group.month, failed]
    if group.process != ALL_PROCESSES:
        tests.append(k.process == group.process)
    return and_(*tests)


def _any(tests: Sequence[ColumnElement[bool]]) -> ColumnElement[bool]:
    return or_(*tests) if tests else false()


def _months(window: Window, groups: Sequence[EvidenceGroup]) -> tuple[dt.datetime, dt.datetime]:
    """The span of the groups' months: the rows outside it are left out before any rule runs."""
    chosen = [p for p in window.periods if p.label in {g.month for g in groups}]
    return min(p.window_start for p in chosen), max(p.window_end for p in chosen)


def work_item_evidence_query(
    source: Subquery,
    window: Window,
    repeated: Repeated,
    groups: Sequence[EvidenceGroup],
    parsed: Sequence[str] = (),
    fence: bool = False,
) -> Select[Any]:
    """The accepted work items behind the groups' misses, one query (see the module's doc)."""
    c: dict[str, ColumnElement[Any]] = dict(source.c.items())
    received, due, completed = c["received_at"], c["due_at"], c["completed_at"]
    in_window = rows_read("work_items", source.c, window)
    joined, duplicated = _with_duplicates(source, "work_item_id", in_window, repeated)
    rules = work_item_sql_rules(c, duplicated, parsed)
    completed_in_window = and_(completed >= at(window.start), completed < at(window.cutoff))
    first, last = _months(window, groups)
    # Only the missed vendors, and rows due or completed in the span of their missed months.
    narrowed = and_(
        c["vendor_id"].in_(sorted({g.vendor_id for g in groups})),
        or_(
            and_(due >= at(first), due < at(last)),
            and_(completed >= at(first), completed < at(last)),
        ),
    )
    classified = fenced(
        select(
            c["vendor_id"],
            c["process"],
            _rule_column(rules),
            _example_id(c["work_item_id"]),
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
        )
        .select_from(joined)
        .where(in_window, narrowed),
        fence,
    ).subquery("classified")
    k = classified.c
    failed = {
        "on_time_rate": ("due_month", k.on_time == 0),
        "accuracy": ("completed_month", k.defects > 0),
        "rework_rate": ("completed_month", k.reworked == 1),
    }
    tests = []
    for group in groups:
        if group.kpi == "mean_turnaround_hours":
            over = k.turnaround_ms > group.threshold * MILLISECONDS_PER_HOUR
            tests.append(_group_test(k, group, "completed_month", over))
        elif group.kpi in failed:
            month, test = failed[group.kpi]
            tests.append(_group_test(k, group, month, test))
    return select(
        k.vendor_id,
        k.process,
        k["_id"].label("item_id"),
        k.due_month,
        k.completed_month,
        k.on_time,
        k.completed,
        k.defects,
        k.reworked,
        k.turnaround_ms,
        k.late_ms,
    ).where(k.rule.is_(None), _any(tests))  # fmt: skip


def request_evidence_query(
    source: Subquery,
    window: Window,
    repeated: Repeated,
    groups: Sequence[EvidenceGroup],
    target_hours: Mapping[str, float],
    parsed: Sequence[str] = (),
    fence: bool = False,
) -> Select[Any]:
    """The accepted requests behind the groups' misses, one query."""
    c: dict[str, ColumnElement[Any]] = dict(source.c.items())
    opened, responded, priority = c["opened_at"], c["first_response_at"], c["priority"]
    in_window = rows_read("requests", source.c, window)
    joined, duplicated = _with_duplicates(source, "request_id", in_window, repeated)
    rules = request_sql_rules(c, duplicated, parsed)
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
    first, last = _months(window, groups)
    narrowed = and_(
        c["vendor_id"].in_(sorted({g.vendor_id for g in groups})),
        opened >= at(first),
        opened < at(last),
    )
    classified = fenced(
        select(
            c["vendor_id"],
            c["process"],
            _rule_column(rules),
            _example_id(c["request_id"]),
            _period_of(opened, window).label("opened_month"),
            _flag(answered).label("answered"),
            case((answered, response_ms), else_=None).label("response_ms"),
            _flag(and_(answered, response_ms <= target_ms)).label("within_target"),
            _flag(or_(answered, opened <= latest_opening)).label("target_due"),
        )
        .select_from(joined)
        .where(in_window, narrowed),
        fence,
    ).subquery("classified")
    k = classified.c
    tests = []
    for group in groups:
        if group.kpi == "response_within_target_rate":
            failed = and_(k.target_due == 1, k.within_target == 0)
        elif group.kpi == "mean_first_response_hours":
            failed = and_(k.answered == 1, k.response_ms > group.threshold * MILLISECONDS_PER_HOUR)
        else:
            continue
        tests.append(_group_test(k, group, "opened_month", failed))
    return select(
        k.vendor_id,
        k.process,
        k["_id"].label("item_id"),
        k.opened_month,
        k.answered,
        k.response_ms,
        k.within_target,
        k.target_due,
    ).where(k.rule.is_(None), _any(tests))  # fmt: skip


def groups_of(groups: Sequence[EvidenceGroup], table: str) -> list[EvidenceGroup]:
    return [g for g in groups if KPI_TABLE.get(g.kpi) == table]


@dataclass(frozen=True)
class EvidenceRows:
    """What the evidence queries read: the groups asked for and the candidate rows per table."""

    groups: tuple[EvidenceGroup, ...]
    work_items: pl.DataFrame
    requests: pl.DataFrame
