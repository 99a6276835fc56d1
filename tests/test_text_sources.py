"""An export loaded as text, read through the mapping alone (contract section 6), on every engine.

The same activity is loaded twice: as canonical typed tables into SQLite, and
as one all-text export table (ISO times with T, Z and offsets, a d/m/Y
format with one-digit days and hours, `?` for null, own priority labels,
Y/N booleans, numbers as text) into each real database. Both must score
exactly alike; the export's bad rows must be rejected under their column's
rule with the refused values shown.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.builders import item, load, request, vendor

AS_OF = "2026-09-30"
COLUMNS = ["ticket", "team", "opened", "due", "done", "qty", "checked", "errs", "redo", "prio"]
EXPORT = [
    # Z, and an offset: 20:00+02:00 is 18:00 UTC.
    ["t1", "V1", "2026-07-01T08:00:00Z", "2/7/2026 8:00", "2026-07-01T20:00:00+02:00", "10", "10", "1", "Y", "1 - Critical"],
    # Fractional seconds; a one-digit day and hour in the format; ? for null.
    ["t2", "V1", "2026-07-03 09:30:00.250", "?", "2026-07-04 09:30:00.250", "3", "0", "0", "N", "3 - Moderate"],
    # Received on 31 July in Brazil, 1 August in UTC: the day is cut in UTC.
    ["t3", "V2", "2026-07-31T22:30:00-03:00", "9/8/2026 1:16", "2026-08-02T10:00:00", "4", "4", "0", "N", "2 - High"],
    ["t4", "V2", "2026-09-01 00:00", "1/9/2026 12:00", "?", "2", "2", "0", "N", "4 - Low"],
    # Bad rows: garbage where a time, a count, a boolean belong; an unknown priority.
    ["b1", "V1", "yesterday", "?", "?", "1", "0", "0", "N", "2 - High"],
    ["b2", "V1", "2026-07-05 10:00", "?", "2026-07-05 11:00", "abc", "0", "0", "N", "2 - High"],
    ["b3", "V2", "2026-07-06 10:00", "?", "2026-07-06 11:00", "1", "0", "0", "maybe", "2 - High"],
    ["b4", "V2", "2026-07-07 10:00", "?", "2026-07-07 11:00", "1", "0", "0", "N", "5 - Planning"],
]  # fmt: skip

# What the good rows of the export mean, as canonical typed rows.
CANONICAL = {
    "vendors": [
        vendor("V1", name="V1", country=None, currency=None),
        vendor("V2", "in_house", name="Second Team", country=None, currency=None),
    ],
    "work_items": [
        item("t1", "V1", "2026-07-01 08:00", "2026-07-02 08:00", "2026-07-01 18:00", units=10, qa=10, defects=1, reworked=True, process="service_desk"),
        item("t2", "V1", "2026-07-03 09:30:00.250", None, "2026-07-04 09:30:00.250", units=3, process="service_desk"),
        item("t3", "V2", "2026-08-01 01:30", "2026-08-09 01:16", "2026-08-02 10:00", units=4, qa=4, process="service_desk"),
        item("t4", "V2", "2026-09-01 00:00", "2026-09-01 12:00", None, units=2, qa=2, process="service_desk"),
        item("b4", "V2", "2026-07-07 10:00", None, "2026-07-07 11:00", units=1, process="service_desk"),
    ],
    "requests": [
        request("t1", "V1", "urgent", "2026-07-01 08:00", None, process="service_desk"),
        request("t2", "V1", "normal", "2026-07-03 09:30:00.250", None, process="service_desk"),
        request("t3", "V2", "high", "2026-08-01 01:30", None, process="service_desk"),
        request("t4", "V2", "low", "2026-09-01 00:00", None, process="service_desk"),
        request("b2", "V1", "high", "2026-07-05 10:00", None, process="service_desk"),
        request("b3", "V2", "high", "2026-07-06 10:00", None, process="service_desk"),
    ],
    "charges": [],
}  # fmt: skip

MAPPING = """
[run]
period = "month"

