"""The extract stage sums inside the database: what it reads, what it returns, on every dialect."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from sqlalchemy import create_engine, text

from extract.source import ids_enforced_unique
from scoring.periods import periods_for
from tests.builders import extracted, extracted_from, item, load, make_config, request, vendor

# As of 2026-09-30 with one quarter of history: the window is 2026-04-01 to the end of 30 September.
PERIODS = periods_for(dt.date(2026, 9, 30), "quarter", 1)


def test_many_rows_of_a_day_arrive_as_one_summed_row():
    items = [
        item(f"w{n:04d}", "A", "2026-07-01 08:00", "2026-07-02 08:00", "2026-07-01 10:00", units=2)
        for n in range(500)
    ]
    data = extracted({"vendors": [vendor("A")], "work_items": items}, PERIODS)
    assert data.work_item_days.select("completed_day", "items", "units").rows() == [
        (dt.date(2026, 7, 1), 500, 1000)
    ]
    assert data.counts["work_items"].read == 500


def test_only_the_window_is_read_but_a_row_without_its_timestamp_is_rejected_not_dropped():
    rows = {
        "vendors": [vendor("A")],
        "work_items": [
            item("in", "A", "2026-07-01 08:00", "2026-07-02 08:00", "2026-07-01 10:00"),
            # Received, due and completed before the window: no KPI can use it.
            item("old", "A", "2025-01-01 08:00", "2025-01-02 08:00", "2025-01-01 10:00"),
            # Received after the as-of day: it has not happened yet for this run.
            item("future", "A", "2026-10-02 08:00", None, None),
            # Received before the window, completed inside it: counts.
            item("late", "A", "2026-03-30 08:00", "2026-03-31 08:00", "2026-04-02 10:00"),
            item("no-time", "A", "2026-07-01 08:00", None, None) | {"received_at": None},
            # No received time, completed in the window: read, to be rejected and counted.
            item("no-received", "A", "2026-07-01 08:00", None, "2026-07-03 10:00")
            | {"received_at": None},
            # No received time, its other times long before the window: not read again.
            item("old-no-received", "A", "2025-01-01 08:00", "2025-01-02 08:00", "2025-01-01 10:00")
            | {"received_at": None},
        ],
        "requests": [
            request("r-in", "A", "high", "2026-07-01 00:00", "2026-07-01 01:00"),
            request("r-old", "A", "high", "2025-07-01 00:00", "2025-07-01 01:00"),
            request("r-none", "A", "high", "2026-07-01 00:00", None) | {"opened_at": None},
        ],
    }
    data = extracted(rows, PERIODS)
    assert data.counts["work_items"].read == 4  # in, late, no-time, no-received
    assert data.counts["work_items"].rejected == 2
    assert data.counts["requests"].read == 2  # r-in, r-none
    quality = data.data_quality.select("table", "rule", "rows_rejected", "example_ids").rows()
    assert quality == [
        ("requests", "missing_opened_at", 1, "r-none"),
        ("work_items", "missing_received_at", 2, "no-received no-time"),
    ]


def test_example_ids_are_real_offending_ids_and_at_most_five():
    # Completed on 20 different days: the examples are the smallest and largest ID of each
    # day's group, the smallest five of those kept.
    bad = [
        item(f"bad-{n:02d}", "A", f"2026-07-{n + 1:02d} 08:00", None, f"2026-07-{n + 1:02d} 09:00",
             units=0)
        for n in range(20)
    ]  # fmt: skip
    strangers = [
        item(f"str-{n:02d}", "NOPE", f"2026-07-{n + 1:02d} 08:00", None, None) for n in range(8)
    ]
    data = extracted({"vendors": [vendor("A")], "work_items": bad + strangers}, PERIODS)
    quality = {
        rule: (count, examples.split(" "))
        for rule, count, examples in data.data_quality.select(
            "rule", "rows_rejected", "example_ids"
        ).rows()
    }
    assert quality["bad_units"][0] == 20
    assert quality["bad_units"][1] == ["bad-00", "bad-01", "bad-02", "bad-03", "bad-04"]
    assert quality["unknown_vendor"][0] == 8
    assert set(quality["unknown_vendor"][1]) <= {row["work_item_id"] for row in strangers}
    assert quality["unknown_vendor"][1]  # some, even though the rule is applied to groups


def test_durations_and_days_are_computed_alike_on_every_dialect(any_database_url):
    # 1 h 30 min 15 s, and 26 h crossing midnight; counted on the day each was completed.
    rows = {
        "vendors": [vendor("A")],
        "work_items": [
            item("w1", "A", "2026-07-01 08:00:00", "2026-07-02 08:00", "2026-07-01 09:30:15"),
            item("w2", "A", "2026-07-01 23:00:00", "2026-07-02 08:00", "2026-07-03 01:00:00"),
        ],
        "requests": [request("r1", "A", "urgent", "2026-07-01 23:59:00", "2026-07-02 00:29:30")],
    }
    load(any_database_url, rows)
    data = extracted_from(any_database_url, PERIODS)
    days = data.work_item_days.sort("completed_day")
    assert days.select("completed_day", "turnaround_ms", "items_on_time").rows() == [
        (dt.date(2026, 7, 1), (3600 + 1800 + 15) * 1000, 1),
        (dt.date(2026, 7, 3), 26 * 3600 * 1000, 0),
    ]
    assert data.request_days.select(
        "opened_day", "response_ms", "requests_within_target", "requests_target_due"
    ).rows() == [(dt.date(2026, 7, 1), 30 * 60 * 1000 + 30 * 1000, 1, 1)]


def test_a_primary_key_spares_the_duplicate_check_and_a_loose_table_or_view_gets_it(
    any_database_url,
):
    load(any_database_url, {"vendors": [vendor("A")]})
    engine = create_engine(any_database_url)
    with engine.begin() as connection:
        # Unique, but on another column: no key on the ID.
        connection.execute(
            text("CREATE TABLE loose_items (work_item_id VARCHAR(64), code VARCHAR(64) UNIQUE)")
        )
        connection.execute(text("CREATE VIEW item_view AS SELECT * FROM work_items"))
    from scorecard.config import TableSource

    try:
        # DuckDB's too, asked of its own catalog (SQLAlchemy's inspector fails on it).
        assert ids_enforced_unique(engine, "work_items", None)
        assert not ids_enforced_unique(engine, "work_items", TableSource(table="loose_items"))
        assert not ids_enforced_unique(engine, "work_items", TableSource(table="item_view"))
        assert not ids_enforced_unique(
            engine, "work_items", TableSource(query="SELECT * FROM work_items")
        )
    finally:
        engine.dispose()


@pytest.mark.parametrize("rule", ["unknown_vendor", "missing_process"])
def test_id_rules_come_before_the_vendor_and_process_rules(rule):
    broken = {"vendor_id": "NOPE"} if rule == "unknown_vendor" else {"process": " "}
    rows = {
        "vendors": [vendor("A")],
        "work_items": [
            item("", "A", "2026-07-01 08:00", None, None) | broken,
            item("x1", "A", "2026-07-01 08:00", None, None) | broken,
        ],
    }
    data = extracted(rows, PERIODS, primary_keys=False)
    found = dict(data.data_quality.select("rule", "rows_rejected").rows())
    assert found == {"missing_id": 1, rule: 1}
    assert data.work_item_days.filter(pl.col("items") > 0).is_empty()


# DuckDB is left out: a file opened read-only cannot be written by anyone meanwhile.
@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mariadb"])
def test_the_whole_extraction_reads_one_snapshot(kind, request):
    """A load that commits while the job reads must not show up half-way through."""
    from extract.source import open_engine, read_only_connection

    any_database_url = request.getfixturevalue(f"{kind}_url")
    load(any_database_url, {"vendors": [vendor("A")]})
    writer = create_engine(any_database_url)
    if any_database_url.startswith("sqlite"):
        with writer.connect() as connection:  # readers and a writer at once need WAL
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    reader = open_engine(any_database_url, read_only=True)
    count = text("SELECT COUNT(*) FROM vendors")
    try:
        with read_only_connection(reader) as connection:
            before = connection.execute(count).scalar_one()
            with writer.begin() as writing:
                writing.execute(
                    text("INSERT INTO vendors (vendor_id, name, sourcing, currency) "
                         "VALUES ('B', 'B', 'onshore', 'EUR')")
                )  # fmt: skip
            after = connection.execute(count).scalar_one()
        with writer.connect() as connection:
            committed = connection.execute(count).scalar_one()
    finally:
        reader.dispose()
        writer.dispose()
    assert (before, after, committed) == (1, 1, 2)


def _sorted_days(data):
    return data.work_item_days.sort(pl.all(), nulls_last=True)


def test_slicing_the_work_items_over_several_connections_changes_no_figure(postgresql_url):
    from tests.test_validation import _dataset

    rows = _dataset()
    rows["work_items"] += [
        item(f"w{n}", "A", f"2026-0{4 + n % 6}-{1 + n % 28:02d} 0{n % 10}:00",
             f"2026-0{4 + n % 6}-{2 + n % 27:02d} 00:00", f"2026-0{4 + n % 6}-{1 + n % 28:02d} 12:00")
        for n in range(300)
    ] + [item("early", "A", "2026-03-30 08:00", "2026-04-01 08:00", "2026-04-02 10:00")]  # fmt: skip
    load(postgresql_url, rows, primary_keys=False)  # no keys: the duplicate check runs too
    config = make_config(database={"parallel_queries": 1})
    one = extracted_from(postgresql_url, PERIODS, config)
    for slices in (2, 3, 5):
        config = make_config(database={"parallel_queries": slices})
        many = extracted_from(postgresql_url, PERIODS, config)
        assert _sorted_days(many).equals(_sorted_days(one)), slices
        assert many.data_quality.equals(one.data_quality)
        assert many.counts == one.counts
    assert one.counts["work_items"].read == len(rows["work_items"])
    assert one.counts["work_items"].rejected > 10  # the generated rows break rules too


def _work_items_select(url):
    """The canonical SELECT of work_items, as the run resolves it."""
    from extract.mapping import resolve_all
    from extract.source import open_engine

    engine = open_engine(url)
    try:
        return resolve_all(engine, {})["work_items"].select
    finally:
        engine.dispose()


def test_the_slices_read_the_snapshot_of_the_jobs_transaction(postgresql_url):
    from extract.activity import work_item_days
    from extract.source import open_engine, read_only_connection
    from scoring.periods import window_of

    rows = {"vendors": [vendor("A")], "work_items": [
        item(f"w{n}", "A", "2026-07-01 08:00", None, "2026-07-01 09:00") for n in range(4)
    ]}  # fmt: skip
    load(postgresql_url, rows)
    reader = open_engine(postgresql_url, read_only=True)
    writer = create_engine(postgresql_url)
    try:
        with read_only_connection(reader) as connection:
            connection.execute(text("SELECT COUNT(*) FROM vendors")).scalar_one()  # snapshot taken
            with writer.begin() as writing:  # a late load, in the second half of the window
                writing.execute(
                    text("INSERT INTO work_items VALUES ('late', 'A', 'support', "
                         "'2026-09-01 08:00', NULL, '2026-09-01 09:00', 1, 0, 0, false)")
                )  # fmt: skip
            source = _work_items_select(postgresql_url).subquery("src")
            days = work_item_days(connection, source, window_of(PERIODS, median=True), (), 2)
    finally:
        reader.dispose()
        writer.dispose()
    assert int(days.get_column("items").sum()) == 4


def test_the_slices_of_the_window_hold_every_row_once(sqlite_url):
    from sqlalchemy import func, select

    from extract.summaries import completed_part, completed_parts
    from scoring.periods import window_of

    times = ["2026-04-01 00:00", "2026-05-16 11:59", "2026-06-30 23:59", "2026-07-01 00:00",
             "2026-09-30 23:59", "2025-01-01 00:00", "2026-10-01 00:00"]  # fmt: skip
    rows = {"work_items": [item(f"w{n}", "A", "2026-04-01 00:00", None, t)
                           for n, t in enumerate(times)]}  # fmt: skip
    rows["work_items"].append(item("open", "A", "2026-07-01 00:00", None, None))
    load(sqlite_url, rows)
    window = window_of(PERIODS, median=True)  # two quarters: at most two slices, cut on 1 July
    engine = create_engine(sqlite_url)
    source = _work_items_select(sqlite_url).subquery("src")
    with engine.connect() as connection:
        for asked, parts, expected in ((1, 1, [8]), (2, 2, [5, 3]), (7, 2, [5, 3])):
            assert completed_parts(window, asked) == parts
            counts = [
                connection.execute(
                    select(func.count())
                    .select_from(source)
                    .where(completed_part(window, k, parts)(source.c))
                ).scalar_one()
                for k in range(parts)
            ]
            # The first slice: before the window, never completed, and the first quarter.
            assert counts == expected, (asked, counts)
    engine.dispose()


def test_sliced_sums_equal_one_query_medians_included(sqlite_url):
    """Slices are cut on report periods' boundaries, so each median's items are ranked in
    one slice: the sums and the middle items are the same as one query's, on a table, a view
    and a user's query."""
    from polars.testing import assert_frame_equal

    from extract.activity import work_item_days
    from extract.mapping import resolve_all
    from scorecard.config import TableSource
    from scoring.periods import window_of

    times = ["2026-05-01 08:00", "2026-06-02 09:00", "2026-08-15 12:00", "2026-09-30 23:00"]
    rows = {"vendors": [vendor("A")], "work_items": [
        item(f"w{n}", "A", f"2026-04-0{1 + n % 5} 00:00", None, times[n % 4])
        for n in range(11)
    ]}  # fmt: skip
    load(sqlite_url, rows)
    window = window_of(PERIODS, median=True)
    engine = create_engine(sqlite_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE VIEW items_view AS SELECT * FROM work_items")
    keys = ["completed_day", "median_period", "rule"]
    for spec in (TableSource(table="work_items"), TableSource(table="items_view"),
                 TableSource(query="SELECT * FROM work_items")):  # fmt: skip
        select_ = resolve_all(engine, {"work_items": spec})["work_items"].select
        assert select_ is not None
        with engine.begin() as connection:
            whole = work_item_days(connection, select_.subquery("src"), window, (), 1)
            sliced = work_item_days(connection, select_.subquery("src"), window, (), 2)
        assert_frame_equal(sliced.sort(keys), whole.sort(keys))
        middles = whole.group_by("median_period").agg(
            pl.col("median_low_ms", "median_high_ms").sum()
        )
        assert middles.filter(pl.col("median_period").is_not_null()).height == 2
    engine.dispose()
