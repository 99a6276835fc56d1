"""Read-only for real: a source query is parsed, runs as one statement, and cannot lift its limits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, text

from extract.readonly import NotReadOnly, ensure_read_only_query, folders_read
from extract.source import open_engine, read_only_connection
from tests.builders import charge, item, load, vendor

AS_OF = "2026-09-30"
ROWS = {
    "vendors": [vendor("A")],
    "work_items": [
        item("a1", "A", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 12:00", qa=1)
    ],
    "charges": [charge("c1", "A", "2026-07-01", "2026-07-31", 100.0)],
}
# The probe: a comment marker inside a string hid the second statement from the regex.
SMUGGLED_COPY = (
    "SELECT *, '--' AS z FROM vendors) AS s; COPY (SELECT * FROM work_items) TO '{target}'; "
    "SELECT * FROM (SELECT * FROM vendors"
)


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (SMUGGLED_COPY.format(target="x.csv"), "does not parse"),
        ("SELECT 1; SELECT 2", "single statement"),
        ("COPY (SELECT 1) TO 'x.csv'", "SELECT"),
        (
            "SELECT v.*, dblink_exec('dbname=test', 'DELETE FROM charges') FROM vendors v",
            "dblink_exec",
        ),
        ("SELECT * FROM dblink('dbname=test', 'SELECT 1') AS t(a int)", "dblink"),
        ("SELECT set_config('statement_timeout', '0', false), * FROM vendors", "set_config"),
        ("SELECT PG_TERMINATE_BACKEND(1)", "PG_TERMINATE_BACKEND"),
        ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
        ("SELECT lo_export(1, '/tmp/x')", "lo_export"),
        ("SELECT query_to_xml('DELETE FROM charges', true, true, '')", "query_to_xml"),
        ("SELECT * FROM vendors FOR UPDATE", "LOCK"),
        ("WITH gone AS (DELETE FROM work_items RETURNING *) SELECT * FROM gone", "DELETE"),
        ("SELECT * INTO backup FROM work_items", "INTO"),
        ("SET statement_timeout = 0", "SELECT"),
    ],
)
def test_a_query_that_could_write_or_escape_is_refused_by_its_parsed_tree(query, reason):
    with pytest.raises(NotReadOnly, match=reason):
        ensure_read_only_query(query, "postgresql")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "SELEC * FROM t",
            'incomplete near "FROM" at line 1, column 9 (in "SELEC * FROM t"); '
            "it starts with SELEC, not SELECT or WITH",
        ),
        (
            "SELECT a,\n       b\nFROM t WHERE (x = 1 OR y = 2",
            'expected ) near "2" at line 3, column 28 (in "...WHERE (x = 1 OR y = 2")',
        ),
        (
            "SELECT a FROM t)",
            'unexpected ")" at line 1, column 16 (in "SELECT a FROM t)")',
        ),
        (
            "SELECT a,\n  'open FROM t WHERE b = 1",
            "the ' opened at line 2, column 3 is never closed (in \"'open FROM t WHERE b...\")",
        ),
    ],
)
def test_a_query_that_does_not_parse_says_where_in_one_line(query, message):
    with pytest.raises(NotReadOnly) as refused:
        ensure_read_only_query(query, "postgresql")
    assert str(refused.value) == f"does not parse as one SELECT: {message}"


def test_a_mistyped_query_in_the_config_names_its_key_and_position(tmp_path, scorecard_cli):
    config = _config(tmp_path, '[source.vendors]\nquery = "SELECT (vendor_id FROM crm"\n')
    result = scorecard_cli.run("sqlite://", tmp_path / "out", config=config)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"scorecard: error: {config}: source.vendors.query: does not parse as one SELECT: "
        'expected ) near "FROM" at line 1, column 19 (in "SELECT (vendor_id FROM crm")'
    ]


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 'delete me; -- not a comment' AS note, \"set\" FROM t -- update later",
        "WITH x AS (SELECT * FROM t) SELECT * FROM x UNION ALL SELECT * FROM t",
        "SELECT lower(name) AS name, CAST(NULL AS TEXT) AS country FROM crm.vendors;",
    ],
)
def test_ordinary_reading_queries_pass(query):
    assert ensure_read_only_query(query, "postgresql") == query


def test_the_folders_duckdb_may_read_are_those_the_query_names(tmp_path):
    queries = [
        f"SELECT * FROM read_csv('{tmp_path}/a.csv')",
        f"SELECT * FROM '{tmp_path}/b/*.parquet'",
    ]
    assert folders_read(queries) == sorted([str(tmp_path), str(tmp_path / "b")])
    assert folders_read(["SELECT * FROM vendors"]) == []


@contextmanager
def job_connection(url: str, source_queries: tuple[str, ...] = ()) -> Iterator[Connection]:
    """A connection exactly as the job opens it for reading."""
    engine = open_engine(url, read_only=True, source_queries=source_queries)
    try:
        with read_only_connection(engine) as connection:
            yield connection
    finally:
        engine.dispose()


def _config(tmp_path: Path, config_text: str) -> Path:
    """The run's config file: config_text in tmp_path/source.toml."""
    path = tmp_path / "source.toml"
    path.write_text(config_text)
    return path