[source.vendors]
from_activity = true

[source.vendors.defaults]
sourcing = "offshore"

[source.vendors.overrides.V2]
name = "Second Team"
sourcing = "in_house"

[source.charges]
absent = true

[source.work_items]
table = "export_tickets"
null_values = ["?"]
columns = { work_item_id = "ticket", vendor_id = "team", process = { value = "service_desk" }, received_at = "opened", due_at = "due", completed_at = "done", units = "qty", qa_checked_units = "checked", defects = "errs", reworked = "redo" }
formats = { due_at = "%d/%m/%Y %H:%M" }
values.reworked = { "Y" = true, "N" = false }

[source.requests]
query = "SELECT * FROM export_tickets"
null_values = ["?"]
columns = { request_id = "ticket", vendor_id = "team", process = { value = "service_desk" }, opened_at = "opened", first_response_at = { null = true }, resolved_at = "done", priority = "prio" }
values.priority = { "1 - Critical" = "urgent", "2 - High" = "high", "3 - Moderate" = "normal", "4 - Low" = "low" }
"""


def load_export(url: str, rows: list[list[str]] = EXPORT) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        columns = ", ".join(f"{c} VARCHAR(64)" for c in COLUMNS)
        connection.execute(text(f"CREATE TABLE export_tickets ({columns})"))
        if connection.dialect.name == "hive":
            # Spark SQL: one INSERT of every row, as each statement is a Spark job.
            values = ", ".join(
                "(" + ", ".join(f":{c}_{i}" for c in COLUMNS) + ")" for i in range(len(rows))
            )
            connection.execute(
                text(f"INSERT INTO export_tickets VALUES {values}"),
                {
                    f"{c}_{i}": v
                    for i, row in enumerate(rows)
                    for c, v in zip(COLUMNS, row, strict=True)
                },
            )
            return
        names = ", ".join(f":{c}" for c in COLUMNS)
        connection.execute(
            text(f"INSERT INTO export_tickets VALUES ({names})"),
            [dict(zip(COLUMNS, row, strict=True)) for row in rows],
        )
    engine.dispose()


def _config(folder: Path, config_text: str) -> Path:
    """The config file folder/scorecard.toml: config_text."""
    config = folder / "scorecard.toml"
    config.write_text(config_text)
    return config


@pytest.fixture(scope="module")
def canonical_scores(tmp_path_factory, scorecard_cli) -> str:
    base = tmp_path_factory.mktemp("canonical")
    url = f"sqlite:///{base / 'canonical.db'}"
    load(url, CANONICAL)
    out = base / "out"
    config_file = _config(base, '[run]\nperiod = "month"\n[source.charges]\nabsent = true\n')
    result = scorecard_cli.run(url, out, "--format", "csv,json", config=config_file)
    run_dir = out / AS_OF
    assert result.exit_code == 0, result.stderr
    return (run_dir / "scores.csv").read_text()


def test_a_text_export_scores_exactly_like_the_canonical_tables(
    any_database_url, tmp_path, canonical_scores, scorecard_cli
):
    load_export(any_database_url)
    out, config_file = tmp_path / "out", _config(tmp_path, MAPPING)
    result = scorecard_cli.run(any_database_url, out, "--format", "csv,json", config=config_file)
    run_dir = out / AS_OF
    assert result.exit_code == 1, result.stderr  # the bad rows are beyond the 5 % limit
    scores = (run_dir / "scores.csv").read_text()
    assert scores == canonical_scores
    rows = list(csv.DictReader(io.StringIO(scores)))
    v1_july = next(
        r
        for r in rows
        if r["vendor_id"] == "V1" and r["period"] == "2026-07" and r["process"] == "ALL"
    )
    # 08:00Z to 20:00+02:00 is 10 h; t2 took 24 h.
    assert v1_july["mean_turnaround_hours"] == "17.0"
    assert v1_july["accuracy"] == "0.9"
    assert v1_july["rework_rate"] == "0.5"
    v2 = {r["period"]: r for r in rows if r["vendor_id"] == "V2" and r["process"] == "ALL"}
    # Received 31 July in Brazil is 1 August in UTC.
    assert v2["2026-08"]["work_items_completed"] == "1"
    assert v2["2026-08"]["vendor_name"] == "Second Team"
    assert v2["2026-08"]["sourcing"] == "in_house"
    # No charges tracked: spend is not measured, never 0.
    assert {r["spend"] for r in rows} == {""}
    assert {r["cost_per_unit"] for r in rows} == {""}


def test_bad_text_values_are_rejected_under_their_columns_rule_and_shown(
    any_database_url, tmp_path, scorecard_cli
):
    load_export(any_database_url)
    out, config_file = tmp_path / "out", _config(tmp_path, MAPPING)
    result = scorecard_cli.run(any_database_url, out, "--format", "csv,json", config=config_file)
    run_dir = out / AS_OF
    assert result.exit_code == 1, result.stderr
    quality = list(csv.DictReader(io.StringIO((run_dir / "data_quality.csv").read_text())))
    found = {(r["table"], r["rule"], r["example_ids"], r["example_values"]) for r in quality}
    assert found == {
        ("work_items", "bad_received_at", "b1", '"yesterday" x1'),
        ("work_items", "bad_units", "b2", '"abc" x1'),
        ("work_items", "bad_reworked", "b3", '"maybe" x1'),
        ("requests", "bad_opened_at", "b1", '"yesterday" x1'),
        ("requests", "bad_priority", "b4", '"5 - Planning" x1'),
    }
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["tables"]["charges"] == {"absent": True}
    for name in ("vendors", "work_items", "requests"):
        counts = manifest["tables"][name]
        assert counts["rows_read"] == counts["rows_accepted"] + counts["rows_rejected"]


NOT_ISO = """
[source.vendors]
from_activity = true

