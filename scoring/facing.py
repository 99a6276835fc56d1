"""The score table as a vendor may see it (contract section 12).

A vendor-facing document withholds the cost dimension. Showing the composite of
all four dimensions beside the three it shows would let the vendor work out its
cost score, and from it and its own prices the in-house cost. So everything a
vendor-facing document shows is recomputed here from the dimensions it shows
only: composite (weights renormalised over them), standing, rank, the previous
period's composite and whether the change is real. Every figure that rests on
the in-house cost is null in this table, so nothing downstream can show it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import polars as pl

from scorecard.config import DIMENSIONS, Config
from scoring import metrics as m
from scoring.significance import COMPOSITE_RATES
from scoring.table import rankable

WITHHELD = ("cost",)
"""The dimensions a vendor-facing document does not show."""

# Every figure that rests on the in-house cost model (or on the cost dimension).
IN_HOUSE_COST_COLUMNS = (
    "cost_ratio", "cost_score", "in_house_cost_per_unit", "tco_per_unit", "savings_vs_in_house",
)  # fmt: skip


def shown_dimensions(withheld: Sequence[str] = WITHHELD) -> list[str]:
    return [d for d in DIMENSIONS if d not in withheld]


def facing_composite(weights: dict[str, float], withheld: Sequence[str] = WITHHELD) -> pl.Expr:
    """Weighted mean of the shown dimensions' scores, renormalised over those not null."""
    shown = shown_dimensions(withheld)
    return m.composite_score(
        {d: pl.col(f"{d}_score") for d in shown}, {d: weights[d] for d in shown}
    )


def vendor_facing_table(
    table: pl.DataFrame, config: Config, period_order: Sequence[str]
) -> pl.DataFrame:
    """The score table with the withheld dimensions gone and what rests on them recomputed.

    period_order: the period labels oldest first (for the previous composite).
    """
    weights = config.scoring.weights.model_dump()
    present = [c for c in IN_HOUSE_COST_COLUMNS if c in table.columns]
    facing = table.with_columns(
        *[pl.lit(None, table.schema[c]).alias(c) for c in present],
        facing_composite(weights).round(2).alias("composite_score"),
    )
    min_items = config.scoring.min_rank_items
    facing = facing.with_columns(
        m.standing(pl.col("composite_score"), config.scoring.standings).alias("standing"),
        pl.when(rankable(min_items))
        .then(
            pl.when(rankable(min_items))
            .then(pl.col("composite_score"))
            .rank("min", descending=True)
            .over("period")
        )
        .cast(table.schema.get("rank", pl.Int64))
        .alias("rank"),
    )
    previous = pl.DataFrame(
        {
            "period": [later for _, later in itertools.pairwise(period_order)],
            "_earlier": [earlier for earlier, _ in itertools.pairwise(period_order)],
        },
        schema={"period": pl.String, "_earlier": pl.String},
    )
    earlier = facing.select(
        "vendor_id",
        "process",
        pl.col("period").alias("_earlier"),
        pl.col("composite_score").alias("_previous_composite"),
    )
    joined = (
        facing.with_row_index("_order")
        .join(previous, on="period", how="left")
        .join(earlier, on=["vendor_id", "process", "_earlier"], how="left")
        .sort("_order")
    )
    both = pl.col("composite_score").is_not_null() & pl.col("_previous_composite").is_not_null()
    real = pl.any_horizontal(
        *[pl.col(f"{rate}_change_significant").fill_null(False) for rate in COMPOSITE_RATES]
    )
    columns = {
        "previous_composite_score": pl.col("_previous_composite"),
        "composite_change_significant": pl.when(both).then(real).otherwise(None),
    }
    return joined.with_columns(
        expr.alias(name) for name, expr in columns.items() if name in table.columns
    ).select(table.columns)
