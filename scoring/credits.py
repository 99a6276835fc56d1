"""Service levels and service credits (contract section 9), as small pure functions.

The input is a monthly KPI table (the score table computed over calendar
months), the accepted charges and the contracts of the config. The output is
one row per vendor x service level x month, and per vendor and month what was
due, credited and is still unclaimed.

Money is fixed to cents step by step (fees, then the at-risk amount, then each
credit) so that every row of service_credits.csv can be recomputed by hand
from the figures it shows. Each step is exact (scoring.money: the figures as the
decimals they are written as, rounded once, half to even), never float arithmetic.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from extract.activity import Activity
from scorecard.config import Config, Contract
from scoring.money import MONEY_PLACES, exact, exact_rates, spread_totals, written
from scoring.periods import (
    Period,
    fiscal_year_label,
    fiscal_year_start,
    month_is_over,
    months_of,
)
from scoring.table import score_table

# Exactly these columns, in this order (contract section 9).
SERVICE_CREDIT_COLUMNS = [
    "month", "vendor_id", "vendor_name", "service_level", "process", "kpi", "threshold",
    "actual", "met", "provisional", "fees", "at_risk_amount", "allocation_pct", "credit", "status",
]  # fmt: skip

LEVEL_SCHEMA = {
    "month": pl.String, "vendor_id": pl.String, "vendor_name": pl.String,
    "service_level": pl.String, "process": pl.String, "kpi": pl.String, "threshold": pl.Float64,
    "actual": pl.Float64, "met": pl.Boolean, "provisional": pl.Boolean, "fees": pl.Float64,
    "at_risk_amount": pl.Float64, "allocation_pct": pl.Float64, "credit": pl.Float64,
    "status": pl.String,
}  # fmt: skip
MONTH_SCHEMA = {
    "vendor_id": pl.String, "vendor_name": pl.String, "month": pl.String, "month_start": pl.Date,
    "provisional": pl.Boolean, "fees": pl.Float64, "at_risk_amount": pl.Float64,
    "due": pl.Float64, "pending": pl.Float64, "earned_back": pl.Float64, "levels_due": pl.UInt32,
    "credited": pl.Float64, "unclaimed": pl.Float64,
}  # fmt: skip

MET, DUE, PENDING, EARNED_BACK, NOT_MEASURED = (
    "met", "due", "pending", "earned_back", "not_measured"
)  # fmt: skip


@dataclass(frozen=True)
class ServiceCredits:
    levels: pl.DataFrame
    """One row per vendor x service level x month: the columns of service_credits.csv."""
    months: pl.DataFrame
    """One row per contracted vendor x month: fees, due, credited, unclaimed, provisional."""
    year_start: dt.date = dt.date(1, 1, 1)
    """First day of the (fiscal) year to date the reports and the email sum over."""
    year_label: str = ""
    """That year as readers name it: 2026, or FY2027 with run.fiscal_year_start_month."""
    evidence: pl.DataFrame | None = None
    """evidence.csv's rows (contract section 12); None when they were not read."""
    evidence_counts: pl.DataFrame | None = None
    """Items behind each vendor x level x month that needs evidence (month, vendor_id,
    service_level, items); None when they were not read."""


def unknown_contract_vendors(
    contracts: Mapping[str, Contract], vendor_ids: Sequence[str]
) -> list[str]:
    """Contracts naming a vendor the data does not have (a warning, not an error)."""
    return sorted(set(contracts) - set(vendor_ids))


def service_level_grid(contracts: Mapping[str, Contract], months: Sequence[Period]) -> pl.DataFrame:
    """One row per vendor x level x month with the contract's terms."""
    levels = pl.DataFrame(
        [
            {
                "vendor_id": vendor_id,
                "level_order": order,
                "service_level": level.name,
                "process": level.process,
                "kpi": level.kpi,
                "threshold": level.threshold,
                "higher_is_better": level.higher_is_better,
                "allocation_pct": level.allocation_pct,
                "at_risk_pct": contract.at_risk_pct,
                "earn_back_months": contract.earn_back_months,
            }
            for vendor_id, contract in sorted(contracts.items())
            for order, level in enumerate(contract.service_levels)
        ],
        schema={"vendor_id": pl.String, "level_order": pl.Int64, "service_level": pl.String,
                "process": pl.String, "kpi": pl.String, "threshold": pl.Float64,
                "higher_is_better": pl.Boolean, "allocation_pct": pl.Float64,
                "at_risk_pct": pl.Float64, "earn_back_months": pl.Int64},
    )  # fmt: skip
    return levels.join(month_frame(months), how="cross")