[source.requests]
absent = true

[source.charges]
absent = true

[source.work_items]
table = "export_tickets"
null_values = ["?"]
columns = { work_item_id = "ticket", vendor_id = "team", process = { value = "x" }, received_at = "due", due_at = { null = true }, completed_at = "done", units = "qty", qa_checked_units = "checked", defects = "errs", reworked = "redo" }
"""
BROKEN = """
[source.vendors]
from_activity = true

[source.requests]
query = "SELECT * FROM nowhere"

[source.charges]
table = "invoices"

[source.work_items]
table = "export_tickets"
columns = { work_item_id = "ticket", vendor_id = "team", process = { value = "x" }, received_at = "opened", due_at = "due", completed_at = "done", units = "qty", qa_checked_units = "checked", defects = "errs", reworked = "rework_flag" }
"""


def _source_error(scorecard_cli, command: str, url: str, tmp_path, config_text: str) -> str:
    """The one line `run` or `check` stops with (exit 3) on the export, read through the config."""
    load_export(url)
    config_file = _config(tmp_path, config_text)
    run = ["--as-of", AS_OF, "--out", tmp_path / "out", "--format", "csv,json"]
    extra = run if command == "run" else []  # check takes no run options
    result = scorecard_cli(command, "--config", config_file, "--database-url", url, *extra)
    assert result.exit_code == 3, result.stderr
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("command", ["run", "check"])
def test_every_source_problem_is_reported_at_once_by_run_and_check_alike(
    any_database_url, tmp_path, command, scorecard_cli
):
    message = _source_error(scorecard_cli, command, any_database_url, tmp_path, BROKEN)
    # Four: the mapping's text due_at without a format is one too, found beside the missing column.
    assert message.startswith("scorecard: error: 4 problems with the sources: "), message
    assert "source.work_items: due_at is held as text that is not ISO 8601" in message
    assert (
        "source.work_items.table 'export_tickets' has no column 'rework_flag' (for "
        "work_items.reworked): name the right one under [source.work_items.columns] or give "
        "a constant, reworked = { value = ... }; it has columns 'ticket', " in message
    )
    assert "source.requests.query does not run: " in message
    assert "source.charges.table 'invoices' is missing from the database" in message


@pytest.mark.parametrize("command", ["run", "check"])
def test_text_times_that_are_not_iso_need_a_format_named_with_a_sample(
    any_database_url, tmp_path, command, scorecard_cli
):
    assert _source_error(scorecard_cli, command, any_database_url, tmp_path, NOT_ISO) == (
        "scorecard: error: source.work_items: received_at is held as text that is not ISO 8601 "
        "(3 of 3 values, e.g. '1/9/2026 12:00'): give its format under "
        '[source.work_items.formats], e.g. received_at = "%d/%m/%Y %H:%M"'
    )


@pytest.mark.parametrize(
    ("text_", "message"),
    [
        ('[source.work_items]\nabsent = true\n', "source.work_items: absent = true is not allowed"),
        ('[source.requests]\ntable = "t"\nabsent = true\n', "give exactly one of table, query"),
        ('[source.requests]\ntable = "t"\nformats = { priority = "%Y" }\n', "priority is not a timestamp or date column"),
        ('[source.requests]\ntable = "t"\nformats = { opened_at = "%Q" }\n', "%Q is not supported"),
        ('[source.charges]\nfrom_activity = true\n', "from_activity = true is for vendors only"),
    ],
)  # fmt: skip
def test_a_config_that_contradicts_itself_exits_2(
    sqlite_url, tmp_path, text_, message, scorecard_cli
):
    out, config_file = tmp_path / "out", _config(tmp_path, text_)
    result = scorecard_cli.run(sqlite_url, out, "--format", "csv,json", config=config_file)
    assert result.exit_code == 2
    assert message in result.stderr


def test_reports_say_not_measured_and_rest_nothing_on_absent_charges(
    sqlite_url, tmp_path, scorecard_cli
):
    load_export(sqlite_url)
    config = tmp_path / "scorecard.toml"
    config.write_text(MAPPING)
    out = tmp_path / "out"
    result = scorecard_cli.run(sqlite_url, out, "--format", "html", config=config)
    assert result.exit_code == 1, result.output
    portfolio = (out / AS_OF / "portfolio.html").read_text()
    assert "spend and savings: no charges are tracked" in portfolio
    assert "outsourced spend this period" not in portfolio
    assert "Exchange rates" not in portfolio
    scorecard = next((out / AS_OF / "vendors").glob("v1*.html")).read_text()
    assert "service credit" not in scorecard
    assert "0 EUR" not in scorecard and "0 EUR" not in portfolio


def test_duckdb_cuts_zoned_times_into_utc_days_whatever_the_machines_zone(duckdb_url, tmp_path):
    import os
    import subprocess
    import sys

    load(duckdb_url, {"vendors": [vendor("V1")]})
    engine = create_engine(duckdb_url)
    with engine.begin() as connection:
        connection.execute(text(
            "CREATE TABLE tickets AS SELECT 'w1' AS work_item_id, 'V1' AS vendor_id, 'desk' AS process, "
            "TIMESTAMPTZ '2026-06-30 20:00:00+00' AS received_at, NULL::TIMESTAMPTZ AS due_at, "
            "TIMESTAMPTZ '2026-07-01 02:30:00+00' AS completed_at, 1 AS units, 0 AS qa_checked_units, "
            "0 AS defects, false AS reworked"
        ))  # fmt: skip
    engine.dispose()
    config = tmp_path / "zoned.toml"
    config.write_text('[source.work_items]\ntable = "tickets"\n[source.requests]\nabsent = true\n'
                      '[source.charges]\nabsent = true\n')  # fmt: skip
    out = tmp_path / "out"
    command = [sys.executable, "-c", "from scorecard.cli import cli; cli()", "run", "--config",
               str(config), "--database-url", duckdb_url, "--as-of", AS_OF, "--out", str(out),
               "--format", "csv"]  # fmt: skip
    # A machine in New York: 02:30 UTC on 1 July is still 30 June there.
    ran = subprocess.run(command, env={**os.environ, "TZ": "America/New_York"}, capture_output=True)
    assert ran.returncode == 0, ran.stderr
    rows = list(csv.DictReader(io.StringIO((out / AS_OF / "scores.csv").read_text())))
    completed = {r["period"]: r["work_items_completed"] for r in rows if r["process"] == "ALL"}
    assert completed["2026-Q3"] == "1" and completed["2026-Q2"] == "0"


def test_sqlite_compares_times_as_times_not_as_text(sqlite_url, tmp_path, scorecard_cli):
    """'2026-07-01T14:57:10' sorts after '2026-07-01 20:49:28' as text, yet happened before it."""
    load(sqlite_url, {
        "vendors": [vendor("V1")],
        "work_items": [item("w1", "V1", "2026-07-01 00:00", None, "2026-07-01 20:49:28")],
    })  # fmt: skip
    engine = create_engine(sqlite_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE work_items SET received_at = '2026-07-01T14:57:10'"))
    engine.dispose()
    out, config_file = tmp_path / "out", _config(tmp_path, "")
    result = scorecard_cli.run(sqlite_url, out, "--format", "csv,json", config=config_file)
    run_dir = out / AS_OF
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO((run_dir / "scores.csv").read_text())))
    q3 = next(r for r in rows if r["period"] == "2026-Q3" and r["process"] == "ALL")
    assert q3["work_items_completed"] == "1"
    assert q3["mean_turnaround_hours"] == "5.87"


def test_booleans_held_as_text_read_in_every_spelling(
    any_database_url, tmp_path, canonical_scores, scorecard_cli
):
    spelled = {
        "t1": "TRUE",
        "t2": "no",
        "t3": "f",
        "t4": "n",
        "b1": "0",
        "b2": "Y",
        "b3": "maybe",
        "b4": "False",
    }
    load_export(any_database_url, [[*row[:8], spelled[row[0]], row[9]] for row in EXPORT])
    mapping = MAPPING.replace('values.reworked = { "Y" = true, "N" = false }\n', "")
    out, config_file = tmp_path / "out", _config(tmp_path, mapping)
    result = scorecard_cli.run(any_database_url, out, "--format", "csv,json", config=config_file)
    run_dir = out / AS_OF
    assert result.exit_code == 1, result.stderr
    assert (run_dir / "scores.csv").read_text() == canonical_scores


INVOICES = [
    ["c1", "V1", "2026-07-01", "2026-07-31", "12.50", "EUR", "fee"],
    ["c2", "V1", "2026-07-01", "2026-07-31", "abc", "EUR", "fee"],
    ["c3", "V1", "2026-07-01", "2026-07-31", "NaN", "EUR", "fee"],
    ["c4", "V1", "2026-07-01", "2026-07-31", "Infinity", "EUR", "fee"],
    ["c5", "V1", "garbage", "2026-07-31", "1", "EUR", "fee"],
]


def test_text_amounts_and_dates_that_do_not_read_are_rejected_not_fatal(
    any_database_url, tmp_path, scorecard_cli
):
    load_export(any_database_url)
    engine = create_engine(any_database_url)
    names = ["charge_id", "vendor_id", "service_start", "service_end", "amount", "currency", "kind"]
    with engine.begin() as connection:
        connection.execute(
            text(f"CREATE TABLE invoice_lines ({', '.join(f'{n} VARCHAR(20)' for n in names)})")
        )
        connection.execute(text(f"INSERT INTO invoice_lines VALUES ({', '.join(':' + n for n in names)})"),
                           [dict(zip(names, row, strict=True)) for row in INVOICES])  # fmt: skip
    engine.dispose()
    mapping = MAPPING.replace("[source.charges]\nabsent = true\n", (
        '[source.charges]\ntable = "invoice_lines"\ncolumns = { process = { value = "service_desk" } }\n'))  # fmt: skip
    out, config_file = tmp_path / "out", _config(tmp_path, mapping)
    result = scorecard_cli.run(any_database_url, out, "--format", "csv,json", config=config_file)
    run_dir = out / AS_OF
    assert result.exit_code == 1, result.stderr
    quality = list(csv.DictReader(io.StringIO((run_dir / "data_quality.csv").read_text())))
    charges = {
        (r["rule"], r["example_ids"], r["example_values"])
        for r in quality
        if r["table"] == "charges"
    }
    assert charges == {
        ("bad_amount", "c2 c3 c4", '"Infinity" x1; "NaN" x1; "abc" x1'),
        ("bad_service_start", "c5", '"garbage" x1'),
    }
    rows = list(csv.DictReader(io.StringIO((run_dir / "scores.csv").read_text())))
    v1_july = next(
        r
        for r in rows
        if r["vendor_id"] == "V1" and r["period"] == "2026-07" and r["process"] == "ALL"
    )
    assert v1_july["spend"] == "12.50"


def test_a_count_too_large_to_sum_is_a_bad_row_not_an_overflow(sqlite_url, tmp_path, scorecard_cli):
    load(sqlite_url, {
        "vendors": [vendor("V1")],
        "work_items": [item(f"w{n}", "V1", "2026-07-01 00:00", None, "2026-07-01 01:00", units=2**63 - 1)
                       for n in range(3)] + [item("ok", "V1", "2026-07-01 00:00", None, "2026-07-01 01:00")],
    })  # fmt: skip
    out, config_file = tmp_path / "out", _config(tmp_path, "")
    result = scorecard_cli.run(sqlite_url, out, "--format", "csv,json", config=config_file)
    run_dir = out / AS_OF
    assert result.exit_code == 1, result.stderr
    quality = (run_dir / "data_quality.csv").read_text()
    assert "work_items,bad_units,V1,3,w0 w2," in quality
    rows = list(csv.DictReader(io.StringIO((run_dir / "scores.csv").read_text())))
    assert (
        next(r for r in rows if r["period"] == "2026-Q3" and r["process"] == "ALL")[
            "units_completed"
        ]
        == "1"
    )


UNTYPED_NULLS = """
[source.requests]
query = "SELECT request_id, vendor_id, process, priority, opened_at, NULL AS first_response_at, NULL AS resolved_at FROM requests"

