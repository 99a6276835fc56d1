"""The same data gives the same results on SQLite, PostgreSQL, MariaDB, Spark SQL (real servers) and DuckDB."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Column, DateTime, MetaData, Table, create_engine, insert, select, text

from extract.summaries import request_days_query, work_item_days_query
from scorecard.schema import TABLES
from scoring.periods import periods_for, window_of
from tests.builders import extracted_from, load, load_parquet_tables, rows_in
from tests.test_validation import CASES, _dataset

AS_OF = "2026-09-30"
EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "scorecard" / "example-config.toml"


def example_outputs(out: Path) -> dict[str, bytes]:
    """The CSV and JSON outputs of the example config's run (`--format csv,json`) into out."""
    return {
        name: (out / AS_OF / name).read_bytes()
        for name in (
            "scores.csv",
            "scores.json",
            "data_quality.csv",
            "service_credits.csv",
            "service_credits.json",
        )
    }


@pytest.fixture(scope="module")
def sqlite_demo_url(tmp_path_factory, scorecard_cli) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('reference') / 'demo.db'}"
    made = scorecard_cli("demo-data", "--database-url", url, "--scale", "0.05", "--through", AS_OF)
    assert made.exit_code == 0, made.output
    return url


@pytest.fixture(scope="module")
def sqlite_reference(sqlite_demo_url, tmp_path_factory, scorecard_cli) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("reference_out")
    ran = scorecard_cli.run(sqlite_demo_url, out, "--format", "csv,json", config=EXAMPLE_CONFIG)
    assert ran.exit_code == 0, ran.output
    return example_outputs(out)


@pytest.mark.parametrize("server", ["postgresql", "mariadb", "duckdb"])
def test_demo_data_scores_identically_to_sqlite(
    server, sqlite_reference, request, tmp_path, scorecard_cli
):
    url = request.getfixturevalue(f"{server}_url")
    made = scorecard_cli("demo-data", "--database-url", url, "--scale", "0.05", "--through", AS_OF)
    assert made.exit_code == 0, made.output
    ran = scorecard_cli.run(url, tmp_path / "out", "--format", "csv,json", config=EXAMPLE_CONFIG)
    assert ran.exit_code == 0, ran.output
    outputs = example_outputs(tmp_path / "out")
    assert sqlite_reference["scores.csv"].count(b"\n") > 50
    # The example config's contracts: every level of 7 vendors over 15 months, some credits due.
    assert sqlite_reference["service_credits.csv"].count(b"\n") > 100
    assert b",due\n" in sqlite_reference["service_credits.csv"]
    for name, content in outputs.items():
        assert content == sqlite_reference[name], f"{name} differs on {server}"


def test_demo_data_scores_identically_on_spark_sql(
    sqlite_demo_url, sqlite_reference, spark_url, tmp_path, scorecard_cli
):
    """The same world as Parquet tables of a real Spark SQL engine (local mode, Thrift server)."""
    load_parquet_tables(spark_url, rows_in(sqlite_demo_url), tmp_path / "parquet")
    ran = scorecard_cli.run(
        spark_url, tmp_path / "out", "--format", "csv,json", config=EXAMPLE_CONFIG
    )
    assert ran.exit_code == 0, ran.output
    outputs = example_outputs(tmp_path / "out")
    assert sqlite_reference["scores.csv"].count(b"\n") > 50
    assert b",due\n" in sqlite_reference["service_credits.csv"]
    for name, content in outputs.items():
        assert content == sqlite_reference[name], f"{name} differs on Spark SQL"


def test_bad_rows_are_rejected_the_same_way_on_every_dialect(any_database_url):
    load(any_database_url, _dataset(), primary_keys=False)
    data = extracted_from(any_database_url, periods_for(dt.date(2026, 9, 30), "quarter", 0))
    rules = {(t, r) for t, r in data.data_quality.select("table", "rule").iter_rows()}
    assert rules == {(table, rule) for table, rule, _ in CASES}
    for counts in data.counts.values():
        assert counts.read == counts.accepted + counts.rejected


