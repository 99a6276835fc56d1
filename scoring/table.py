"""Build the score table: one row per vendor x process x period, plus `ALL` rows per vendor.

The flow is: sum numerators and denominators per group and window, then turn
those sums into KPIs with the functions of `metrics`. `ALL` rows re-use the
same functions on sums over processes, which is exactly the contract's
"ratio of the summed numerators and denominators".
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import polars as pl

from extract.activity import Activity
from extract.summaries import denominator_column, numerator_column
from scorecard.config import Config, DeclaredKpi, InHouseCostModel
from scoring import metrics as m
from scoring.catalogue import BUILT_IN_CATALOGUE, DIMENSION_KPI, catalogue
from scoring.money import (
    MONEY_PLACES,
    PER_UNIT_PLACES,
    RATIO_PLACES,
    exact,
    exact_rates,
    ratio,
    spread_totals,
    written,
)
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

# The median turnaround's sums over a period (see extract.summaries._ranked): its middle items'
# turnarounds added (lower + upper, in ms), per process and per vendor over its processes, and
# how many items were ranked in the period (all of them, when the period is a report period).
MEDIAN_SUMS = ["turnaround_middles_ms", "vendor_turnaround_middles_ms", "items_ranked"]

# The inputs behind each KPI, after the contract's columns, so any figure can be recomputed.
INPUT_COLUMNS = [
    "defects", "qa_checked_units", "reworked_items", "items_due", "items_on_time",
    "requests_answered", "requests_within_target", "requests_target_due", "billed_units",
]  # fmt: skip

_SUMS = [
    "work_items_completed", "units_completed", "defects", "qa_checked_units",
    "reworked_items", "turnaround_hours_total", "items_due", "items_on_time",
    "billed_units", "requests_opened", "requests_answered", "response_hours_total",
    "requests_within_target", "requests_target_due", *MEDIAN_SUMS,
]  # fmt: skip

# The median turnaround, shown beside the mean (catalogue: the mean's `median`); not scored.
MEDIAN_TURNAROUND: str = BUILT_IN_CATALOGUE["mean_turnaround_hours"].median or ""
assert MEDIAN_TURNAROUND
MEDIAN_COLUMNS = [MEDIAN_TURNAROUND]

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
    return [pl.col(c).fill_null(0) for c in [*_SUMS, *declared]]


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
        *_middle_sums(completed & (pl.col("median_period") == period.label)),
        pl.col("items").filter(due).sum().alias("items_due"),
        pl.col("items_on_time").filter(due).sum().alias("items_on_time"),
        pl.col("units").filter(completed & pl.col("billed")).sum().alias("billed_units"),
        *_declared_period_sums(kpis or {}, windows, item_days.columns),
    )


def _middle_sums(ranked: pl.Expr) -> list[pl.Expr]:
    """The median's sums over the items ranked in the period (see MEDIAN_SUMS)."""
    return [
        (pl.col("median_low_ms") + pl.col("median_high_ms"))
        .filter(ranked)
        .sum()
        .alias("turnaround_middles_ms"),
        (pl.col("vendor_median_low_ms") + pl.col("vendor_median_high_ms"))
        .filter(ranked)
        .sum()
        .alias("vendor_turnaround_middles_ms"),
        pl.col("items").filter(ranked).sum().alias("items_ranked"),
    ]


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


def spend_sums(charges: pl.DataFrame, period: Period, rates: dict[str, float]) -> pl.DataFrame:
    """Each charge spread evenly over its service days; the days inside the period count.

    `spend` is summed exactly and written to the cent (see `scoring.money`).
    """
    exact = spread_totals(charges, period.start, period.end, exact_rates(rates), _KEYS)
    counted = (
        charges.filter(
            (pl.col("service_start") <= period.end) & (pl.col("service_end") >= period.start)
        )
        .group_by(_KEYS)
        .agg(pl.len().alias("charges_in_period"))
    )
    spend = pl.DataFrame(
        {
            "vendor_id": [key[0] for key in exact],
            "process": [key[1] for key in exact],
            "spend": [written(value, MONEY_PLACES) for value in exact.values()],
        },
        schema={"vendor_id": pl.String, "process": pl.String, "spend": pl.Float64},
    )
    return counted.join(spend, on=_KEYS, how="left").select(*_KEYS, "spend", "charges_in_period")


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
        .join(spend_sums(charges, period, rates).drop("spend"), on=_KEYS, how="full", coalesce=True)
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


def _kpis_from_sums(
    kpis: dict[str, DeclaredKpi] | None = None, middles: str = "turnaround_middles_ms"
) -> list[pl.Expr]:
    """Every KPI from its summed numerator and denominator (a declared one: null without a
    trial or a value, contract section 10). middles: the median's middle items (a vendor's
    ALL row reads those ranked over all its processes)."""
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
        m.median_hours(c(middles), c("items_ranked"), c("work_items_completed")).alias(
            MEDIAN_TURNAROUND
        ),
        m.response_within_target_rate(c("requests_within_target"), c("requests_target_due")).alias(
            "response_within_target_rate"
        ),
        m.mean_first_response_hours(c("response_hours_total"), c("requests_answered")).alias(
            "mean_first_response_hours"
        ),
    ]