def test_duckdb_the_smuggled_copy_writes_no_file_and_exits_2(duckdb_url, tmp_path, scorecard_cli):
    load(duckdb_url, ROWS)
    target = tmp_path / "stolen.csv"
    query = SMUGGLED_COPY.format(target=target)
    config = _config(tmp_path, f'[source.vendors]\nquery = """{query}"""\n')
    result = scorecard_cli.run(duckdb_url, tmp_path / "out", "--format", "csv", config=config)
    assert result.exit_code == 2, result.output
    assert not target.exists()


def test_duckdb_runs_one_statement_per_call_with_no_file_access(duckdb_url, tmp_path):
    load(duckdb_url, ROWS)
    secret = tmp_path / "secret.csv"
    secret.write_text("x\n1\n")
    refusals = {
        "SELECT 1; SELECT 2": r"(?i)one statement|multiple statements",
        f"SELECT * FROM read_csv('{secret}')": r"(?i)permission|disabled",
        "SET enable_external_access = true": r"(?i)configuration|locked|disabled",
    }
    for statement, refusal in refusals.items():
        with job_connection(duckdb_url) as connection, pytest.raises(Exception, match=refusal):
            connection.exec_driver_sql(statement).fetchall()


def test_duckdb_reads_the_files_a_source_query_names_and_nothing_else(
    duckdb_url, tmp_path, scorecard_cli
):
    load(duckdb_url, {"vendors": [], "work_items": ROWS["work_items"]})
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "vendors.csv").write_text(
        "vendor_id,name,sourcing,country,currency,manager_email,contract_start,contract_end\n"
        "A,Acme,offshore,PH,EUR,,,\n"
    )
    query = f"SELECT * FROM read_csv('{folder}/vendors.csv', all_varchar = true)"
    config = _config(tmp_path, f'[source.vendors]\nquery = """{query}"""\n')
    result = scorecard_cli.run(duckdb_url, tmp_path / "out", "--format", "csv", config=config)
    assert result.exit_code == 0, result.output
    with (
        job_connection(duckdb_url, (query,)) as connection,
        pytest.raises(Exception, match=r"(?i)permission|disabled"),
    ):
        connection.exec_driver_sql(f"SELECT * FROM read_csv('{tmp_path}/out.csv')").fetchall()


@pytest.fixture
def postgresql_with_dblink(postgresql_url):
    """A fresh database with dblink: skipped with the reason where the server cannot install
    it (the contrib package is missing), failed instead under CI=true."""
    import os

    engine = create_engine(postgresql_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS dblink"))
    except Exception as exc:
        reason = f"dblink cannot be installed: {str(exc).splitlines()[0]}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the dblink tests must run, not skip)")
        pytest.skip(reason)
    finally:
        engine.dispose()
    return postgresql_url


