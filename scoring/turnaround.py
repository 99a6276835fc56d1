"""The median turnaround, beside the mean: skewed durations are the rule in real logs.

The database counts the good items completed per vendor, process, day and turnaround in
whole minutes (extract.summaries.turnaround_minutes_query); the median is read off those
counts: the middle item's turnaround, or the mean of the two middle ones, in hours.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from scoring.periods import Period

ALL_PROCESSES = "ALL"
MINUTES_PER_HOUR = 60


def median_minutes(counts: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Per `keys`: the median of `minutes` over `items` items (null-free; no items, no row)."""
    per_value = counts.group_by(*keys, "minutes").agg(pl.col("items").sum()).sort(*keys, "minutes")
    ranked = per_value.with_columns(
        pl.col("items").cum_sum().over(keys).alias("_through"),
        pl.col("items").sum().over(keys).alias("_n"),
    )
    lower = (pl.col("_n") + 1) // 2  # the middle item, or the first of the two middle ones
    upper = pl.col("_n") // 2 + 1
    return ranked.group_by(keys).agg(
        (
            (
                pl.col("minutes").filter(pl.col("_through") >= lower).min()
                + pl.col("minutes").filter(pl.col("_through") >= upper).min()
            )
            / 2
        ).alias("median_minutes")
    )


def median_turnaround_hours(counts: pl.DataFrame, periods: Sequence[Period]) -> pl.DataFrame:
    """vendor_id, process (and ALL), period, median_turnaround_hours of the items completed."""
    frames = []
    for period in periods:
        inside = counts.filter(pl.col("completed_day").is_between(period.start, period.end))
        for keys, all_row in ((["vendor_id", "process"], False), (["vendor_id"], True)):
            median = median_minutes(inside, keys)
            if all_row:
                median = median.with_columns(pl.lit(ALL_PROCESSES).alias("process"))
            frames.append(
                median.select(
                    "vendor_id",
                    "process",
                    pl.lit(period.label).alias("period"),
                    (pl.col("median_minutes") / MINUTES_PER_HOUR)
                    .round(2, mode="half_to_even")
                    .alias("median_turnaround_hours"),
                )
            )
    schema = {
        "vendor_id": pl.String,
        "process": pl.String,
        "period": pl.String,
        "median_turnaround_hours": pl.Float64,
    }
    if not frames:
        return pl.DataFrame(schema=schema)
    return pl.concat(frames).cast(schema)  # type: ignore[arg-type]
