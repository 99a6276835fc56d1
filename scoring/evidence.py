"""Evidence behind every missed service level (contract section 12), as small pure functions.

Which vendor x level x months need their items listed (`evidence_groups`), and the
rows of evidence.csv from what the extract stage read for them (`evidence_table`):
each item with why it failed, bounded per group with a "more" row.

Declared KPIs (contract section 10): a declared rate's failed trials carry the
reason `not_success`. The extract stage reads them in the same query as its table's
other evidence, as a column per declared rate holding the month each failed trial
counts in (`extract.evidence.declared_column`). A declared mean lists nothing yet:
its level's count is null (not listed), never 0.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import polars as pl

from extract.activity import Activity
from extract.evidence import (
    ALL_PROCESSES,
    DECLARED_PREFIX,
    KPI_TABLE,
    EvidenceGroup,
    EvidenceRows,
)
from scorecard.config import Config
from scoring.catalogue import BUILT_IN_CATALOGUE
from scoring.credits import DUE, PENDING, ServiceCredits, run_credits
from scoring.periods import Period

EVIDENCE_COLUMNS = [
    "month", "vendor_id", "service_level", "process", "kpi", "table", "item_id", "reason", "value",
]  # fmt: skip
EVIDENCE_SCHEMA = {
    "month": pl.String, "vendor_id": pl.String, "service_level": pl.String, "process": pl.String,
    "kpi": pl.String, "table": pl.String, "item_id": pl.String, "reason": pl.String,
    "value": pl.Float64,
}  # fmt: skip
COUNT_SCHEMA = {
    "month": pl.String, "vendor_id": pl.String, "service_level": pl.String, "items": pl.Int64,
}  # fmt: skip
MORE = "more"
REASONS = (
    "late", "open_past_due", "defects", "reworked", "answered_late", "unanswered_past_target",
    "over_maximum", "not_success",
)  # fmt: skip

_HOUR_MS = 3_600_000


def needs_evidence() -> pl.Expr:
    """A level whose items must be listed: a credit due or pending, or a provisional miss."""
    return pl.col("status").is_in([DUE, PENDING]) | (
        pl.col("provisional") & (pl.col("met") == False)  # noqa: E712 (null stays null)
    ).fill_null(False)


def evidence_groups(levels: pl.DataFrame) -> list[EvidenceGroup]:
    """The vendor x level x months of service_credits.csv rows that need their items listed."""
    chosen = levels.filter(needs_evidence()).sort("month", "vendor_id", "service_level")
    return [
        EvidenceGroup(
            vendor_id=r["vendor_id"],
            service_level=r["service_level"],
            process=r["process"],
            month=r["month"],
            kpi=r["kpi"],
            threshold=float(r["threshold"]),
        )
        for r in chosen.iter_rows(named=True)
    ]


def _groups_frame(groups: Sequence[EvidenceGroup]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "vendor_id": g.vendor_id,
                "service_level": g.service_level,
                "g_process": g.process,
                "month": g.month,
                "kpi": g.kpi,
                "threshold": g.threshold,
            }
            for g in groups
        ],
        schema={
            "vendor_id": pl.String,
            "service_level": pl.String,
            "g_process": pl.String,
            "month": pl.String,
            "kpi": pl.String,
            "threshold": pl.Float64,
        },
    )


def _matched(rows: pl.DataFrame, groups: pl.DataFrame, kpis: Sequence[str]) -> pl.DataFrame:
    """Each row with each group of these KPIs it may belong to (same vendor, process)."""
    process = pl.col("process")
    return (
        rows.filter(process.is_not_null() & (process.str.strip_chars() != ""))
        .join(groups.filter(pl.col("kpi").is_in(list(kpis))), on="vendor_id")
        .filter((pl.col("g_process") == ALL_PROCESSES) | (pl.col("g_process") == process))
    )


def _built_in(table: str) -> list[str]:
    """The built-in KPIs whose items are rows of `table` (the catalogue's table)."""
    return [kpi.name for kpi in BUILT_IN_CATALOGUE.kpis if kpi.table == table]


def work_item_reasons(rows: pl.DataFrame, groups: pl.DataFrame) -> pl.DataFrame:
    """The work items behind each group: (group keys, item_id, reason, value)."""
    kpi, month = pl.col("kpi"), pl.col("month")
    by_due = month == pl.col("due_month")
    by_completion = month == pl.col("completed_month")
    hours_late = pl.col("late_ms") / _HOUR_MS
    turnaround = pl.col("turnaround_ms") / _HOUR_MS
    matched = _matched(rows, groups, _built_in("work_items"))
    return matched.select(
        "month", "vendor_id", "service_level", "kpi",
        pl.col("g_process").alias("process"),
        pl.lit("work_items").alias("table"),
        "item_id",
        pl.when((kpi == "on_time_rate") & by_due & (pl.col("on_time") == 0))
        .then(pl.when(pl.col("completed") == 1).then(pl.lit("late")).otherwise(pl.lit("open_past_due")))
        .when((kpi == "accuracy") & by_completion & (pl.col("defects") > 0))
        .then(pl.lit("defects"))
        .when((kpi == "rework_rate") & by_completion & (pl.col("reworked") == 1))
        .then(pl.lit("reworked"))
        .when((kpi == "mean_turnaround_hours") & by_completion
              & (pl.col("turnaround_ms") > pl.col("threshold") * _HOUR_MS))
        .then(pl.lit("over_maximum"))
        .alias("reason"),
        pl.when(kpi == "on_time_rate")
        .then(pl.when(pl.col("completed") == 1).then(hours_late.round(2)))
        .when(kpi == "accuracy")
        .then(pl.col("defects").cast(pl.Float64))
        .when(kpi == "mean_turnaround_hours")
        .then(turnaround.round(2))
        .alias("value"),
    ).filter(pl.col("reason").is_not_null())  # fmt: skip


def request_reasons(rows: pl.DataFrame, groups: pl.DataFrame) -> pl.DataFrame:
    """The requests behind each group: (group keys, item_id, reason, value)."""
    kpi = pl.col("kpi")
    in_month = pl.col("month") == pl.col("opened_month")
    answered = pl.col("answered") == 1
    hours = (pl.col("response_ms") / _HOUR_MS).round(2)
    matched = _matched(rows, groups, _built_in("requests"))
    return matched.select(
        "month", "vendor_id", "service_level", "kpi",
        pl.col("g_process").alias("process"),
        pl.lit("requests").alias("table"),
        "item_id",
        pl.when((kpi == "response_within_target_rate") & in_month
                & (pl.col("target_due") == 1) & (pl.col("within_target") == 0))
        .then(pl.when(answered).then(pl.lit("answered_late")).otherwise(pl.lit("unanswered_past_target")))
        .when((kpi == "mean_first_response_hours") & in_month & answered
              & (pl.col("response_ms") > pl.col("threshold") * _HOUR_MS))
        .then(pl.lit("over_maximum"))
        .alias("reason"),
        pl.when(answered).then(hours).alias("value"),
    ).filter(pl.col("reason").is_not_null())  # fmt: skip


def declared_reasons(rows: pl.DataFrame, groups: pl.DataFrame, table: str) -> pl.DataFrame:
    """A declared rate's failed trials behind each of its groups: reason `not_success`, in the
    month the trial counts in (its `declared_<name>` column)."""
    parts = []
    for column in (c for c in rows.columns if c.startswith(DECLARED_PREFIX)):
        name = column.removeprefix(DECLARED_PREFIX)
        matched = _matched(rows, groups, [name]).filter(pl.col("month") == pl.col(column))
        parts.append(
            matched.select(
                "month",
                "vendor_id",
                "service_level",
                "kpi",
                pl.col("g_process").alias("process"),
                pl.lit(table).alias("table"),
                "item_id",
                pl.lit("not_success").alias("reason"),
                pl.lit(None, pl.Float64).alias("value"),
            )
        )
    return pl.concat(parts) if parts else pl.DataFrame(schema=EVIDENCE_SCHEMA)


def listed_kpis(read: EvidenceRows) -> list[str]:
    """The KPIs whose items are listed: the built-in ones and each declared rate asked for."""
    declared = [
        c.removeprefix(DECLARED_PREFIX)
        for frame in (read.work_items, read.requests)
        for c in frame.columns
        if c.startswith(DECLARED_PREFIX)
    ]
    return [*KPI_TABLE, *declared]


def bounded(rows: pl.DataFrame, max_items: int) -> pl.DataFrame:
    """At most max_items rows per vendor x level x month, smallest IDs first, then a "more" row
    (item_id empty) whose value is how many were left out."""
    group = ["month", "vendor_id", "service_level"]
    ordered = rows.sort(*group, "item_id").with_columns(
        pl.int_range(pl.len()).over(group).alias("_place"), pl.len().over(group).alias("_count")
    )
    kept = ordered.filter(pl.col("_place") < max_items)
    more = ordered.filter(pl.col("_place") == max_items).with_columns(
        pl.lit(None, pl.String).alias("item_id"),
        pl.lit(MORE).alias("reason"),
        (pl.col("_count") - max_items).cast(pl.Float64).alias("value"),
    )
    return (
        pl.concat([kept, more])
        .with_columns(pl.col("item_id").is_null().alias("_more"))
        .sort(*group, "_more", "item_id")
        .select(EVIDENCE_COLUMNS)
    )


def evidence_rows(read: EvidenceRows) -> pl.DataFrame:
    """Every item behind every group, unbounded, with its reason and value."""
    groups = _groups_frame(read.groups)
    parts = [
        work_item_reasons(read.work_items, groups),
        request_reasons(read.requests, groups),
        declared_reasons(read.work_items, groups, "work_items"),
        declared_reasons(read.requests, groups, "requests"),
    ]
    return pl.concat(
        [part.select(EVIDENCE_COLUMNS).cast(EVIDENCE_SCHEMA) for part in parts]  # type: ignore[arg-type]
    )


def evidence_counts(read: EvidenceRows, rows: pl.DataFrame) -> pl.DataFrame:
    """How many items stand behind each group (0 when none); null for a KPI not listed yet."""
    counted = rows.group_by("month", "vendor_id", "service_level").agg(pl.len().alias("items"))
    groups = _groups_frame(read.groups).select("month", "vendor_id", "service_level", "kpi")
    listed = pl.col("kpi").is_in(listed_kpis(read))
    return (
        groups.join(counted, on=["month", "vendor_id", "service_level"], how="left")
        .with_columns(pl.when(listed).then(pl.col("items").fill_null(0)).alias("items"))
        .select(list(COUNT_SCHEMA))
        .cast(COUNT_SCHEMA)  # type: ignore[arg-type]
    )


def evidence_table(read: EvidenceRows | None, max_items: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """evidence.csv's rows (bounded) and the item count per vendor x level x month."""
    if read is None:
        return pl.DataFrame(schema=EVIDENCE_SCHEMA), pl.DataFrame(schema=COUNT_SCHEMA)
    rows = evidence_rows(read)
    return bounded(rows, max_items), evidence_counts(read, rows)


def wanted_evidence(
    activity: Activity, periods: Sequence[Period], config: Config
) -> list[EvidenceGroup]:
    """The extract stage's question, asked inside its transaction: whose items to list."""
    credits = run_credits(activity, periods, config)
    return [] if credits is None else evidence_groups(credits.levels)


def with_evidence(credits: ServiceCredits, activity: Activity, config: Config) -> ServiceCredits:
    """The credits with their evidence rows and counts, when the extract stage read them."""
    if activity.evidence is None:
        return credits
    rows, counts = evidence_table(activity.evidence, config.evidence.max_items)
    return dataclasses.replace(credits, evidence=rows, evidence_counts=counts)
