"""The rules of contract section 1, applied to every row (section 7).

A row that breaks a rule is rejected and left out of every KPI. A row that
breaks several rules is counted once, under the first rule in the order listed
here, so that rows read = rows accepted + rows rejected always holds and the
counts in data_quality.csv add up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from scorecard.config import CurrencyConfig
from scorecard.extract.schema import ID_COLUMN
from scorecard.extract.source import POLARS_SCHEMA, SourceData

SOURCINGS = ("offshore", "nearshore", "onshore", "in_house")
PRIORITIES = ("urgent", "high", "normal", "low")
CHARGE_KINDS = ("fee", "service_credit", "one_off")
EXAMPLE_IDS = 5

DATA_QUALITY_SCHEMA = {
    "table": pl.String(),
    "rule": pl.String(),
    "vendor_id": pl.String(),
    "rows_rejected": pl.Int64(),
    "example_ids": pl.String(),
}

Rule = tuple[str, pl.Expr]


def _blank(name: str) -> pl.Expr:
    return pl.col(name).is_null() | (pl.col(name).str.strip_chars() == "")


def _id_rules(table: str) -> list[Rule]:
    id_column = ID_COLUMN[table]
    return [
        ("missing_id", _blank(id_column)),
        ("duplicate_id", pl.col(id_column).is_duplicated()),
    ]


def _vendor_reference_rules(
    all_vendor_ids: pl.Series, accepted_vendor_ids: pl.Series
) -> list[Rule]:
    return [
        (
            "unknown_vendor",
            _blank("vendor_id") | ~pl.col("vendor_id").is_in(all_vendor_ids.implode()),
        ),
        # The vendor exists but its own row was rejected, so nothing of it can be scored.
        ("vendor_rejected", ~pl.col("vendor_id").is_in(accepted_vendor_ids.implode())),
        ("missing_process", _blank("process")),
    ]


def vendor_rules() -> list[Rule]:
    return [
        *_id_rules("vendors"),
        ("missing_name", _blank("name")),
        ("bad_sourcing", pl.col("sourcing").is_null() | ~pl.col("sourcing").is_in(SOURCINGS)),
        (
            "bad_country",
            pl.col("country").is_not_null() & ~pl.col("country").str.contains(r"^[A-Z]{2}$"),
        ),
        (
            "bad_currency",
            pl.col("currency").is_null() | ~pl.col("currency").str.contains(r"^[A-Z]{3}$"),
        ),
        ("contract_end_before_start", pl.col("contract_end") < pl.col("contract_start")),
    ]


def work_item_rules(all_vendor_ids: pl.Series, accepted_vendor_ids: pl.Series) -> list[Rule]:
    return [
        *_id_rules("work_items"),
        *_vendor_reference_rules(all_vendor_ids, accepted_vendor_ids),
        ("missing_received_at", pl.col("received_at").is_null()),
        ("due_before_received", pl.col("due_at") < pl.col("received_at")),
        ("completed_before_received", pl.col("completed_at") < pl.col("received_at")),
        ("bad_units", pl.col("units").is_null() | (pl.col("units") < 1)),
        (
            "bad_qa_checked_units",
            pl.col("qa_checked_units").is_null()
            | (pl.col("qa_checked_units") < 0)
            | (pl.col("qa_checked_units") > pl.col("units")),
        ),
        (
            "bad_defects",
            pl.col("defects").is_null()
            | (pl.col("defects") < 0)
            | (pl.col("defects") > pl.col("qa_checked_units")),
        ),
        ("missing_reworked", pl.col("reworked").is_null()),
    ]


def request_rules(all_vendor_ids: pl.Series, accepted_vendor_ids: pl.Series) -> list[Rule]:
    return [
        *_id_rules("requests"),
        *_vendor_reference_rules(all_vendor_ids, accepted_vendor_ids),
        ("bad_priority", pl.col("priority").is_null() | ~pl.col("priority").is_in(PRIORITIES)),
        ("missing_opened_at", pl.col("opened_at").is_null()),
        ("first_response_before_opened", pl.col("first_response_at") < pl.col("opened_at")),
        ("resolved_before_opened", pl.col("resolved_at") < pl.col("opened_at")),
    ]


def charge_rules(
    all_vendor_ids: pl.Series, accepted_vendor_ids: pl.Series, currency: CurrencyConfig
) -> list[Rule]:
    known_currencies = list(currency.to_base())
    return [
        *_id_rules("charges"),
        *_vendor_reference_rules(all_vendor_ids, accepted_vendor_ids),
        (
            "missing_service_dates",
            pl.col("service_start").is_null() | pl.col("service_end").is_null(),
        ),
        ("service_end_before_start", pl.col("service_end") < pl.col("service_start")),
        ("bad_kind", pl.col("kind").is_null() | ~pl.col("kind").is_in(CHARGE_KINDS)),
        ("missing_amount", pl.col("amount").is_null() | pl.col("amount").is_nan()),
        (
            "negative_amount_not_credit",
            (pl.col("amount") < 0) & (pl.col("kind") != "service_credit"),
        ),
        (
            "unknown_currency",
            pl.col("currency").is_null() | ~pl.col("currency").is_in(known_currencies),
        ),
    ]


def first_broken_rule(rules: Sequence[Rule]) -> pl.Expr:
    """The name of the first rule a row breaks, or null for a good row."""
    # Built from the last rule back, so the first rule broken wins.
    result = pl.lit(None, dtype=pl.String)
    for name, broken in reversed(rules):
        result = pl.when(broken.fill_null(False)).then(pl.lit(name)).otherwise(result)
    return result.alias("_rule")


@dataclass(frozen=True)
class TableCounts:
    read: int
    accepted: int
    rejected: int


@dataclass(frozen=True)
class ValidatedData:
    vendors: pl.DataFrame
    work_items: pl.DataFrame
    requests: pl.DataFrame
    charges: pl.DataFrame
    data_quality: pl.DataFrame
    """One row per table, rule and vendor: rows_rejected and a few example IDs."""
    counts: dict[str, TableCounts]


def _split(
    frame: pl.DataFrame, rules: Sequence[Rule], table: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    marked = frame.with_columns(first_broken_rule(rules))
    accepted = marked.filter(pl.col("_rule").is_null()).drop("_rule")
    rejected = marked.filter(pl.col("_rule").is_not_null()).select(
        pl.lit(table).alias("table"),
        pl.col("_rule").alias("rule"),
        pl.col("vendor_id"),
        pl.col(ID_COLUMN[table]).fill_null("(null)").alias("id"),
    )
    return accepted, rejected


def _summarise(rejected: pl.DataFrame) -> pl.DataFrame:
    if rejected.is_empty():
        return pl.DataFrame(schema=DATA_QUALITY_SCHEMA)
    return (
        rejected.group_by("table", "rule", "vendor_id")
        .agg(
            pl.len().cast(pl.Int64).alias("rows_rejected"),
            pl.col("id").sort().head(EXAMPLE_IDS).str.join(" ").alias("example_ids"),
        )
        .sort("table", "rule", "vendor_id", nulls_last=True)
        .select(list(DATA_QUALITY_SCHEMA))
    )


def validate(source: SourceData, currency: CurrencyConfig) -> ValidatedData:
    vendors, rejected_vendors = _split(source.vendors, vendor_rules(), "vendors")
    all_ids = source.vendors.get_column("vendor_id").drop_nulls()
    accepted_ids = vendors.get_column("vendor_id")
    work_items, rejected_items = _split(
        source.work_items, work_item_rules(all_ids, accepted_ids), "work_items"
    )
    requests, rejected_requests = _split(
        source.requests, request_rules(all_ids, accepted_ids), "requests"
    )
    charges, rejected_charges = _split(
        source.charges, charge_rules(all_ids, accepted_ids, currency), "charges"
    )
    accepted = {
        "vendors": vendors,
        "work_items": work_items,
        "requests": requests,
        "charges": charges,
    }
    rejected = pl.concat([rejected_vendors, rejected_items, rejected_requests, rejected_charges])
    counts = {
        name: TableCounts(
            read=source.table(name).height,
            accepted=accepted[name].height,
            rejected=source.table(name).height - accepted[name].height,
        )
        for name in POLARS_SCHEMA
    }
    return ValidatedData(**accepted, data_quality=_summarise(rejected), counts=counts)
