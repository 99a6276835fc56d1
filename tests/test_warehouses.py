"""The warehouses past one server (issue 25): what is executed here, and what is only compiled.

Executed: Snowflake on its emulation (fakesnow, a venv of its own: tests/snowflake_emulation.py),
the whole job on the demo world, byte-identical to SQLite; Databricks SQL's compiled SQL on a
real Spark engine (Databricks SQL is Spark SQL). Compiled against the real dialects, with the
SQL kept in tests/golden_sql so that any change to it is seen in review: BigQuery, Redshift,
Athena, Databricks and Snowflake. `SCORECARD_UPDATE_GOLD=1` rewrites the golden files.
Time travel is compiled only: no engine here keeps history (fakesnow and Spark on Parquet
parse the clause and refuse it, and the tests check that they do).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from extract.readonly import NotReadOnly, ensure_read_only_query
from extract.source import _bigquery_capped
from extract.summaries import request_days_query, work_item_days_query
from scorecard.config import TableSource
from scoring.periods import periods_for, window_of
from tests import test_dialects
from tests.builders import load_parquet_tables, rows_in
from tests.test_dialects import (
    AS_OF,
    EXAMPLE_CONFIG,
    TEXT_TIMES,
    _as_utc_text,
    _canonical,
    _src,
    example_outputs,
)

sqlite_demo_url = test_dialects.sqlite_demo_url  # the same module fixtures, here too
sqlite_reference = test_dialects.sqlite_reference

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden_sql"
SNOWFLAKE_PYTHON = ROOT / ".venv-snowflake" / "bin" / "python"


def _dialects():
    from databricks.sqlalchemy import DatabricksDialect
    from pyathena.sqlalchemy.base import AthenaDialect
    from snowflake.sqlalchemy.snowdialect import SnowflakeDialect
    from sqlalchemy_bigquery import BigQueryDialect
    from sqlalchemy_redshift.dialect import RedshiftDialect_psycopg2

    return {
        "snowflake": SnowflakeDialect(),
        "databricks": DatabricksDialect(),
        "bigquery": BigQueryDialect(),
        "redshift": RedshiftDialect_psycopg2(),
        "athena": AthenaDialect(),
    }


SPECS = {
    "canonical": None,
    "text_with_format": TableSource(
        table="export",
        null_values=("?",),
        formats={"received_at": "%d/%m/%Y %H:%M", "completed_at": "%Y-%m-%d %H:%M:%S.%f"},
        values={"priority": {"1 - Critical": "urgent"}},
    ),
}


def _queries():
    """Every kind of statement the job sends, by name: the canonical selects of the small
    tables, and the summing queries of work items and requests, typed and from text."""
    window = window_of(periods_for(dt.date(2026, 9, 30), "quarter", 4), median=True)
    found = {}
    for spec_name, spec in SPECS.items():
        kind = "typed" if spec is None else "text"
        for name in ("vendors", "charges"):
            found[f"{name} ({spec_name})"] = _canonical(name, spec, kind).select
        parsed = _canonical("work_items", spec, kind).parsed
        found[f"work_items sums ({spec_name})"] = work_item_days_query(
            _src("work_items", spec, kind), window, ("w1", "w2"), parsed=parsed
        )
        found[f"requests sums ({spec_name})"] = request_days_query(
            _src("requests", spec), window, None, {"urgent": 1.0, "low": 72.0}
        )
    return found


def _compiled(query, dialect) -> str:
    return str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


@pytest.mark.parametrize("name", ["snowflake", "databricks", "bigquery", "redshift", "athena"])
def test_every_query_compiles_for_the_warehouse_as_the_golden_sql_says(name):
    dialect = _dialects()[name]
    text = "".join(
        f"-- {label}\n{_compiled(query, dialect)};\n\n" for label, query in _queries().items()
    )
    golden = GOLDEN / f"{name}.sql"
    if os.environ.get("SCORECARD_UPDATE_GOLD") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text(), f"the SQL for {name} changed: review, then make gold"
    # Each warehouse's own spellings, not another's: nothing a construct refuses to compile.
    spelled = {
        "snowflake": "DATEDIFF('microsecond', ",
        "databricks": "unix_micros(",
        "bigquery": "TIMESTAMP_DIFF(CAST(",
        "redshift": "DATEDIFF(microsecond, ",
        "athena": "date_diff('millisecond', ",
    }[name]
    assert spelled in text and "GROUP BY" in text


@pytest.mark.parametrize(
    ("name", "clause"),
    [
        ("snowflake", "AT(TIMESTAMP => CAST('2026-09-30 21:15:07.250000' AS TIMESTAMP_LTZ))"),
        ("bigquery", "FOR SYSTEM_TIME AS OF TIMESTAMP '2026-09-30 21:15:07.250000+00'"),
        ("databricks", "TIMESTAMP AS OF '2026-09-30 21:15:07.250000'"),
    ],
)
def test_pinned_to_the_run_start_every_table_of_every_query_is_read_as_of_it(name, clause):
    from extract.dialects import PINNED_AT

    dialect = _dialects()[name]
    pinned = PINNED_AT.set(dt.datetime(2026, 9, 30, 21, 15, 7, 250000))
    try:
        texts = {label: _compiled(query, dialect) for label, query in _queries().items()}
    finally:
        PINNED_AT.reset(pinned)
    for label, sql in texts.items():
        tables = sql.count(" FROM ") + sql.count("\nFROM ")
        assert tables >= 1 and sql.count(clause) == tables - sql.count("FROM ("), label
    # Unpinned (time_travel = false, or another engine), no clause.
    assert clause not in _compiled(_queries()["vendors (canonical)"], dialect)


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("snowflake", "SELECT 1; DROP TABLE work_items"),
        ("snowflake", "ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = 0"),
        ("snowflake", "CREATE TABLE x AS SELECT * FROM work_items"),
        ("bigquery", "DELETE FROM work_items WHERE true"),
        ("databricks", "SELECT reflect('java.lang.System', 'exit', 0)"),
        ("redshift", "UPDATE work_items SET units = 0"),
        ("awsathena", "INSERT INTO work_items SELECT * FROM work_items"),
    ],
)
def test_a_source_query_that_could_write_is_refused_in_the_warehouses_dialect(dialect, sql):
    with pytest.raises(NotReadOnly):
        ensure_read_only_query(sql, dialect)


@pytest.mark.parametrize(
    "dialect", ["snowflake", "bigquery", "databricks", "redshift", "awsathena"]
)
def test_a_plain_select_in_the_warehouses_own_syntax_is_read_only(dialect):
    sql = {
        "snowflake": "SELECT * FROM lake.work WHERE REGEXP_LIKE(id, '^w')",
        "bigquery": "SELECT * FROM `proj.lake.work` WHERE REGEXP_CONTAINS(id, r'^w')",
        "databricks": "SELECT * FROM lake.work WHERE id RLIKE '^w'",
        "redshift": "SELECT * FROM lake.work WHERE id ~ '^w'",
        "awsathena": "SELECT * FROM lake.work WHERE regexp_like(id, '^w')",
    }[dialect]
    ensure_read_only_query(sql, dialect)


def test_a_bigquery_run_caps_the_bytes_billed_at_the_smaller_of_url_and_config():
    assert _bigquery_capped("bigquery://proj/lake", 10**9) == (
        "bigquery://proj/lake?maximum_bytes_billed=1000000000"
    )
    assert _bigquery_capped("bigquery://proj/lake?maximum_bytes_billed=500", 10**9).endswith(
        "maximum_bytes_billed=500"
    )
    assert _bigquery_capped("bigquery://proj/lake?maximum_bytes_billed=10000000000", 10**9) == (
        "bigquery://proj/lake?maximum_bytes_billed=1000000000"
    )
    assert _bigquery_capped("sqlite:///x.db", 10**9) == "sqlite:///x.db"


def test_the_bigquery_cap_reaches_the_client_the_dialect_builds():
    from sqlalchemy_bigquery.parse_url import parse_url

    from extract.source import _bigquery_capped as capped

    *_, job_config, _, _ = parse_url(
        __import__("sqlalchemy").engine.make_url(capped("bigquery://proj/lake", 12345))
    )
    assert job_config.maximum_bytes_billed == 12345


def test_the_bigquery_cap_is_a_config_key_with_a_default():
    from scorecard.config import config_from_mapping

    assert config_from_mapping({}).database.bigquery_maximum_bytes_billed == 100_000_000_000
    capped = config_from_mapping({"database": {"bigquery_maximum_bytes_billed": 10**9}})
    assert capped.database.bigquery_maximum_bytes_billed == 10**9


# ---- Snowflake, executed on its emulation -------------------------------------------------


def _snowflake(*arguments: str | os.PathLike[str], folder: Path, source: str = "-"):
    if not SNOWFLAKE_PYTHON.exists():
        reason = "the Snowflake emulation's venv (.venv-snowflake; `make install` makes it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"Snowflake tests need {reason} (CI=true: they must run, not skip)")
        pytest.skip(f"Snowflake tests need {reason}")
    return subprocess.run(
        [str(SNOWFLAKE_PYTHON), "-m", "tests.snowflake_emulation", str(folder), source, "--",
         *map(str, arguments)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


def _without_time_travel(folder: Path) -> Path:
    """The example config with `time_travel = false`: the emulation's DuckDB has none."""
    text = EXAMPLE_CONFIG.read_text().replace(
        "[database]\n", "[database]\ntime_travel = false\n", 1
    )
    config = folder / "scorecard.toml"
    config.write_text(text)
    return config