[source.charges]
query = "SELECT charge_id, vendor_id, process, service_start, service_end, NULL AS amount, currency, kind FROM charges"
"""


def test_an_untyped_null_in_a_query_is_read_as_null_on_every_engine(
    any_database_url, tmp_path, scorecard_cli
):
    """PostgreSQL types `NULL AS x` as text ("Unknown PG numeric type: 25" before): it reads as null."""
    load(any_database_url, {
        "vendors": [vendor("V1")],
        "work_items": [item("w1", "V1", "2026-07-01 00:00", None, "2026-07-01 01:00")],
        "requests": [request("r1", "V1", "high", "2026-07-01 00:00", "2026-07-01 01:00")],
        "charges": [{"charge_id": "c1", "vendor_id": "V1", "process": "support", "service_start": dt.date(2026, 7, 1),
                     "service_end": dt.date(2026, 7, 31), "amount": 10.0, "currency": "EUR", "kind": "fee"}],
    })  # fmt: skip
    out, config_file = tmp_path / "out", _config(tmp_path, UNTYPED_NULLS)
    result = scorecard_cli.run(any_database_url, out, "--format", "csv,json", config=config_file)
    run_dir = out / AS_OF
    assert result.exit_code == 1, result.stderr  # the charge without an amount is rejected: 1 of 1
    quality = (run_dir / "data_quality.csv").read_text()
    assert "charges,missing_amount,V1,1,c1," in quality
    rows = list(csv.DictReader(io.StringIO((run_dir / "scores.csv").read_text())))
    q3 = next(r for r in rows if r["period"] == "2026-Q3" and r["process"] == "ALL")
    assert q3["requests_opened"] == "1" and q3["mean_first_response_hours"] == ""


# A repeated ID (t4) and a row with no team: the duplicate check and a group rule's examples.
DUPLICATE_AND_NO_TEAM = [
    *EXPORT,
    ["t4", "V2", "2026-09-02 00:00", "?", "?", "2", "2", "0", "N", "4 - Low"],
    ["n1", "?", "2026-07-08 10:00", "?", "2026-07-08 11:00", "1", "0", "0", "N", "2 - High"],
]


@pytest.mark.parametrize("parallel_queries", [1, 2])
def test_a_query_is_read_whole_at_most_twice_a_run(
    any_database_url, tmp_path, parallel_queries, scorecard_cli
):
    """Once for the repeated IDs, once summed (in slices on two connections, with 2); the
    probe (LIMIT 0) and the text-time check (a LIMIT sample) read no more than a sample."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    load_export(any_database_url, DUPLICATE_AND_NO_TEAM)
    config = f"[database]\nparallel_queries = {parallel_queries}\n" + MAPPING.replace(
        'table = "export_tickets"', 'query = "SELECT * FROM export_tickets WHERE 1 = 1"'
    ).replace(
        'query = "SELECT * FROM export_tickets"',
        'query = "SELECT * FROM export_tickets WHERE 2 = 2"',
    )
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_):
        statements.append(statement)

    out, config_file = tmp_path / "out", _config(tmp_path, config)
    event.listen(Engine, "before_cursor_execute", record)
    try:
        result = scorecard_cli.run(
            any_database_url, out, "--format", "csv,json", config=config_file
        )
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert result.exit_code == 1, result.stderr
    run_dir = out / AS_OF

    def whole_reads(marker: str) -> int:
        return sum(
            s.count(marker) for s in statements if " AS probe" not in s and " AS checked" not in s
        )

    slicing = any_database_url.startswith(("sqlite", "postgresql"))  # see work_item_days
    sliced = parallel_queries if slicing else 1
    assert whole_reads("WHERE 1 = 1") == 1 + sliced  # work items: repeated IDs, then the sums
    assert whole_reads("WHERE 2 = 2") == 2  # requests
    quality = list(csv.DictReader(io.StringIO((run_dir / "data_quality.csv").read_text())))
    found = {(r["table"], r["rule"], r["rows_rejected"], r["example_ids"]) for r in quality}
    assert {
        ("work_items", "duplicate_id", "2", "t4"),
        ("work_items", "unknown_vendor", "1", "n1"),
        ("requests", "duplicate_id", "2", "t4"),
        ("requests", "unknown_vendor", "1", "n1"),
    } <= found


