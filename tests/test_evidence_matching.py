"""The candidate rows of evidence meet only the groups of their own month (scoring.evidence):
joined on the vendor alone, every row met each of its vendor's groups of every month, and the
frame grew to rows x months before the reasons cut it back (1.3 GB at 10M work items)."""

from __future__ import annotations

import polars as pl

from extract.evidence import (
    REQUEST_EVIDENCE_SCHEMA,
    WORK_ITEM_EVIDENCE_SCHEMA,
    EvidenceGroup,
    EvidenceRows,
    accepted,
)
from scoring import evidence
from scoring.evidence import evidence_rows

MONTHS = [f"2026-{m:02d}" for m in range(1, 13)]


def _rows(per_month: int) -> pl.DataFrame:
    """per_month late items (due and completed in that month, 5 hours late) for each month."""
    rows = [
        {
            "vendor_id": "V1",
            "process": "billing",
            "item_id": f"{month}-{i:03d}",
            "rule": None,
            "due_month": month,
            "completed_month": month,
            "on_time": 0,
            "completed": 1,
            "defects": 1,
            "reworked": 0,
            "turnaround_ms": 3_600_000,
            "late_ms": 18_000_000,
        }
        for month in MONTHS
        for i in range(per_month)
    ]
    return accepted(pl.DataFrame(rows, schema=WORK_ITEM_EVIDENCE_SCHEMA))


def _groups() -> tuple[EvidenceGroup, ...]:
    """Two service levels of V1 missed every month: on time (by due month), accuracy (by
    completion month)."""
    return tuple(
        EvidenceGroup("V1", level, "ALL", month, kpi, 0.95)
        for month in MONTHS
        for level, kpi in (("SL-ONTIME", "on_time_rate"), ("SL-ACC", "accuracy"))
    )


def test_each_row_meets_only_the_groups_of_its_own_month():
    rows = _rows(per_month=20)
    groups = evidence._groups_frame(_groups())
    matched = evidence._built_in_matched(rows, groups, "work_items")
    # One group per KPI per row: 240 rows x 2 KPIs, not 240 x 24.
    assert matched.height == rows.height * 2
    assert (matched.get_column("month") == matched.get_column("due_month")).all()


def test_every_item_is_listed_once_per_group_with_its_reason():
    rows = _rows(per_month=3)
    listed = evidence_rows(
        EvidenceRows(_groups(), rows, accepted(pl.DataFrame(schema=REQUEST_EVIDENCE_SCHEMA)))
    )
    assert listed.height == rows.height * 2
    january = listed.filter(pl.col("month") == "2026-01").sort("service_level", "item_id")
    assert january.select("service_level", "item_id", "reason", "value").rows() == [
        ("SL-ACC", "2026-01-000", "defects", 1.0),
        ("SL-ACC", "2026-01-001", "defects", 1.0),
        ("SL-ACC", "2026-01-002", "defects", 1.0),
        ("SL-ONTIME", "2026-01-000", "late", 5.0),
        ("SL-ONTIME", "2026-01-001", "late", 5.0),
        ("SL-ONTIME", "2026-01-002", "late", 5.0),
    ]
