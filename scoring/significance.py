"""Signal or noise: is a period-on-period change of a rate likely real?

Method: the two-proportion z-test with a pooled proportion. For a rate that is
x1 of n1 in the previous period and x2 of n2 in this one,

    p = (x1 + x2) / (n1 + n2),  z = (x2/n2 - x1/n1) / sqrt(p (1 - p) (1/n1 + 1/n2))

and the change is significant when |z| >= `scoring.significance_z` (default
2.576: 1 % two-sided, strict because a pack tests hundreds of changes at
once). Without a sample on either side the test is null (not tested); when
both samples are all successes or all failures the rates are equal and z = 0.

The composite moves with its inputs: its change counts as real when at least
one of its sampled inputs (accuracy, on-time rate, responses within target)
changed significantly, or when its cost score moved (the cost ratio comes
from invoices, not from a sample, so it has no sampling noise to test).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from scoring.catalogue import BUILT_IN_CATALOGUE, Catalogue

# Each tested built-in rate: (successes, trials) as expressions over the KPI inputs of a row.
TESTED_RATES: dict[str, tuple[pl.Expr, pl.Expr]] = {
    kpi.name: (kpi.successes, kpi.trials) for kpi in BUILT_IN_CATALOGUE.rates
}
# The composite's sampled inputs: the rates that are dimensions (its cost input is a ratio of
# invoices, tested as "did it move at all").
COMPOSITE_RATES = [kpi.name for kpi in BUILT_IN_CATALOGUE.rates if kpi.dimension is not None]


def change_columns(rate: str) -> list[str]:
    return [f"previous_{rate}", f"{rate}_change_z", f"{rate}_change_significant"]


# After the contract's columns and the KPI inputs, in this order (scores.csv, scores.json).
SIGNIFICANCE_COLUMNS = [
    *[
        column
        for rate in TESTED_RATES
        for column in (f"previous_{rate}", f"{rate}_change_z", f"{rate}_change_significant")
    ],
    "previous_composite_score",
    "composite_change_significant",
]


def two_proportion_z(
    successes_before: pl.Expr, trials_before: pl.Expr, successes_now: pl.Expr, trials_now: pl.Expr
) -> pl.Expr:
    """Pooled two-proportion z statistic of (now - before); null without trials on either side."""
    n1, n2 = trials_before.cast(pl.Float64), trials_now.cast(pl.Float64)
    p1, p2 = successes_before / n1, successes_now / n2
    pooled = (successes_before + successes_now) / (n1 + n2)
    spread = (pooled * (1 - pooled) * (1 / n1 + 1 / n2)).sqrt()
    return (
        pl.when((n1 <= 0) | (n2 <= 0) | n1.is_null() | n2.is_null())
        .then(None)
        .when(spread == 0)
        .then(0.0)
        .otherwise((p2 - p1) / spread)
    )


def with_changes(
    table: pl.DataFrame,
    previous_label: dict[str, str],
    z: float,
    kpis: Catalogue = BUILT_IN_CATALOGUE,
    weighted: Sequence[str] = (),
) -> pl.DataFrame:
    """Add SIGNIFICANCE_COLUMNS: each row against the same vendor and process one period earlier,
    then the change columns of each declared rate (`change_columns`).

    `previous_label` maps each period label to the label of the period before it
    (the oldest period has none, so its comparisons are null). `weighted`: the declared KPIs
    in the composite: a significant change of a declared rate, or a move of a declared mean's
    score, makes the composite's change real too.
    """
    tested = {kpi.name: (kpi.successes, kpi.trials) for kpi in kpis.rates}
    declared_rates = [kpi.name for kpi in kpis.declared if kpi.is_rate]
    declared_means = [kpi.name for kpi in kpis.declared if not kpi.is_rate and kpi.name in weighted]
    keys = ["vendor_id", "process"]
    counts = {rate: (f"_x_{rate}", f"_n_{rate}") for rate in tested}
    earlier = table.select(
        *keys,
        pl.col("period").alias("_earlier"),
        *[pl.col(rate).alias(f"previous_{rate}") for rate in tested],
        pl.col("composite_score").alias("previous_composite_score"),
        pl.col("cost_score").alias("_previous_cost_score"),
        *[pl.col(f"{mean}_score").alias(f"_previous_{mean}_score") for mean in declared_means],
        *[x.alias(counts[rate][0]) for rate, (x, _) in tested.items()],
        *[n.alias(counts[rate][1]) for rate, (_, n) in tested.items()],
    )
    mapping = pl.DataFrame(
        {"period": list(previous_label), "_earlier": list(previous_label.values())},
        schema={"period": pl.String, "_earlier": pl.String},
    )
    joined = (
        table.with_row_index("_order")
        .join(mapping, on="period", how="left")
        .join(earlier, on=[*keys, "_earlier"], how="left")
        .sort("_order")
    )
    z_columns = []
    for rate, (x, n) in tested.items():
        x_before, n_before = counts[rate]
        z_columns.append(
            two_proportion_z(pl.col(x_before), pl.col(n_before), x, n).alias(f"{rate}_change_z")
        )
    joined = joined.with_columns(z_columns).with_columns(
        [
            (pl.col(f"{rate}_change_z").abs() >= z).alias(f"{rate}_change_significant")
            for rate in tested
        ]
    )
    both_scored = (
        pl.col("composite_score").is_not_null() & pl.col("previous_composite_score").is_not_null()
    )
    cost_moved = (pl.col("cost_score") - pl.col("_previous_cost_score")).abs() >= 1
    means_moved = [
        ((pl.col(f"{mean}_score") - pl.col(f"_previous_{mean}_score")).abs() >= 1).fill_null(False)
        for mean in declared_means
    ]
    sampled = [*COMPOSITE_RATES, *[rate for rate in declared_rates if rate in weighted]]
    real_input = pl.any_horizontal(
        *[pl.col(f"{rate}_change_significant").fill_null(False) for rate in sampled],
        cost_moved.fill_null(False),
        *means_moved,
    )
    joined = joined.with_columns(
        pl.when(both_scored).then(real_input).otherwise(None).alias("composite_change_significant"),
        *[pl.col(f"{rate}_change_z").round(3) for rate in tested],
    )
    return joined.select(
        *table.columns,
        *SIGNIFICANCE_COLUMNS,
        *[column for rate in declared_rates for column in change_columns(rate)],
    )