def test_a_vendor_its_own_override_rejects_still_has_example_ids(
    any_database_url, tmp_path, scorecard_cli
):
    """The group rule SQLite's summing query cannot foresee (from_activity vendors are known
    only after it): there its examples come from a query of their own; elsewhere every group
    kept its smallest and largest ID."""
    load_export(any_database_url)
    config = MAPPING.replace('sourcing = "in_house"', 'sourcing = "in_house"\ncountry = "Brazil"')
    out, config_file = tmp_path / "out", _config(tmp_path, config)
    result = scorecard_cli.run(any_database_url, out, "--format", "csv,json", config=config_file)
    run_dir = out / AS_OF
    assert result.exit_code == 1, result.stderr
    quality = list(csv.DictReader(io.StringIO((run_dir / "data_quality.csv").read_text())))
    found = {(r["table"], r["rule"], r["vendor_id"]): r for r in quality}
    assert found["vendors", "bad_country", "V2"]["example_ids"] == "V2"
    rejected = found["work_items", "vendor_rejected", "V2"]
    assert rejected["rows_rejected"] == "4"
    examples = rejected["example_ids"].split()
    assert examples[0] == "b3" and examples[-1] == "t4"  # the smallest and the largest
    assert set(examples) <= {"b3", "b4", "t3", "t4"}  # V2's work items


