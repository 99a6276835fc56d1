"""Control charts: each vendor's quality and timeliness, month by month, as p-charts.

The standard tool of a BPO quality team: is a month's rate explained by the
ordinary month-to-month variation of the process (common cause), or did
something happen (special cause)?

- Points: one per calendar month of the history that has a sample.
  Quality is the accuracy of the items completed in the month (1 - defects /
  checked units); timeliness is the share of the items completed in the month
  with a deadline in the periods shown that met it (an item still open has no
  month yet, so the period KPI, which counts it late, can be lower).
- Centre line: the rate over all those months (sum of successes / sum of trials).
- Limits: centre ± 3 sigma, sigma from each month's own sample size,
  sqrt(p (1 - p) / n). With large samples real processes vary more from month
  to month than the binomial allows, and plain limits flag nearly every
  month. So Laney's p' is used when the months' z-scores spread wider than
  chance: sigma_z = median moving range of z / 0.954 (the median keeps one
  wild month from widening its own limits); when sigma_z > 1 the limits become
  centre ± 3 sigma sigma_z. Limits are clipped to 0-100 %.
- Special-cause signals: a month outside the limits; eight months in a row
  on the same side of the centre line (a month exactly on it breaks the run).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from extract.summaries import denominator_column, numerator_column
from scoring.catalogue import Catalogue, Kpi

MEASURES = {"quality": "Quality (accuracy)", "timeliness": "Timeliness (completed on time)"}
RUN_LENGTH = 8
# Fewer months than this make no chart: two points have no ordinary variation to compare with.
MIN_MONTHS = 3
SIGMA_LIMITS = 3.0
# Median moving range of standard normal data: d2-like constant for the median.
MEDIAN_MOVING_RANGE = 0.954


@dataclass(frozen=True)
class Signal:
    measure: str
    kind: str
    """"outside" (a month beyond a limit) or "run" (eight in a row on one side)."""
    first_month: str
    last_month: str
    better: bool
    """Above the centre line: rates here are shares of good outcomes."""

    @property
    def months(self) -> str:
        return (
            self.first_month
            if self.first_month == self.last_month
            else f"{self.first_month} to {self.last_month}"
        )

    @property
    def description(self) -> str:
        side = "above" if self.better else "below"
        if self.kind == "outside":
            return (
                f"outside the limits, {side} (better)"
                if self.better
                else f"outside the limits, {side} (worse)"
            )
        return f"{RUN_LENGTH} or more months in a row {side} the centre line"


@dataclass(frozen=True)
class ControlChart:
    measure: str
    months: list[str]
    rates: list[float]
    trials: list[int]
    centre: float
    lower: list[float]
    upper: list[float]
    method: str
    """"p" or "Laney p'"."""
    sigma_z: float | None
    signals: list[Signal] = field(default_factory=list)
    title: str = ""
    """A declared rate's title (the built-in measures' titles are MEASURES)."""


def charted_rates(kpis: Catalogue) -> dict[str, Kpi]:
    """The declared rates that get a control chart: every one whose rows have a month, those of
    work items counted when completed (the month completed, as for the two built-in measures)
    and those of requests (the month opened). Work items counted when due or received are
    summed per reported period, not per day, so they have no month to chart."""
    return {
        kpi.name: kpi
        for kpi in kpis.declared
        if kpi.is_rate
        and (kpi.table, kpi.counted_when) in (("work_items", "completed"), ("requests", "opened"))
    }


def measure_titles(kpis: Catalogue) -> dict[str, str]:
    """Each charted measure's title: the two built-in ones, then the declared rates."""
    return {**MEASURES, **{name: kpi.title for name, kpi in charted_rates(kpis).items()}}


def _declared_monthly(
    days: pl.DataFrame, day: str, rates: dict[str, Kpi], table: str
) -> list[pl.DataFrame]:
    """Per vendor, declared rate of `table` and month of `day`: successes and trials."""
    summed = [
        name
        for name, kpi in rates.items()
        if kpi.table == table and numerator_column(name) in days.columns  # summed by the extract
    ]
    if not summed:
        return []
    sums = (
        days.filter(pl.col(day).is_not_null())
        .with_columns(pl.col(day).dt.truncate("1mo").alias("month"))
        .group_by("vendor_id", "month")
        .agg(
            *[pl.col(numerator_column(name)).sum().alias(f"{name}_x") for name in summed],
            *[pl.col(denominator_column(name)).sum().alias(f"{name}_n") for name in summed],
        )
    )
    return [_measure(sums, name) for name in summed]


def _measure(sums: pl.DataFrame, measure: str) -> pl.DataFrame:
    return sums.select(
        "vendor_id",
        pl.lit(measure).alias("measure"),
        "month",
        pl.col(f"{measure}_x").fill_null(0).cast(pl.Int64).alias("successes"),
        pl.col(f"{measure}_n").fill_null(0).cast(pl.Int64).alias("trials"),
    )