def test_aware_timestamps_are_cut_into_utc_days(postgresql_url):
    engine = create_engine(postgresql_url, connect_args={"options": "-c timezone=Asia/Manila"})
    metadata = MetaData()
    tables = {
        name: Table(name, metadata, *[
            Column(c.name, DateTime(timezone=True) if isinstance(c.type, DateTime) else c.type)
            for c in table.columns
        ])
        for name, table in TABLES.items()
    }  # fmt: skip
    metadata.create_all(engine)
    manila = dt.timezone(dt.timedelta(hours=8))
    with engine.begin() as connection:
        connection.execute(
            insert(tables["vendors"]),
            [{"vendor_id": "A", "name": "A", "sourcing": "offshore", "currency": "EUR"}],
        )
        # Completed at 07:00 on 1 July in Manila: 23:00 on 30 June in UTC, so in Q2.
        connection.execute(insert(tables["work_items"]), [{
            "work_item_id": "w1", "vendor_id": "A", "process": "p", "units": 1, "qa_checked_units": 0,
            "defects": 0, "reworked": False,
            "received_at": dt.datetime(2026, 6, 30, 20, 0, tzinfo=manila),
            "completed_at": dt.datetime(2026, 7, 1, 7, 0, tzinfo=manila),
        }])  # fmt: skip
        assert connection.execute(text("SHOW timezone")).scalar() == "Asia/Manila"
    engine.dispose()
    data = extracted_from(postgresql_url, periods_for(dt.date(2026, 9, 30), "quarter", 1))
    days = data.work_item_days.select("completed_day", "items", "turnaround_ms").rows()
    assert days == [(dt.date(2026, 6, 30), 1, 11 * 3_600_000)]


def _canonical(name, spec, kind="typed"):
    from extract.mapping import Problems, canonical_source
    from scorecard.schema import TABLES

    columns = {c.name: kind for c in TABLES[name].columns}
    if spec is not None:
        columns.update({v: kind for v in spec.columns.values() if isinstance(v, str)})
    found = canonical_source(name, spec, columns, Problems())
    assert found.select is not None
    return found


def _src(name, spec, kind="typed"):
    return _canonical(name, spec, kind).select.subquery("src")