def test_demo_data_scores_identically_on_snowflake(
    sqlite_demo_url, sqlite_reference, tmp_path, scorecard_cli
):
    """The demo world loaded into Snowflake (emulated), the whole job run through
    snowflake://: every output byte-identical to SQLite's. Then the same run with time
    travel on (the default) reaches the engine with its AT clause, which the emulation
    refuses, so the run stops as a source error (exit 3) naming it."""
    (tmp_path / "account").mkdir()
    ran = _snowflake(
        "run", "--config", _without_time_travel(tmp_path), "--database-url", "SNOWFLAKE_URL", "--as-of", AS_OF,
        "--out", tmp_path / "out", "--format", "csv,json",
        folder=tmp_path / "account", source=sqlite_demo_url,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    outputs = example_outputs(tmp_path / "out")
    assert sqlite_reference["scores.csv"].count(b"\n") > 50
    for name, content in outputs.items():
        assert content == sqlite_reference[name], f"{name} differs on Snowflake"
    pinned = _snowflake(
        "run", "--config", EXAMPLE_CONFIG, "--database-url", "SNOWFLAKE_URL", "--as-of", AS_OF,
        "--out", tmp_path / "pinned", "--format", "csv", folder=tmp_path / "account",
    )  # fmt: skip
    assert pinned.returncode == 3, pinned.stdout + pinned.stderr
    assert "does not support time travel" in pinned.stderr
    assert "(set [database] time_travel = false to read it as it is)" in pinned.stderr


# ---- Databricks SQL: the SQL it would send, run on a real Spark engine ------------------


def test_the_sql_databricks_would_send_gives_sparks_answers_on_spark(
    sqlite_demo_url, spark_url, tmp_path
):
    """Databricks SQL is Spark SQL: each summing query, compiled by the real Databricks
    dialect, run on the local Spark engine, returns exactly what the hive:// spelling does."""
    load_parquet_tables(spark_url, rows_in(sqlite_demo_url), tmp_path / "parquet")
    databricks = _dialects()["databricks"]
    engine = create_engine(spark_url)
    window = window_of(periods_for(dt.date(2026, 9, 30), "quarter", 4), median=True)
    queries = {
        "work_items": work_item_days_query(_src("work_items", None), window, None),
        "requests": request_days_query(_src("requests", None), window, None, {"urgent": 1.0}),
        "vendors": _canonical("vendors", None).select,
    }
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SET TIME ZONE 'UTC'")
            for name, query in queries.items():
                sent = _compiled(query, databricks)
                # As text: PyHive's raw cursor and the hive:// dialect's types read alike.
                got = sorted(_as_text(_sent_to_spark(connection, sent)))
                want = sorted(_as_text(connection.execute(query).fetchall()))
                assert len(want) > 5, name
                assert got == want, f"{name}: Databricks' SQL gives other rows on Spark"
    finally:
        engine.dispose()


def test_text_times_read_alike_in_the_sql_databricks_would_send(spark_url):
    from sqlalchemy import String, literal, select, type_coerce
    from sqlalchemy.types import NullType

    from extract.dialects import parsed_timestamp

    databricks = _dialects()["databricks"]
    engine = create_engine(spark_url)
    found = []
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SET TIME ZONE 'UTC'")
            for fmt, value, _ in TEXT_TIMES:
                parsed = type_coerce(parsed_timestamp(literal(value, String()), fmt), NullType())
                sent = _compiled(select(parsed), databricks)
                (row,) = _sent_to_spark(connection, sent)
                found.append(_as_utc_text(_as_time(row[0])))
    finally:
        engine.dispose()
    wrong = [
        (fmt, value, got, expected)
        for (fmt, value, expected), got in zip(TEXT_TIMES, found, strict=True)
        if got != expected
    ]
    assert wrong == []


def test_pinned_databricks_sql_parses_on_spark_and_is_refused_only_for_want_of_history(
    spark_url, tmp_path
):
    """Time travel is executed on no engine here (Delta's jars come only from Maven, which
    this machine cannot reach; fakesnow's DuckDB refuses it, see above). What can be run:
    each statement the job sends, pinned and compiled by the real Databricks dialect, goes
    through Spark's own parser, which takes `TIMESTAMP AS OF`; the Parquet tables keep no
    history, so Spark refuses each one for that reason and no other, while the same
    statement unpinned runs. The job's one-line error then says what to set."""
    from pyhive.exc import OperationalError
    from sqlalchemy.exc import DBAPIError

    from extract.dialects import PINNED_AT
    from extract.source import first_line

    load_parquet_tables(spark_url, {}, tmp_path / "parquet")  # the canonical tables, empty
    databricks = _dialects()["databricks"]
    canonical = {label: q for label, q in _queries().items() if "(canonical)" in label}
    pinned = PINNED_AT.set(dt.datetime(2026, 9, 30, 21, 15, 7, 250000))
    try:
        sent = {label: _compiled(query, databricks) for label, query in canonical.items()}
    finally:
        PINNED_AT.reset(pinned)
    engine = create_engine(spark_url)
    refusals = {}
    try:
        with engine.connect() as connection:
            for label, sql in sent.items():
                assert "TIMESTAMP AS OF '2026-09-30 21:15:07.250000'" in sql, label
                with pytest.raises(OperationalError) as refused:
                    _sent_to_spark(connection, sql)
                refusals[label] = str(refused.value)
                # Unpinned, the same statement runs (on empty tables: no rows).
                _sent_to_spark(connection, _compiled(canonical[label], databricks))
            # Through SQLAlchemy, as the job meets it: its line names the setting.
            with pytest.raises(DBAPIError) as through_sqlalchemy:
                connection.exec_driver_sql(sent["vendors (canonical)"])
    finally:
        engine.dispose()
    assert len(refusals) == 4
    for label, message in refusals.items():
        assert "TIME_TRAVEL" in message and "PARSE_SYNTAX_ERROR" not in message, (label, message)
    line = first_line(through_sqlalchemy.value)
    assert "TIME_TRAVEL" in line and line.endswith(
        "(set [database] time_travel = false to read it as it is)"
    ), line


def _as_text(rows) -> list[tuple[str, ...]]:
    return [tuple(str(value) for value in row) for row in rows]


def _sent_to_spark(connection, sql: str) -> list[tuple]:
    """The SQL as Databricks' connector would send it (no parameters: they are written in),
    on PyHive's cursor, which otherwise reads % in it as its own placeholders."""
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(sql)
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()


def _as_time(value: object) -> object:
    """PyHive hands a TIMESTAMP over as text."""
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value
