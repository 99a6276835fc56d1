"""The rules of contract section 1, applied to every row read (section 7).

A row that breaks a rule is rejected and left out of every KPI. A row that
breaks several rules is counted once, under the first rule in the order listed
here, so that rows read = rows accepted + rows rejected always holds and the
counts in data_quality.csv add up.

The small tables (vendors, charges: one row per vendor, per invoice line) are
read whole and checked here with polars. The large ones (work items,
requests: millions of rows) are checked inside the database, by the same
query that sums them (extract/summaries.py), with the SQL rules defined here,
so that no raw row crosses the wire.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import ColumnElement, String, and_, case, func, literal, or_

from scorecard.config import CurrencyConfig
from scorecard.schema import ID_COLUMN

SOURCINGS = ("offshore", "nearshore", "onshore", "in_house")
PRIORITIES = ("urgent", "high", "normal", "low")
CHARGE_KINDS = ("fee", "service_credit", "one_off")
EXAMPLE_IDS = 5
NULL_ID = "(null)"

EXAMPLE_VALUES = 5
# Above this, a count of units (payslips, pages, calls) is no count but a fault, and
# summing a few such values would overflow a BIGINT.
MAX_UNITS = 1_000_000_000

DATA_QUALITY_SCHEMA = {
    "table": pl.String(),
    "rule": pl.String(),
    "vendor_id": pl.String(),
    "rows_rejected": pl.Int64(),
    "example_ids": pl.String(),
    "example_values": pl.String(),
}

# The rules about a value, and the column whose value data_quality.csv shows for them.
# Each `bad_<column>` rule (text that does not read) shows `_raw_<column>`.
VALUE_OF_RULE = {
    "unknown_vendor": "vendor_id",
    "bad_sourcing": "sourcing",
    "bad_country": "country",
    "bad_currency": "currency",
    "bad_kind": "kind",
    "unknown_currency": "currency",
    "bad_priority": "priority",
}


def value_column(rule: str, parsed: Sequence[str]) -> str | None:
    """The column whose values a rule's rejections are shown with, if any."""
    for name in parsed:
        if rule == f"bad_{name}":
            return f"_raw_{name}"
    return VALUE_OF_RULE.get(rule)


Rule = tuple[str, pl.Expr]
SqlRule = tuple[str, ColumnElement[bool]]
Columns = dict[str, ColumnElement[object]]


# ---- polars rules, for the small tables -------------------------------------------------


def _blank(name: str) -> pl.Expr:
    return pl.col(name).is_null() | (pl.col(name).str.strip_chars() == "")


def _id_rules(table: str, parsed: Sequence[str] = ()) -> list[Rule]:
    """The ID rules, then a value held as text that does not read (`bad_<column>`)."""
    id_column = ID_COLUMN[table]
    return [
        ("missing_id", _blank(id_column)),
        ("duplicate_id", pl.col(id_column).is_duplicated()),
        *[
            (f"bad_{name}", pl.col(f"_raw_{name}").is_not_null() & pl.col(name).is_null())
            for name in parsed
        ],
    ]


def vendor_rules(parsed: Sequence[str] = ()) -> list[Rule]:
    return [
        *_id_rules("vendors", parsed),
        ("missing_name", _blank("name")),
        ("bad_sourcing", pl.col("sourcing").is_null() | ~pl.col("sourcing").is_in(SOURCINGS)),
        (
            "bad_country",
            pl.col("country").is_not_null() & ~pl.col("country").str.contains(r"^[A-Z]{2}$"),
        ),
        # May be null (contract section 1): charges carry their own currency.
        (
            "bad_currency",
            pl.col("currency").is_not_null() & ~pl.col("currency").str.contains(r"^[A-Z]{3}$"),
        ),
        ("contract_end_before_start", pl.col("contract_end") < pl.col("contract_start")),
    ]


def charge_rules(
    all_vendor_ids: Sequence[str],
    accepted_vendor_ids: Sequence[str],
    currency: CurrencyConfig,
    parsed: Sequence[str] = (),
) -> list[Rule]:
    known_currencies = list(currency.to_base())
    return [
        *_id_rules("charges", parsed),
        *group_rules(all_vendor_ids, accepted_vendor_ids),
        (
            "missing_service_dates",
            pl.col("service_start").is_null() | pl.col("service_end").is_null(),
        ),
        ("service_end_before_start", pl.col("service_end") < pl.col("service_start")),
        ("bad_kind", pl.col("kind").is_null() | ~pl.col("kind").is_in(CHARGE_KINDS)),
        (
            "missing_amount",
            pl.col("amount").is_null() | pl.col("amount").is_nan() | pl.col("amount").is_infinite(),
        ),
        (
            "negative_amount_not_credit",
            (pl.col("amount") < 0) & (pl.col("kind") != "service_credit"),
        ),
        (
            "unknown_currency",
            pl.col("currency").is_null() | ~pl.col("currency").is_in(known_currencies),
        ),
        # No charge is worth a trillion (in the base currency): such an amount is a unit or
        # typing error, and summed into fees and credits it would no longer be exact cents.
        (
            "amount_out_of_range",
            pl.col("amount").abs()
            * pl.col("currency").replace_strict(
                currency.to_base(), default=None, return_dtype=pl.Float64
            )
            > MAX_CHARGE_AMOUNT,
        ),
    ]