MONEY_COLUMNS = [
    "spend", "cost_per_unit", "tco_per_unit", "in_house_cost_per_unit", "cost_ratio",
    "savings_vs_in_house",
]  # fmt: skip
_MONEY_SCHEMA = {name: pl.Float64 for name in MONEY_COLUMNS}
_MONEY_PLACES = {
    "spend": MONEY_PLACES, "savings_vs_in_house": MONEY_PLACES, "cost_per_unit": PER_UNIT_PLACES,
    "tco_per_unit": PER_UNIT_PLACES, "in_house_cost_per_unit": PER_UNIT_PLACES,
    "cost_ratio": RATIO_PLACES,
}  # fmt: skip

SpendKey = tuple[str, str, str]
"""vendor_id, process, period label."""


def exact_spend(
    charges: pl.DataFrame, periods: Sequence[Period], rates: dict[str, float]
) -> dict[SpendKey, Fraction]:
    """Per vendor, process and period: its charges spread over the period's days, exactly."""
    exact = exact_rates(rates)
    spend: dict[SpendKey, Fraction] = {}
    for period in periods:
        for (vendor, process), total in spread_totals(
            charges, period.start, period.end, exact, _KEYS
        ).items():
            spend[(str(vendor), str(process), period.label)] = total
    return spend


def modelled_cost(model: InHouseCostModel) -> Fraction:
    """The configured in-house cost per unit (contract section 3), exactly."""
    per_fte = (
        exact(model.salary) * (1 + exact(model.benefits_pct))
        + exact(model.training)
        + exact(model.workspace)
        + exact(model.tools)
    )
    loaded = per_fte * (1 + exact(model.management_overhead_pct))
    return loaded / (exact(model.productive_hours) * exact(model.units_per_hour))


@dataclass
class _VendorCost:
    """The exact sums behind a vendor's ALL row of one period."""

    spend: Fraction = Fraction(0)
    billed: int = 0
    tco_x: Fraction = Fraction(0)
    tco_units: int = 0
    compared_tco_x: Fraction = Fraction(0)
    compared_in_house_x: Fraction = Fraction(0)
    compared_units: int = 0
    savings: Fraction | None = None


def _written(keys: dict[str, list[Any]], figures: list[dict[str, Fraction | None]]) -> pl.DataFrame:
    columns = {
        name: [written(f[name], _MONEY_PLACES[name]) for f in figures] for name in MONEY_COLUMNS
    }
    return pl.DataFrame(
        {**keys, **columns}, schema={**dict.fromkeys(keys, pl.String), **_MONEY_SCHEMA}
    )


