"""The scoring stage as one call: the score table, the service credits, and what the run
should say about them (rows rejected beyond the limit, contracts of unknown vendors, or why
there is nothing to score)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from extract.activity import Activity
from scorecard.config import Config
from scoring.credits import ServiceCredits, run_credits, unknown_contract_vendors
from scoring.evidence import with_evidence
from scoring.periods import Period
from scoring.table import score_table


@dataclass(frozen=True)
class Scored:
    table: pl.DataFrame
    """One row per vendor x process (and ALL) x period (contract section 5's scores.csv)."""
    credits: ServiceCredits | None
    """Service levels and credits, when the config holds contracts."""
    problems: list[str]
    """What makes the run exit 1 although it writes everything."""
    warnings: list[str]
    """What the log should say, not a failure."""

    @property
    def vendor_ids(self) -> list[str]:
        return sorted(self.table.get_column("vendor_id").unique().to_list())


def score(data: Activity, periods: Sequence[Period], config: Config) -> Scored:
    table = score_table(data, periods, config)
    vendor_ids = data.vendors.get_column("vendor_id").to_list()
    warnings = [
        f"warning: contracts.{vendor_id}: no such vendor in the data; its contract is left out"
        for vendor_id in unknown_contract_vendors(config.contracts, vendor_ids)
    ]
    credits = None if table.is_empty() else run_credits(data, periods, config)
    if credits is not None:
        credits = with_evidence(credits, data, config)
    problems = rejection_problems(data, config.run.max_rejected_fraction)
    return Scored(table, credits, problems, warnings)


def rejection_problems(data: Activity, limit: float) -> list[str]:
    problems = []
    for table, counts in data.counts.items():
        if counts.read and counts.rejected / counts.read > limit:
            problems.append(
                f"{counts.rejected} of {counts.read} {table} rows rejected "
                f"({counts.rejected / counts.read:.1%}, limit {limit:.1%}): see data_quality.csv"
            )
    return problems


def why_nothing_to_score(
    data: Activity, periods: Sequence[Period], received: tuple[dt.datetime, dt.datetime] | None
) -> str:
    """One line: the rule that rejected the most rows, or where the data is against the periods."""
    span = f"{periods[0].start} to {periods[-1].end}"
    quality = data.data_quality
    items = data.counts.get("work_items")
    if items is not None and items.read and not items.accepted and not quality.is_empty():
        worst = (
            quality.group_by("table", "rule")
            .agg(pl.col("rows_rejected").sum(), pl.col("example_values").drop_nulls().first())
            .sort("rows_rejected", "table", "rule", descending=[True, False, False])
            .row(0, named=True)
        )
        values = f" ({worst['example_values']})" if worst["example_values"] else ""
        return (
            f"nothing to score from {span}: all {items.read:,} work items read were rejected; "
            f"the rule rejecting the most rows is {worst['table']} {worst['rule']}: "
            f"{worst['rows_rejected']:,} rows{values}; see data_quality.csv"
        )
    if received is None:
        return f"nothing to score from {span}: the work items source has no rows"
    return (
        f"nothing to score from {span}: the work items were received from "
        f"{received[0]:%Y-%m-%d} to {received[1]:%Y-%m-%d} (check --as-of and --period)"
    )