MAX_CHARGE_AMOUNT = 1e12
"""The largest charge, in the base currency, read as a charge and not as an error."""


def first_broken_rule(rules: Sequence[Rule]) -> pl.Expr:
    """The name of the first rule a row breaks, or null for a good row."""
    # Built from the last rule back, so the first rule broken wins.
    result = pl.lit(None, dtype=pl.String)
    for name, broken in reversed(rules):
        result = pl.when(broken.fill_null(False)).then(pl.lit(name)).otherwise(result)
    return result.alias("_rule")


# ---- rules for the large tables ---------------------------------------------------------
#
# Work items and requests are checked inside the database, in the query that sums them.
# The rules that look at one row's own values run as SQL, row by row. The rules that
# look only at the vendor and the process (the columns the rows are grouped by) run
# afterwards on the groups, with the same polars expressions as the small tables: the
# same result, at a fraction of the cost per row. The order of the contract's rules is
# kept across the two: ID rules, then vendor and process rules, then the row's values.


def sql_blank(value: ColumnElement[object]) -> ColumnElement[bool]:
    """NULL, empty or only spaces. TRIM is tried only on values that start with a space:
    on PostgreSQL it costs a copy per row, a sixth of the whole summing query."""
    return or_(value.is_(None), value == "", and_(value.like(" %"), func.trim(value) == ""))


def sql_id_rules(c: Columns, table: str, duplicated: ColumnElement[bool] | None) -> list[SqlRule]:
    """duplicated: true for a row whose ID occurs more than once; None when a key forbids it."""
    return [
        ("missing_id", sql_blank(c[ID_COLUMN[table]])),
        *([("duplicate_id", duplicated)] if duplicated is not None else []),
    ]


def sql_unreadable_rules(c: Columns, parsed: Sequence[str]) -> list[SqlRule]:
    """A value held as text that does not read as its column's type: `bad_<column>`."""
    return [
        (f"bad_{name}", and_(c[f"_raw_{name}"].is_not(None), c[name].is_(None))) for name in parsed
    ]


def sql_count(value: ColumnElement[Any]) -> ColumnElement[bool]:
    """A count that is no count: missing, or beyond any real volume (it would overflow a sum)."""
    return or_(value.is_(None), value > MAX_UNITS)


def group_rules(all_vendor_ids: Sequence[str], accepted_vendor_ids: Sequence[str]) -> list[Rule]:
    """The rules on vendor_id and process, which the database's groups carry as keys."""
    return [
        (
            "unknown_vendor",
            _blank("vendor_id") | ~pl.col("vendor_id").is_in(list(all_vendor_ids)),
        ),
        # The vendor exists but its own row was rejected, so nothing of it can be scored.
        ("vendor_rejected", ~pl.col("vendor_id").is_in(list(accepted_vendor_ids))),
        ("missing_process", _blank("process")),
    ]


ID_RULES = ("missing_id", "duplicate_id")


def work_item_sql_rules(
    c: Columns, duplicated: ColumnElement[bool] | None, parsed: Sequence[str] = ()
) -> list[SqlRule]:
    """Every work-item rule but the group rules, in the contract's order."""
    return [
        *sql_id_rules(c, "work_items", duplicated),
        *sql_unreadable_rules(c, parsed),
        ("missing_received_at", c["received_at"].is_(None)),
        ("due_before_received", c["due_at"] < c["received_at"]),
        ("completed_before_received", c["completed_at"] < c["received_at"]),
        ("bad_units", or_(sql_count(c["units"]), c["units"] < 1)),
        (
            "bad_qa_checked_units",
            or_(
                sql_count(c["qa_checked_units"]),
                c["qa_checked_units"] < 0,
                c["qa_checked_units"] > c["units"],
            ),
        ),
        (
            "bad_defects",
            or_(
                sql_count(c["defects"]),
                c["defects"] < 0,
                c["defects"] > c["qa_checked_units"],
            ),
        ),
        ("missing_reworked", c["reworked"].is_(None)),
    ]


def request_sql_rules(
    c: Columns, duplicated: ColumnElement[bool] | None, parsed: Sequence[str] = ()
) -> list[SqlRule]:
    """Every request rule but the group rules, in the contract's order."""
    return [
        *sql_id_rules(c, "requests", duplicated),
        *sql_unreadable_rules(c, parsed),
        ("bad_priority", or_(c["priority"].is_(None), c["priority"].not_in(PRIORITIES))),
        ("missing_opened_at", c["opened_at"].is_(None)),
        ("first_response_before_opened", c["first_response_at"] < c["opened_at"]),
        ("resolved_before_opened", c["resolved_at"] < c["opened_at"]),
    ]


