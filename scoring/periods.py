"""Reporting periods (contract section 2)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from extract.summaries import Window

PeriodKind = Literal["month", "quarter"]


@dataclass(frozen=True)
class Period:
    label: str
    start: dt.date
    end: dt.date
    """The last day included: the as-of day for the current period."""
    is_current: bool

    @property
    def window_start(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time())

    @property
    def window_end(self) -> dt.datetime:
        """Exclusive end: midnight after the last day included."""
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time())


def _months_into_fiscal_year(day: dt.date, fiscal_start: int) -> int:
    """0 for the fiscal year's first month, 11 for its last."""
    return (day.month - fiscal_start) % 12


def _period_start(day: dt.date, kind: PeriodKind, fiscal_start: int = 1) -> dt.date:
    if kind == "month":
        return day.replace(day=1)
    back = _months_into_fiscal_year(day, fiscal_start) % 3
    month_index = day.year * 12 + day.month - 1 - back
    return dt.date(month_index // 12, month_index % 12 + 1, 1)


def _previous_start(start: dt.date, kind: PeriodKind, fiscal_start: int = 1) -> dt.date:
    return _period_start(start - dt.timedelta(days=1), kind, fiscal_start)


def _label(start: dt.date, kind: PeriodKind, fiscal_start: int = 1) -> str:
    """`2026-09`, `2026-Q3`; fiscal quarters are `FY2027-Q1`, named for the year the FY ends in."""
    if kind == "month":
        return f"{start.year}-{start.month:02d}"
    quarter = _months_into_fiscal_year(start, fiscal_start) // 3 + 1
    if fiscal_start == 1:
        return f"{start.year}-Q{quarter}"
    fiscal_year = start.year + (1 if start.month >= fiscal_start else 0)
    return f"FY{fiscal_year}-Q{quarter}"


def periods_for(
    as_of: dt.date, kind: PeriodKind, history: int, fiscal_year_start_month: int = 1
) -> list[Period]:
    """The `history` full periods before the one holding `as_of`, then that one; oldest first.

    Quarters start in the fiscal year's first month (`fiscal_year_start_month`, 1 = January,
    calendar quarters); `start` and `end` are always real dates.
    """
    fiscal = fiscal_year_start_month
    current_start = _period_start(as_of, kind, fiscal)
    periods = [Period(_label(current_start, kind, fiscal), current_start, as_of, True)]
    start = current_start
    for _ in range(history):
        end = start - dt.timedelta(days=1)
        start = _previous_start(start, kind, fiscal)
        periods.append(Period(_label(start, kind, fiscal), start, end, False))
    return list(reversed(periods))


def default_as_of(today: dt.date | None = None) -> dt.date:
    """Yesterday, UTC."""
    today = today or dt.datetime.now(dt.UTC).date()
    return today - dt.timedelta(days=1)


def fiscal_year_start(day: dt.date, fiscal_year_start_month: int = 1) -> dt.date:
    """The first day of the (fiscal) year holding `day`: January 1st for calendar years."""
    year = day.year if day.month >= fiscal_year_start_month else day.year - 1
    return dt.date(year, fiscal_year_start_month, 1)


def fiscal_year_label(day: dt.date, fiscal_year_start_month: int = 1) -> str:
    """`2026` for a calendar year; `FY2027` for a fiscal year, named for the year it ends in."""
    if fiscal_year_start_month == 1:
        return str(day.year)
    start = fiscal_year_start(day, fiscal_year_start_month)
    return f"FY{start.year + 1}"


def months_of(periods: Sequence[Period]) -> list[Period]:
    """The calendar months the periods cover, oldest first; the last ends on the as-of day.

    Service levels are measured per month whatever the reported period
    (contract section 9), and the extract stage sums due dates per month so
    that months and quarters both come from one read.
    """
    months: list[Period] = []
    for period in periods:
        start = period.start
        while start <= period.end:
            following = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
            end = min(following - dt.timedelta(days=1), period.end)
            months.append(Period(_label(start, "month"), start, end, period.is_current))
            start = following
    return months


def month_is_over(month: Period) -> bool:
    """A month cut short by the as-of day is not over: its figures are provisional."""
    return (month.end + dt.timedelta(days=1)).day == 1


def window_of(periods: Sequence[Period], median: bool = False) -> Window:
    """The extract stage's view of the periods: what to read, and how to cut it.

    Cut by calendar month, whatever the period: service levels are measured
    per month (contract section 9) and a quarter is the sum of its months. The periods
    themselves are kept for what cannot be summed from months: a median (ranked only with
    `median`: `scoring.median_turnaround`).
    """
    return Window(tuple(months_of(periods)), tuple(periods), median)
