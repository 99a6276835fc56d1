"""The median turnaround beside the mean: hand-computed medians, period boundaries, rejected
rows left out, and the same figures (and bytes) on every engine."""

from __future__ import annotations

import datetime as dt

import polars as pl

from output.tables import csv_bytes
from scoring.periods import months_of, periods_for
from scoring.scored import score
from scoring.table import score_table
from tests.builders import extracted, extracted_from, item, load, make_config, scored, vendor

QUARTER = periods_for(dt.date(2026, 9, 30), "quarter", 0)
MONTHS = periods_for(dt.date(2026, 9, 30), "month", 2)  # July, August, September
MEDIAN = {"median_turnaround": True}  # off by default: the tests ask for it


def done(work_item_id: str, vendor_id: str, hours: float, completed: str = "2026-07-10 00:00",
         process: str = "support", **overrides) -> dict:  # fmt: skip
    """An item completed at `completed`, received `hours` before."""
    end = dt.datetime.fromisoformat(completed)
    start = (end - dt.timedelta(hours=hours)).isoformat(sep=" ")
    return item(work_item_id, vendor_id, start, None, completed, process=process) | overrides


ROWS = {
    "vendors": [vendor("A"), vendor("B"), vendor("C"), vendor("D")],
    "work_items": [
        # A, support: 3 items (odd): the middle one is 2 h; the mean is 13/3 h.
        done("a1", "A", 10), done("a2", "A", 1), done("a3", "A", 2),
        # A, billing: 4 items (even), with a tie: (3 + 5) / 2 = 4 h.
        *[done(f"b{n}", "A", h, process="billing") for n, h in enumerate([100, 3, 5, 1])],
        # Rejected rows count in no median: no units, a blank process.
        done("zero", "A", 900, units=0), done("blank", "A", 800, process=" "),
        # B: one item: its own turnaround.
        done("one", "B", 7.5),
        # C: items received, none completed: no median (null, never 0).
        item("open", "C", "2026-07-01 00:00", "2026-07-05 00:00", None),
        # D: the middle items fall on two different days: (2 + 4) / 2 = 3 h.
        done("d1", "D", 4, "2026-08-01 00:00"), done("d2", "D", 2, "2026-07-31 23:00"),
    ],
}  # fmt: skip


def _medians(table: pl.DataFrame) -> dict[tuple[str, str, str], float | None]:
    return {
        (r["period"], r["vendor_id"], r["process"]): r["median_turnaround_hours"]
        for r in table.iter_rows(named=True)
    }


def test_hand_computed_medians_odd_even_one_none_and_over_all_processes():
    table = scored(ROWS, QUARTER, make_config(database={"parallel_queries": 1}, scoring=MEDIAN))
    q = "2026-Q3"
    assert _medians(table) == {
        (q, "A", "ALL"): 3.0,  # 1, 1, 2, 3, 5, 10, 100: the 4th of 7
        (q, "A", "billing"): 4.0,
        (q, "A", "support"): 2.0,
        (q, "B", "ALL"): 7.5,
        (q, "B", "support"): 7.5,
        (q, "C", "ALL"): None,
        (q, "C", "support"): None,
        (q, "D", "ALL"): 3.0,
        (q, "D", "support"): 3.0,
    }
    means = {(r["vendor_id"], r["process"]): r["mean_turnaround_hours"] for r in table.to_dicts()}
    assert means[("A", "support")] == 4.33 and means[("C", "support")] is None


def test_a_report_period_takes_the_median_of_its_own_items_months_and_quarters():
    config = make_config(database={"parallel_queries": 1}, scoring=MEDIAN)
    by_month = _medians(scored(ROWS, MONTHS, config))
    # D's two items fall in two months: each month's median is its one item.
    assert by_month[("2026-07", "D", "support")] == 2.0
    assert by_month[("2026-08", "D", "support")] == 4.0
    assert by_month[("2026-09", "D", "ALL")] is None
    # A quarter is ranked as a whole, never added up from its months' medians.
    assert _medians(scored(ROWS, QUARTER, config))[("2026-Q3", "D", "support")] == 3.0


def test_months_of_a_quarterly_run_have_no_median_since_it_was_ranked_by_quarter():
    """Service levels are measured per month on a quarterly run's data: the median there is
    not known (null) rather than a wrong figure; the mean is."""
    config = make_config(scoring=MEDIAN)
    activity = extracted(ROWS, QUARTER, config)
    monthly = score_table(activity, months_of(QUARTER), config)
    july = monthly.filter((pl.col("period") == "2026-07") & (pl.col("vendor_id") == "D")).row(
        0, named=True
    )
    assert july["median_turnaround_hours"] is None
    assert july["mean_turnaround_hours"] == 2.0


def test_the_median_is_a_column_of_scores_csv_after_the_kpis_inputs():
    header = csv_bytes(scored(ROWS, QUARTER)).decode().splitlines()[0].split(",")
    assert header[header.index("billed_units") + 1] == "median_turnaround_hours"


def test_every_engine_and_every_slicing_gives_the_same_medians_and_bytes(
    sqlite_url, postgresql_url, mariadb_url, duckdb_url
):
    outputs = {}
    for url in (sqlite_url, postgresql_url, mariadb_url, duckdb_url):
        load(url, ROWS, primary_keys=False)
        for slices in (1, 3):
            config = make_config(database={"parallel_queries": slices}, scoring=MEDIAN)
            table = score(extracted_from(url, MONTHS, config), MONTHS, config).table
            outputs[(url.split(":")[0], slices)] = csv_bytes(table)
    first = outputs[("sqlite", 1)]
    assert b"median_turnaround_hours" in first.splitlines()[0]
    assert {key: body == first for key, body in outputs.items()} == dict.fromkeys(outputs, True)
    august = pl.read_csv(first).filter(pl.col("period") == "2026-08")
    # Only D completed items in August; every vendor keeps its ALL row, with no median.
    assert august.select("vendor_id", "process", "median_turnaround_hours").rows() == [
        ("A", "ALL", None),
        ("B", "ALL", None),
        ("C", "ALL", None),
        ("D", "ALL", 4.0),
        ("D", "support", 4.0),
    ]


def test_off_by_default_the_median_is_not_measured_and_nothing_is_ranked(sqlite_url):
    """The ranking is a sort of every completed item: only on request. Off, the median is null
    (not measured, never 0) and the summing query has no window."""
    from sqlalchemy import column, create_engine, select, table

    from extract.summaries import work_item_days_query
    from scoring.periods import window_of

    config = make_config(database={"parallel_queries": 1})
    assert not config.scoring.median_turnaround
    medians = _medians(scored(ROWS, QUARTER, config))
    assert medians and all(value is None for value in medians.values())
    names = ["work_item_id", "vendor_id", "process", "received_at", "due_at", "completed_at",
             "units", "defects", "qa_checked_units", "reworked"]  # fmt: skip
    source = select(table("work_items", *[column(n) for n in names])).subquery("src")
    sqlite = create_engine(sqlite_url).dialect
    off = str(work_item_days_query(source, window_of(QUARTER), ()).compile(dialect=sqlite))
    on = str(
        work_item_days_query(source, window_of(QUARTER, median=True), ()).compile(dialect=sqlite)
    )
    assert "row_number" not in off.lower() and "row_number" in on.lower()