def month_frame(months: Sequence[Period]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "month": [m.label for m in months],
            "month_start": [m.start for m in months],
            "provisional": [not month_is_over(m) for m in months],
        },
        schema={"month": pl.String, "month_start": pl.Date, "provisional": pl.Boolean},
    )


def kpis_long(monthly: pl.DataFrame, kpis: Sequence[str]) -> pl.DataFrame:
    """The monthly KPI table as (vendor_id, process, month, kpi, actual) rows."""
    return monthly.select("vendor_id", "process", pl.col("period").alias("month"), *kpis).unpivot(
        index=["vendor_id", "process", "month"], variable_name="kpi", value_name="actual"
    )


def level_met(actual: pl.Expr, threshold: pl.Expr, higher_is_better: pl.Expr) -> pl.Expr:
    """True when the level was met, null when nothing was measured (not a breach)."""
    return pl.when(higher_is_better).then(actual >= threshold).otherwise(actual <= threshold)


def monthly_amounts(
    charges: pl.DataFrame, months: Sequence[Period], kind: str, rates: dict[str, float]
) -> pl.DataFrame:
    """Per vendor and month: its `kind` charges spread over their service days, base currency.

    Credits come back positive. A month runs to the end of the as-of day at most.
    """
    chosen = charges.filter(pl.col("kind") == kind)
    sign = -1 if kind == "service_credit" else 1
    exact = exact_rates(rates)
    rows = [
        (vendor, m.label, written(sign * total, MONEY_PLACES))
        for m in months
        for (vendor,), total in spread_totals(chosen, m.start, m.end, exact, ["vendor_id"]).items()
    ]
    schema = {"vendor_id": pl.String, "month": pl.String, "amount": pl.Float64}
    return pl.DataFrame(rows, schema=schema, orient="row")


def at_risk_amount(fees: float, at_risk_pct: float) -> float:
    """at_risk_pct x the month's fees, exactly, written to the cent (half to even, once)."""
    amount = written(exact(fees) * exact(at_risk_pct), MONEY_PLACES)
    assert amount is not None
    return amount


def uncapped_credit(met: bool | None, allocation_pct: float, at_risk: float) -> float:
    """A missed level's credit: allocation_pct / 100 x the month's at-risk amount, exactly,
    written to the cent; 0 when the level was met or nothing was measured."""
    if met is not False:
        return 0.0
    credit = written(exact(allocation_pct) / 100 * exact(at_risk), MONEY_PLACES)
    assert credit is not None
    return credit


def _exact_amounts(frame: pl.DataFrame) -> pl.DataFrame:
    """Each row's at-risk amount, then its uncapped credit, each exact and rounded once."""
    at_risk = [
        at_risk_amount(fees, pct) for fees, pct in frame.select("fees", "at_risk_pct").iter_rows()
    ]
    credit = [
        uncapped_credit(met, allocation, amount)
        for (met, allocation), amount in zip(
            frame.select("met", "allocation_pct").iter_rows(), at_risk, strict=True
        )
    ]
    return frame.with_columns(
        pl.Series("at_risk_amount", at_risk, pl.Float64),
        pl.Series("credit", credit, pl.Float64),
    )


def capped_credits(frame: pl.DataFrame) -> pl.DataFrame:
    """Scale a month's credits down in proportion when they add up to more than its at-risk amount.

    Works in cents: each scaled credit is rounded down and the cents left
    over go to the largest ones, so the credits add up to the at-risk amount
    exactly.
    """
    group = ["vendor_id", "month"]
    cents = (pl.col("at_risk_amount") * 100).round(0).cast(pl.Int64)
    missed_pct = pl.when(pl.col("met").not_()).then(pl.col("allocation_pct")).otherwise(0.0)
    with_totals = frame.with_columns(
        pl.col("credit").sum().over(group).alias("_total"),
        missed_pct.alias("_missed_pct"),
    ).with_columns(
        pl.col("_missed_pct").sum().over(group).alias("_pool"),
        cents.alias("_cents"),
    )
    over_cap = pl.col("_total") > pl.col("at_risk_amount")
    exact = pl.col("_cents") * pl.col("_missed_pct") / pl.col("_pool")
    floored = with_totals.sort("level_order").with_columns(
        pl.when(over_cap & (pl.col("_missed_pct") > 0))
        .then(exact.floor().cast(pl.Int64))
        .alias("_floor"),
        pl.when(over_cap & (pl.col("_missed_pct") > 0)).then(exact - exact.floor()).alias("_rest"),
    )
    ranked = floored.with_columns(
        (pl.col("_cents") - pl.col("_floor").sum().over(group)).alias("_left"),
        # Ties go to the level listed first in the contract (rows arrive in that order).
        pl.col("_rest").rank("ordinal", descending=True).over(group).alias("_place"),
    )
    scaled = (
        (pl.col("_floor") + (pl.col("_place") <= pl.col("_left")).cast(pl.Int64)) / 100
    ).round(2)
    return ranked.with_columns(
        pl.when(over_cap & (pl.col("_missed_pct") > 0))
        .then(scaled)
        .otherwise(pl.col("credit"))
        .alias("credit")
    ).drop("_total", "_missed_pct", "_pool", "_cents", "_floor", "_rest", "_left", "_place")