def exact_costs(
    process_rows: pl.DataFrame, spend: Mapping[SpendKey, Fraction], config: Config
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The money columns of the process rows and of the vendors' ALL rows, each written once.

    Computed in exact fractions from the exact spend: tco_per_unit = cost_per_unit x (1 +
    governance overhead) (in-house rows: the in-house cost); the in-house cost per unit is
    measured from in-house charges when there are any, otherwise the configured model; the
    ALL row's cost figures are weighted by billed units as contract section 3 says.
    """
    overhead = 1 + exact(config.scoring.governance_overhead)
    model = {process: modelled_cost(cost) for process, cost in config.in_house.items()}
    rows = process_rows.select(
        "vendor_id", "process", "period", "sourcing", "billed_units", "units_completed",
        "charges_in_period",
    ).rows()  # fmt: skip
    in_house_spend: dict[tuple[str, str], Fraction] = {}
    in_house_units: dict[tuple[str, str], int] = {}
    for vendor, process, period, sourcing, billed, _units, charged in rows:
        if sourcing == IN_HOUSE and charged > 0:
            key = (period, process)
            in_house_spend[key] = in_house_spend.get(key, Fraction(0)) + spend.get(
                (vendor, process, period), Fraction(0)
            )
            in_house_units[key] = in_house_units.get(key, 0) + billed
    process_figures: list[dict[str, Fraction | None]] = []
    vendors: dict[tuple[str, str], _VendorCost] = {}
    for vendor, process, period, sourcing, billed, units, _charged in rows:
        spent = spend.get((vendor, process, period), Fraction(0))
        measured = ratio(
            in_house_spend.get((period, process)), in_house_units.get((period, process))
        )
        in_house = measured if measured is not None else model.get(process)
        per_unit = ratio(spent, billed)
        if sourcing == IN_HOUSE:
            tco = in_house
        else:
            tco = per_unit * overhead if per_unit is not None else None
        savings = (in_house - tco) * units if in_house is not None and tco is not None else None
        process_figures.append(
            {
                "spend": spent,
                "cost_per_unit": per_unit,
                "tco_per_unit": tco,
                "in_house_cost_per_unit": in_house,
                "cost_ratio": ratio(tco, in_house),
                "savings_vs_in_house": savings,
            }
        )
        total = vendors.setdefault((vendor, period), _VendorCost())
        total.spend += spent
        total.billed += billed
        if tco is not None:
            total.tco_x += tco * billed
            total.tco_units += billed
            if in_house is not None:
                total.compared_tco_x += tco * billed
                total.compared_in_house_x += in_house * billed
                total.compared_units += billed
        if savings is not None:
            total.savings = (total.savings or Fraction(0)) + savings
    by_process = _written(
        {
            "vendor_id": [row[0] for row in rows],
            "process": [row[1] for row in rows],
            "period": [row[2] for row in rows],
        },
        process_figures,
    )
    by_vendor = _written(
        {"vendor_id": [key[0] for key in vendors], "period": [key[1] for key in vendors]},
        [
            {
                "spend": t.spend,
                "cost_per_unit": ratio(t.spend, t.billed),
                "tco_per_unit": ratio(t.tco_x, t.tco_units),
                "in_house_cost_per_unit": ratio(t.compared_in_house_x, t.compared_units),
                "cost_ratio": ratio(t.compared_tco_x, t.compared_in_house_x),
                "savings_vs_in_house": t.savings,
            }
            for t in vendors.values()
        ],
    )
    return by_process, by_vendor


def _vendor_totals(
    process_rows: pl.DataFrame,
    vendors: pl.DataFrame,
    periods: Sequence[Period],
    vendor_money: pl.DataFrame,
    kpis: dict[str, DeclaredKpi] | None = None,
) -> pl.DataFrame:
    """`ALL` rows: sums over processes, then the same KPI functions; money from `exact_costs`."""
    declared = declared_sums(kpis or {})
    sums = process_rows.group_by("vendor_id", "period").agg(
        *[pl.col(c).sum() for c in [*_SUMS, *declared]],
        pl.col("charges_in_period").sum(),
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
        .join(vendor_money, on=["vendor_id", "period"], how="left")
        .with_columns(
            *_zero_sums(declared),
            pl.col("spend").fill_null(0.0),
            pl.lit(ALL_PROCESSES).alias("process"),
        )
    )
    return totals.with_columns(_kpis_from_sums(kpis, "vendor_turnaround_middles_ms"))


# The written precision of the composite: the whole number every report shows.
COMPOSITE_PLACES = 0


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
        dimension_scores.append(value.round(2, mode="half_to_even").alias(f"{d}_score"))
    scored = rows.with_columns(dimension_scores)
    # The composite as the reports show it, a whole number (half to even); the standing and
    # the rank are decided on that figure, so no reader sees "70" beside "watch".
    composite = m.composite_score({d: pl.col(f"{d}_score") for d in kpis.dimensions}, weights)
    scored = scored.with_columns(
        composite.round(COMPOSITE_PLACES, mode="half_to_even").alias("composite_score")
    )
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
    process_money, vendor_money = exact_costs(
        process_rows, exact_spend(data.charges, periods, rates), config
    )
    process_rows = process_rows.with_columns(_kpis_from_sums(declared)).join(
        process_money, on=["vendor_id", "process", "period"], how="left"
    )
    totals = _vendor_totals(process_rows, data.vendors, periods, vendor_money, declared).join(
        vendors.drop("sourcing"), on="vendor_id"
    )
    columns = [
        c for c in CONTRACT_COLUMNS if not c.endswith("_score") and c not in ("standing", "rank")
    ]
    declared_figures = [
        c for name in declared for c in (name, f"{name}_numerator", f"{name}_denominator")
    ]
    kept = [*columns, *INPUT_COLUMNS, *MEDIAN_COLUMNS, *declared_figures]
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
            *MEDIAN_COLUMNS,
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
        *CONTRACT_COLUMNS,
        *INPUT_COLUMNS,
        *MEDIAN_COLUMNS,
        *SIGNIFICANCE_COLUMNS,
        *declared_columns(config),
    )


def rounded(table: pl.DataFrame, kpis: dict[str, DeclaredKpi] | None = None) -> pl.DataFrame:
    """Fix the precision once, so every output and report shows the same figures."""
    kpis = kpis or {}
    rates = [kpi.name for kpi in BUILT_IN_CATALOGUE.rates]
    hours = [kpi.name for kpi in BUILT_IN_CATALOGUE.kpis if kpi.unit == "hours"]
    hours += [kpi.median for kpi in BUILT_IN_CATALOGUE.kpis if kpi.median is not None]
    declared = [*kpis, *[f"{n}_numerator" for n, kpi in kpis.items() if kpi.kind == "mean"]]
    # Money was written exactly by `exact_costs`; scores (declared ones too) by `_scores`,
    # before the standing.
    return table.with_columns(
        [pl.col(c).round(2, mode="half_to_even") for c in hours]
        + [pl.col(c).round(6, mode="half_to_even") for c in rates + declared]
    )
