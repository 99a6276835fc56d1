"""Reporting periods (contract section 2)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

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


def _period_start(day: dt.date, kind: PeriodKind) -> dt.date:
    if kind == "month":
        return day.replace(day=1)
    return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)


def _previous_start(start: dt.date, kind: PeriodKind) -> dt.date:
    return _period_start(start - dt.timedelta(days=1), kind)


def _label(start: dt.date, kind: PeriodKind) -> str:
    if kind == "month":
        return f"{start.year}-{start.month:02d}"
    return f"{start.year}-Q{(start.month - 1) // 3 + 1}"


def periods_for(as_of: dt.date, kind: PeriodKind, history: int) -> list[Period]:
    """The `history` full periods before the one holding `as_of`, then that one; oldest first."""
    current_start = _period_start(as_of, kind)
    periods = [Period(_label(current_start, kind), current_start, as_of, True)]
    start = current_start
    for _ in range(history):
        end = start - dt.timedelta(days=1)
        start = _previous_start(start, kind)
        periods.append(Period(_label(start, kind), start, end, False))
    return list(reversed(periods))


def default_as_of(today: dt.date | None = None) -> dt.date:
    """Yesterday, UTC."""
    today = today or dt.datetime.now(dt.UTC).date()
    return today - dt.timedelta(days=1)


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