def earn_back_statuses(
    met: Sequence[bool | None], over: Sequence[bool], months_needed: int
) -> list[str]:
    """The status of each month of one service level, oldest first.

    A miss is earned back when the level is met in each of the next
    `months_needed` measured months; a null month is skipped, and so is a
    month not yet over (its result can still change). It is pending while
    fewer have followed and due as soon as one of them misses.
    """
    statuses = []
    for index, this in enumerate(met):
        if this is None:
            statuses.append(NOT_MEASURED)
        elif this:
            statuses.append(MET)
        elif months_needed == 0:
            statuses.append(DUE)
        else:
            following = [
                later
                for later, closed in zip(met[index + 1 :], over[index + 1 :], strict=True)
                if later is not None and closed
            ][:months_needed]
            if not all(following):
                statuses.append(DUE)
            elif len(following) == months_needed:
                statuses.append(EARNED_BACK)
            else:
                statuses.append(PENDING)
    return statuses


def with_statuses(frame: pl.DataFrame) -> pl.DataFrame:
    """Add `status` per vendor x level, looking along its months in order."""
    parts = []
    for _, part in frame.sort("vendor_id", "level_order", "month_start").group_by(
        "vendor_id", "level_order", maintain_order=True
    ):
        statuses = earn_back_statuses(
            part.get_column("met").to_list(),
            (~part.get_column("provisional")).to_list(),
            int(part.get_column("earn_back_months")[0]),
        )
        parts.append(part.with_columns(pl.Series("status", statuses, pl.String)))
    if not parts:
        return frame.with_columns(pl.lit(None, pl.String).alias("status"))
    return pl.concat(parts)


def service_credits(
    monthly: pl.DataFrame,
    charges: pl.DataFrame,
    vendors: pl.DataFrame,
    months: Sequence[Period],
    contracts: Mapping[str, Contract],
    rates: dict[str, float],
) -> ServiceCredits:
    """Every contracted vendor's service levels, month by month, and the money they put at stake."""
    known = vendors.get_column("vendor_id").to_list()
    contracts = {v: c for v, c in contracts.items() if v in known}
    grid = service_level_grid(contracts, months)
    if grid.is_empty():
        return ServiceCredits(pl.DataFrame(schema=LEVEL_SCHEMA), pl.DataFrame(schema=MONTH_SCHEMA))
    kpis = sorted(set(grid.get_column("kpi").to_list()))
    fees = monthly_amounts(charges, months, "fee", rates).rename({"amount": "fees"})
    names = vendors.select("vendor_id", pl.col("name").alias("vendor_name"))
    measured = (
        grid.join(kpis_long(monthly, kpis), on=["vendor_id", "process", "month", "kpi"], how="left")
        .join(fees, on=["vendor_id", "month"], how="left")
        .join(names, on="vendor_id", how="left")
        .with_columns(
            level_met(pl.col("actual"), pl.col("threshold"), pl.col("higher_is_better")).alias(
                "met"
            ),
            # No fee billed for the month: nothing is at risk (fees are written to the cent).
            pl.col("fees").fill_null(0.0),
        )
        .pipe(_exact_amounts)
    )
    levels = with_statuses(capped_credits(measured)).sort("month_start", "vendor_id", "level_order")
    return ServiceCredits(
        levels=levels.select(SERVICE_CREDIT_COLUMNS).cast(LEVEL_SCHEMA),  # type: ignore[arg-type]
        months=vendor_months(levels, monthly_amounts(charges, months, "service_credit", rates)),
    )


