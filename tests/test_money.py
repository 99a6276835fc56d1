"""Money is exact and rounded once (half to even): the same bytes on every rerun and engine."""

from __future__ import annotations

import csv
import io
from fractions import Fraction
from pathlib import Path

import pytest

from scoring.money import exact, spread_share, written
from tests.builders import charge, day, item, load, load_parquet_tables, vendor

AS_OF = "2026-09-30"

CONFIG = """
[currency]
base = "EUR"
[currency.rates]
USD = 0.9

[in_house.support]
salary = 30000
productive_hours = 1500
units_per_hour = 1
"""


def _midpoint_world() -> dict[str, list[dict]]:
    """Vendors whose per-unit costs and converted amounts fall on exact midpoints.

    M1: 10.21 EUR (two charges) over 8 units = 1.27625 (in floats: 1.2763).
    M2: 20.15 USD x 0.9 = 18.135 EUR over 1 unit (in floats: 18.13).
    M3: 3,001 small fees whose float sum depends on the order of addition.
    """
    vendors = [vendor("M1"), vendor("M2"), vendor("M3"), vendor("M4")]
    items = [
        item(f"{v}-{n}", v, "2026-08-01 09:00", "2026-08-03 09:00", "2026-08-02 09:00")
        for v, count in (("M1", 8), ("M2", 1), ("M3", 7), ("M4", 3))
        for n in range(count)
    ]
    charges = [
        charge("C-M1a", "M1", "2026-07-01", "2026-09-30", 10.0),
        charge("C-M1b", "M1", "2026-07-01", "2026-09-30", 0.21),
        charge("C-M2", "M2", "2026-07-01", "2026-09-30", 20.15, currency="USD"),
        *[
            charge(f"C-M3-{n}", "M3", "2026-08-01", "2026-08-31", [0.1, 0.2, 0.7][n % 3])
            for n in range(3001)
        ],
        # Spread over two quarters: 31 of its 62 days fall in Q3, exactly half.
        charge("C-M4", "M4", "2026-09-01", "2026-10-31", 0.05),
    ]
    return {"vendors": vendors, "work_items": items, "charges": charges}


def _scores_csv(url: str, out: Path, scorecard_cli, config: Path) -> bytes:
    ran = scorecard_cli.run(url, out, "--format", "csv", config=config)
    assert ran.exit_code in (0, 1), ran.output
    return (out / AS_OF / "scores.csv").read_bytes()


@pytest.fixture
def config_file(tmp_path) -> Path:
    path = tmp_path / "money.toml"
    path.write_text(CONFIG)
    return path


def _row(scores: bytes, vendor_id: str, process: str = "ALL") -> dict[str, str]:
    for row in csv.DictReader(io.StringIO(scores.decode())):
        if (row["period"], row["vendor_id"], row["process"]) == ("2026-Q3", vendor_id, process):
            return row
    raise AssertionError(f"no 2026-Q3 row for {vendor_id} {process}")


def test_a_figure_is_rounded_half_to_even_from_its_exact_value():
    assert written(exact(620.15) / 8, 4) == 77.5188  # 77.51875: the 7 is odd, up
    assert written(exact(620.05) / 8, 4) == 77.5062  # 77.50625: the 2 is even, stays
    assert written(exact(100.05) * exact(0.9), 2) == 90.04  # 90.045
    assert written(-exact(620.15) / 8, 4) == -77.5188
    assert written(Fraction(1, 3), 2) == 0.33
    assert written(None, 2) is None
    # A share of a charge is exact: three thirds add up to the charge.
    thirds = [
        spread_share(exact(100.0), day("2026-01-01"), day("2026-01-03"), d, d)
        for d in (day("2026-01-01"), day("2026-01-02"), day("2026-01-03"))
    ]
    assert sum(thirds) == 100


def test_midpoint_money_is_exact_and_identical_over_five_reruns(
    sqlite_url, tmp_path, config_file, scorecard_cli
):
    load(sqlite_url, _midpoint_world())
    runs = {
        _scores_csv(sqlite_url, tmp_path / f"out{n}", scorecard_cli, config_file) for n in range(5)
    }
    assert len(runs) == 1, "five reruns gave different scores.csv"
    scores = runs.pop()
    m1 = _row(scores, "M1", "support")
    assert (m1["spend"], m1["cost_per_unit"]) == ("10.21", "1.2762")  # the 2 is even
    assert m1["tco_per_unit"] == "1.4039"  # 1.403875
    assert _row(scores, "M2")["spend"] == "18.14"  # the 3 is odd
    # 1,001 x 0.1 + 1,000 x 0.2 + 1,000 x 0.7, summed exactly.
    assert _row(scores, "M3")["spend"] == "1000.10"  # money prints with its two decimals
    assert _row(scores, "M4")["spend"] == "0.02"  # 0.025, half to even


@pytest.fixture(scope="module")
def sqlite_reference(tmp_path_factory, scorecard_cli) -> bytes:
    folder = tmp_path_factory.mktemp("money_reference")
    (folder / "money.toml").write_text(CONFIG)
    url = f"sqlite:///{folder / 'money.db'}"
    load(url, _midpoint_world())
    return _scores_csv(url, folder / "out", scorecard_cli, folder / "money.toml")


def test_midpoint_money_is_byte_identical_on_every_engine(
    any_database_url, sqlite_reference, tmp_path, config_file, scorecard_cli
):
    load(any_database_url, _midpoint_world())
    scores = _scores_csv(any_database_url, tmp_path / "out", scorecard_cli, config_file)
    assert scores == sqlite_reference


def test_midpoint_money_is_byte_identical_on_spark_sql(
    spark_url, sqlite_reference, tmp_path, config_file, scorecard_cli
):
    load_parquet_tables(spark_url, _midpoint_world(), tmp_path / "parquet")
    scores = _scores_csv(spark_url, tmp_path / "out", scorecard_cli, config_file)
    assert scores == sqlite_reference


def test_reports_round_a_written_figure_half_to_even_too():
    from reports.view import money, signed_money

    # 1.275 is stored as the float just below it: formatted as written, half to even.
    assert money(1.275, "EUR", 2) == "1.28 EUR"
    assert money(1.265, "EUR", 2) == "1.26 EUR"
    assert money(1234567.5, "EUR") == "1,234,568 EUR"
    assert signed_money(-2.5, "EUR") == "-2 EUR"