def _charges(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM charges")).scalar_one())
    finally:
        engine.dispose()


def test_postgresql_dblink_exec_cannot_delete_the_charges(
    postgresql_with_dblink, tmp_path, scorecard_cli
):
    url = postgresql_with_dblink
    load(url, ROWS)
    database = url.rsplit("/", 1)[1]
    query = (
        f"SELECT v.*, dblink_exec('dbname={database} user=root host=127.0.0.1', 'DELETE FROM charges') AS gone "
        "FROM vendors v"
    )
    config = _config(tmp_path, f'[source.vendors]\nquery = """{query}"""\n')
    result = scorecard_cli.run(url, tmp_path / "out", "--format", "csv", config=config)
    assert result.exit_code == 2, result.output
    assert "dblink_exec" in result.stderr.splitlines()[-1]
    assert _charges(url) == 1


def test_postgresql_a_query_cannot_lift_its_statement_timeout(
    postgresql_url, tmp_path, scorecard_cli
):
    load(postgresql_url, ROWS)
    query = (
        "SELECT v.* FROM vendors v WHERE set_config('statement_timeout', '0', false) IS NOT NULL"
    )
    config = _config(tmp_path, f'[source.vendors]\nquery = """{query}"""\n')
    result = scorecard_cli.run(postgresql_url, tmp_path / "out", "--format", "csv", config=config)
    assert result.exit_code == 2
    assert "set_config" in result.stderr.splitlines()[-1]


def test_postgresql_the_job_runs_exactly_one_statement_per_call(postgresql_url):
    load(postgresql_url, ROWS)
    with (
        job_connection(postgresql_url) as connection,
        pytest.raises(Exception, match=r"(?i)multiple commands"),
    ):
        connection.exec_driver_sql("SELECT 1; SELECT 2")


SECOND_CONNECTION = """
import json, sys
from extract.source import ids_enforced_unique, open_engine, read_only_connection
engine = open_engine(sys.argv[1], read_only=True)
with read_only_connection(engine) as first, engine.connect() as second:
    zone = second.exec_driver_sql("SELECT current_setting('TimeZone')").scalar()
    try:
        second.exec_driver_sql("SET enable_external_access = true")
        lifted = True
    except Exception:
        lifted = False
    keyed = ids_enforced_unique(engine, "work_items", None)
print(json.dumps({"zone": zone, "lifted": lifted, "keyed": keyed}))
"""


def test_duckdb_a_second_connection_of_the_job_shares_the_first_ones_utc_and_locks(duckdb_url):
    """DuckDB shares one instance per file in a process: the first connection's settings
    (locked) hold for a second one, which must still open (the key lookup uses one)."""
    import json
    import os
    import subprocess
    import sys

    load(duckdb_url, ROWS)
    ran = subprocess.run(
        [sys.executable, "-c", SECOND_CONNECTION, duckdb_url],
        env={**os.environ, "TZ": "America/New_York"},  # a machine not in UTC
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == {"zone": "UTC", "lifted": False, "keyed": True}


@pytest.mark.integration  # DuckDB spilling to disk in a process of its own
def test_duckdb_in_a_read_only_folder_spills_what_outgrows_its_memory_cap(tmp_path):
    """The duplicate check of a keyless table outgrows the memory cap (3 million IDs; 32 MB a
    thread) and spills: to a folder of the job's, since DuckDB's default (beside the
    database) may be read-only."""
    import datetime as dt
    import subprocess

    from extract import source
    from extract.activity import extract_activity
    from scoring.periods import periods_for, window_of
    from tests.builders import make_config
    from tests.mounts import tmpfs

    built = tmp_path / "built.duckdb"
    load(f"duckdb:///{built}", {"vendors": [vendor("A")]}, primary_keys=False)
    engine = create_engine(f"duckdb:///{built}")
    with engine.begin() as connection:  # 3,000,000 items, two of them with the same ID
        connection.execute(text(
            "INSERT INTO work_items SELECT CASE WHEN i = 1 THEN 'w0' ELSE 'w' || i END, 'A', "
            "'desk', TIMESTAMP '2026-07-01 08:00', NULL, NULL, 1, 0, 0, false FROM range(3000000) t(i)"
        ))  # fmt: skip
    engine.dispose()
    with tmpfs(tmp_path / "ro", "size=200m") as folder:
        (folder / "source.duckdb").write_bytes(built.read_bytes())
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        engine = source.open_engine(f"duckdb:///{folder / 'source.duckdb'}", read_only=True)
        config = make_config()
        try:
            data = extract_activity(
                engine,
                window_of(periods_for(dt.date(2026, 9, 30), "quarter", 1)),
                config.currency,
                config.response_targets_hours.hours(),
            )
        finally:
            engine.dispose()
    assert data.counts["work_items"].read == 3_000_000
    assert data.data_quality.select("rule", "rows_rejected").rows() == [("duplicate_id", 2)]


def test_duckdb_memory_is_capped_by_its_threads_not_by_the_machine(duckdb_url):
    from extract.readonly import duckdb_memory_limit_mb

    load(duckdb_url, ROWS)
    with job_connection(duckdb_url) as connection:
        threads = int(connection.exec_driver_sql("SELECT current_setting('threads')").scalar())
        limit = connection.exec_driver_sql(
            "SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'"
        ).scalar()
    mib = duckdb_memory_limit_mb(threads) * 1000**2 / 1024**2
    assert limit == f"{mib:.1f} MiB"  # DuckDB shows it in MiB


def test_duckdb_memory_cap_can_be_raised_in_the_config(duckdb_url):
    """A source without a key far beyond 10M rows may need more than the default cap."""
    from extract.source import open_engine, read_only_connection
    from scorecard.config import config_from_mapping
    from scorecard.errors import ConfigError

    load(duckdb_url, ROWS)
    config = config_from_mapping({"database": {"duckdb_memory_mb": 300}})
    engine = open_engine(
        duckdb_url, read_only=True, duckdb_memory_mb=config.database.duckdb_memory_mb
    )
    try:
        with read_only_connection(engine) as connection:
            limit = connection.exec_driver_sql(
                "SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'"
            ).scalar()
    finally:
        engine.dispose()
    assert limit == f"{300 * 1000**2 / 1024**2:.1f} MiB"
    with pytest.raises(ConfigError, match="duckdb_memory_mb"):
        config_from_mapping({"database": {"duckdb_memory_mb": 16}})


@pytest.mark.parametrize("command", ["run", "check"])
def test_sqlite_a_mistyped_path_is_an_error_naming_it_and_no_file_is_made(
    command, tmp_path, monkeypatch, scorecard_cli
):
    monkeypatch.chdir(tmp_path)
    arguments = ["--database-url", "sqlite:///mistyped.db", "--out", tmp_path / "out"]
    result = scorecard_cli(command, *arguments, env={"SCORECARD_DATABASE_URL": None})
    assert result.exit_code == 3, result.output
    assert result.stderr.splitlines()[-1] == (
        f"scorecard: error: sqlite:///mistyped.db: no such file {tmp_path / 'mistyped.db'} "
        "(check the path; `scorecard init-db` creates the tables in a new database)"
    )
    assert not (tmp_path / "mistyped.db").exists()


def test_sqlite_the_job_opens_its_file_read_only_and_memory_as_before(tmp_path):
    odd = tmp_path / "a folder" / "50% #1.db"
    odd.parent.mkdir()
    url = f"sqlite:///{odd}"
    load(url, ROWS)
    before = odd.read_bytes()
    engine = open_engine(url, read_only=True)
    try:
        with engine.connect() as connection:  # not even outside the job's read-only session
            assert connection.exec_driver_sql("SELECT count(*) FROM vendors").scalar() == 1
            with pytest.raises(Exception, match="readonly database"):
                connection.exec_driver_sql("CREATE TABLE z (a INTEGER)")
    finally:
        engine.dispose()
    assert odd.read_bytes() == before
    with job_connection("sqlite://") as connection:
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1


def _delete_through_dblink(url: str) -> str:
    """SQL text that deletes every charge through dblink, quoted to sit inside a string."""
    database = url.rsplit("/", 1)[1]
    return (
        f"SELECT dblink_exec(''dbname={database} user=root host=127.0.0.1'', "
        "''DELETE FROM charges'')"
    )


# The probes: SQL held in a string, run by an ordinary-looking function, or a
# function that changes the server; each ran, or could, under the list of refused names.
POSTGRESQL_PROBES = {
    "ts_stat": "SELECT v.* FROM vendors v WHERE (SELECT count(*) FROM ts_stat('{hidden}')) >= 0",
    "query_to_xml": "SELECT v.*, query_to_xml('{hidden}', true, true, '') AS x FROM vendors v",
    "xpath": (
        "SELECT v.* FROM vendors v "
        "WHERE xpath('//text()', ('<a>' || '{hidden}' || '</a>')::xml) IS NOT NULL"
    ),
    "cursor_to_xml": (
        "SELECT v.* FROM vendors v "
        "WHERE cursor_to_xml('c'::refcursor, 1, false, false, '') IS NOT NULL"
    ),
    "pg_stat_reset": "SELECT v.* FROM vendors v WHERE pg_stat_reset() IS NULL",
    "set_config": (
        "SELECT v.* FROM vendors v WHERE set_config('statement_timeout', '0', false) IS NOT NULL"
    ),
    "pg_read_file": "SELECT v.*, pg_read_file('/etc/passwd') AS leaked FROM vendors v",
    "dblink_exec": (
        "SELECT v.*, dblink_exec('dbname={database} user=root host=127.0.0.1', "
        "'DELETE FROM charges') AS gone FROM vendors v"
    ),
    "nextval": "SELECT v.* FROM vendors v WHERE nextval('vendors_seq') > 0",
}


@pytest.mark.parametrize("function", list(POSTGRESQL_PROBES))
def test_postgresql_only_allowlisted_functions_run(
    function, postgresql_with_dblink, tmp_path, scorecard_cli
):
    url = postgresql_with_dblink
    load(url, ROWS)
    query = POSTGRESQL_PROBES[function].format(
        hidden=_delete_through_dblink(url), database=url.rsplit("/", 1)[1]
    )
    config = _config(tmp_path, f'[source.vendors]\nquery = """{query}"""\n')
    result = scorecard_cli.run(url, tmp_path / "out", "--format", "csv", config=config)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"scorecard: error: {config}: source.vendors.query: calls {function}(), which is not on "
        'the job\'s list of functions a read query needs (docs/security.md, "Source queries")'
    ]
    assert _charges(url) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "query",
    [
        "SELECT count(*) FILTER (WHERE sourcing = 'offshore') AS n, max(name) AS m FROM vendors",
        "SELECT vendor_id, row_number() OVER (PARTITION BY sourcing ORDER BY name) AS r, "
        "CAST(contract_start AS DATE) + 1 AS d, coalesce(country, '?') || '-' || upper(currency) "
        "FROM vendors WHERE name ILIKE 'v%' AND vendor_id IN (SELECT vendor_id FROM charges)",
        "SELECT date_trunc('month', opened_at) AS m, extract(epoch FROM resolved_at - opened_at), "
        "to_char(opened_at, 'YYYY'), split_part(vendor_id, '-', 1), "
        "regexp_replace(vendor_id, '[0-9]+', '') FROM requests",
        "SELECT CASE WHEN amount > 0 THEN round(amount::numeric, 2) ELSE abs(amount) END, "
        "greatest(service_start, service_end), make_date(2026, 1, 1), age(service_end) "
        "FROM charges",
    ],
)
def test_postgresql_an_ordinary_reading_query_passes_and_runs(query, postgresql_url):
    load(postgresql_url, ROWS)
    assert ensure_read_only_query(query, "postgresql") == query
    with job_connection(postgresql_url) as connection:
        connection.exec_driver_sql(query.replace("%", "%%")).fetchall()