def monthly_rates(
    item_days: pl.DataFrame,
    kpis: Catalogue | None = None,
    request_days: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Per vendor, measure and month: successes and trials (vendor level, all processes);
    with `kpis`, the declared rates of `charted_rates` too (those of requests from
    `request_days`, by the month opened)."""
    declared = charted_rates(kpis) if kpis is not None else {}
    completed = item_days.filter(pl.col("completed_day").is_not_null()).with_columns(
        pl.col("completed_day").dt.truncate("1mo").alias("month")
    )
    with_deadline = pl.col("due_period").is_not_null()
    sums = completed.group_by("vendor_id", "month").agg(
        (pl.col("qa_checked_units") - pl.col("defects")).sum().alias("quality_x"),
        pl.col("qa_checked_units").sum().alias("quality_n"),
        pl.col("items_on_time").filter(with_deadline).sum().alias("timeliness_x"),
        pl.col("items").filter(with_deadline).sum().alias("timeliness_n"),
    )
    parts = [
        *[_measure(sums, measure) for measure in MEASURES],
        *_declared_monthly(item_days, "completed_day", declared, "work_items"),
        *(
            _declared_monthly(request_days, "opened_day", declared, "requests")
            if request_days is not None
            else []
        ),
    ]
    return pl.concat(parts).filter(pl.col("trials") > 0).sort("vendor_id", "measure", "month")


def by_vendor(monthly: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Split once, so each vendor's scorecard finds its rows in constant time."""
    return {
        str(key[0]): frame for key, frame in monthly.partition_by("vendor_id", as_dict=True).items()
    }


def p_chart(measure: str, months: Sequence[dt.date], successes: Sequence[int],
            trials: Sequence[int], higher_is_better: bool = True) -> ControlChart | None:  # fmt: skip
    """The chart of one measure; None with fewer than MIN_MONTHS months that have a sample."""
    points = [(m, x, n) for m, x, n in zip(months, successes, trials, strict=True) if n > 0]
    if len(points) < MIN_MONTHS:
        return None
    labels = [m.strftime("%Y-%m") for m, _, _ in points]
    rates = [x / n for _, x, n in points]
    ns = [n for _, _, n in points]
    centre = sum(x for _, x, _ in points) / sum(ns)
    sigmas = [math.sqrt(centre * (1 - centre) / n) for n in ns]
    sigma_z: float | None = None
    method = "p"
    if centre not in (0.0, 1.0):
        z = [(p - centre) / s for p, s in zip(rates, sigmas, strict=True)]
        moving_ranges = [abs(b - a) for a, b in itertools.pairwise(z)]
        sigma_z = statistics.median(moving_ranges) / MEDIAN_MOVING_RANGE
        if sigma_z > 1:
            method = "Laney p'"
            sigmas = [s * sigma_z for s in sigmas]
    lower = [max(0.0, centre - SIGMA_LIMITS * s) for s in sigmas]
    upper = [min(1.0, centre + SIGMA_LIMITS * s) for s in sigmas]
    chart = ControlChart(measure, labels, rates, ns, centre, lower, upper, method, sigma_z)
    chart.signals.extend(special_causes(chart, higher_is_better))
    return chart


def special_causes(chart: ControlChart, higher_is_better: bool = True) -> list[Signal]:
    """Months outside the limits, and runs of eight or more on one side of the centre line
    (above it is better unless the rate is one where lower is better)."""
    found = []
    for label, rate, low, high in zip(
        chart.months, chart.rates, chart.lower, chart.upper, strict=True
    ):
        if low == high:
            continue  # no variation at all (every month 0 % or 100 %): nothing to judge
        if rate > high or rate < low:
            found.append(
                Signal(chart.measure, "outside", label, label, (rate > high) == higher_is_better)
            )
    sides = [(rate > chart.centre) - (rate < chart.centre) for rate in chart.rates]
    position = 0
    for side, run in itertools.groupby(sides):
        length = len(list(run))
        if side != 0 and length >= RUN_LENGTH:
            first, last = chart.months[position], chart.months[position + length - 1]
            found.append(Signal(chart.measure, "run", first, last, (side > 0) == higher_is_better))
        position += length
    return found


def vendor_charts(
    monthly: pl.DataFrame | None, kpis: Catalogue | None = None
) -> list[ControlChart]:
    """Each measure's chart for one vendor's rows of `monthly_rates` (None: no rows)."""
    if monthly is None:
        return []
    declared = charted_rates(kpis) if kpis is not None else {}
    charts = []
    for measure in [*MEASURES, *declared]:
        rows = monthly.filter(pl.col("measure") == measure).sort("month")
        chart = p_chart(
            measure,
            rows.get_column("month").to_list(),
            rows.get_column("successes").to_list(),
            rows.get_column("trials").to_list(),
            declared[measure].higher_is_better if measure in declared else True,
        )
        if chart is not None and measure in declared:
            chart = dataclasses.replace(chart, title=declared[measure].title)
        if chart is not None:
            charts.append(chart)
    return charts
