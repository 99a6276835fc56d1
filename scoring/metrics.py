"""Each KPI and score as a small pure function: polars expressions in, an expression out.

Every ratio with a zero (or null) denominator is null, never 0, 100 or an
error (contract section 3).
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from scorecard.config import Band, Standings

NOT_SCORED = "not scored"


def ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    return pl.when(denominator != 0).then(numerator / denominator).otherwise(None)


def accuracy(defects: pl.Expr, qa_checked_units: pl.Expr) -> pl.Expr:
    return 1 - ratio(defects, qa_checked_units)


def rework_rate(reworked_items: pl.Expr, items_completed: pl.Expr) -> pl.Expr:
    return ratio(reworked_items, items_completed)


def on_time_rate(items_on_time: pl.Expr, items_due: pl.Expr) -> pl.Expr:
    return ratio(items_on_time, items_due)


def mean_turnaround_hours(turnaround_hours_total: pl.Expr, items_completed: pl.Expr) -> pl.Expr:
    return ratio(turnaround_hours_total, items_completed)


def median_hours(middles_ms: pl.Expr, items_ranked: pl.Expr, items: pl.Expr) -> pl.Expr:
    """The median, in hours, from its lower and upper middle values added up (in ms): their
    mean. Null with no item, and when not every item was ranked in this period (a month of a
    quarterly report: the database ranked the quarter's items)."""
    return (
        pl.when((items > 0) & (items_ranked == items)).then(middles_ms / 7_200_000).otherwise(None)
    )


def mean_first_response_hours(response_hours_total: pl.Expr, requests_answered: pl.Expr) -> pl.Expr:
    return ratio(response_hours_total, requests_answered)


def response_within_target_rate(within_target: pl.Expr, target_due: pl.Expr) -> pl.Expr:
    return ratio(within_target, target_due)


def cost_per_unit(spend: pl.Expr, billed_units: pl.Expr) -> pl.Expr:
    return ratio(spend, billed_units)


def tco_per_unit(cost_per_unit: pl.Expr, governance_overhead: float) -> pl.Expr:
    return cost_per_unit * (1 + governance_overhead)


def cost_ratio(tco_per_unit: pl.Expr, in_house_cost_per_unit: pl.Expr) -> pl.Expr:
    return ratio(tco_per_unit, in_house_cost_per_unit)


def savings_vs_in_house(
    in_house_cost_per_unit: pl.Expr, tco_per_unit: pl.Expr, units_completed: pl.Expr
) -> pl.Expr:
    return (in_house_cost_per_unit - tco_per_unit) * units_completed


def hours_from_milliseconds(milliseconds: pl.Expr) -> pl.Expr:
    return milliseconds / 3_600_000


def dimension_score(kpi: pl.Expr, band: Band) -> pl.Expr:
    """0 at the floor, 100 at the target, linear between, clamped (works for falling KPIs too)."""
    position = (kpi - band.floor) / (band.target - band.floor)
    return (position.clip(0.0, 1.0) * 100).cast(pl.Float64)


def composite_score(scores: Mapping[str, pl.Expr], weights: Mapping[str, float]) -> pl.Expr:
    """Weighted mean of the scores that are not null; null when all are null."""
    weighted = pl.sum_horizontal([s * weights[d] for d, s in scores.items()])
    weight_present = pl.sum_horizontal(
        [
            pl.when(s.is_not_null()).then(pl.lit(weights[d], pl.Float64)).otherwise(0.0)
            for d, s in scores.items()
        ]
    )
    return ratio(weighted, weight_present)


def standing(composite: pl.Expr, thresholds: Standings) -> pl.Expr:
    return (
        pl.when(composite.is_null())
        .then(pl.lit(NOT_SCORED))
        .when(composite >= thresholds.excellent)
        .then(pl.lit("excellent"))
        .when(composite >= thresholds.good)
        .then(pl.lit("good"))
        .when(composite >= thresholds.watch)
        .then(pl.lit("watch"))
        .otherwise(pl.lit("critical"))
    )


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float] | None:
    """95 % Wilson score interval for a proportion; None without trials.

    Unlike the normal approximation it stays inside 0..1 and is honest for
    small samples and rates near 100 %, which is where vendor KPIs live.
    """
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * ((p * (1 - p) / trials + z * z / (4 * trials * trials)) ** 0.5) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)