# What MariaDB runs that the parser takes for a comment or a string: the probe
# made the job read /etc/passwd into the vendors' names.
MARIADB_HIDDEN = {
    "/*!": "SELECT vendor_id, /*! load_file('/etc/passwd') AS */ name, sourcing, country, "
    "currency, manager_email, contract_start, contract_end FROM vendors",
    "/*M!": "SELECT vendor_id, /*M!100000 load_file('/etc/passwd') AS */ name, sourcing, "
    "country, currency, manager_email, contract_start, contract_end FROM vendors",
    "/*+": "SELECT /*+ MAX_EXECUTION_TIME(1) */ * FROM vendors",
    # Under sql_mode NO_BACKSLASH_ESCAPES the string ends at the backslash: OR 1 = 1 is code.
    "backslash": "SELECT * FROM vendors WHERE name = 'x\\' OR 1 = 1 -- '",
}


@pytest.mark.parametrize("kind", list(MARIADB_HIDDEN))
def test_mariadb_text_the_server_reads_as_code_is_refused(
    kind, mariadb_url, tmp_path, scorecard_cli
):
    load(mariadb_url, ROWS)
    query = MARIADB_HIDDEN[kind]
    config = _config(tmp_path, f"[source.vendors]\nquery = '''{query}'''\n")
    result = scorecard_cli.run(mariadb_url, tmp_path / "out", "--format", "csv", config=config)
    assert result.exit_code == 2, result.output
    line = result.stderr.splitlines()[-1]
    # Refused when the config is read (every dialect), or when the run knows it is MariaDB.
    assert line.startswith("scorecard: error: ") and "source.vendors.query: holds " in line
    assert ("backslash" if kind == "backslash" else kind) in line
    assert not list((tmp_path / "out").glob("2*"))  # no day's folder: nothing read, nothing made


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT 1 /* a /* b */ AS x, '*/' AS y", "does not parse|comment inside a comment"),
        ("SELECT 1 /* a /* b */ */ AS x", "does not parse|comment inside a comment"),
        ("SELECT 1 /*!50100 , load_file('/etc/passwd') */ AS x", r"/\*!50100"),
    ],
)
def test_comments_some_server_reads_differently_are_refused_in_every_dialect(query, reason):
    for dialect in (None, "postgresql", "mysql", "sqlite", "duckdb"):
        with pytest.raises(NotReadOnly, match=reason):
            ensure_read_only_query(query, dialect)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 1--1 AS x",  # MariaDB: 1 - -1; -- starts a comment only before a blank
        "SELECT 1 # a comment on MariaDB\n AS x",
        "SELECT str_to_date('01/09/2026', '%d/%m/%Y') AS x -- a comment\n",
    ],
)
def test_mariadb_reads_these_as_the_check_does(query, mariadb_url):
    assert ensure_read_only_query(query, "mariadb") == query
    load(mariadb_url, ROWS)
    with job_connection(mariadb_url) as connection:
        (row,) = connection.exec_driver_sql(query.replace("%", "%%")).fetchall()
    assert len(row) == 1
