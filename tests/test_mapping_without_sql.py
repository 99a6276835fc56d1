"""Mapping a real export without SQL (contract section 6): a default for a null, a row filter
as data, a CSV header's byte-order mark, and a missing column's message that helps."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from extract.activity import read_activity
from scorecard.config import config_from_mapping
from scorecard.errors import ConfigError, SourceError
from scoring.periods import periods_for, window_of
from tests.builders import load, vendor

AS_OF = dt.date(2026, 9, 30)

EXPORT = (
    "\ufeffID,Seller,Queue,Received,Due,Closed,Units,Reviewed,Defects,Redone\n"
    # No review: Reviewed is empty, read as 0 by if_null.
    "w1,A,orders,2026-08-01 09:00,2026-08-03 09:00,2026-08-02 09:00,2,,0,n\n"
    "w2,A,orders,2026-08-01 09:00,2026-08-03 09:00,2026-08-02 09:00,3,3,1,n\n"
    # Two years old: left out by the row filter, never read, so never rejected.
    "w3,A,orders,2024-08-01 09:00,2024-08-03 09:00,,1,,0,n\n"
    # There but unreadable: still a bad row, the default is for a null only.
    "w4,A,orders,2026-08-01 09:00,2026-08-03 09:00,2026-08-02 09:00,1,lots,0,n\n"
    # Another queue: left out by the row filter on the export's own column.
    "w5,A,test,2026-08-01 09:00,2026-08-03 09:00,2026-08-02 09:00,1,1,0,n\n"
)

MAPPING = {
    "table": "orders_export",
    "columns": {
        "work_item_id": "ID", "vendor_id": "Seller", "process": "Queue", "received_at": "Received",
        "due_at": "Due", "completed_at": "Closed", "units": "Units", "qa_checked_units": "Reviewed",
        "defects": "Defects", "reworked": "Redone",
    },
    "null_values": [""],
    "if_null": {"qa_checked_units": 0},
    "where": [
        {"column": "received_at", "at_least": "2025-01-01"},
        {"column": "Queue", "in": ["orders", "returns"]},  # a column of the export itself
    ],
}  # fmt: skip


def _loaded(url: str, tmp_path: Path, scorecard_cli) -> None:
    load(url, {"vendors": [vendor("A")]})
    export = tmp_path / "orders.csv"
    export.write_text(EXPORT, encoding="utf-8")
    made = scorecard_cli("load-csv", export, "--table", "orders_export", "--database-url", url)
    assert made.exit_code == 0, made.output


def _read(url: str, mapping: dict) -> object:
    config = config_from_mapping({"source": {"work_items": mapping, "requests": {"absent": True},
                                             "charges": {"absent": True}}})  # fmt: skip
    return read_activity(url, config, window_of(periods_for(AS_OF, "quarter", 0)))


def test_a_null_default_and_a_row_filter_read_an_export_without_sql(
    any_database_url, tmp_path, scorecard_cli
):
    _loaded(any_database_url, tmp_path, scorecard_cli)
    data = _read(any_database_url, MAPPING)
    counts = data.counts["work_items"]
    # w3 is not read at all; w4 is read and rejected under its column's rule.
    assert (counts.read, counts.accepted, counts.rejected) == (3, 2, 1)
    rejected = data.data_quality.filter(pl.col("table") == "work_items")
    assert rejected.get_column("rule").to_list() == ["bad_qa_checked_units"]
    days = data.work_item_days
    assert days.get_column("items").sum() == 2
    assert days.get_column("qa_checked_units").sum() == 3  # w1's empty review read as 0


def test_without_the_default_an_unreviewed_item_is_rejected(sqlite_url, tmp_path, scorecard_cli):
    _loaded(sqlite_url, tmp_path, scorecard_cli)
    data = _read(sqlite_url, {k: v for k, v in MAPPING.items() if k != "if_null"})
    assert data.counts["work_items"].rejected == 2


def test_load_csv_strips_the_byte_order_mark_from_the_header(sqlite_url, tmp_path, scorecard_cli):
    from sqlalchemy import create_engine, inspect

    _loaded(sqlite_url, tmp_path, scorecard_cli)
    engine = create_engine(sqlite_url)
    names = [c["name"] for c in inspect(engine).get_columns("orders_export")]
    engine.dispose()
    assert names[0] == "ID"


def test_a_missing_column_lists_the_columns_found_and_suggests_null_only_where_allowed(
    sqlite_url, tmp_path, scorecard_cli
):
    _loaded(sqlite_url, tmp_path, scorecard_cli)
    columns = MAPPING["columns"] | {"received_at": "Recieved", "due_at": "Deadline"}
    with pytest.raises(SourceError) as raised:
        _read(sqlite_url, MAPPING | {"columns": columns})
    message = str(raised.value)
    assert "it has columns 'ID', 'Seller', 'Queue', 'Received'" in message
    received = message[message.index("'Recieved'") :].split("; it has")[0]
    # A null received_at rejects every row: { null = true } is not offered for it...
    assert "null = true" not in received
    # ...but it is for due_at, which may be null.
    assert "due_at = { null = true }" in message


def test_a_row_filter_names_a_canonical_column(sqlite_url, tmp_path, scorecard_cli):
    _loaded(sqlite_url, tmp_path, scorecard_cli)
    with pytest.raises(ConfigError, match="'recieved_at' is neither a canonical column"):
        _read(sqlite_url, MAPPING | {"where": {"column": "recieved_at", "at_least": "2025-01-01"}})


def test_postgresql_parses_each_text_time_once_per_row_and_keeps_parallel_plans_for_typed_tables(
    postgresql_url, tmp_path, scorecard_cli
):
    """A text source's canonical subquery is fenced (OFFSET 0): PostgreSQL would otherwise pull
    it up and parse each text time at every mention, per row (3-5x slower than SQLite). A typed
    table is not fenced: a fence would cost it its parallel plans."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    _loaded(postgresql_url, tmp_path, scorecard_cli)
    load(postgresql_url, {"work_items": []})
    event.listen(Engine, "before_cursor_execute", seen)
    try:
        _read(postgresql_url, MAPPING)
        text_sums = [s for s in statements if "summed" in s and "orders_export" in s]
        statements.clear()
        _read(postgresql_url, {"table": "work_items"})
        typed_sums = [s for s in statements if "summed" in s and "work_items" in s]
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert text_sums and all("OFFSET" in s for s in text_sums)
    assert typed_sums and not any("OFFSET" in s for s in typed_sums)
