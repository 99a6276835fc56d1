"""`scorecard check`: config, database, schema, freshness and the age of the last good run."""

from __future__ import annotations

import datetime as dt
import json
import os

from sqlalchemy import create_engine

from tests.builders import item, load, vendor

ROWS = {
    "vendors": [vendor("A")],
    "work_items": [item("a1", "A", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 12:00")],
}


NO_URL_ENV = {"SCORECARD_DATABASE_URL": ""}
"""`scorecard check` here ignores any SCORECARD_DATABASE_URL of the shell running the tests."""


def _manifest(out, name: str, finished: dt.datetime, exit_code: int) -> None:
    (out / name).mkdir(parents=True)
    manifest = out / name / "manifest.json"
    manifest.write_text(json.dumps({"exit_code": exit_code}))
    os.utime(manifest, (finished.timestamp(), finished.timestamp()))


def test_check_reports_each_table_and_exits_0(sqlite_url, tmp_path, scorecard_cli):
    load(sqlite_url, ROWS)
    result = scorecard_cli("check", "--database-url", sqlite_url, env=NO_URL_ENV)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == "ok    config: built-in defaults (no --config, no SCORECARD_CONFIG, no ./scorecard.toml): valid"
    )
    assert lines[1] == f"ok    database {sqlite_url}: reachable"
    assert lines[3].startswith("ok    work_items: 1 rows, newest received_at 2026-07-01 00:00 (")
    assert lines[4] == "warn  requests: no rows"


def test_check_fails_when_the_last_successful_run_is_too_old(sqlite_url, tmp_path, scorecard_cli):
    load(sqlite_url, ROWS)
    out = tmp_path / "out"
    now = dt.datetime.now(dt.UTC)
    _manifest(out, "2026-09-29", now - dt.timedelta(hours=30), 0)
    _manifest(out, "2026-09-30", now - dt.timedelta(hours=2), 1)  # finished, but not successful
    result = scorecard_cli(
        "check", "--database-url", sqlite_url, "--out", out, "--max-age", "26", env=NO_URL_ENV
    )
    assert result.exit_code == 1
    assert "FAIL  last successful run: 2026-09-29, finished" in result.stdout
    assert "(30.0 h ago, limit 26 h)" in result.stdout
    assert result.stderr.startswith("scorecard: check failed: ")
    again = scorecard_cli(
        "check", "--database-url", sqlite_url, "--out", out, "--max-age", "31", env=NO_URL_ENV
    )
    assert again.exit_code in (0, 1)


def test_check_passes_with_a_recent_successful_run(sqlite_url, tmp_path, scorecard_cli):
    load(sqlite_url, {**ROWS, "requests": [], "charges": []})
    out = tmp_path / "out"
    _manifest(out, "2026-09-30", dt.datetime.now(dt.UTC) - dt.timedelta(hours=1), 0)
    result = scorecard_cli(
        "check", "--database-url", sqlite_url, "--out", out, "--max-age", "26", env=NO_URL_ENV
    )
    assert result.exit_code == 0, result.output
    assert "ok    last successful run: 2026-09-30" in result.stdout


def test_check_with_no_run_at_all_fails_under_max_age(sqlite_url, tmp_path, scorecard_cli):
    load(sqlite_url, ROWS)
    nothing = tmp_path / "nothing"
    result = scorecard_cli(
        "check", "--database-url", sqlite_url, "--out", nothing, "--max-age", "26", env=NO_URL_ENV
    )
    assert result.exit_code == 1
    assert f"FAIL  last successful run: none in {tmp_path / 'nothing'}" in result.stdout


def test_check_fails_without_any_work_item(sqlite_url, scorecard_cli):
    load(sqlite_url, {"vendors": [vendor("A")]})
    result = scorecard_cli("check", "--database-url", sqlite_url, env=NO_URL_ENV)
    assert result.exit_code == 1
    assert "FAIL  work_items: no rows: nothing to score" in result.stdout


def test_check_exits_3_on_a_missing_table_and_2_on_a_bad_config(tmp_path, scorecard_cli):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    create_engine(url).connect().close()
    result = scorecard_cli("check", "--database-url", url, env=NO_URL_ENV)
    assert result.exit_code == 3
    assert (
        result.stderr.splitlines()[-1]
        == "scorecard: error: tables vendors, work_items, requests, charges are missing from the "
        "database (run scorecard init-db?)"
    )
    config = tmp_path / "bad.toml"
    config.write_text("[run]\nperiod = 'week'\n")
    bad = scorecard_cli("check", "--config", config, "--database-url", url, env=NO_URL_ENV)
    assert bad.exit_code == 2