def test_a_typed_bigint_count_too_large_to_sum_is_a_bad_row_not_an_overflow(
    any_database_url, tmp_path, scorecard_cli
):
    """A company's own BIGINT column: three rows near 2^63 would overflow any sum of them."""
    engine = create_engine(any_database_url)
    with engine.begin() as connection:
        connection.execute(text(
            "CREATE TABLE big_items (work_item_id VARCHAR(20), vendor_id VARCHAR(20), "
            "process VARCHAR(20), received_at TIMESTAMP, due_at TIMESTAMP, completed_at TIMESTAMP, "
            "units BIGINT, qa_checked_units BIGINT, defects BIGINT, reworked BOOLEAN)"
        ))  # fmt: skip
        connection.execute(
            text("INSERT INTO big_items VALUES (:id, 'V1', 'support', '2026-07-01 00:00:00', "
                 "NULL, '2026-07-01 01:00:00', :units, 0, 0, false)"),
            [{"id": f"w{n}", "units": 2**63 - 1} for n in range(3)] + [{"id": "ok", "units": 1}],
        )  # fmt: skip
    engine.dispose()
    config = (
        "[source.vendors]\nfrom_activity = true\n[source.vendors.defaults]\n"
        'sourcing = "offshore"\n[source.work_items]\ntable = "big_items"\n'
        "[source.requests]\nabsent = true\n[source.charges]\nabsent = true\n"
    )
    out, config_file = tmp_path / "out", _config(tmp_path, config)
    result = scorecard_cli.run(any_database_url, out, "--format", "csv,json", config=config_file)
    run_dir = out / AS_OF
    assert result.exit_code == 1, result.stderr
    quality = (run_dir / "data_quality.csv").read_text()
    assert "work_items,bad_units,V1,3,w0 w2," in quality
    rows = list(csv.DictReader(io.StringIO((run_dir / "scores.csv").read_text())))
    assert {r["units_completed"] for r in rows if r["period"] == "2026-Q3"} == {"1"}


