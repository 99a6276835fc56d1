"""Reading a query's rows into a frame a batch at a time (extract.activity._read_summary): the
same frame as in one go, and Python memory bounded by the batch, not by the rows."""

from __future__ import annotations

import tracemalloc

import polars as pl
import pytest
from sqlalchemy import create_engine, func, literal_column, select, text

import extract.activity as activity

SCHEMA = {"item_id": pl.String(), "defects": pl.Int64(), "turnaround_ms": pl.Int64()}


def _numbers(rows: int):
    """rows rows from a recursive CTE (no table): item_id, defects (null in the first two
    rows, so a first batch of nulls only must still read as Int64), turnaround_ms."""
    seed = select(literal_column("1").label("n")).cte("numbers", recursive=True)
    numbers = seed.union_all(select((seed.c.n + 1).label("n")).where(seed.c.n < rows))
    r = numbers.c.n
    return select(
        func.printf("item-%07d", r).label("item_id"),
        text("CASE WHEN n <= 2 THEN NULL ELSE n % 7 END AS defects"),
        (r * 1000).label("turnaround_ms"),
    ).select_from(numbers)


@pytest.fixture
def sqlite_connection(sqlite_url):
    engine = create_engine(sqlite_url)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def test_batches_give_the_frame_one_read_gives(sqlite_connection, monkeypatch):
    query = _numbers(5)
    whole = activity._read_summary(sqlite_connection, query, SCHEMA, "work_items")
    monkeypatch.setattr(activity, "SUMMARY_FETCH_ROWS", 2)
    batches: list[int] = []
    convert = activity._summary_frame

    def counted(names, rows, schema, name):
        batches.append(len(rows))
        return convert(names, rows, schema, name)

    monkeypatch.setattr(activity, "_summary_frame", counted)
    batched = activity._read_summary(sqlite_connection, query, SCHEMA, "work_items")
    assert batches == [2, 2, 1]
    assert batched.schema == pl.Schema(SCHEMA)
    assert batched.equals(whole)
    assert batched.get_column("defects").to_list() == [None, None, 3, 4, 5]
    assert batched.get_column("item_id").to_list()[-1] == "item-0000005"


def test_no_rows_is_an_empty_frame_of_the_schema(sqlite_connection):
    query = _numbers(3)
    empty = activity._read_summary(
        sqlite_connection, query.where(text("n > 10")), SCHEMA, "work_items"
    )
    assert empty.height == 0
    assert empty.schema == pl.Schema(SCHEMA)


def _peak_python_bytes(connection, rows: int) -> int:
    query = _numbers(rows)
    tracemalloc.start()
    try:
        frame = activity._read_summary(connection, query, SCHEMA, "work_items")
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        assert frame.height == rows


def test_python_memory_is_bounded_by_the_batch_not_the_rows(sqlite_connection, monkeypatch):
    """An evidence query returns a row per candidate item (255,000 at 10M work items): read all
    at once as Python rows, the peak grew with them; in batches it stays near one batch's."""
    monkeypatch.setattr(activity, "SUMMARY_FETCH_ROWS", 2_000)
    small = _peak_python_bytes(sqlite_connection, 4_000)
    large = _peak_python_bytes(sqlite_connection, 80_000)  # 20 times the rows
    assert large < 3 * small, (small, large)