def first_broken_sql_rule(rules: Sequence[SqlRule]) -> ColumnElement[str]:
    """CASE WHEN: the first rule broken, NULL for a good row (a NULL test is not a break)."""
    # literal_execute: the rule names are written into the SQL, so PostgreSQL knows the
    # CASE is text.
    return case(
        *[(and_(broken), literal(name, String(), literal_execute=True)) for name, broken in rules],
        else_=None,
    )


def with_group_rules(groups: pl.DataFrame, rules: Sequence[Rule]) -> pl.DataFrame:
    """The final rule of each group: an ID rule from the database wins, then the group rules."""
    rule = pl.col("rule")
    # Built from the last rule back, so that the first that applies wins.
    final = rule
    for name, broken in reversed(rules):
        final = pl.when(broken.fill_null(False)).then(pl.lit(name)).otherwise(final)
    final = pl.when(rule.is_in(ID_RULES)).then(rule).otherwise(final)
    return groups.with_columns(final.alias("rule"))


# ---- what validation yields -------------------------------------------------------------


@dataclass(frozen=True)
class TableCounts:
    read: int
    accepted: int
    rejected: int


def split_rows(
    frame: pl.DataFrame, rules: Sequence[Rule], table: str, parsed: Sequence[str] = ()
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The accepted rows, and one rejected-row group per row (see `summarise_rejections`)."""
    marked = frame.with_columns(first_broken_rule(rules))
    value = pl.lit(None, pl.String)
    for name, _ in rules:
        shown = value_column(name, parsed)
        if shown is not None and shown in frame.columns:
            # A text that does not read shows itself; a number out of range is not shown.
            readable = (
                pl.col(shown.removeprefix("_raw_")).is_not_null()
                if shown.startswith("_raw_")
                else pl.lit(False)
            )
            value = (
                pl.when((pl.col("_rule") == name) & ~readable)
                .then(pl.col(shown).cast(pl.String))
                .otherwise(value)
            )
    accepted = marked.filter(pl.col("_rule").is_null()).drop(
        "_rule", *[c for c in frame.columns if c.startswith("_raw_")]
    )
    rejected = marked.filter(pl.col("_rule").is_not_null()).select(
        pl.lit(table).alias("table"),
        pl.col("_rule").alias("rule"),
        pl.col("vendor_id"),
        pl.lit(1, pl.Int64).alias("rows"),
        pl.col(ID_COLUMN[table]).fill_null(NULL_ID).alias("first_id"),
        pl.col(ID_COLUMN[table]).fill_null(NULL_ID).alias("last_id"),
        value.alias("value"),
    )
    return accepted, rejected


REJECTED_GROUP_SCHEMA = {
    "table": pl.String(),
    "rule": pl.String(),
    "vendor_id": pl.String(),
    "rows": pl.Int64(),
    "first_id": pl.String(),
    "last_id": pl.String(),
    "value": pl.String(),
}


def _example_values(groups: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """`"3 - Moderate" x19554; "4 - Low" x1203`: the values refused, most frequent first."""
    counted = (
        groups.filter(pl.col("value").is_not_null())
        .group_by(*keys, "value")
        .agg(pl.col("rows").sum().alias("n"))
        .sort(["n", "value"], descending=[True, False])
    )
    return counted.group_by(keys, maintain_order=True).agg(
        pl.format('"{}" x{}', "value", "n")
        .head(EXAMPLE_VALUES)
        .str.join("; ")
        .alias("example_values")
    )


def summarise_rejections(groups: pl.DataFrame) -> pl.DataFrame:
    """data_quality.csv: rows rejected per table, rule and vendor, with up to 5 example IDs.

    Each input row is a group of rejected rows (one row for a small table; one
    vendor, process and day for a large one) with its smallest and largest ID.
    The examples are the smallest of those: real offending IDs, spread over days.
    """
    if groups.is_empty():
        return pl.DataFrame(schema=DATA_QUALITY_SCHEMA)
    keys = ["table", "rule", "vendor_id"]
    examples = (
        pl.concat(
            [
                groups.select(*keys, pl.col("first_id").alias("id")),
                groups.select(*keys, pl.col("last_id").alias("id")),
            ]
        )
        .unique()
        .group_by(keys)
        .agg(pl.col("id").sort().head(EXAMPLE_IDS).str.join(" ").alias("example_ids"))
    )
    return (
        groups.group_by(keys)
        .agg(pl.col("rows").sum().cast(pl.Int64).alias("rows_rejected"))
        .join(examples, on=keys, how="left", nulls_equal=True)
        .join(_example_values(groups, keys), on=keys, how="left", nulls_equal=True)
        .sort("table", "rule", "vendor_id", nulls_last=True)
        .select(list(DATA_QUALITY_SCHEMA))
    )
