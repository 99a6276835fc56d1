"""Build the score table: one row per vendor x process x period, plus `ALL` rows per vendor.

The flow is: sum numerators and denominators per group and window, then turn
those sums into KPIs with the functions of `metrics`. `ALL` rows re-use the
same functions on sums over processes, which is exactly the contract's
"ratio of the summed numerators and denominators".
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence

import polars as pl

from extract.activity import Activity
from extract.summaries import denominator_column, numerator_column
from scorecard.config import DIMENSIONS, Config, DeclaredKpi
from scoring import metrics as m
from scoring.catalogue import DIMENSION_KPI, catalogue
from scoring.periods import Period, months_of
from scoring.significance import SIGNIFICANCE_COLUMNS, change_columns, with_changes

ALL_PROCESSES = "ALL"
IN_HOUSE = "in_house"

# Exactly these columns first, in this order (contract section 5).
CONTRACT_COLUMNS = [
    "period", "period_start", "period_end", "is_current", "vendor_id", "vendor_name",
    "sourcing", "process", "work_items_completed", "units_completed", "accuracy",
    "rework_rate", "on_time_rate", "mean_turnaround_hours", "requests_opened",
    "response_within_target_rate", "mean_first_response_hours", "spend", "cost_per_unit",
    "tco_per_unit", "in_house_cost_per_unit", "cost_ratio", "savings_vs_in_house",
    "accuracy_score", "speed_score", "cost_score", "responsiveness_score",
    "composite_score", "standing", "rank",
]  # fmt: skip

# The inputs behind each KPI, after the contract's columns, so any figure can be recomputed.
INPUT_COLUMNS = [
    "defects", "qa_checked_units", "reworked_items", "items_due", "items_on_time",
    "requests_answered", "requests_within_target", "requests_target_due", "billed_units",
]  # fmt: skip

_SUMS = [
    "work_items_completed", "units_completed", "defects", "qa_checked_units",
    "reworked_items", "turnaround_hours_total", "items_due", "items_on_time",
    "billed_units", "requests_opened", "requests_answered", "response_hours_total",
    "requests_within_target", "requests_target_due", "spend",
]  # fmt: skip

_KEYS = ["vendor_id", "process"]
__all__ = ["DIMENSION_KPI"]


def declared_sums(kpis: dict[str, DeclaredKpi]) -> list[str]:
    """The score-table columns a declared KPI sums: its numerator and denominator."""
    return [c for name in kpis for c in (f"{name}_numerator", f"{name}_denominator")]


def declared_columns(config: Config) -> list[str]:
    """After every other column of scores.csv, per declared KPI in config order (section 10)."""
    columns = []
    for name, kpi in config.kpis.items():
        columns += [name, f"{name}_numerator", f"{name}_denominator", f"{name}_score"]
        if kpi.kind == "rate":
            columns += change_columns(name)
    return columns


def _declared_period_sums(
    kpis: dict[str, DeclaredKpi], windows: dict[str, pl.Expr], summed: Sequence[str]
) -> list[pl.Expr]:
    """Each declared KPI's numerator and denominator over the rows it counts in the period
    (a mean's numerator is its values' sum times its scale). A KPI the extract did not sum
    (`summed`: the summary's columns) is not measured: null, never 0."""
    sums = []
    for name, kpi in kpis.items():
        if numerator_column(name) not in summed or kpi.when not in windows:
            sums += [
                pl.lit(None, pl.Float64).alias(f"{name}_numerator"),
                pl.lit(None, pl.Int64).alias(f"{name}_denominator"),
            ]
            continue
        counted = windows[kpi.when]
        numerator = pl.col(numerator_column(name)).filter(counted).sum()
        if kpi.value is not None:
            numerator = numerator.cast(pl.Float64) * kpi.value.scale
        sums += [
            numerator.alias(f"{name}_numerator"),
            pl.col(denominator_column(name)).filter(counted).sum().alias(f"{name}_denominator"),
        ]
    return sums


def _table_kpis(config: Config, table: str) -> dict[str, DeclaredKpi]:
    return {name: kpi for name, kpi in config.kpis.items() if kpi.table == table}


def billed_days(charges: pl.DataFrame, first_day: dt.date, last_day: dt.date) -> pl.DataFrame:
    """The days each (vendor, process) has some charge for, as ranges clipped to the window.

    Arithmetic on the ranges, never one row per day: an open-ended charge
    (service_end 9999-12-31) is one row like any other.
    """
    return (
        charges.select(
            *_KEYS,
            pl.max_horizontal("service_start", pl.lit(first_day)).alias("first"),
            pl.min_horizontal("service_end", pl.lit(last_day)).alias("last"),
        )
        .filter(pl.col("first") <= pl.col("last"))
        .unique()
    )


def mark_billed(item_days: pl.DataFrame, charges: pl.DataFrame) -> pl.DataFrame:
    """Add `billed`: the items were completed on a day a charge of their vendor and process covers."""
    completed = item_days.get_column("completed_day").drop_nulls()
    if completed.is_empty():
        return item_days.with_columns(pl.lit(False).alias("billed"))
    ranges = billed_days(charges, completed.min(), completed.max())  # type: ignore[arg-type]
    days = (
        item_days.select(*_KEYS, "completed_day")
        .drop_nulls()
        .unique()
        .join(ranges, on=_KEYS)
        .filter(pl.col("completed_day").is_between("first", "last"))
        .select(*_KEYS, "completed_day", pl.lit(True).alias("billed"))
        .unique()
    )
    return item_days.join(days, on=[*_KEYS, "completed_day"], how="left").with_columns(
        pl.col("billed").fill_null(False)
    )


def _zero_sums(declared: Sequence[str] = ()) -> list[pl.Expr]:
    """A group with no rows in a window has summed nothing: 0, not null."""
    return [pl.col(c).fill_null(0.0 if c == "spend" else 0) for c in [*_SUMS, *declared]]


def work_item_sums(
    item_days: pl.DataFrame, period: Period, kpis: dict[str, DeclaredKpi] | None = None
) -> pl.DataFrame:
    """The work-item KPI inputs of one period, from the per-day sums the database made.

    The database has already cut completion at the as-of day (completed_day is
    null for an item not completed by then) and marked on-time items.
    """
    completed = pl.col("completed_day").is_between(period.start, period.end)
    # The extract sums due dates per calendar month (and per period when asked for periods).
    labels = [period.label, *(m.label for m in months_of([period]))]
    due = pl.col("due_period").is_in(labels)
    windows = {"completed": completed, "due": due}
    if "received_period" in item_days.columns:
        windows["received"] = pl.col("received_period").is_in(labels)
    return item_days.group_by(_KEYS).agg(
        pl.col("items").filter(completed).sum().alias("work_items_completed"),
        pl.col("units").filter(completed).sum().alias("units_completed"),
        pl.col("defects").filter(completed).sum().alias("defects"),
        pl.col("qa_checked_units").filter(completed).sum().alias("qa_checked_units"),
        pl.col("reworked_items").filter(completed).sum().alias("reworked_items"),
        m.hours_from_milliseconds(pl.col("turnaround_ms").filter(completed).sum()).alias(
            "turnaround_hours_total"
        ),
        pl.col("items").filter(due).sum().alias("items_due"),
        pl.col("items_on_time").filter(due).sum().alias("items_on_time"),
        pl.col("units").filter(completed & pl.col("billed")).sum().alias("billed_units"),
        *_declared_period_sums(kpis or {}, windows, item_days.columns),
    )


def request_sums(
    request_days: pl.DataFrame, period: Period, kpis: dict[str, DeclaredKpi] | None = None
) -> pl.DataFrame:
    """The request KPI inputs of one period (targets were applied in the database)."""
    opened = pl.col("opened_day").is_between(period.start, period.end)
    return (
        request_days.filter(opened)
        .group_by(_KEYS)
        .agg(
            pl.col("requests").sum().alias("requests_opened"),
            pl.col("requests_answered").sum(),
            m.hours_from_milliseconds(pl.col("response_ms").sum()).alias("response_hours_total"),
            pl.col("requests_within_target").sum(),
            pl.col("requests_target_due").sum(),
            *_declared_period_sums(kpis or {}, {"opened": pl.lit(True)}, request_days.columns),
        )
    )


def spread_amounts(first_day: dt.date, last_day: dt.date, rates: dict[str, float]) -> pl.Expr:
    """Each charge's amount spread evenly over its service days: the share of first..last, in base currency.

    Pure arithmetic on the date ranges, so an open-ended charge costs nothing extra.
    """
    first = pl.max_horizontal(pl.col("service_start"), pl.lit(first_day))
    last = pl.min_horizontal(pl.col("service_end"), pl.lit(last_day))
    days_in = ((last - first).dt.total_days() + 1).clip(lower_bound=0)
    days_total = (pl.col("service_end") - pl.col("service_start")).dt.total_days() + 1
    rate = pl.col("currency").replace_strict(rates, return_dtype=pl.Float64)
    return pl.col("amount") * rate * days_in / days_total


def spend_sums(charges: pl.DataFrame, period: Period, rates: dict[str, float]) -> pl.DataFrame:
    """Each charge spread evenly over its service days; the days inside the period count."""
    return (
        charges.with_columns(
            spread_amounts(period.start, period.end, rates).alias("spend"),
            (
                (pl.col("service_start") <= period.end) & (pl.col("service_end") >= period.start)
            ).alias("in_period"),
        )
        .filter(pl.col("in_period"))
        .group_by(_KEYS)
        .agg(pl.col("spend").sum(), pl.len().alias("charges_in_period"))
    )


def _period_sums(
    item_days: pl.DataFrame,
    request_days: pl.DataFrame,
    charges: pl.DataFrame,
    period: Period,
    rates: dict[str, float],
    config: Config,
) -> pl.DataFrame:
    joined = (
        work_item_sums(item_days, period, _table_kpis(config, "work_items"))
        .join(
            request_sums(request_days, period, _table_kpis(config, "requests")),
            on=_KEYS,
            how="full",
            coalesce=True,
        )
        .join(spend_sums(charges, period, rates), on=_KEYS, how="full", coalesce=True)
    )
    declared = declared_sums(config.kpis)
    filled = joined.with_columns(*_zero_sums(declared), pl.col("charges_in_period").fill_null(0))
    active = pl.any_horizontal(
        pl.col("work_items_completed") > 0,
        pl.col("items_due") > 0,
        pl.col("requests_opened") > 0,
        pl.col("charges_in_period") > 0,
        *[pl.col(f"{name}_denominator") > 0 for name in config.kpis],
    )
    return filled.filter(active).with_columns(
        pl.lit(period.label).alias("period"),
        pl.lit(period.start).alias("period_start"),
        pl.lit(period.end).alias("period_end"),
        pl.lit(period.is_current).alias("is_current"),
    )


def _kpis_from_sums(kpis: dict[str, DeclaredKpi] | None = None) -> list[pl.Expr]:
    """Every KPI from its summed numerator and denominator (a declared one: null without a
    trial or a value, contract section 10)."""
    c = pl.col
    return [
        *[
            m.ratio(c(f"{name}_numerator"), c(f"{name}_denominator")).alias(name)
            for name in (kpis or {})
        ],
        m.accuracy(c("defects"), c("qa_checked_units")).alias("accuracy"),
        m.rework_rate(c("reworked_items"), c("work_items_completed")).alias("rework_rate"),
        m.on_time_rate(c("items_on_time"), c("items_due")).alias("on_time_rate"),
        m.mean_turnaround_hours(c("turnaround_hours_total"), c("work_items_completed")).alias(
            "mean_turnaround_hours"
        ),
        m.response_within_target_rate(c("requests_within_target"), c("requests_target_due")).alias(
            "response_within_target_rate"
        ),
        m.mean_first_response_hours(c("response_hours_total"), c("requests_answered")).alias(
            "mean_first_response_hours"
        ),
        m.cost_per_unit(c("spend"), c("billed_units")).alias("cost_per_unit"),
    ]


def in_house_costs(process_rows: pl.DataFrame, config: Config) -> pl.DataFrame:
    """In-house cost per unit per process and period: measured from in-house charges, else the model."""
    measured = (
        process_rows.filter((pl.col("sourcing") == IN_HOUSE) & (pl.col("charges_in_period") > 0))
        .group_by("period", "process")
        .agg(m.cost_per_unit(pl.col("spend").sum(), pl.col("billed_units").sum()).alias("measured"))
    )
    model = pl.DataFrame(
        {
            "process": list(config.in_house),
            "modelled": [cost.cost_per_unit() for cost in config.in_house.values()],
        },
        schema={"process": pl.String, "modelled": pl.Float64},
    )
    return (
        process_rows.select("period", "process")
        .unique()
        .join(measured, on=["period", "process"], how="left")
        .join(model, on="process", how="left")
        .select(
            "period",
            "process",
            # Measured when in-house charges give a cost; the model when they do not.
            pl.coalesce("measured", "modelled").alias("in_house_cost_per_unit"),
        )
    )


def _process_costs(rows: pl.DataFrame, config: Config) -> pl.DataFrame:
    overhead = config.scoring.governance_overhead
    in_house = pl.col("sourcing") == IN_HOUSE
    with_costs = rows.join(in_house_costs(rows, config), on=["period", "process"], how="left")
    return with_costs.with_columns(
        pl.when(in_house)
        .then(pl.col("in_house_cost_per_unit"))
        .otherwise(m.tco_per_unit(pl.col("cost_per_unit"), overhead))
        .alias("tco_per_unit")
    ).with_columns(
        m.cost_ratio(pl.col("tco_per_unit"), pl.col("in_house_cost_per_unit")).alias("cost_ratio"),
        m.savings_vs_in_house(
            pl.col("in_house_cost_per_unit"), pl.col("tco_per_unit"), pl.col("units_completed")
        ).alias("savings_vs_in_house"),
    )


def _vendor_totals(
    process_rows: pl.DataFrame,
    vendors: pl.DataFrame,
    periods: Sequence[Period],
    kpis: dict[str, DeclaredKpi] | None = None,
) -> pl.DataFrame:
    """`ALL` rows: sums over processes, then the same KPI functions; cost as the contract weighs it."""
    has_in_house = (
        pl.col("in_house_cost_per_unit").is_not_null() & pl.col("tco_per_unit").is_not_null()
    )
    billed = pl.col("billed_units")
    declared = declared_sums(kpis or {})
    sums = process_rows.group_by("vendor_id", "period").agg(
        *[pl.col(c).sum() for c in [*_SUMS, *declared]],
        pl.col("charges_in_period").sum(),
        pl.col("savings_vs_in_house").sum().alias("savings_vs_in_house"),
        pl.col("savings_vs_in_house").is_not_null().any().alias("_any_savings"),
        (pl.col("tco_per_unit") * billed)
        .filter(pl.col("tco_per_unit").is_not_null())
        .sum()
        .alias("_tco_x"),
        billed.filter(pl.col("tco_per_unit").is_not_null()).sum().alias("_tco_units"),
        (pl.col("tco_per_unit") * billed).filter(has_in_house).sum().alias("_cmp_tco_x"),
        (pl.col("in_house_cost_per_unit") * billed).filter(has_in_house).sum().alias("_cmp_ih_x"),
        billed.filter(has_in_house).sum().alias("_cmp_units"),
    )
    # Every vendor active in any period gets an ALL row in every period, so a
    # quiet period shows as "not scored" instead of vanishing from the trend.
    grid = (
        sums.select("vendor_id")
        .unique()
        .join(pl.DataFrame({"period": [p.label for p in periods]}), how="cross")
    )
    period_info = pl.DataFrame(
        {
            "period": [p.label for p in periods],
            "period_start": [p.start for p in periods],
            "period_end": [p.end for p in periods],
            "is_current": [p.is_current for p in periods],
        }
    )
    totals = (
        grid.join(sums, on=["vendor_id", "period"], how="left")
        .join(period_info, on="period")
        .join(vendors.select("vendor_id", "sourcing"), on="vendor_id")
        .with_columns(*_zero_sums(declared), pl.lit(ALL_PROCESSES).alias("process"))
    )
    return totals.with_columns(_kpis_from_sums(kpis)).with_columns(
        m.ratio(pl.col("_tco_x"), pl.col("_tco_units")).alias("tco_per_unit"),
        m.ratio(pl.col("_cmp_ih_x"), pl.col("_cmp_units")).alias("in_house_cost_per_unit"),
        m.ratio(pl.col("_cmp_tco_x"), pl.col("_cmp_ih_x")).alias("cost_ratio"),
        pl.when(pl.col("_any_savings"))
        .then(pl.col("savings_vs_in_house"))
        .alias("savings_vs_in_house"),
    )


def _scores(rows: pl.DataFrame, config: Config) -> pl.DataFrame:
    """Each dimension's score (the four built-in ones and every declared KPI, which is a
    dimension of its own), the composite over the weighted ones, standing and rank."""
    kpis = catalogue(config)
    weights = kpis.weights(config)
    in_house = pl.col("sourcing") == IN_HOUSE
    dimension_scores = []
    for d, kpi in kpis.dimensions.items():
        value = m.dimension_score(pl.col(kpi.name), kpis.band(kpi, config))
        if d == "cost":
            # The in-house baseline is not scored against itself (contract section 8), in its
            # process rows and its ALL row alike, so a one-process team's two rows agree.
            value = pl.when(in_house).then(None).otherwise(value)
        dimension_scores.append(value.alias(f"{d}_score"))
    scored = rows.with_columns(dimension_scores)
    composite = m.composite_score({d: pl.col(f"{d}_score") for d in kpis.dimensions}, weights)
    scored = scored.with_columns(composite.alias("composite_score"))
    return scored.with_columns(
        m.standing(pl.col("composite_score"), config.scoring.standings).alias("standing"),
        pl.when(rankable(config.scoring.min_rank_items))
        .then(
            pl.when(rankable(config.scoring.min_rank_items))
            .then(pl.col("composite_score"))
            .rank("min", descending=True)
            .over("period")
        )
        .cast(pl.Int64)
        .alias("rank"),
    )


def rankable(min_rank_items: int) -> pl.Expr:
    """Rows that take a rank: outsourced vendors' ALL rows, scored, on enough work items.

    A handful of items proves nothing (contract section 4): a vendor with fewer
    than `scoring.min_rank_items` completed in the period is listed, unranked.
    """
    return (
        (pl.col("process") == ALL_PROCESSES)
        & (pl.col("sourcing") != IN_HOUSE)
        & pl.col("composite_score").is_not_null()
        & (pl.col("work_items_completed") >= min_rank_items)
    )


# What each table the config may declare absent would measure (contract section 6).
NOT_MEASURED_WITHOUT = {
    "charges": ["spend", "cost_per_unit", "tco_per_unit", "cost_ratio", "savings_vs_in_house",
                "billed_units"],
    "requests": ["requests_opened", "response_within_target_rate", "mean_first_response_hours",
                 "requests_answered", "requests_within_target", "requests_target_due"],
}  # fmt: skip


def _not_measured(
    table: pl.DataFrame, absent: Sequence[str], kpis: dict[str, DeclaredKpi] | None = None
) -> pl.DataFrame:
    """Null, never 0, for every figure an absent table would feed (so never scored either)."""
    declared = {
        name: [kpi_name, f"{kpi_name}_numerator", f"{kpi_name}_denominator"]
        for kpi_name, kpi in (kpis or {}).items()
        for name in [kpi.table]
    }
    return table.with_columns(
        pl.lit(None, table.schema[c]).alias(c)
        for name in absent
        for c in [
            *NOT_MEASURED_WITHOUT.get(name, []),
            *[c for n, cs in declared.items() if n == name for c in cs],
        ]
    )


def score_table(data: Activity, periods: Sequence[Period], config: Config) -> pl.DataFrame:
    """The full score table: contract columns first, then the KPI inputs, then the changes.

    `data` was extracted for exactly these periods (its window ends on the as-of day).
    """
    # Validation has rejected every charge in a currency without a rate.
    rates = config.currency.to_base()
    item_days = mark_billed(data.work_item_days, data.charges)
    vendors = data.vendors.select("vendor_id", pl.col("name").alias("vendor_name"), "sourcing")
    declared = config.kpis
    process_rows = pl.concat(
        [
            _period_sums(item_days, data.request_days, data.charges, p, rates, config)
            for p in periods
        ],
        how="vertical_relaxed",
    ).join(vendors, on="vendor_id")
    process_rows = _process_costs(process_rows.with_columns(_kpis_from_sums(declared)), config)
    totals = _vendor_totals(process_rows, data.vendors, periods, declared).join(
        vendors.drop("sourcing"), on="vendor_id"
    )
    columns = [
        c for c in CONTRACT_COLUMNS if not c.endswith("_score") and c not in ("standing", "rank")
    ]
    declared_figures = [
        c for name in declared for c in (name, f"{name}_numerator", f"{name}_denominator")
    ]
    kept = [*columns, *INPUT_COLUMNS, *declared_figures]
    combined = pl.concat(
        [process_rows.select(kept), totals.select(kept)], how="vertical_relaxed"
    ).with_columns(
        # A mean's numerator is a sum of values; a rate's, like its denominator, a count.
        *[pl.col(f"{name}_denominator").cast(pl.Int64) for name in declared],
        *[
            pl.col(f"{name}_numerator").cast(pl.Int64 if kpi.kind == "rate" else pl.Float64)
            for name, kpi in declared.items()
        ],
    )
    scored = _scores(_not_measured(combined, data.not_measured, declared), config)
    previous_label = {later.label: earlier.label for earlier, later in itertools.pairwise(periods)}
    ordered = rounded(
        scored.sort(
            "period_start", "vendor_id", pl.col("process") != ALL_PROCESSES, "process"
        ).select(
            *CONTRACT_COLUMNS,
            *INPUT_COLUMNS,
            *[f"{name}_score" for name in declared],
            *declared_figures,
        ),
        declared,
    )
    # After the contract's columns: the previous period's rates and whether each change is real.
    weighted = [name for name in declared if config.scoring.weights.of(name) > 0]
    changed = with_changes(
        ordered, previous_label, config.scoring.significance_z, catalogue(config), weighted
    )
    return changed.select(
        *CONTRACT_COLUMNS, *INPUT_COLUMNS, *SIGNIFICANCE_COLUMNS, *declared_columns(config)
    )


def rounded(table: pl.DataFrame, kpis: dict[str, DeclaredKpi] | None = None) -> pl.DataFrame:
    """Fix the precision once, so every output and report shows the same figures."""
    kpis = kpis or {}
    money = ["spend", "savings_vs_in_house"]
    per_unit = ["cost_per_unit", "tco_per_unit", "in_house_cost_per_unit"]
    rates = ["accuracy", "rework_rate", "on_time_rate", "response_within_target_rate", "cost_ratio"]
    hours = ["mean_turnaround_hours", "mean_first_response_hours"]
    scores = [f"{d}_score" for d in [*DIMENSIONS, *kpis]] + ["composite_score"]
    declared = [*kpis, *[f"{n}_numerator" for n, kpi in kpis.items() if kpi.kind == "mean"]]
    return table.with_columns(
        [pl.col(c).round(2) for c in money + scores + hours]
        + [pl.col(c).round(4) for c in per_unit]
        + [pl.col(c).round(6) for c in rates + declared]
    )