def test_every_query_the_job_issues_compiles_for_trino():
    """Warehouses (Trino, and so Starburst and Athena) are where users go past one server."""
    from sqlalchemy import table as sql_table
    from trino.sqlalchemy.dialect import TrinoDialect

    from scorecard.config import TableSource

    dialect = TrinoDialect()
    specs = [None, TableSource(table="crm.tickets", columns={"work_item_id": "ticket_no"}),
             TableSource(query="SELECT * FROM lake.work"),
             TableSource(table="export", null_values=("?",), formats={"received_at": "%d/%m/%Y %H:%M"},
                         values={"priority": {"1 - Critical": "urgent"}})]  # fmt: skip
    for name in ("vendors", "work_items", "requests", "charges"):
        for spec in specs:
            for kind in ("typed", "text"):
                sql = str(
                    _canonical(name, spec, kind).select.compile(
                        dialect=dialect, compile_kwargs={"literal_binds": True}
                    )
                )
                assert sql.startswith("SELECT ") and "FROM " in sql
    window = window_of(periods_for(dt.date(2026, 9, 30), "quarter", 4), median=True)
    for spec in specs:
        parsed = _canonical("work_items", spec, "text").parsed
        for query in (
            work_item_days_query(_src("work_items", spec), window, None),
            work_item_days_query(
                _src("work_items", spec, "text"), window, ("w1", "w2"), parsed=parsed
            ),
            request_days_query(_src("requests", spec), window, None, {"urgent": 1.0, "low": 72.0}),
        ):
            sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
            assert "date_diff('millisecond', " in sql and "CAST(" in sql and "GROUP BY" in sql
    probe = select(text("*")).select_from(sql_table("tickets", schema="crm")).limit(0)
    assert (
        str(probe.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        == "SELECT * \nFROM crm.tickets\nLIMIT 0"
    )


# (format, text, what it means in UTC or None): impossible days, out-of-range fields and
# offsets must read alike everywhere, and a value that is no date is NULL (a bad row), never
# an error that stops the query.
TEXT_TIMES = [
    ("%d/%m/%Y %H:%M", "29/2/2024 10:00", "2024-02-29 10:00"),
    ("%d/%m/%Y %H:%M", "29/2/2025 10:00", None),
    ("%d/%m/%Y %H:%M", "29/02/2100 10:00", None),
    ("%d/%m/%Y %H:%M", "29/2/2000 10:00", "2000-02-29 10:00"),
    ("%d/%m/%Y %H:%M", "30/2/2026 10:00", None),
    ("%d/%m/%Y %H:%M", "31/4/2026 10:00", None),
    ("%d/%m/%Y %H:%M", "31/12/2026 23:59", "2026-12-31 23:59"),
    ("%d/%m/%Y %H:%M", "13/13/2026 10:00", None),
    ("%d/%m/%Y %H:%M", "0/1/2026 10:00", None),
    ("%d/%m/%Y %H:%M", "1/1/2026 24:00", None),
    ("%d/%m/%Y %H:%M", "1/1/2026 9:60", None),
    ("%d %b %Y", "30 Apr 2026", "2026-04-30 00:00"),
    ("%d %b %Y", "31 Apr 2026", None),
    ("%d %b %Y", "29 Feb 2024", "2024-02-29 00:00"),
    ("%d %b %Y", "30 Feb 2024", None),
    ("%d/%m/%Y %I:%M %p", "1/7/2026 1:05 PM", "2026-07-01 13:05"),
    ("%d/%m/%Y %I:%M %p", "1/7/2026 12:05 am", "2026-07-01 00:05"),
    ("%d/%m/%Y %I:%M %p", "1/7/2026 13:05 PM", None),
    ("%d/%m/%y", "29/2/24", "2024-02-29 00:00"),
    ("%d/%m/%y", "29/2/25", None),
    ("%Y-%m-%d %H:%M:%S.%f", "2026-07-01 10:00:59.250", "2026-07-01 10:00"),
    ("%Y-%m-%d %H:%M %z", "2026-07-01 10:00 +02:00", "2026-07-01 08:00"),
    ("%Y-%m-%d %H:%M %z", "2026-07-01 10:00 -0330", "2026-07-01 13:30"),
    ("%Y-%m-%d %H:%M %z", "2026-07-01 23:30 -03:00", "2026-07-02 02:30"),
    ("%Y-%m-%d %H:%M %z", "2026-07-01 10:00 Z", "2026-07-01 10:00"),
    (None, "2026-02-30", None),
    (None, "2025-02-29 10:00", None),
    (None, "2024-02-29T12:00:00Z", "2024-02-29 12:00"),
    (None, "2026-04-31 10:00", None),
    (None, "2026-04-30T23:00:00-02:00", "2026-05-01 01:00"),
]


def _as_utc_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):  # SQLite: a julianday() number
        value = dt.datetime(2000, 1, 1, 12) + dt.timedelta(days=value - 2451545.0)
    if not isinstance(value, dt.datetime):  # MariaDB: STR_TO_DATE of a date alone
        assert isinstance(value, dt.date), value
        value = dt.datetime.combine(value, dt.time())
    # To the minute, after a millisecond more: julianday() numbers are rounded.
    return (value + dt.timedelta(milliseconds=1)).strftime("%Y-%m-%d %H:%M")


def test_text_times_read_alike_on_spark_sql(spark_url):
    _read_text_times_alike(spark_url)


def test_text_times_read_alike_and_an_impossible_date_is_null_everywhere(any_database_url):
    _read_text_times_alike(any_database_url)


def _read_text_times_alike(any_database_url: str) -> None:
    from sqlalchemy import String, literal, type_coerce
    from sqlalchemy.types import NullType

    from extract.dialects import parsed_timestamp
    from extract.source import open_engine, read_only_connection

    # The job opens SQLite read-only and refuses a missing file: the database must exist.
    maker = create_engine(any_database_url)
    with maker.connect():
        pass
    maker.dispose()
    if any_database_url.startswith("duckdb"):
        import duckdb

        duckdb.connect(any_database_url.removeprefix("duckdb:///")).close()
    engine = open_engine(any_database_url, read_only=True)
    found = []
    try:
        with read_only_connection(engine) as connection:
            for fmt, value, _ in TEXT_TIMES:
                parsed = type_coerce(parsed_timestamp(literal(value, String()), fmt), NullType())
                found.append(_as_utc_text(connection.execute(select(parsed)).scalar_one()))
    finally:
        engine.dispose()
    wrong = [
        (fmt, value, got, expected)
        for (fmt, value, expected), got in zip(TEXT_TIMES, found, strict=True)
        if got != expected
    ]
    assert wrong == []
