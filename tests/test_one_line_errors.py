"""Input an unlucky operator gives: one line naming it and an exit code, never a traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.builders import charge, item, load, vendor

AS_OF = "2026-09-30"
ROWS = {
    "vendors": [vendor("A")],
    "work_items": [
        item("a1", "A", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 12:00", qa=1)
    ],
    "charges": [charge("c1", "A", "2026-07-01", "2026-07-31", 100.0)],
}


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scorecard.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
@pytest.mark.parametrize("command", ["run", "check"])
def test_sqlite_a_damaged_file_is_one_line_and_exit_3(damage, command, tmp_path, scorecard_cli):
    whole = tmp_path / "whole.db"
    load(f"sqlite:///{whole}", ROWS)
    damaged = tmp_path / "damaged.db"
    if damage == "truncated":  # a copy cut short: the header says more pages than there are
        damaged.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        driver = "database disk image is malformed"
    else:
        damaged.write_bytes(b"not a database at all\n" * 500)
        driver = "file is not a database"
    url = f"sqlite:///{damaged}"
    result = scorecard_cli(command, "--database-url", url, "--out", tmp_path / "out")
    assert result.exit_code == 3, result.output
    assert result.stderr.splitlines()[-1] == (
        f"scorecard: error: cannot read {url}: {driver} "
        "(the file is damaged, truncated or not a SQLite database)"
    )


def test_mariadb_a_mistyped_url_option_is_a_config_error(mariadb_url, tmp_path, scorecard_cli):
    load(mariadb_url, ROWS)
    url = f"{mariadb_url}?charsett=utf8mb4"
    result = scorecard_cli.run(url, tmp_path / "out", "--format", "csv")
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-1] == (
        f"scorecard: error: database URL {url}: the driver knows no option 'charsett' "
        "(check its spelling after the ?)"
    )


@pytest.mark.parametrize(
    ("setting", "line"),
    [
        (
            "[database]\nstatement_timeout_seconds = 1e300\n",
            "database.statement_timeout_seconds: Input should be less than or equal to 2147483",
        ),
        (
            "[currency.rates]\nUSD = 1e300\n",
            "currency.rates.USD: Input should be less than or equal to 1000000",
        ),
    ],
)
def test_a_number_past_what_the_job_can_use_is_a_config_error(
    setting, line, tmp_path, scorecard_cli
):
    url = f"sqlite:///{tmp_path / 'source.db'}"
    load(url, ROWS)
    config = _config(tmp_path, setting)
    result = scorecard_cli.run(url, tmp_path / "out", "--format", "csv", config=config)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-1] == f"scorecard: error: {config}: {line}"


def test_a_charge_of_1e300_is_a_rejected_row_and_the_credits_still_compute(tmp_path, scorecard_cli):
    """SQLite holds any number in a NUMERIC column: 1e300 reached the service credits,
    whose cents overflowed (a traceback, nothing written)."""
    url = f"sqlite:///{tmp_path / 'source.db'}"
    load(
        url,
        {**ROWS, "charges": [*ROWS["charges"], charge("c2", "A", "2026-08-01", "2026-08-31", 1.0)]},
    )
    with sqlite3.connect(tmp_path / "source.db") as connection:
        connection.execute("UPDATE charges SET amount = 1e300 WHERE charge_id = 'c2'")
    config = _config(
        tmp_path,
        '[contracts."A"]\nat_risk_pct = 0.1\n[[contracts."A".service_levels]]\n'
        'name = "On time"\nprocess = "ALL"\nkpi = "on_time_rate"\nminimum = 0.9\n'
        "allocation_pct = 100\n",
    )
    result = scorecard_cli.run(url, tmp_path / "out", "--format", "csv", config=config)
    assert result.exit_code in (0, 1), result.output
    quality = (tmp_path / "out" / AS_OF / "data_quality.csv").read_text()
    assert "charges,amount_out_of_range,A,1,c2," in quality
    assert (tmp_path / "out" / AS_OF / "service_credits.csv").exists()
