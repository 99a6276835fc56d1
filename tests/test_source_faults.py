"""The database misbehaving: slow statements time out, a dropped connection is retried once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.builders import item, load, vendor

AS_OF = "2026-09-30"
ROWS = {
    "vendors": [vendor("A")],
    "work_items": [
        item("a1", "A", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 12:00", qa=1)
    ],
}


def _slow_work_items(url: str, sleep_sql: str) -> None:
    """Replace work_items by a view over the same rows that takes a while to answer."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE work_items RENAME TO work_items_raw"))
        connection.execute(
            text(f"CREATE VIEW work_items AS SELECT w.* FROM work_items_raw w WHERE {sleep_sql}")
        )
    engine.dispose()


def _timeout_config(tmp_path: Path, timeout: float) -> Path:
    """A config file that limits each statement to timeout seconds."""
    config = tmp_path / "timeout.toml"
    config.write_text(f"[database]\nstatement_timeout_seconds = {timeout}\n")
    return config


def test_a_slow_statement_on_postgresql_is_cancelled_and_exits_3(
    postgresql_url, tmp_path, scorecard_cli
):
    load(postgresql_url, ROWS)
    _slow_work_items(postgresql_url, "pg_sleep(3) IS NOT NULL")
    started = time.monotonic()
    config = _timeout_config(tmp_path, 0.5)
    result = scorecard_cli.run(postgresql_url, tmp_path / "out", "--format", "csv", config=config)
    assert result.exit_code == 3
    assert result.stderr.splitlines()[-1].startswith(
        "scorecard: error: cannot read table 'work_items': canceling statement due to statement timeout"
    )
    assert time.monotonic() - started < 3


def test_check_reads_through_the_runs_engine_so_a_slow_statement_is_cancelled_too(
    postgresql_url, tmp_path, scorecard_cli
):
    load(postgresql_url, ROWS)
    _slow_work_items(postgresql_url, "pg_sleep(3) IS NOT NULL")
    started = time.monotonic()
    config = _timeout_config(tmp_path, 0.5)
    result = scorecard_cli("check", "--config", config, "--database-url", postgresql_url)
    assert result.exit_code == 3, result.output
    assert "canceling statement due to statement timeout" in result.stderr.splitlines()[-1]
    assert time.monotonic() - started < 3


def test_a_slow_statement_on_mariadb_is_cancelled_and_exits_3(mariadb_url, tmp_path, scorecard_cli):
    load(mariadb_url, ROWS)
    _slow_work_items(mariadb_url, "SLEEP(3) = 0")
    config = _timeout_config(tmp_path, 0.5)
    result = scorecard_cli.run(mariadb_url, tmp_path / "out", "--format", "csv", config=config)
    assert result.exit_code == 3
    last = result.stderr.splitlines()[-1]
    assert last.startswith("scorecard: error: cannot read table 'work_items': ")
    assert "max_statement_time" in last or "interrupted" in last.lower()


def test_a_connection_killed_mid_read_is_retried_once(postgresql_url, tmp_path, scorecard_cli):
    load(postgresql_url, ROWS)
    _slow_work_items(postgresql_url, "pg_sleep(1.5) IS NOT NULL")
    admin = create_engine(postgresql_url, isolation_level="AUTOCOMMIT")
    killed: list[int] = []

    def kill_the_first_read() -> None:
        deadline = time.monotonic() + 20
        with admin.connect() as connection:
            while not killed and time.monotonic() < deadline:
                pids = connection.execute(text(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'scorecard' "
                    # Rows come through a server-side cursor: FETCH ... FROM, not the SELECT.
                    # pg_stat_activity keeps a query's first 1,024 bytes: the summing query's
                    # subqueries come later, its start names them (`summed`).
                    "AND state = 'active' AND (query LIKE 'SELECT summed.%' OR query LIKE 'FETCH%')"
                )).scalars().all()  # fmt: skip
                for pid in pids:
                    connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                    killed.append(pid)
                time.sleep(0.05)

    killer = threading.Thread(target=kill_the_first_read)
    killer.start()
    result = scorecard_cli.run(postgresql_url, tmp_path / "out", "--format", "csv")
    killer.join()
    admin.dispose()
    assert killed, "the test never saw the job's query to kill it"
    assert result.exit_code == 0, result.output
    assert "the connection dropped while reading" in result.stderr
    assert "retrying the extraction once" in result.stderr
    assert (tmp_path / "out" / AS_OF / "scores.csv").read_text().count("\n") > 1
