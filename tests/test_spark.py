"""Apache Spark SQL: the real-data mapping, read-only checks and limits on a real local engine.

The demo world's byte-identical outputs are in test_dialects.py, beside the other engines.
Spark tests are kept few: each run of the job on the local Thrift server takes seconds.
"""

from __future__ import annotations

import inspect

import pytest
from sqlalchemy import create_engine

from extract.dialects import _spark_format
from extract.readonly import NotReadOnly, ensure_read_only_query
from extract.source import open_engine, read_only_connection
from tests import test_dialects
from tests import test_text_sources as text_sources

canonical_scores = text_sources.canonical_scores  # the same module fixture, here too
sqlite_demo_url = test_dialects.sqlite_demo_url
sqlite_reference = test_dialects.sqlite_reference


def _workers_running_executors(web_port: int) -> int:
    """Workers whose core runs an executor of the Thrift server's application (the master's
    own status page)."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/json/", timeout=5) as page:
        status = json.load(page)
    return sum(1 for worker in status.get("workers", []) if worker.get("coresused", 0) >= 1)


@pytest.mark.parametrize(
    "check",
    [
        text_sources.test_a_text_export_scores_exactly_like_the_canonical_tables,
        text_sources.test_bad_text_values_are_rejected_under_their_columns_rule_and_shown,
        text_sources.test_booleans_held_as_text_read_in_every_spelling,
    ],
    ids=lambda check: check.__name__.removeprefix("test_"),
)
def test_a_text_export_reads_on_spark_as_on_every_engine(
    check, spark_url, tmp_path, canonical_scores, scorecard_cli
):
    wanted = inspect.signature(check).parameters
    check(
        spark_url,
        tmp_path,
        **({"canonical_scores": canonical_scores} if "canonical_scores" in wanted else {}),
        scorecard_cli=scorecard_cli,
    )


def test_text_times_that_are_not_iso_need_a_format_on_spark(spark_url, tmp_path, scorecard_cli):
    text_sources.test_text_times_that_are_not_iso_need_a_format_named_with_a_sample(
        spark_url, tmp_path, "check", scorecard_cli
    )


def test_missing_spark_tables_columns_and_broken_queries_are_reported_at_once(
    spark_url, tmp_path, scorecard_cli
):
    text_sources.test_every_source_problem_is_reported_at_once_by_run_and_check_alike(
        spark_url, tmp_path, "check", scorecard_cli
    )


@pytest.mark.parametrize(
    ("fmt", "pattern"),
    [
        ("%d/%m/%Y %H:%M", "d/M/yyyy H:mm"),
        ("%Y-%m-%dT%H:%M:%S.%f%z", "yyyy-M-d'T'H:mm:ss.SSSSSSXXX"),
        ("%d %b %Y %I:%M %p", "d MMM yyyy h:mm a"),
    ],
)
def test_strftime_formats_become_spark_datetime_patterns(fmt, pattern):
    assert _spark_format(fmt) == pattern


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT reflect('java.lang.System', 'exit', 0)", "calls reflect()"),
        ("SELECT java_method('java.lang.Runtime', 'getRuntime')", "calls java_method()"),
        ("SET spark.sql.thriftServer.queryTimeout = 0", "must be a SELECT"),
        ("SELECT 1; DROP TABLE work_items", "single statement"),
        ("INSERT OVERWRITE TABLE work_items SELECT * FROM work_items", "must be a SELECT"),
        ("CACHE TABLE work_items", "must be a SELECT"),
    ],
)
def test_a_source_query_that_could_do_more_than_read_is_refused_in_sparks_dialect(sql, reason):
    with pytest.raises(NotReadOnly, match=reason):
        ensure_read_only_query(sql, "hive")


def test_the_job_session_on_spark_is_in_utc_with_the_statement_timeout(spark_url):
    engine = open_engine(spark_url, statement_timeout_seconds=90, read_only=True)
    try:
        with read_only_connection(engine) as connection:
            settings = dict(
                connection.exec_driver_sql("SET spark.sql.thriftServer.queryTimeout").fetchall()
            )
            assert settings == {"spark.sql.thriftServer.queryTimeout": "90s"}
            assert connection.exec_driver_sql("SELECT current_timezone()").scalar() == "UTC"
    finally:
        engine.dispose()
    # Without a timeout the server's own setting (none) stays.
    plain = create_engine(spark_url)
    with plain.connect() as connection:
        value = connection.exec_driver_sql("SET spark.sql.thriftServer.queryTimeout").fetchall()
    plain.dispose()
    assert value[0][1] == "0ms"


def test_demo_data_scores_identically_on_a_two_worker_spark_cluster(
    sqlite_demo_url, sqlite_reference, spark_cluster_server, tmp_path, scorecard_cli
):
    """Spark as a cluster, not one JVM: a standalone master and two workers on 127.0.0.1,
    the Thrift server their application; the demo world's outputs are byte-identical."""
    import uuid

    from sqlalchemy import create_engine as engine_for

    from tests.builders import load_parquet_tables, rows_in
    from tests.spark_server import _alive_workers
    from tests.test_dialects import EXAMPLE_CONFIG, example_outputs

    server, web_port = spark_cluster_server
    assert _alive_workers(web_port) == 2
    name = f"scorecard_{uuid.uuid4().hex[:12]}"
    admin = engine_for(f"{server}/default")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    url = f"{server}/{name}"
    load_parquet_tables(url, rows_in(sqlite_demo_url), tmp_path / "parquet")
    ran = scorecard_cli.run(url, tmp_path / "out", "--format", "csv,json", config=EXAMPLE_CONFIG)
    assert ran.exit_code == 0, ran.output
    outputs = example_outputs(tmp_path / "out")
    for output, content in outputs.items():
        assert content == sqlite_reference[output], f"{output} differs on the Spark cluster"
    # The work ran on executors on both workers, not in the driver alone.
    assert _workers_running_executors(web_port) == 2