def vendor_months(levels: pl.DataFrame, credited: pl.DataFrame) -> pl.DataFrame:
    """Per vendor and month: credits due, credited (invoiced), unclaimed = max(0, due - credited).

    Also the credits still pending earn-back and those of a provisional month.
    """
    status = pl.col("status")
    return (
        levels.group_by("vendor_id", "vendor_name", "month", "month_start", "provisional")
        .agg(
            pl.col("fees").first(),
            pl.col("at_risk_amount").first(),
            pl.col("credit").filter(status == DUE).sum().alias("due"),
            pl.col("credit").filter(status == PENDING).sum().alias("pending"),
            pl.col("credit").filter(status == EARNED_BACK).sum().alias("earned_back"),
            (status == DUE).sum().alias("levels_due"),
        )
        .join(credited.rename({"amount": "credited"}), on=["vendor_id", "month"], how="left")
        .with_columns(pl.col("credited").fill_null(0.0).round(2))
        .with_columns(
            (pl.col("due") - pl.col("credited")).clip(lower_bound=0).round(2).alias("unclaimed")
        )
        .sort("month_start", "vendor_id")
    )


def run_credits(
    activity: Activity, periods: Sequence[Period], config: Config
) -> ServiceCredits | None:
    """The run's service credits over the months of its periods; None without contracts."""
    if not config.contracts:
        return None
    months = months_of(periods)
    credits = service_credits(
        score_table(activity, months, config),
        activity.charges,
        activity.vendors,
        months,
        config.contracts,
        config.currency.to_base(),
    )
    # Year to date follows the fiscal year when one is configured, like the quarters do.
    as_of, fiscal = periods[-1].end, config.run.fiscal_year_start_month
    return dataclasses.replace(
        credits,
        year_start=fiscal_year_start(as_of, fiscal),
        year_label=fiscal_year_label(as_of, fiscal),
    )


@dataclass(frozen=True)
class CreditTotals:
    """Credits over some months: due, credited and unclaimed count the months that are over."""

    due: float
    credited: float
    unclaimed: float
    pending: float
    """Missed levels still inside their earn-back window."""
    earned_back: float
    provisional: float
    """Credits of a month not yet over (due or pending): not claimable yet."""
    levels_due: int
    """Missed levels (vendor x level x month) whose credit is due."""
    unclaimed_levels: int
    """Of those, the ones in a vendor-month with money unclaimed."""


def credit_totals(months: pl.DataFrame, labels: Sequence[str]) -> CreditTotals:
    chosen = months.filter(pl.col("month").is_in(list(labels)))
    over = chosen.filter(~pl.col("provisional"))
    provisional = chosen.filter(pl.col("provisional"))

    def total(frame: pl.DataFrame, column: str) -> float:
        return round(float(frame.get_column(column).sum()), 2)

    return CreditTotals(
        due=total(over, "due"),
        credited=total(over, "credited"),
        unclaimed=total(over, "unclaimed"),
        pending=total(over, "pending"),
        earned_back=total(over, "earned_back"),
        provisional=round(total(provisional, "due") + total(provisional, "pending"), 2),
        levels_due=int(over.get_column("levels_due").sum()),
        unclaimed_levels=int(over.filter(pl.col("unclaimed") > 0).get_column("levels_due").sum()),
    )


def period_months(periods: Sequence[Period], year_start: dt.date) -> tuple[list[str], list[str]]:
    """The month labels of the current period, and those of the year to date within the window."""
    current = [m.label for m in months_of(periods[-1:])]
    year = [m.label for m in months_of(periods) if m.start >= year_start]
    return current, year


CLAIM_COLUMNS = [
    "vendor_id", "vendor_name", "month", "levels_missed", "credit_due", "credited", "unclaimed",
    "currency",
]  # fmt: skip


def claims(credits: ServiceCredits, currency: str) -> pl.DataFrame:
    """credit_claims.csv: one row per vendor x month over with money unclaimed, oldest first.

    A month not yet over is left out: its credits are provisional, nothing to claim yet
    (the same rule as the credits page's unclaimed totals).
    """
    return (
        credits.months.filter(~pl.col("provisional") & (pl.col("unclaimed") > 0))
        .sort("month_start", "vendor_id")
        .select(
            "vendor_id",
            "vendor_name",
            "month",
            pl.col("levels_due").cast(pl.Int64).alias("levels_missed"),
            pl.col("due").round(2).alias("credit_due"),
            pl.col("credited").round(2),
            pl.col("unclaimed").round(2),
            pl.lit(currency, pl.String).alias("currency"),
        )
    )