MISSING_COLUMN_AND_NOT_ISO = NOT_ISO.replace('reworked = "redo"', 'reworked = "rework_flag"')


@pytest.mark.parametrize("command", ["run", "check"])
def test_a_missing_column_and_a_text_time_without_format_are_reported_together(
    any_database_url, tmp_path, command, scorecard_cli
):
    """Contract section 6: every problem at once, not the first and then, after the fix, the next."""
    message = _source_error(
        scorecard_cli, command, any_database_url, tmp_path, MISSING_COLUMN_AND_NOT_ISO
    )
    assert message.startswith("scorecard: error: 2 problems with the sources: "), message
    assert "has no column 'rework_flag' (for work_items.reworked)" in message
    assert "source.work_items: received_at is held as text that is not ISO 8601" in message


NEAR_MISSES = NOT_ISO.replace('table = "export_tickets"', 'table = "export_ticket"').replace(
    "[source.charges]\nabsent = true",
    '[source.charges]\ntable = "export_tickets"\ncolumns = { charge_id = "tickett" }',
)


@pytest.mark.parametrize("command", ["run", "check"])
def test_a_near_miss_of_a_table_or_column_name_gets_a_did_you_mean(
    any_database_url, tmp_path, command, scorecard_cli
):
    message = _source_error(scorecard_cli, command, any_database_url, tmp_path, NEAR_MISSES)
    assert (
        "source.work_items.table 'export_ticket' is missing from the database "
        "(did you mean 'export_tickets'?)" in message
    )
    assert (
        "source.charges.table 'export_tickets' has no column 'tickett' "
        "(for charges.charge_id; did you mean 'ticket'?): name the right one" in message
    )
